-- Main job, producers of notifications in OLTP (each enqueues on pm_queue's `notifications`
-- queue in its own transaction): the sequencer finishes every tenant's running campaign, the
-- quota check announces plans at 80 % / 100 % of a limit, and the bounce check pauses
-- mailboxes bouncing past 5 %.  The delivery to the notifications tier runs afterwards.
UPDATE pm_oltp.campaigns SET status = 'completed', completed = now() WHERE status = 'sending';
SELECT format('quota notices queued: %s', pm_oltp.notify_quota_thresholds());
SELECT format('mailboxes paused for bounces: %s', count(*)) FROM pm_oltp.pause_bouncing_mailboxes(0.05, 20, '30 days');
SELECT format('notification jobs queued: %s', count(*)) FROM pm_queue.jobs
 WHERE queue_name = 'notifications' AND status = 'queued';
