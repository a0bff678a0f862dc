-- Main job, queue tier, step 2: one simulated sending worker (run several at once, each
-- with its own connection):  psql -d pm_oltp -v worker=w1 -f demo/queue_worker.sql
--
-- The loop of docs/queue.md: claim a batch, do the work, complete each job, commit, until
-- claim() has nothing ready (the rest is over its mailbox's budget, deferred to tomorrow).
-- "Sending" writes the outbound email row as the provider accepted it, with the key of the
-- body the content tier will hold, and moves the enrollment on to its next step.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET ROLE pm_service;

CREATE PROCEDURE pg_temp.work(worker text, batch int)
LANGUAGE plpgsql AS $$
DECLARE
    job  pm_queue.jobs;
    got  int;
BEGIN
    LOOP
        got := 0;
        FOR job IN SELECT * FROM pm_queue.claim(ARRAY['email-sending'], worker, batch) LOOP
            got := got + 1;
            WITH mail AS (
                SELECT l.email AS recipient, a.email AS sender, s.from_name_override,
                       replace(replace(tp.subject, '{{company}}', l.company),
                               '{{first_name}}', split_part(l.name, ' ', 1)) AS subject,
                       replace(replace(replace(tp.content, '{{first_name}}', split_part(l.name, ' ', 1)),
                                       '{{company}}', l.company), '{{sender_name}}', s.from_name_override)
                           AS body
                FROM pm_oltp.leads l, pm_oltp.email_accounts a,
                     pm_oltp.campaign_sequence_steps s
                JOIN pm_oltp.templates tp ON tp.id = s.template_id
                WHERE l.id = (job.payload->>'lead_id')::uuid
                  AND a.id = (job.payload->>'email_account_id')::uuid
                  AND s.id = (job.payload->>'step_id')::uuid
            )
            INSERT INTO pm_oltp.emails (tenant_id, campaign_id, step_id, lead_id, email_account_id,
                                        direction, recipient, subject, message_id, status,
                                        content_storage_key, scheduled_at, sent_at)
            SELECT job.tenant_id, (job.payload->>'campaign_id')::uuid, (job.payload->>'step_id')::uuid,
                   (job.payload->>'lead_id')::uuid, (job.payload->>'email_account_id')::uuid,
                   'outbound', m.recipient, m.subject,
                   format('<%s@%s>', job.id, split_part(m.sender, '@', 2)), 'sent',
                   pm.body_storage_key(job.tenant_id, m.body,
                                       '<p>' || replace(m.body, E'\n', '<br>') || '</p>',
                                       jsonb_build_object('From', m.sender, 'To', m.recipient,
                                                          'Subject', m.subject)),
                   job.created_at, clock_timestamp()
            FROM mail m;

            UPDATE pm_oltp.campaign_leads
               SET current_step = 1, last_sent = clock_timestamp(),
                   next_run_at = clock_timestamp() + interval '72 hours'
             WHERE id = (job.payload->>'enrollment_id')::uuid;

            PERFORM pm_queue.complete(job.id, worker, jsonb_build_object('sent', true));
        END LOOP;
        COMMIT;
        EXIT WHEN got = 0;
    END LOOP;
END $$;

CALL pg_temp.work(:'worker', 25);
