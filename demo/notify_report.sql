-- Main job, notifications of one tenant (:tid) as two of its users see them (database
-- pm_notify, pm_app with the tenant and user context): the owner reads the newest one first,
-- which leaves it unread for the other user (read state is per user).
BEGIN;
SET LOCAL ROLE pm_app;
SELECT pm.set_context(:'tid', :'owner') \g /dev/null
\echo '  owner' :owner_email '(has just read the newest one)'
SELECT pm_notify.mark_read(ARRAY(SELECT id FROM pm_notify.unread(1))) \g /dev/null
SELECT format('    %s unread%s', pm_notify.unread_count(),
              ': ' || string_agg(title, ' · ' ORDER BY created_at DESC))
FROM pm_notify.unread(5);
COMMIT;
BEGIN;
SET LOCAL ROLE pm_app;
SELECT pm.set_context(:'tid', :'member') \g /dev/null
\echo '  member' :member_email
SELECT format('    %s unread%s', pm_notify.unread_count(),
              ': ' || string_agg(title, ' · ' ORDER BY created_at DESC))
FROM pm_notify.unread(5);
COMMIT;
