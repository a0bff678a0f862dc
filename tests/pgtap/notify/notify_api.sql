-- pm_notify: user and tenant isolation of every table and API function, per-user read state
-- of tenant-wide notifications, dedup, keyset pages, system events (dedup, escalation,
-- resolve, staff only), retention in batches, the index-only unread count, and bad input.
\ir ../include/common.psql
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION pm_notify CASCADE;
RESET client_min_messages;
SELECT plan(98);

SELECT pm.ensure_roles();
-- Tenant A with users 1 and 2, tenant B with user 3.
SELECT pg_temp.uid('a', 1) AS ta, pg_temp.uid('b', 1) AS tb,
       pg_temp.uid('c', 1) AS u1, pg_temp.uid('c', 2) AS u2, pg_temp.uid('c', 3) AS u3 \gset

CREATE FUNCTION pg_temp.plan_text(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    line text;
    plan text := '';
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
        plan := plan || line || E'\n';
    END LOOP;
    RETURN plan;
END $$;

-- As a user: runs stmt as pm_app with (tenant, user) context.
CREATE FUNCTION pg_temp.as_user(tenant uuid, usr uuid, stmt text, want text DEFAULT 'value')
RETURNS text LANGUAGE sql AS $$ SELECT pg_temp.as_role('pm_app', tenant, stmt, want, 'error', usr) $$;

SELECT is(count(*), 0::bigint, 'pm.rls_audit() is empty with pm_notify installed') FROM pm.rls_audit();
SELECT is(count(*), 5::bigint, 'all five pm_notify tables are registered for isolation')
FROM pm.tenant_tables t JOIN pg_class c ON c.oid = t.tbl
WHERE t.tbl::text LIKE 'pm_notify.%' AND NOT c.relispartition;
SELECT is(array_agg(parent::text ORDER BY parent::text),
          ARRAY['pm_notify.admin_system_events', 'pm_notify.notifications'],
          'both tables are partition sets of the partition manager')
FROM pm.partition_sets WHERE parent::text LIKE 'pm_notify.%';

-- ------------------------------------------------------------------ fixtures
SELECT pm_notify.notify(:'ta', :'u1', 'campaign.completed', 'A1 own', 'for user 1') AS n_a1 \gset
SELECT pm_notify.notify(:'ta', :'u2', 'campaign.completed', 'A2 own', 'for user 2') AS n_a2 \gset
SELECT pm_notify.notify(:'ta', NULL, 'quota.80', 'A all', 'for every user of A') AS n_aall \gset
SELECT pm_notify.notify(:'tb', :'u3', 'campaign.completed', 'B3 own', 'for user 3') AS n_b3 \gset
SELECT pm_notify.notify(:'tb', NULL, 'quota.100', 'B all', 'for every user of B') AS n_ball \gset

-- ------------------------------------------------------------------ who sees what
SELECT is(pg_temp.as_user(:'ta', :'u1', 'SELECT string_agg(title, '','' ORDER BY title) FROM pm_notify.unread()'),
          'A all,A1 own', 'user 1 of A: own and tenant-wide, not user 2''s');
SELECT is(pg_temp.as_user(:'ta', :'u2', 'SELECT string_agg(title, '','' ORDER BY title) FROM pm_notify.unread()'),
          'A all,A2 own', 'user 2 of A: own and tenant-wide, not user 1''s');
SELECT is(pg_temp.as_user(:'tb', :'u3', 'SELECT string_agg(title, '','' ORDER BY title) FROM pm_notify.recent()'),
          'B all,B3 own', 'user 3 of B sees nothing of A');
SELECT is(pg_temp.as_user(:'ta', :'u3', 'SELECT count(*) FROM pm_notify.unread()'), '1',
          'a user of B with A''s context sees only A''s tenant-wide row, never B''s or other users''');
SELECT is(pg_temp.as_user(:'ta', :'u1', 'SELECT count(*) FROM pm_notify.notifications'), '2',
          'table notifications: user 1 reads exactly own + tenant-wide');
SELECT is(pg_temp.as_user(:'ta', :'u1', format('SELECT count(*) FROM pm_notify.notifications WHERE id = %L', :'n_b3')), '0',
          'table notifications: B''s row asked for by id is invisible');
SELECT is(pg_temp.as_user(:'ta', :'u1', 'SELECT count(*) FROM pm_notify.my_unread'), '2',
          'view my_unread: own + tenant-wide');
SELECT is(pg_temp.as_role('pm_app', :'ta', 'SELECT count(*) FROM pm_notify.notifications', 'value'), '1',
          'tenant context without a user: only the tenant-wide row');
SELECT is(pg_temp.as_role('pm_app', NULL, 'SELECT count(*) FROM pm_notify.notifications', 'value'), 'error:42501',
          'no context is refused, never every tenant''s rows');
SELECT is(pg_temp.as_role('pm_app', :'ta', 'SELECT pm_notify.unread_count()', 'value'), 'error:42501',
          'unread_count() without a user context is refused');
SELECT is(pg_temp.as_role('pm_service', NULL, 'SELECT count(*) FROM pm_notify.notifications', 'value'), '5',
          'pm_service sees every tenant');
SELECT is(pg_temp.as_role('pm_staff', NULL, 'SELECT count(*) FROM pm_notify.notifications', 'value'), '5',
          'pm_staff sees every tenant');

-- ------------------------------------------------------------------ read state per user
SELECT is(pg_temp.as_user(:'ta', :'u1', 'SELECT pm_notify.unread_count()'), '2', 'user 1 has 2 unread');
SELECT is(pg_temp.as_user(:'ta', :'u1', format('SELECT pm_notify.mark_read(ARRAY[%L, %L, %L]::uuid[])', :'n_aall', :'n_a2', :'n_b3')),
          '1', 'mark_read: only the caller''s items change (user 2''s and B''s ids are ignored)');
SELECT is(pg_temp.as_user(:'ta', :'u1', 'SELECT pm_notify.unread_count()'), '1', 'user 1: the tenant-wide row is read');
SELECT is(pg_temp.as_user(:'ta', :'u2', 'SELECT pm_notify.unread_count()'), '2',
          'user 2: the tenant-wide row is still unread (read state is per user)');
SELECT is((SELECT is_read FROM pm_notify.notifications WHERE id = :'n_aall'), false,
          'the tenant-wide row itself is unchanged');
SELECT is((SELECT is_read FROM pm_notify.notifications WHERE id = :'n_a2'), false, 'user 2''s row was not marked by user 1');
SELECT is(pg_temp.as_user(:'ta', :'u1', format('SELECT is_read AND read_at IS NOT NULL FROM pm_notify.recent() WHERE id = %L', :'n_aall')),
          'true', 'recent(): user 1 sees the tenant-wide row as read');
SELECT is(pg_temp.as_user(:'ta', :'u2', format('SELECT is_read FROM pm_notify.recent() WHERE id = %L', :'n_aall')),
          'false', 'recent(): user 2 sees it unread');
SELECT is(pg_temp.as_user(:'ta', :'u1', format('SELECT pm_notify.mark_read(ARRAY[%L]::uuid[])', :'n_aall')), '0',
          'mark_read again: nothing changes');
SELECT is(pg_temp.as_user(:'ta', :'u2', 'SELECT pm_notify.mark_all_read()'), '2', 'mark_all_read: user 2''s two');
SELECT is(pg_temp.as_user(:'ta', :'u2', 'SELECT pm_notify.unread_count()'), '0', 'user 2: nothing unread');
SELECT is(pg_temp.as_user(:'ta', :'u1', 'SELECT pm_notify.unread_count()'), '1', 'user 1 still has its own unread');
SELECT is(pg_temp.as_user(:'tb', :'u3', 'SELECT pm_notify.unread_count()'), '2', 'tenant B untouched by A''s marks');
SELECT is(pg_temp.as_user(:'ta', :'u1', format('SELECT pm_notify.dismiss(ARRAY[%L, %L]::uuid[])', :'n_aall', :'n_b3')), '1',
          'dismiss: the tenant-wide row for user 1 only; B''s id ignored');
SELECT is(pg_temp.as_user(:'ta', :'u1', 'SELECT string_agg(title, '','') FROM pm_notify.recent()'), 'A1 own',
          'user 1 no longer lists the dismissed row');
SELECT is(pg_temp.as_user(:'ta', :'u2', format('SELECT count(*) FROM pm_notify.recent() WHERE id = %L', :'n_aall')), '1',
          'user 2 still lists it');
SELECT is(pg_temp.as_user(:'ta', :'u1', format('SELECT pm_notify.dismiss(ARRAY[%L]::uuid[])', :'n_a1')), '1', 'dismiss own row');
SELECT is((SELECT deleted_at IS NOT NULL FROM pm_notify.notifications WHERE id = :'n_a1'), true, 'dismiss is a soft delete');
SELECT is(pg_temp.as_user(:'ta', :'u1', 'SELECT pm_notify.unread_count()'), '0', 'dismissed rows are not unread');
SELECT is(pg_temp.as_user(:'ta', :'u2', 'SELECT count(*) FROM pm_notify.notification_receipts'), '1',
          'table notification_receipts: user 2 reads only its own receipt');
SELECT is(pg_temp.as_user(:'tb', :'u3', 'SELECT count(*) FROM pm_notify.notification_receipts'), '0',
          'table notification_receipts: B sees none of A''s');

-- ------------------------------------------------------------------ what pm_app may not do
SELECT is(pg_temp.as_user(:'ta', :'u1', format('UPDATE pm_notify.notifications SET is_read = true WHERE id = %L', :'n_aall'), 'rows'),
          'rows:0', 'pm_app cannot mark a tenant-wide row read for everyone');
SELECT is(pg_temp.as_user(:'ta', :'u2', format('UPDATE pm_notify.notifications SET user_id = NULL WHERE id = %L', :'n_a2'), 'rows'),
          'error:42501', 'pm_app cannot turn its own row into a tenant-wide one');
SELECT is(pg_temp.as_user(:'ta', :'u2', 'DELETE FROM pm_notify.notifications', 'rows'), 'rows:0',
          'pm_app cannot hard-delete (dismiss soft-deletes)');
SELECT is(pg_temp.as_user(:'ta', :'u1', format('INSERT INTO pm_notify.notifications (tenant_id, user_id, type, title, message) VALUES (%L, %L, ''x'', ''x'', ''x'')', :'tb', :'u1'), 'rows'),
          'error:42501', 'pm_app cannot write into another tenant');
SELECT is(pg_temp.as_user(:'ta', :'u1', format('SELECT pm_notify.notify(%L, %L, ''x'', ''spoof'', ''x'')', :'ta', :'u2')),
          'error:42501', 'notify() as pm_app cannot address another user of its tenant');
SELECT is(pg_temp.as_user(:'ta', :'u1', format('SELECT pm_notify.notify(%L, NULL, ''x'', ''spoof'', ''x'')', :'tb')),
          'error:42501', 'notify() as pm_app cannot address another tenant');
SELECT isnt(pg_temp.as_user(:'ta', :'u1', format('SELECT pm_notify.notify(%L, %L, ''note'', ''to self'', ''x'')', :'ta', :'u1')),
          NULL, 'notify() as pm_app within its context works');
SELECT is(pg_temp.as_user(:'ta', :'u1', 'DELETE FROM pm_notify.notification_keys', 'rows'), 'rows:0',
          'pm_app cannot delete dedup keys');
SELECT is(pg_temp.as_user(:'ta', :'u1', 'SELECT count(*) FROM pm_notify.admin_system_events'), 'error:42501',
          'admin_system_events: closed to pm_app');
SELECT is(pg_temp.as_user(:'ta', :'u1', 'SELECT count(*) FROM pm_notify.open_events'), 'error:42501',
          'open_events: closed to pm_app');
SELECT is(pg_temp.as_user(:'ta', :'u1', call), 'error:42501', call || ': refused to pm_app')
FROM unnest(ARRAY['SELECT pm_notify.system_event(''x'', ''low'', ''x'')', 'SELECT pm_notify.resolve(1, NULL)',
                  'SELECT pm_notify.resolve_key(''x'')', 'SELECT pm_notify.cleanup()',
                  'SELECT count(*) FROM pm_notify.deliver(''[]'')', 'SELECT pm_notify.grant_producer(''pm_app'')',
                  'SELECT count(*) FROM pm_notify.schedule()']) call;

-- ------------------------------------------------------------------ dedup
SELECT is(pm_notify.notify(:'ta', :'u1', 'x', 'first', 'x', dedup_key => 'job-1'),
          pm_notify.notify(:'ta', :'u1', 'x', 'retried', 'y', dedup_key => 'job-1'),
          'a producer retried with the same dedup key gets the same notification');
SELECT is(count(*), 1::bigint, 'and one row exists') FROM pm_notify.notifications WHERE dedup_key = 'job-1';
SELECT isnt(pm_notify.notify(:'tb', :'u3', 'x', 'other tenant', 'x', dedup_key => 'job-1'),
            (SELECT id FROM pm_notify.notifications WHERE dedup_key = 'job-1' AND tenant_id = :'ta'),
            'dedup keys are per tenant');
SELECT is((SELECT count(*) FROM pm_notify.deliver(format('[{"kind":"notification","ref":"r1","tenant_id":"%s","type":"t","title":"via link","message":"m","dedup_key":"pm_oltp:1"},'
                                                         '{"kind":"notification","ref":"r2","tenant_id":"%s","type":"t","title":"via link","message":"m","dedup_key":"pm_oltp:1"}]', :'ta', :'ta')::jsonb)
           r GROUP BY r.id), 2::bigint, 'deliver(): an item repeated in a batch makes one notification');

SELECT results_eq(
    format($q$SELECT ref, id = first_value(id) OVER (ORDER BY ref) FROM pm_notify.deliver(
        '[{"kind":"notification","ref":"1","tenant_id":"%1$s","type":"t","title":"mixed","message":"m","dedup_key":"batch-dup"},
          {"kind":"system_event","ref":"2","event_type":"x","severity":"low","description":"in the middle"},
          {"kind":"notification","ref":"3","tenant_id":"%1$s","type":"t","title":"mixed","message":"m","dedup_key":"batch-dup"},
          {"kind":"notification","ref":"4","tenant_id":"%1$s","type":"t","title":"mixed","message":"m"}]')$q$, :'ta'),
    $$VALUES ('1', true), ('2', false), ('3', true), ('4', false)$$,
    'deliver(): rows in item order; a key repeated in the batch gets the first one''s id');
SELECT is(count(*), 2::bigint, 'and the batch made two notifications (one per key, one without)')
FROM pm_notify.notifications WHERE title = 'mixed';

-- ------------------------------------------------------------------ keyset pages
DO $$
BEGIN
    FOR i IN 1 .. 7 LOOP
        PERFORM pm_notify.notify(pg_temp.uid('b', 1), pg_temp.uid('c', 3), 'page', 'p' || i, 'x');
    END LOOP;
END $$;
-- Four more delivered in one batch: one created_at per row even so.
SELECT count(*) FROM pm_notify.deliver((SELECT jsonb_agg(jsonb_build_object('kind', 'notification', 'ref', g,
    'tenant_id', pg_temp.uid('b', 1), 'user_id', pg_temp.uid('c', 3), 'type', 'page', 'title', 'q' || g, 'message', 'x'))
    FROM generate_series(1, 4) g)) \g /dev/null
SELECT pm.set_context(:'tb', :'u3');
CREATE TEMP TABLE walked (n serial, title text);
DO $$
DECLARE
    upto timestamptz;
    r record;
    got int;
BEGIN
    LOOP
        got := 0;
        FOR r IN SELECT * FROM pm_notify.recent(3, upto) LOOP
            INSERT INTO walked (title) VALUES (r.title);
            upto := r.created_at;
            got := got + 1;
        END LOOP;
        EXIT WHEN got < 3;
    END LOOP;
END $$;
SELECT is((SELECT array_agg(title ORDER BY n) FROM walked),
          (SELECT array_agg(title) FROM pm_notify.recent(1000)),
          'recent(3, before): keyset pages give every item once, newest first');
SELECT is((SELECT array_agg(title ORDER BY n) FROM walked WHERE title ~ '^p[0-9]$'),
          ARRAY['p7','p6','p5','p4','p3','p2','p1'], 'the seven made in one transaction page in order');
SELECT is((SELECT array_agg(title ORDER BY n) FROM walked WHERE title ~ '^q[0-9]$'),
          ARRAY['q4','q3','q2','q1'], 'the four of one delivered batch too, none lost at a page boundary');
SELECT pm.set_context(NULL, NULL);

-- ------------------------------------------------------------------ expiry
SELECT pm_notify.notify(:'tb', :'u3', 'x', 'soon gone', 'x', expires_at => clock_timestamp() + interval '1 hour') AS n_exp \gset
UPDATE pm_notify.notifications SET expires_at = now() - interval '1 second' WHERE id = :'n_exp';
SELECT is(pg_temp.as_user(:'tb', :'u3', format('SELECT count(*) FROM pm_notify.recent(1000) WHERE id = %L', :'n_exp')), '0',
          'expired notifications are not listed');
SELECT is(pg_temp.as_user(:'tb', :'u3', format('SELECT pm_notify.mark_read(ARRAY[%L]::uuid[])', :'n_exp')), '0',
          'nor can they be marked read');

-- ------------------------------------------------------------------ unread_count uses an index-only path
SELECT pm.set_context(:'ta', :'u1');
SET LOCAL role pm_app;
SET LOCAL enable_seqscan = off;  -- a tiny table: ask the planner for what it would do at size
SELECT pg_temp.plan_text('SELECT count(*) FROM pm_notify.my_unread') AS plan \gset
RESET role;
SELECT ok(:'plan' ~ 'Index Only Scan using \S*notifications\S* on ' AND :'plan' !~ 'Seq Scan on notifications'
          AND :'plan' !~ 'Bitmap Heap Scan on notifications',
          'unread_count(): index-only scans of the notifications partitions, no heap');
SELECT pm.set_context(NULL, NULL);

-- ------------------------------------------------------------------ system events
SELECT pm_notify.system_event('tier_down', 'medium', 'OLAP unreachable', '{"server": "olap"}', dedup_key => 'tier_down:olap') AS e1 \gset
SELECT is(pm_notify.system_event('tier_down', 'critical', 'OLAP unreachable', '{"server": "olap", "n": 2}', dedup_key => 'tier_down:olap'),
          :'e1'::bigint, 'a repeat of an open incident returns the same event');
SELECT is(pm_notify.system_event('tier_down', 'low', 'OLAP unreachable', NULL, dedup_key => 'tier_down:olap'),
          :'e1'::bigint, 'a third repeat too');
SELECT results_eq(format('SELECT occurrences, severity, details ->> ''n'' FROM pm_notify.admin_system_events WHERE id = %s', :'e1'),
                  $$VALUES (3, 'critical', '2')$$,
                  'one row: 3 occurrences, severity raised to the highest seen, latest details kept');
SELECT isnt(pm_notify.system_event('tier_down', 'high', 'OLAP unreachable', dedup_key => 'tier_down:olap', tenant_id => :'ta'),
            :'e1'::bigint, 'the same key for a tenant is another incident than the system-wide one');
SELECT is(pg_temp.as_role('pm_staff', NULL, 'SELECT count(*) FROM pm_notify.admin_system_events WHERE event_type = ''tier_down''', 'value'), '2',
          'pm_staff reads the events');
SELECT is(pg_temp.as_role('pm_staff', NULL, 'DELETE FROM pm_notify.admin_system_events'), 'error:42501',
          'pm_staff cannot delete events');
SELECT is(pg_temp.as_role('pm_staff', NULL, format('SELECT pm_notify.resolve(%s, %L)', :'e1', :'u1'), 'value'), 'true',
          'pm_staff resolves an event');
SELECT is(pm_notify.resolve(:'e1', NULL), false, 'resolving again reports false');
SELECT results_eq(format('SELECT is_resolved, resolved_by FROM pm_notify.admin_system_events WHERE id = %s', :'e1'),
                  format('VALUES (true, %L::uuid)', :'u1'), 'resolved with who and when');
SELECT isnt(pm_notify.system_event('tier_down', 'high', 'OLAP unreachable again', dedup_key => 'tier_down:olap'),
            :'e1'::bigint, 'after resolution the next incident opens a new event');
SELECT is(pm_notify.resolve_key('tier_down:olap'), (SELECT max(id) FROM pm_notify.admin_system_events WHERE tenant_id IS NULL),
          'resolve_key() resolves the open event of a key');
SELECT is(pm_notify.resolve_key('tier_down:olap'), NULL, 'and finds nothing open afterwards');
SELECT is(pg_temp.as_role('pm_app', :'ta', 'SELECT string_agg(event_type, '','') FROM pm_notify.tenant_events()', 'value'),
          'tier_down', 'tenant_events(): a tenant reads its own open event');
SELECT is(pg_temp.as_role('pm_app', :'tb', 'SELECT count(*) FROM pm_notify.tenant_events(50, true)', 'value'),
          '0', 'tenant_events(): and nothing of another tenant or of the system');

-- ------------------------------------------------------------------ bad input: clear errors, nothing lost
SELECT count(*) AS made_before FROM pm_notify.notifications \gset
SELECT throws_ok(format('SELECT pm_notify.notify(%L, NULL, ''x'', ''t'', ''m'', ''sms'')', :'ta'), '22023',
                 'pm_notify.notify: unknown channel "sms"; expected one of in_app, email, push', 'unknown channel');
SELECT throws_ok(format('SELECT pm_notify.notify(%L, NULL, ''x'', NULL, ''m'')', :'ta'), '22004',
                 'pm_notify.notify: title must not be NULL', 'NULL title');
SELECT throws_ok(format('SELECT pm_notify.notify(%L, NULL, ''x'', repeat(''t'', 501), ''m'')', :'ta'), '22001',
                 'pm_notify.notify: title is 501 characters long, at most 500 are allowed', 'oversized title');
SELECT throws_ok('SELECT pm_notify.notify(NULL, NULL, ''x'', ''t'', ''m'')', '22004',
                 'pm_notify.notify: tenant_id must not be NULL', 'NULL tenant');
SELECT throws_ok(format('SELECT pm_notify.notify(%L, NULL, ''x'', ''t'', ''m'', expires_at => now() - interval ''1 day'')', :'ta'),
                 '22023', NULL, 'expires_at in the past');
SELECT throws_ok('SELECT pm_notify.system_event(''x'', ''urgent'', ''d'')', '22023',
                 'pm_notify.system_event: unknown severity "urgent"; expected one of low, medium, high, critical', 'unknown severity');
SELECT throws_ok(format('SELECT pm_notify.system_event(''x'', ''low'', ''d'', jsonb_build_object(''blob'', repeat(''x'', %s)))', 20000),
                 '54000', NULL, 'oversized details');
SELECT throws_ok('SELECT pm_notify.system_event(''x'', ''low'', ''d'', ''[1, 2]'')', '22023',
                 'pm_notify.system_event: details must be a JSON object, got a JSON array', 'details not an object');
SELECT throws_ok('SELECT pm_notify.deliver(''[{"kind": "sms"}]'')', '22023', NULL, 'deliver(): unknown item kind');
SELECT pm.set_context(:'ta', :'u1');
SELECT throws_ok('SELECT pm_notify.unread(0)', '22023', 'pm_notify.unread: max must be between 1 and 1000, got 0', 'unread(0)');
SELECT throws_ok('SELECT pm_notify.mark_read(NULL)', '22004', NULL, 'mark_read(NULL)');
SELECT pm.set_context(NULL, NULL);
SET LOCAL pm_notify.retain_notifications = 'soon';
SELECT throws_ok('SELECT pm_notify.cleanup()', '22023', NULL, 'a retention setting that is not an interval');
RESET pm_notify.retain_notifications;
SELECT is(count(*), :'made_before'::bigint, 'after every refused call, the notifications made before are all there')
FROM pm_notify.notifications;

-- ------------------------------------------------------------------ retention in batches
-- 25 rows past retention (120 days old, in the default partition), 3 expired, one of them
-- tenant-wide with a receipt and a dedup key; 2 resolved events past a year, 1 open one.
INSERT INTO pm_notify.notifications (tenant_id, user_id, type, title, message, created_at, dedup_key)
SELECT :'tb', :'u3', 'old', 'old ' || g, 'x', now() - interval '120 days' - g * interval '1 minute',
       CASE WHEN g = 1 THEN 'old-key' END
FROM generate_series(1, 25) g;
INSERT INTO pm_notify.notification_keys SELECT tenant_id, dedup_key, id, created_at
FROM pm_notify.notifications WHERE dedup_key = 'old-key';
INSERT INTO pm_notify.notifications (tenant_id, user_id, type, title, message, expires_at)
SELECT :'ta', CASE WHEN g = 1 THEN NULL ELSE :'u1'::uuid END, 'exp', 'expired ' || g, 'x', now() - interval '1 minute'
FROM generate_series(1, 3) g;
INSERT INTO pm_notify.notification_receipts
SELECT tenant_id, :'u2', id, created_at, now(), NULL FROM pm_notify.notifications WHERE title = 'expired 1';
INSERT INTO pm_notify.admin_system_events (created_at, event_type, severity, description, is_resolved, last_seen_at)
VALUES (now() - interval '400 days', 'old', 'low', 'resolved long ago', true, now() - interval '400 days'),
       (now() - interval '401 days', 'old', 'low', 'resolved long ago', true, now() - interval '401 days'),
       (now() - interval '402 days', 'old', 'low', 'still open', false, now() - interval '402 days');
SELECT count(*) AS live_before FROM pm_notify.notifications \gset
SELECT is(ARRAY[pm_notify.cleanup(10), pm_notify.cleanup(10), pm_notify.cleanup(10), pm_notify.cleanup(10)],
          ARRAY[10, 10, 10, 1], 'cleanup(10): 31 rows in batches of at most 10');
SELECT is(:'live_before'::bigint - count(*), 29::bigint, 'exactly the 25 old and 4 expired notifications are gone')
FROM pm_notify.notifications;
SELECT is(count(*), 0::bigint, 'none of them is left')
FROM pm_notify.notifications WHERE title LIKE 'old %' OR title LIKE 'expired %';
SELECT is(count(*), 0::bigint, 'their receipts went with them')
FROM pm_notify.notification_receipts r WHERE NOT EXISTS (SELECT 1 FROM pm_notify.notifications n WHERE n.id = r.notification_id);
SELECT is(count(*), 0::bigint, 'and their dedup keys') FROM pm_notify.notification_keys WHERE dedup_key = 'old-key';
SELECT is(count(*), 1::bigint, 'of the old events only the open one is kept')
FROM pm_notify.admin_system_events WHERE event_type = 'old';

SELECT * FROM finish();
ROLLBACK;
