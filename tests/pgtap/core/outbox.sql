-- The event outbox (pm_core 0.5) without the network: pm.log_event() fan-out per sink and
-- its filters (email_* opt-in), rollback, who may log and read what, sink validation, the
-- bounds (drop_oldest / drop_newest / max_age, counted), maintenance, a sink that does not
-- answer (backoff, credentials kept out of status), and the producers of pm_queue, pm_notify,
-- pm_oltp and pm_fdw.  Real HTTP is in tests/integration/outbox_shipping.sh.
\ir ../include/common.psql
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pm_queue;
CREATE EXTENSION IF NOT EXISTS pm_notify;
CREATE EXTENSION IF NOT EXISTS pm_fdw;
RESET client_min_messages;
SELECT plan(86);

SELECT pm.ensure_roles();
SELECT pg_temp.uid('a', 1) AS ta, pg_temp.uid('b', 1) AS tb \gset

-- Events per sink in the outbox, e.g. 'all:2,jobs:1'.
CREATE FUNCTION pg_temp.fanout(ev text) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(sink || ':' || n, ',' ORDER BY sink), '')
    FROM (SELECT sink, count(*) n FROM pm.outbox WHERE event = ev GROUP BY sink) s
$$;

-- An unused local port: a sink there never answers.
INSERT INTO pm.outbox_sinks (name, kind, url) VALUES ('all', 'jsonl', 'http://127.0.0.1:9/in');
INSERT INTO pm.outbox_sinks (name, kind, url, events) VALUES
    ('jobs', 'loki', 'http://127.0.0.1:9', '{job_*,tier_down}'),
    ('mail', 'posthog', 'http://127.0.0.1:9', '{email_*}');

-- ------------------------------------------------------------------ sinks and defaults
SELECT is((SELECT format('%s/%s/%s/%s/%s/%s', batch_max, flush_interval, max_pending, max_age,
                         overflow, enabled)
           FROM pm.outbox_sinks WHERE name = 'all'),
          '1000/00:00:01/1000000/7 days/drop_oldest/t',
          'INSERT (name, kind, url) is a working sink with sensible defaults');
SELECT is(count(*), 0::bigint, 'pm.rls_audit() is empty with the outbox') FROM pm.rls_audit();
SELECT throws_ok($$INSERT INTO pm.outbox_sinks (name, kind, url) VALUES ('x', 'kafka', 'http://h')$$,
                 '22023', 'outbox sink "x": unknown sink kind "kafka"; expected posthog, loki, otlp, jsonl or http',
                 'an unknown sink kind is refused, named with the kinds there are');
SELECT throws_like($$INSERT INTO pm.outbox_sinks (name, kind, url) VALUES ('x', 'jsonl', 'ftp://h/x')$$,
                   '%"ftp://h/x" must start with http:// or https://%', 'a non-HTTP URL is refused, named');
SELECT throws_ok($$INSERT INTO pm.outbox_sinks (name, kind, url) VALUES ('x', 'jsonl', 'not a url')$$,
                 '22023', NULL, 'a malformed URL is refused with 22023');
SELECT throws_like($$INSERT INTO pm.outbox_sinks (name, kind, url) VALUES ('x', 'loki', 'https://bob:hunter2@logs.example')$$,
                   '%must not carry credentials%', 'credentials in the URL are refused');
SELECT is((SELECT pg_temp.as_role('postgres', NULL,
                  $$INSERT INTO pm.outbox_sinks (name, kind, url) VALUES ('x', 'loki', 'https://bob:hunter2@logs.example')$$)),
          'error:22023', '... with 22023');
CREATE FUNCTION pg_temp.error_text(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLERRM;
END $$;
SELECT unalike(pg_temp.error_text($$INSERT INTO pm.outbox_sinks (name, kind, url) VALUES ('x', 'loki', 'https://bob:hunter2@logs.example')$$),
              '%hunter2%', '... and the error does not repeat the password');
SELECT throws_like($$INSERT INTO pm.outbox_sinks (name, kind, url, events) VALUES ('x', 'jsonl', 'http://h', '{"bad name"}')$$,
                   '%invalid events entry "bad name"%', 'a bad filter entry is refused, named');
SELECT throws_like($$INSERT INTO pm.outbox_sinks (name, kind, url, events) VALUES ('x', 'jsonl', 'http://h', '{}')$$,
                   '%empty list%', 'an empty filter (which accepts nothing) is refused');
SELECT throws_like($$INSERT INTO pm.outbox_sinks (name, kind, url) VALUES ('Bad Name', 'jsonl', 'http://h')$$,
                   '%invalid outbox sink name "Bad Name"%', 'a bad sink name is refused');
SELECT throws_ok($$INSERT INTO pm.outbox_sinks (name, kind, url, batch_max) VALUES ('x', 'jsonl', 'http://h', 0)$$,
                 '23514', NULL, 'batch_max 0 is refused');
SELECT throws_ok($$UPDATE pm.outbox_sinks SET url = 'gopher://h' WHERE name = 'all'$$,
                 '22023', NULL, 'an UPDATE is checked like an INSERT');

-- ------------------------------------------------------------------ fan-out and filters
SELECT isnt(pm.log_event('job_retry', '{"job": 1}', 'warn'), NULL, 'log_event returns an event_id');
SELECT is(pg_temp.fanout('job_retry'), 'all:1,jobs:1', 'job_retry goes to the catch-all and the job_* sink');
SELECT pm.log_event('campaign_done');
SELECT is(pg_temp.fanout('campaign_done'), 'all:1', 'an event no filter names goes to the catch-all only');
SELECT pm.log_event('email_opened');
SELECT is(pg_temp.fanout('email_opened'), 'mail:1', 'email_* is opt-in: only the sink that lists it');
SELECT is(pm.outbox_wants('email_sent'), true, 'outbox_wants(email_sent) with an email sink');
SELECT pm.log_event('tier_down', sink => 'mail');
SELECT is(pg_temp.fanout('tier_down'), 'mail:1', 'a named sink gets the event whatever its filter');
SELECT throws_ok($$SELECT pm.log_event('x_event', sink => 'nope')$$, '42704',
                 'outbox sink "nope" does not exist', 'an unknown sink is an error naming it');
SELECT is((SELECT count(*) FROM pm.outbox WHERE event = 'x_event'), 0::bigint, '... and logs nothing');
SELECT is((SELECT properties FROM pm.outbox WHERE event = 'job_retry' AND sink = 'all'),
          '{"job": 1}'::jsonb, 'properties are stored as given');
SELECT is((SELECT count(DISTINCT event_id) FROM pm.outbox WHERE event = 'job_retry'), 1::bigint,
          'one event_id for every sink copy (the sinks deduplicate on it)');

-- The filter cache follows sink changes in this very transaction.
INSERT INTO pm.outbox_sinks (name, kind, url, events) VALUES ('late', 'otlp', 'http://127.0.0.1:9', '{late_*}');
SELECT pm.log_event('late_event');
SELECT is(pg_temp.fanout('late_event'), 'all:1,late:1', 'a sink added in the transaction receives at once');
DELETE FROM pm.outbox_sinks WHERE name = 'late';
SELECT pm.log_event('late_event');
SELECT is(pg_temp.fanout('late_event'), 'all:2,late:1', 'a deleted sink receives nothing more');
SELECT is(pm.outbox_wants('late_x'), true, 'outbox_wants: the catch-all still wants late_x');

-- Rolled back → never logged.
SAVEPOINT s;
SELECT pm.log_event('rolled_back');
ROLLBACK TO SAVEPOINT s;
SELECT is(pg_temp.fanout('rolled_back'), '', 'an event of a rolled-back (sub)transaction is gone');

-- ------------------------------------------------------------------ bad input, nothing lost
SELECT count(*) AS before FROM pm.outbox \gset
SELECT throws_like($$SELECT pm.log_event('big', jsonb_build_object('blob', repeat('x', 70000)))$$,
                   '%properties of event "big" take % bytes; pm.outbox_max_event_bytes allows 65536%',
                   'oversized properties: a clear error with the size and the limit');
SELECT throws_ok($$SELECT pm.log_event('big', jsonb_build_object('blob', repeat('x', 70000)))$$,
                 '54000', NULL, '... with SQLSTATE 54000');
SELECT throws_ok($$SELECT pm.log_event('arr', '[1,2]')$$, '22023',
                 'properties of event "arr" must be a JSON object', 'properties must be an object');
SELECT throws_ok($$SELECT pm.log_event('scalar', '"x"')$$, '22023', NULL, 'a scalar is not an object either');
SELECT throws_like($$SELECT pm.log_event('lvl', '{}', 'loud')$$,
                   'invalid event level "loud"; expected debug, info, warn, error or critical',
                   'an unknown level is named with the levels there are');
SELECT throws_like($$SELECT pm.log_event('has space')$$, 'invalid event name "has space"%',
                   'a bad event name is named');
SELECT throws_ok($$SELECT pm.log_event(NULL)$$, '22004', NULL, 'a NULL event is refused');
SELECT throws_ok($$SELECT pm.log_event('d', distinct_id => '')$$, '22023', NULL, 'an empty distinct_id is refused');
SELECT is((SELECT count(*) FROM pm.outbox), :'before'::bigint, 'no bad call wrote anything');
SET LOCAL pm.outbox_max_event_bytes = 100000;
SELECT isnt(pm.log_event('big', jsonb_build_object('blob', repeat('x', 70000))), NULL,
            'a superuser may raise pm.outbox_max_event_bytes');
RESET pm.outbox_max_event_bytes;

-- ------------------------------------------------------------------ who may do what
SELECT is(pg_temp.as_role('pm_app', :'ta', $$SELECT pm.log_event('app_event', '{"k": 1}') IS NOT NULL$$, 'value'),
          'true', 'pm_app logs an event in its tenant context');
SELECT is((SELECT string_agg(DISTINCT tenant_id::text, ',') FROM pm.outbox WHERE event = 'app_event'),
          :'ta', '... carrying its tenant id by default');
SELECT is(pg_temp.as_role('pm_app', :'ta', format($$SELECT pm.log_event('forged', tenant_id => %L)$$, :'tb'), 'value'),
          'error:42501', 'pm_app cannot log an event for another tenant');
SELECT is(pg_temp.as_role('pm_service', NULL, format($$SELECT pm.log_event('svc', tenant_id => %L) IS NOT NULL$$, :'tb'), 'value'),
          'true', 'a service (BYPASSRLS) logs for any tenant');
SELECT is(pg_temp.as_role('pm_app', :'ta', 'SELECT count(*) FROM pm.outbox'), 'error:42501', 'pm_app cannot read the outbox');
SELECT is(pg_temp.as_role('pm_app', :'ta', 'SELECT count(*) FROM pm.outbox_sinks'), 'error:42501', 'pm_app cannot read the sinks');
SELECT is(pg_temp.as_role('pm_app', :'ta', 'SELECT count(*) FROM pm.outbox_dead'), 'error:42501', 'pm_app cannot read dead letters');
SELECT is(pg_temp.as_role('pm_app', :'ta', 'SELECT pm.ship_outbox()'), 'error:42501', 'pm_app cannot ship');
SELECT is(pg_temp.as_role('pm_app', :'ta', 'SELECT count(*) FROM pm.outbox_status()'), 'error:42501', 'pm_app cannot read the status');
SELECT is(pg_temp.as_role('pm_staff', NULL, 'SELECT count(*) FROM pm.outbox_sink_secrets'), 'error:42501',
          'not even staff read the sink secrets');
SELECT is(pg_temp.as_role('pm_staff', NULL, $$SELECT pm.set_sink_secret('all', 'k')$$), 'error:42501',
          'nor set them');
SELECT is(pg_temp.as_role('pm_staff', NULL, 'SELECT count(*)::text FROM pm.outbox_status()', 'value'), '3',
          'staff read the status of every sink');

-- ------------------------------------------------------------------ a sink that does not answer
SELECT pm.set_sink_secret('jobs', api_key => 'sekret-api-key-123', username => 'u', password => 'pw-hunter2');
SELECT is(pm.ship_outbox('jobs'), 0, 'nothing is shipped to a sink that does not answer');
SELECT is((SELECT format('%s/%s/%s', state, failures, pending > 0) FROM pm.outbox_status() WHERE sink = 'jobs'),
          'backoff/1/t', 'the sink backs off, its events stay pending');
SELECT matches((SELECT last_error FROM pm.outbox_status() WHERE sink = 'jobs'), '^no answer: ',
               'last_error says why');
SELECT ok((SELECT next_attempt > now() FROM pm.outbox_status() WHERE sink = 'jobs'), 'next_attempt is in the future');
SELECT is(pm.ship_outbox(), 0, 'a pass over every sink skips the one backing off');
SELECT is((SELECT failures FROM pm.outbox_status() WHERE sink = 'jobs'), 1, '... so its failures stay at 1');
SELECT is(pm.ship_outbox('jobs'), 0, 'naming the sink tries it now');
SELECT is((SELECT failures FROM pm.outbox_status() WHERE sink = 'jobs'), 2, '... a second failure');
SELECT is((SELECT count(*) FROM pm.outbox_status() s
           WHERE concat_ws(' ', s.last_error, s.state) ~ 'sekret|hunter2'), 0::bigint,
          'no secret in any status row');
SELECT throws_ok($$SELECT pm.ship_outbox('nope')$$, '42704', NULL, 'shipping an unknown sink is an error');
SELECT throws_ok($$SELECT pm.ship_outbox(NULL, 0)$$, '22023', NULL, 'max_events 0 is refused');

-- ------------------------------------------------------------------ bounds
SET LOCAL client_min_messages = error;  -- each drop also raises a WARNING for the log
INSERT INTO pm.outbox_sinks (name, kind, url, events, max_pending, enabled)
VALUES ('bounded', 'jsonl', 'http://127.0.0.1:9', '{b_*}', 5, false),
       ('newest', 'jsonl', 'http://127.0.0.1:9', '{b_*}', 5, false);
UPDATE pm.outbox_sinks SET overflow = 'drop_newest' WHERE name = 'newest';
SELECT pm.log_event('b_' || i, jsonb_build_object('i', i)) FROM generate_series(1, 8) i;
SELECT is(pm.outbox_enforce_bounds('bounded'), 3::bigint, 'drop_oldest: 8 pending, 5 allowed, 3 dropped');
SELECT is((SELECT array_agg((properties->>'i')::int ORDER BY id) FROM pm.outbox WHERE sink = 'bounded'),
          ARRAY[4, 5, 6, 7, 8], '... the newest five stay');
SELECT is(pm.outbox_enforce_bounds('newest'), 3::bigint, 'drop_newest: 3 dropped');
SELECT is((SELECT array_agg((properties->>'i')::int ORDER BY id) FROM pm.outbox WHERE sink = 'newest'),
          ARRAY[1, 2, 3, 4, 5], '... the oldest five stay');
SELECT is((SELECT dropped_total FROM pm.outbox_status() WHERE sink = 'bounded'), 3::bigint,
          'drops are counted in dropped_total');
-- An event older than max_age (as after a long outage) is dropped and counted.
INSERT INTO pm.outbox (sink, event_id, created_at, level, event, properties)
VALUES ('bounded', gen_random_uuid(), now() - interval '8 days', 'info', 'b_old', '{}');
SELECT is(pm.outbox_enforce_bounds('bounded'), 1::bigint, 'max_age: the event older than max_age goes');
SELECT is((SELECT dropped_total FROM pm.outbox_status() WHERE sink = 'bounded'), 4::bigint, '... counted');
SELECT is((SELECT state FROM pm.outbox_status() WHERE sink = 'bounded'), 'disabled', 'a disabled sink says so');

RESET client_min_messages;

-- Maintenance: rows of a deleted sink go; the partitions keep the longest max_age + 1 day.
DELETE FROM pm.outbox_sinks WHERE name = 'newest';
UPDATE pm.outbox_sinks SET max_age = '30 days' WHERE name = 'all';
SELECT pm.outbox_maintain();
SELECT is((SELECT count(*) FROM pm.outbox WHERE sink = 'newest'), 0::bigint, 'outbox_maintain() forgets a deleted sink''s events');
SELECT is((SELECT retention FROM pm.partition_sets WHERE parent = 'pm.outbox'::regclass),
          interval '31 days', 'the outbox partitions are kept for the longest max_age plus a day');

-- ------------------------------------------------------------------ producers
DELETE FROM pm.outbox;
-- pm_queue: a retry, then the dead letter; a lease that expired.
SELECT pm_queue.enqueue('maintenance', '{}', max_attempts => 2, tenant_id => :'ta') AS job \gset
SELECT id AS claimed FROM pm_queue.claim('{maintenance}', 'w1', 1) \gset
SELECT pm_queue.fail(:'job', 'w1', 'smtp timeout');
SELECT is(pg_temp.fanout('job_retry'), 'all:1,jobs:1', 'pm_queue: a retried attempt logs job_retry');
SELECT is((SELECT format('%s/%s/%s', tenant_id, properties->>'queue', properties->>'error')
           FROM pm.outbox WHERE event = 'job_retry' AND sink = 'jobs'),
          :'ta' || '/maintenance/smtp timeout', '... with the job''s tenant, queue and error');
UPDATE pm_queue.jobs SET run_at = now() WHERE id = :'job';
SELECT id AS claimed FROM pm_queue.claim('{maintenance}', 'w1', 1) \gset
UPDATE pm_queue.jobs SET locked_until = now() - interval '1 minute' WHERE id = :'job';
SELECT pm_queue.reap_expired();
SELECT is(pg_temp.fanout('lease_expired') || ' ' || pg_temp.fanout('job_failed'), 'all:1 all:1,jobs:1',
          'pm_queue: an expired last lease logs lease_expired and job_failed');

-- pm_notify: high and critical events, not the others; escalation and resolution.
SELECT pm_notify.system_event('disk', 'low', 'disk filling', dedup_key => 'disk1') AS ev \gset
SELECT is(pg_temp.fanout('system_event'), '', 'pm_notify: a low system event is not mirrored');
SELECT pm_notify.system_event('disk', 'critical', 'disk full', dedup_key => 'disk1');
SELECT is(pg_temp.fanout('system_event'), 'all:1', 'escalation to critical is mirrored');
SELECT pm_notify.system_event('disk', 'critical', 'disk full', dedup_key => 'disk1');
SELECT is(pg_temp.fanout('system_event'), 'all:1', 'a repeat of the open event is not');
SELECT pm_notify.resolve(:ev, NULL);
SELECT is((SELECT format('%s/%s', level, properties->>'severity') FROM pm.outbox WHERE event = 'system_event_resolved'),
          'info/critical', 'its resolution is mirrored');

-- pm_oltp: the email_* taxonomy, once per state reached, only for a sink that lists it.
INSERT INTO pm_oltp.tenants (id, name) VALUES (:'ta', 'A');
INSERT INTO pm_oltp.emails (id, tenant_id, recipient, status)
VALUES (pg_temp.uid('e', 1), :'ta', 'lead@a.test', 'queued');
SELECT pm_oltp.record_email_event(pg_temp.uid('e', 1), 'sent', now() - interval '1 hour');
SELECT pm_oltp.record_email_event(pg_temp.uid('e', 1), 'sent', now() - interval '2 hours');
SELECT pm_oltp.record_email_event(pg_temp.uid('e', 1), 'opened');
SELECT is(pg_temp.fanout('email_sent') || ' ' || pg_temp.fanout('email_opened'), 'mail:1 mail:1',
          'pm_oltp: sent and opened logged once each (an earlier repeat of sent changes nothing new)');
SELECT is((SELECT format('%s/%s', tenant_id, properties->>'email_id') FROM pm.outbox WHERE event = 'email_opened'),
          :'ta' || '/' || pg_temp.uid('e', 1), '... with the tenant and the email');
INSERT INTO pm_oltp.emails (id, tenant_id, recipient, status, sent_at, bounced_at, bounce_type)
VALUES (pg_temp.uid('e', 2), :'ta', 'x@a.test', 'bounced', now(), now(), 'hard');
SELECT is((SELECT string_agg(event || ':' || level, ',' ORDER BY event) FROM pm.outbox
           WHERE properties->>'email_id' = pg_temp.uid('e', 2)::text),
          'email_bounced:warn,email_sent:info', 'an email inserted already sent and bounced logs both');
INSERT INTO pm_oltp.emails (id, tenant_id, recipient, status, direction, sent_at)
VALUES (pg_temp.uid('e', 3), :'ta', 'me@a.test', 'delivered', 'inbound', now());
SELECT is((SELECT count(*) FROM pm.outbox WHERE properties->>'email_id' = pg_temp.uid('e', 3)::text), 0::bigint,
          'an inbound email logs nothing');
DELETE FROM pm.outbox_sinks WHERE name = 'mail';
SELECT pm_oltp.record_email_event(pg_temp.uid('e', 1), 'clicked');
SELECT is(pg_temp.fanout('email_clicked'), '', 'without a sink that lists email_*, nothing is logged');

-- pm_fdw: a link that cannot connect becomes one tier_down.
CREATE SERVER outbox_dead_tier FOREIGN DATA WRAPPER pm_fdw
    OPTIONS (host '127.0.0.1', port '9', dbname 'x', tier 'content', connect_timeout '1');
CREATE USER MAPPING FOR CURRENT_USER SERVER outbox_dead_tier OPTIONS (user 'x', password 'y');
CREATE FOREIGN TABLE public.outbox_remote_x (id int) SERVER outbox_dead_tier OPTIONS (table_name 'x');
SELECT throws_ok('SELECT * FROM public.outbox_remote_x', '08006', NULL, 'the dead link fails');
SELECT is(pm.log_tier_transitions(), 1, 'pm_fdw: the down link is logged once');
SELECT is(pm.log_tier_transitions(), 0, '... and not again while it stays down');
SELECT is((SELECT format('%s/%s', level, properties->>'tier') FROM pm.outbox WHERE event = 'tier_down' AND sink = 'jobs'),
          'error/content', 'tier_down names the tier');

SELECT * FROM finish();
ROLLBACK;
