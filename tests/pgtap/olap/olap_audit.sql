-- pm_olap inside one database (no link needed): the audit log's chain, append-only rules,
-- forgery and deletion found by audit_verify, retention keeping the chain verifiable,
-- idempotent delivery, RLS on every table, bad input.  Rollups across the link:
-- tests/integration/olap_rollup.sh.
\ir ../include/common.psql
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION pm_olap CASCADE;  -- and pm_fdw, which the pgTAP database does not have
RESET client_min_messages;
SELECT plan(26);

SELECT pm.ensure_roles();
SELECT pg_temp.uid('a', 1) AS ta, pg_temp.uid('b', 1) AS tb \gset

-- ---------------------------------------------------------------- chain
SELECT ok(pm_olap.audit(pg_temp.uid('f', 1), 'role.change', 'tenant_user', 'u1', :'ta',
                        '{"roles": ["member"]}', '{"roles": ["admin"]}') > 0, 'audit() returns the new id');
SELECT pm_olap.audit(NULL, 'plan.change', 'subscription', 's' || i, :'tb', NULL,
                     jsonb_build_object('plan', 'p' || i), '10.0.0.1', 'curl', 'note ' || i, '{"k": 1}',
                     'restricted', 'financial')
FROM generate_series(1, 5) i;
SELECT is((SELECT array_agg(seq ORDER BY seq) FROM pm_olap.admin_audit_log), '{1,2,3,4,5,6}'::bigint[],
          'seq is gapless in insertion order');
SELECT ok((SELECT bool_and(l.prev_hash = p.row_hash) FROM pm_olap.admin_audit_log l
           JOIN pm_olap.admin_audit_log p ON p.seq = l.seq - 1), 'each row chains to the previous row''s hash');
SELECT is((SELECT encode(row_hash, 'hex') FROM pm_olap.admin_audit_log WHERE seq = 1),
          (SELECT encode(sha256(convert_to(jsonb_build_array(1, to_char(creation_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               admin_user_id, action, resource_type, resource_id, tenant_id, old_values, new_values, ip_address,
               user_agent, notes, metadata, data_classification, retention_category)::text, 'UTF8')), 'hex')
           FROM pm_olap.admin_audit_log WHERE seq = 1),
          'the first hash is PostgreSQL''s sha256 over the canonical content');
SELECT is_empty($$SELECT * FROM pm_olap.audit_verify()$$, 'an intact chain verifies');
SELECT throws_ok($$INSERT INTO pm_olap.admin_audit_log (seq, creation_time, action, resource_type, tenant_id,
                     data_classification, retention_category, prev_hash, row_hash)
                   VALUES (99, '2000-01-01', 'direct', 'x', '00000000-0000-4000-8000-000000000000', 'internal',
                           'standard', '\x00', '\x00')$$,
                 '22023', NULL, 'a back-dated direct INSERT is refused');
INSERT INTO pm_olap.admin_audit_log (seq, creation_time, action, resource_type, tenant_id,
                                     data_classification, retention_category, prev_hash, row_hash)
VALUES (99, now(), 'direct', 'x', :'ta', 'internal', 'standard', '\x00', '\x00');
SELECT is((SELECT seq || ' ' || (prev_hash = (SELECT row_hash FROM pm_olap.admin_audit_log WHERE seq = 6))
           FROM pm_olap.admin_audit_log WHERE action = 'direct'),
          '7 true', 'a direct INSERT is chained by the trigger: its seq and hashes are not the caller''s');

-- ---------------------------------------------------------------- append-only
SELECT throws_ok($$UPDATE pm_olap.admin_audit_log SET notes = 'x' WHERE seq = 2$$, '42501',
                 'pm_olap.admin_audit_log is append-only: UPDATE is not allowed', 'UPDATE is refused, also for the owner');
SELECT throws_ok($$DELETE FROM pm_olap.admin_audit_log WHERE seq = 2$$, '42501',
                 'pm_olap.admin_audit_log is append-only: DELETE is not allowed', 'DELETE is refused');
SELECT throws_ok($$TRUNCATE pm_olap.admin_audit_log$$, '42501', NULL, 'TRUNCATE of the log is refused');
SELECT tableoid::regclass AS part FROM pm_olap.admin_audit_log WHERE seq = 2 \gset
SELECT throws_ok(format('TRUNCATE %s', :'part'),
                 '42501', NULL, 'TRUNCATE of one partition is refused too');
SET LOCAL session_replication_role = replica;
SELECT throws_ok($$DELETE FROM pm_olap.admin_audit_log WHERE seq = 2$$, '42501', NULL,
                 'the refusal holds under session_replication_role = replica');
RESET session_replication_role;

-- ---------------------------------------------------------------- forgery and deletion found
SAVEPOINT tamper;
ALTER TABLE pm_olap.admin_audit_log DISABLE TRIGGER audit_append_only;
UPDATE pm_olap.admin_audit_log SET notes = 'forged' WHERE seq = 3;
SELECT is((SELECT seq || ': ' || problem FROM pm_olap.audit_verify()), '3: content does not match its hash (row altered)',
          'a forged row is named by audit_verify');
UPDATE pm_olap.admin_audit_log l SET row_hash = pm_olap.audit_row_hash(l) WHERE seq = 3;
SELECT is((SELECT seq || ': ' || problem FROM pm_olap.audit_verify()),
          '4: prev_hash does not match the previous row''s hash (row forged or chain rewritten)',
          'a forged row with a recomputed hash breaks the next link');
ROLLBACK TO SAVEPOINT tamper;
SAVEPOINT del;
ALTER TABLE pm_olap.admin_audit_log DISABLE TRIGGER audit_append_only;
DELETE FROM pm_olap.admin_audit_log WHERE seq = 4;
SELECT is((SELECT seq || ': ' || problem FROM pm_olap.audit_verify()), '5: rows 4 to 4 are missing',
          'a deleted row is found as a gap');
DELETE FROM pm_olap.admin_audit_log WHERE seq >= 4;
SELECT is((SELECT seq || ': ' || problem FROM pm_olap.audit_verify()), '7: rows 4 to 7 are missing (the chain head is at 7)',
          'deleted newest rows are found against the chain head');
ROLLBACK TO SAVEPOINT del;
SELECT is_empty($$SELECT * FROM pm_olap.audit_verify()$$, 'the rolled-back tampering left the chain intact');

-- ---------------------------------------------------------------- retention
SAVEPOINT ret;
ALTER TABLE pm_olap.admin_audit_log DISABLE TRIGGER audit_chain;
ALTER TABLE pm_olap.admin_audit_log DISABLE TRIGGER audit_append_only;
-- Age the first two rows by three years in an old partition (as if written then).
CREATE TABLE pm_olap.admin_audit_log_old PARTITION OF pm_olap.admin_audit_log
    FOR VALUES FROM ('2020-01-01') TO ('2020-02-01');
UPDATE pm_olap.admin_audit_log SET creation_time = '2020-01-15' WHERE seq <= 1;
ALTER TABLE pm_olap.admin_audit_log ENABLE ALWAYS TRIGGER audit_chain;
ALTER TABLE pm_olap.admin_audit_log ENABLE ALWAYS TRIGGER audit_append_only;
SELECT is(pm_olap.audit_retention(), 1, 'retention drops the expired oldest partition');
SELECT is((SELECT min(seq) FROM pm_olap.admin_audit_log), 2::bigint, 'its rows are gone');
SELECT is_empty($$SELECT * FROM pm_olap.audit_verify()$$, 'the chain verifies from the first remaining row (anchor kept)');
ROLLBACK TO SAVEPOINT ret;

-- ---------------------------------------------------------------- idempotency, isolation, errors
SELECT is(pm_olap.audit(NULL, 'tenant.config', 'tenant', 't', :'ta', source_key => 'job-1'),
          pm_olap.audit(NULL, 'tenant.config', 'tenant', 't', :'ta', source_key => 'job-1'),
          'a repeated delivery with the same source key returns the first row, adds none');
SELECT throws_ok($$SELECT pm_olap.audit(NULL, 'x', 'y', NULL, NULL, retention_category => 'forever')$$, '22023',
                 'unknown retention_category "forever"; expected one of: financial, legal_hold, security, standard',
                 'an unknown retention category is named');
SELECT throws_ok($$SELECT pm_olap.audit(NULL, NULL, 'y', NULL, NULL)$$, '22004',
                 'pm_olap.audit: action must be given', 'a NULL action is refused');
SELECT is(pg_temp.as_role('pm_app', :'ta', 'SELECT 1 FROM pm_olap.admin_audit_log'), 'error:42501',
          'pm_app cannot read the audit log');
INSERT INTO pm_olap.campaign_analytics (tenant_id, campaign_id, day, sent)
VALUES (:'ta', pg_temp.uid('c', 1), current_date, 5), (:'tb', pg_temp.uid('c', 2), current_date, 7);
SELECT is(pg_temp.as_role('pm_app', :'ta', 'SELECT sum(sent) FROM pm_olap.campaign_analytics', 'value'), '5',
          'a tenant reads only its own analytics');
SELECT is_empty($$SELECT * FROM pm.rls_audit()$$, 'pm.rls_audit() is empty with pm_olap installed');

SELECT * FROM finish();
ROLLBACK;
