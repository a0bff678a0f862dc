-- pm_content tenant isolation (spec/content.md; ARCHITECTURE.md rule 5): the application
-- role sees and writes only its tenant's bodies, attachments and dictionaries, through
-- the functions and directly; cross-tenant reads return nothing and cross-tenant puts
-- fail; pm.rls_audit() stays empty with the content tier installed.
-- Statements run as a role through pg_temp.as_role(), so pgTAP's own temp tables are
-- only ever touched by the connecting superuser.
\ir ../include/common.psql

BEGIN;
CREATE EXTENSION IF NOT EXISTS pm_content;
SELECT pm.ensure_roles() \g /dev/null

SELECT plan(43);

------------------------------------------------------------------------------
-- Fixtures (as the superuser, the platform's provisioning path)
------------------------------------------------------------------------------
CREATE TEMP TABLE fx (name text PRIMARY KEY, tenant uuid, key text, att uuid);
GRANT SELECT ON fx TO PUBLIC;
INSERT INTO fx (name, tenant, key)
SELECT v.name, v.tenant::uuid,
       pm_content.put_body(v.tenant::uuid, 'Hello from ' || v.name,
                           '<p>' || repeat('Hello from ' || v.name || '. ', 30) || '</p>',
                           jsonb_build_object('Subject', 'Hi ' || v.name))
FROM (VALUES ('a1', 'aaaaaaaa-0000-4000-8000-000000000001'),
             ('a2', 'aaaaaaaa-0000-4000-8000-000000000001'),
             ('b1', 'bbbbbbbb-0000-4000-8000-000000000001')) v(name, tenant);
UPDATE fx SET att = pm_content.put_attachment(key, name || '.txt', 'text/plain',
                                              convert_to(repeat('attachment of ' || name, 50), 'UTF8'));
-- Both tenants get a dictionary, so decoding under RLS loads one.
SELECT count(pm_content.put_body(t::uuid, 'Body ' || g, '<p>Body ' || g || ' of the campaign</p>'))
FROM unnest(ARRAY['aaaaaaaa-0000-4000-8000-000000000001', 'bbbbbbbb-0000-4000-8000-000000000001']) t,
     generate_series(1, 20) g \g /dev/null
SELECT count(pm_content.train_dictionary(t::uuid, force => true))
FROM unnest(ARRAY['aaaaaaaa-0000-4000-8000-000000000001', 'bbbbbbbb-0000-4000-8000-000000000001']) t \g /dev/null
INSERT INTO fx (name, tenant, key)
SELECT 'a_dict', 'aaaaaaaa-0000-4000-8000-000000000001',
       pm_content.put_body('aaaaaaaa-0000-4000-8000-000000000001', 'Body 99', '<p>Body 99 of the campaign</p>');

\set A '''aaaaaaaa-0000-4000-8000-000000000001'''
\set B '''bbbbbbbb-0000-4000-8000-000000000001'''
SELECT key AS a1 FROM fx WHERE name = 'a1' \gset
SELECT key AS b1 FROM fx WHERE name = 'b1' \gset
SELECT att AS a1_att FROM fx WHERE name = 'a1' \gset
SELECT att AS b1_att FROM fx WHERE name = 'b1' \gset

------------------------------------------------------------------------------
-- Audit and policies
------------------------------------------------------------------------------
SELECT is_empty('SELECT * FROM pm.rls_audit()', 'pm.rls_audit() is empty with pm_content installed');
SELECT is((SELECT string_agg(tablename::text, ',' ORDER BY tablename::text COLLATE "C") FROM pg_policies
            WHERE schemaname = 'pm_content' AND policyname = 'tenant_isolation'),
          'attachment_blobs,attachments,content_objects,dictionaries',
          'every pm_content table has the tenant_isolation policy');
SELECT ok((SELECT bool_and(relrowsecurity AND relforcerowsecurity) FROM pg_class
            WHERE relnamespace = 'pm_content'::regnamespace AND relkind = 'r'),
          'RLS enabled and forced on every pm_content table');
SELECT is((SELECT compression_algorithm LIKE 'zstd-dict:%' FROM pm_content.content_objects
            WHERE storage_key = (SELECT key FROM fx WHERE name = 'a_dict')), true,
          'fixture a_dict is stored with a dictionary');

------------------------------------------------------------------------------
-- Reads as the application role in tenant A
------------------------------------------------------------------------------
SELECT is(pg_temp.as_role('pm_app', :A, format('SELECT * FROM pm_content.get(%L)', :'b1')), 'rows:0',
          'get(): B''s key reads as nothing for A');
SELECT is(pg_temp.as_role('pm_app', :A, format('SELECT * FROM pm_content.get(%L)', :'a1')), 'rows:1',
          'get(): A''s own key reads');
SELECT is(pg_temp.as_role('pm_app', :A,
          format('SELECT content_html FROM pm_content.get(%L)', (SELECT key FROM fx WHERE name = 'a_dict')), 'value'),
          '<p>Body 99 of the campaign</p>',
          'get(): A decodes its dictionary-compressed body under RLS');
SELECT is(pg_temp.as_role('pm_app', :A,
          format('SELECT string_agg(storage_key, '','' ORDER BY storage_key) FROM pm_content.get_many(ARRAY[%L, %L, %L])',
                 :'a1', :'b1', (SELECT key FROM fx WHERE name = 'a2')), 'value'),
          (SELECT string_agg(key, ',' ORDER BY key) FROM fx WHERE name IN ('a1', 'a2')),
          'get_many(): only A''s keys come back');
SELECT is(pg_temp.as_role('pm_app', :A, 'SELECT count(*) FROM pm_content.content_objects
                                          WHERE tenant_id <> pm.current_tenant_id()', 'value'), '0',
          'content_objects: no row of another tenant visible');
SELECT is(pg_temp.as_role('pm_app', :A, 'SELECT count(*) FROM pm_content.decoded_objects', 'value'),
          (SELECT count(*)::text FROM pm_content.content_objects WHERE tenant_id = :A),
          'decoded_objects view: exactly A''s rows (security_invoker)');
SELECT is(pg_temp.as_role('pm_app', :A, format('SELECT * FROM pm_content.attachments(%L)', :'b1')), 'rows:0',
          'attachments(): B''s body lists nothing for A');
SELECT is(pg_temp.as_role('pm_app', :A, format('SELECT * FROM pm_content.get_attachment(%L)', :'b1_att')),
          'rows:0', 'get_attachment(): B''s attachment reads as nothing for A');
SELECT is(pg_temp.as_role('pm_app', :A, format('SELECT * FROM pm_content.get_attachment(%L)', :'a1_att')),
          'rows:1', 'get_attachment(): A''s own attachment reads');
SELECT is(pg_temp.as_role('pm_app', :A, 'SELECT count(DISTINCT tenant_id) FROM pm_content.decoded_attachments', 'value'),
          '1', 'decoded_attachments view: one tenant only');
SELECT is(pg_temp.as_role('pm_app', :A, 'SELECT count(*) FROM pm_content.attachment_blobs
                                          WHERE tenant_id <> pm.current_tenant_id()', 'value'), '0',
          'attachment_blobs: no bytes of another tenant visible');
SELECT is(pg_temp.as_role('pm_app', :A, 'SELECT string_agg(tenant_id::text, '','') FROM pm_content.usage()', 'value'),
          'aaaaaaaa-0000-4000-8000-000000000001', 'usage(): A sees its own figures only');
SELECT is(pg_temp.as_role('pm_app', :A, 'SELECT count(*) FROM pm_content.dictionaries
                                          WHERE tenant_id <> pm.current_tenant_id()', 'value'), '0',
          'dictionaries: no dictionary of another tenant visible');
SELECT is(pg_temp.as_role('pm_app', :A, format('SELECT * FROM pm_content.missing_keys(ARRAY[%L, %L])', :'a1', :'b1'), 'value'),
          :'b1', 'missing_keys(): B''s key is missing from A''s point of view');

------------------------------------------------------------------------------
-- Writes as the application role in tenant A
------------------------------------------------------------------------------
SELECT is(pg_temp.as_role('pm_app', :A, format('SELECT pm_content.put_body(%L, %L, NULL)', :B, 'intrusion')),
          'error:42501', 'put_body() for tenant B in A''s context fails');
SELECT is(pg_temp.as_role('pm_app', :A, format('SELECT pm_content.put_attachment(%L, %L, %L, %L)',
                                              :'b1', 'x.txt', 'text/plain', 'intrusion')),
          'error:42501', 'put_attachment() onto B''s body fails');
SELECT is((SELECT count(*) FROM pm_content.content_objects WHERE content_text = 'intrusion'), 0::bigint,
          'nothing was stored by the failed puts');
SELECT is((SELECT count(*) FROM pm_content.attachments WHERE filename = 'x.txt'), 0::bigint,
          'no attachment was stored by the failed put');
SELECT is(pg_temp.as_role('pm_app', :A, format('SELECT pm_content.put_body(%L, %L, %L)', :A, 'mine', '<p>mine</p>'), 'value'),
          pm.body_storage_key(:A, 'mine', '<p>mine</p>', NULL), 'put_body() for A in A''s context stores');
SELECT is(pg_temp.as_role('pm_app', :A, format('SELECT pm_content.put_attachment(%L, %L, %L, %L) IS NOT NULL',
                                              :'a1', 'mine.txt', 'text/plain', 'mine'), 'value'),
          'true', 'put_attachment() onto A''s body works, bytes included');
SELECT is(pg_temp.as_role('pm_app', :A, format(
              $$INSERT INTO pm_content.content_objects (storage_key, tenant_id, content_text, compression_algorithm,
                                                         content_hash)
                SELECT k, %L, 'forged', 'none', split_part(k, '.', 4)
                FROM (SELECT replace(%L, 'pmk1.body.', 'pmk1.body.') AS k) x$$,
              :B, replace(:'b1', right(:'b1', 4), 'ffff'))),
          'error:42501', 'a direct INSERT of a B row as A violates the policy');
SELECT is(pg_temp.as_role('pm_app', :A, format('UPDATE pm_content.content_objects SET expires_at = now() WHERE storage_key = %L', :'b1')),
          'rows:0', 'a direct UPDATE of B''s row touches nothing');
SELECT is(pg_temp.as_role('pm_app', :A, format('DELETE FROM pm_content.attachment_blobs WHERE tenant_id = %L', :B)),
          'rows:0', 'a direct DELETE of B''s bytes deletes nothing');
SELECT is(pg_temp.as_role('pm_app', :A, format('SELECT pm_content.train_dictionary(%L, force => true)', :A)),
          'error:42501', 'the application role cannot write dictionaries (training is a platform job)');
SELECT is(pg_temp.as_role('pm_app', :A, format($$SELECT pm_content.collect_orphans('{}')$$)), 'rows:1',
          'collect_orphans() as A runs (and can only see A''s objects)');
SELECT is((SELECT count(*) FROM pm_content.content_objects WHERE tenant_id = :B), 21::bigint,
          'B''s objects are all still there');

------------------------------------------------------------------------------
-- No context, deny mode, superuser with a context, staff
------------------------------------------------------------------------------
SELECT is(pg_temp.as_role('pm_app', NULL, format('SELECT * FROM pm_content.get(%L)', :'a1')), 'error:42501',
          'no tenant context: get() is an error (pm.missing_tenant_context = error)');
SELECT is(pg_temp.as_role('pm_app', NULL, format('SELECT pm_content.put_body(%L, %L, NULL)', :A, 'x')),
          'error:42501', 'no tenant context: put_body() is an error');
SELECT is(pg_temp.as_role('pm_app', NULL, format('SELECT * FROM pm_content.get(%L)', :'a1'), 'rows', 'deny'),
          'rows:0', 'no tenant context in deny mode: get() reads nothing');
SELECT is(pg_temp.as_role('postgres', :A, format('SELECT * FROM pm_content.get(%L)', :'b1')), 'rows:0',
          'a role that bypasses RLS still reads nothing of B in A''s context (the key names its tenant)');
SELECT is(pg_temp.as_role('postgres', :A, format('SELECT * FROM pm_content.get_many(ARRAY[%L, %L])', :'a1', :'b1')),
          'rows:1', 'get_many() in A''s context drops B''s keys for every role');
SELECT is(pg_temp.as_role('postgres', :A, format('SELECT * FROM pm_content.attachments(%L)', :'b1')), 'rows:0',
          'attachments() in A''s context lists nothing of B for every role');
SELECT is(pg_temp.as_role('pm_staff', NULL, format('SELECT * FROM pm_content.get_many(ARRAY[%L, %L])', :'a1', :'b1')),
          'rows:2', 'staff (BYPASSRLS, no context) read both tenants');
SELECT is(pg_temp.as_role('pm_staff', NULL, format('SELECT pm_content.put_body(%L, %L, NULL)', :A, 'staff')),
          'error:42501', 'staff cannot write content');
SELECT is(pg_temp.as_role('pm_service', NULL, format('SELECT pm_content.put_body(%L, %L, NULL)', :B, 'service'), 'value'),
          pm.body_storage_key(:B, 'service', NULL, NULL), 'the service role writes for any tenant');
SELECT is(pg_temp.as_role('pm_service', NULL, format('SELECT pm_content.train_dictionary(%L, force => true) IS NOT NULL', :B), 'value'),
          'true', 'the service role trains dictionaries');

------------------------------------------------------------------------------
-- Grants follow pm.table_access
------------------------------------------------------------------------------
SELECT ok(has_table_privilege('pm_app', 'pm_content.content_objects', 'INSERT')
          AND has_table_privilege('pm_app', 'pm_content.attachments', 'DELETE')
          AND has_table_privilege('pm_app', 'pm_content.attachment_blobs', 'UPDATE'),
          'pm_app may write bodies, attachments and blobs (filtered by RLS)');
SELECT ok(has_table_privilege('pm_app', 'pm_content.dictionaries', 'SELECT')
          AND NOT has_table_privilege('pm_app', 'pm_content.dictionaries', 'INSERT'),
          'pm_app may read dictionaries, not write them');
SELECT is(pg_temp.as_role('pm_app', :A, 'SELECT count(*) FROM pm_content.get_many(ARRAY[]::text[])', 'value'), '0',
          'an empty key list reads nothing');

SELECT * FROM finish();
ROLLBACK;
