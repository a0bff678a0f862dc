-- Fuzzing the SQL surface that takes caller-controlled text (spec/core.md §5: every
-- caller-triggered error has a documented SQLSTATE, nothing a caller sends crashes a
-- backend).  Deterministic: setseed() fixes every random choice.  Each call runs in its
-- own plpgsql exception block; the SQLSTATEs seen must be a subset of the documented
-- ones, and results are checked against independent oracles (the key layout, the uuid
-- cast, jsonb re-serialisation).  A backend crash ends the session and fails the plan.
--
--   storage keys   20k random + 20k mutated-valid keys through storage_key_parse,
--                  storage_key_is_valid, storage_key_shard                  → 22023
--   tenant context 6k random app.current_tenant_id / app.current_user_id settings
--                  through current_tenant_id / current_user_id / rls_tenant_id → 22P02, 42501
--   body keys      3k random JSON documents as headers of pm.body_storage_key → never errors
--   dns_records    2k documents inserted into pm_oltp.domains (when installed) → 22023, 23514
\ir ../include/common.psql

BEGIN;
SELECT plan(25);
SELECT setseed(0.20240601);

------------------------------------------------------------------------------
-- Generators (all randomness comes from random(), so setseed() makes them repeatable)
------------------------------------------------------------------------------
CREATE FUNCTION pg_temp.rint(lo int, hi int) RETURNS int LANGUAGE sql VOLATILE AS
$$ SELECT lo + floor(random() * (hi - lo + 1))::int $$;

CREATE FUNCTION pg_temp.pick(choices text[]) RETURNS text LANGUAGE sql VOLATILE AS
$$ SELECT choices[1 + floor(random() * cardinality(choices))::int] $$;

CREATE FUNCTION pg_temp.hex(digits int) RETURNS text LANGUAGE sql VOLATILE AS
$$ SELECT left(md5(random()::text) || md5(random()::text) || md5(random()::text), digits) $$;

-- One byte-ish unit a parser cares about: hex of both cases, separators, near-miss
-- letters, whitespace, control bytes, non-ASCII.
CREATE FUNCTION pg_temp.odd_char() RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT pg_temp.pick(ARRAY['0', '7', '9', 'a', 'c', 'f', 'A', 'F', 'g', 'z', 'G', '.', '.',
                              '-', '_', ' ', E'\t', E'\n', E'\r', chr(1), chr(127), 'é', '€',
                              '😀', '''', '"', '\', '%', '/', ':'])
$$;

CREATE FUNCTION pg_temp.valid_key() RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT pm.storage_key(md5(random()::text)::uuid,
                          pg_temp.pick(ARRAY['body', 'att', 'raw', 'arc']),
                          convert_to(md5(random()::text), 'UTF8'))
$$;

-- Random text built from key-shaped tokens (so many inputs get deep into the parser)
-- or from odd characters.
CREATE FUNCTION pg_temp.random_key_text() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    s text := '';
    n int := pg_temp.rint(0, 8);
BEGIN
    IF random() < 0.5 THEN
        FOR i IN 1 .. n LOOP
            s := s || pg_temp.pick(ARRAY['pmk1.', 'pmk1.', 'pmk2.', 'pmk.', 'PMK1.', 'body', 'att',
                                         'raw', 'arc', 'BODY', 'blob', '.', '..',
                                         pg_temp.hex(32), pg_temp.hex(32), pg_temp.hex(64),
                                         pg_temp.hex(64), upper(pg_temp.hex(32)),
                                         pg_temp.hex(pg_temp.rint(0, 70)), pg_temp.odd_char()]);
        END LOOP;
    ELSE
        FOR i IN 1 .. pg_temp.rint(0, 120) LOOP
            s := s || pg_temp.odd_char();
        END LOOP;
    END IF;
    RETURN s;
END $$;

CREATE FUNCTION pg_temp.mutate(k text) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    pos int;
BEGIN
    FOR round IN 1 .. pg_temp.rint(1, 3) LOOP
        pos := pg_temp.rint(1, greatest(length(k), 1));
        CASE pg_temp.rint(0, 8)
        WHEN 0 THEN k := overlay(k PLACING pg_temp.odd_char() FROM pos FOR 1);     -- replace
        WHEN 1 THEN                                                              -- hex for hex
            IF pos > 10 AND substr(k, pos, 1) ~ '^[0-9a-f]$' THEN
                k := overlay(k PLACING pg_temp.hex(1) FROM pos FOR 1);
            END IF;
        WHEN 2 THEN k := overlay(k PLACING pg_temp.odd_char() FROM pos FOR 0);     -- insert
        WHEN 3 THEN k := overlay(k PLACING '' FROM pos FOR 1);                     -- delete
        WHEN 4 THEN k := overlay(k PLACING upper(substr(k, pos, 1)) FROM pos FOR 1);
        WHEN 5 THEN k := left(k, pos - 1);                                         -- truncate
        WHEN 6 THEN k := k || pg_temp.pick(ARRAY['.', '.gz', 'x', ' ', E'\n', pg_temp.hex(2)]);
        WHEN 7 THEN k := regexp_replace(k, '^pmk1\.[^.]*', 'pmk1.' || pg_temp.pick(
                             ARRAY['body', 'att', 'raw', 'arc', 'Body', 'blob', '']));
        ELSE        k := overlay(k PLACING substr(k, pos, pg_temp.rint(1, 40)) FROM pos FOR 0);
        END CASE;
    END LOOP;
    RETURN k;
END $$;

------------------------------------------------------------------------------
-- 1. Storage keys
------------------------------------------------------------------------------
CREATE FUNCTION pg_temp.probe_key(k text, shards int,
                                  OUT valid boolean, OUT valid_state text, OUT parse_state text,
                                  OUT round_trips boolean, OUT shard int, OUT shard_state text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r record;
BEGIN
    valid_state := 'ok';
    BEGIN
        valid := pm.storage_key_is_valid(k);
    EXCEPTION WHEN others THEN
        valid_state := SQLSTATE;
    END;

    parse_state := 'ok';
    BEGIN
        SELECT * INTO STRICT r FROM pm.storage_key_parse(k);
        round_trips := r.version = 1 AND
            'pmk1.' || r.kind || '.' || replace(r.tenant_id::text, '-', '') || '.' || r.digest = k;
    EXCEPTION WHEN others THEN
        parse_state := SQLSTATE;
    END;

    shard_state := 'ok';
    BEGIN
        shard := pm.storage_key_shard(k, shards);
    EXCEPTION WHEN others THEN
        shard_state := SQLSTATE;
    END;
END $$;

CREATE TEMP TABLE key_inputs AS
SELECT 'random' AS source, pg_temp.random_key_text() AS k,
       CASE WHEN random() < 0.05 THEN pg_temp.pick(ARRAY['0', '-1', '65537', '2147483647'])::int
            ELSE pg_temp.rint(1, 1000) END AS shards
FROM generate_series(1, 20000)
UNION ALL
SELECT 'mutated', pg_temp.mutate(pg_temp.valid_key()), pg_temp.rint(1, 1000)
FROM generate_series(1, 20000);

CREATE TEMP TABLE key_results AS
SELECT i.*, p.* FROM key_inputs i, LATERAL pg_temp.probe_key(i.k, i.shards) p;

SELECT is((SELECT count(*) FROM key_results), 40000::bigint, '40000 keys probed');
SELECT is((SELECT count(*) FROM key_results WHERE valid_state <> 'ok' OR valid IS NULL), 0::bigint,
          'storage_key_is_valid never raises and never returns NULL for a non-NULL key');
SELECT ok((SELECT coalesce(array_agg(DISTINCT parse_state), '{}') FROM key_results WHERE parse_state <> 'ok')
          <@ ARRAY['22023'],
          'storage_key_parse raises only 22023');
SELECT ok((SELECT coalesce(array_agg(DISTINCT shard_state), '{}') FROM key_results WHERE shard_state <> 'ok')
          <@ ARRAY['22023'],
          'storage_key_shard raises only 22023');
SELECT is((SELECT count(*) FROM key_results WHERE valid <> (parse_state = 'ok')), 0::bigint,
          'storage_key_is_valid agrees with storage_key_parse');
SELECT is((SELECT count(*) FROM key_results
           WHERE (shard_state = 'ok') <> (valid AND shards BETWEEN 1 AND 65536)), 0::bigint,
          'storage_key_shard succeeds exactly for valid keys and shard counts in 1..65536');
SELECT is((SELECT count(*) FROM key_results
           WHERE shard_state = 'ok' AND NOT shard BETWEEN 0 AND shards - 1), 0::bigint,
          'every shard is within 0..shards-1');
SELECT is((SELECT count(*) FROM key_results WHERE parse_state = 'ok' AND NOT round_trips),
          0::bigint, 'every key that parses formats back to the identical text');
SELECT cmp_ok((SELECT count(*) FROM key_results WHERE source = 'mutated' AND valid), '>',
              1000::bigint, 'mutations produced many still-valid keys (so round-trip was tested)');
SELECT cmp_ok((SELECT count(*) FROM key_results WHERE NOT valid), '>', 25000::bigint,
              'and most inputs were malformed (so the error paths were exercised)');

------------------------------------------------------------------------------
-- 2. Tenant context settings (documented: 22P02 malformed setting, 42501 missing context)
------------------------------------------------------------------------------
CREATE FUNCTION pg_temp.random_setting() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    u text := md5(random()::text)::uuid::text;
BEGIN
    CASE pg_temp.rint(0, 11)
    WHEN 0 THEN RETURN u;
    WHEN 1 THEN RETURN upper(u);
    WHEN 2 THEN RETURN replace(u, '-', '');
    WHEN 3 THEN RETURN '{' || u || '}';
    WHEN 4 THEN RETURN '';
    WHEN 5 THEN RETURN pg_temp.pick(ARRAY[' ', '', '']) || u || pg_temp.pick(ARRAY[' ', E'\n', '']);
    WHEN 6 THEN RETURN left(u, pg_temp.rint(0, 35));
    WHEN 7 THEN RETURN u || pg_temp.odd_char();
    WHEN 8 THEN RETURN pg_temp.mutate(u);
    WHEN 9 THEN RETURN pg_temp.pick(ARRAY['null', 'NULL', 'default', '0', '-', '{}', 'none']);
    WHEN 10 THEN RETURN repeat(u, pg_temp.rint(2, 50));
    ELSE RETURN pg_temp.random_key_text();
    END CASE;
END $$;

CREATE FUNCTION pg_temp.call_state(fn text, OUT value uuid, OUT state text)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    state := 'ok';
    EXECUTE 'SELECT ' || fn || '()' INTO value;
EXCEPTION WHEN others THEN
    state := SQLSTATE;
END $$;

-- One probe: sets both settings (outside any exception block, so no subtransaction
-- rollback undoes them), then reads them back the way policies and apps do.
CREATE FUNCTION pg_temp.probe_context(tenant_text text, user_text text, missing text,
                                      OUT cast_tenant uuid, OUT tenant_castable boolean,
                                      OUT cast_user uuid, OUT user_castable boolean,
                                      OUT tenant uuid, OUT tenant_state text,
                                      OUT usr uuid, OUT user_state text,
                                      OUT rls uuid, OUT rls_state text)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    tenant_castable := true;
    BEGIN
        cast_tenant := tenant_text::uuid;
    EXCEPTION WHEN others THEN
        tenant_castable := false;
    END;
    user_castable := true;
    BEGIN
        cast_user := user_text::uuid;
    EXCEPTION WHEN others THEN
        user_castable := false;
    END;

    PERFORM set_config('pm.missing_tenant_context', missing, true);
    PERFORM set_config('app.current_tenant_id', tenant_text, true);
    PERFORM set_config('app.current_user_id', user_text, true);
    SELECT c.value, c.state INTO tenant, tenant_state FROM pg_temp.call_state('pm.current_tenant_id') c;
    SELECT c.value, c.state INTO usr, user_state FROM pg_temp.call_state('pm.current_user_id') c;
    SELECT c.value, c.state INTO rls, rls_state FROM pg_temp.call_state('pm.rls_tenant_id') c;
END $$;

SELECT pm.current_tenant_id();  -- loads pm_core, which defines pm.missing_tenant_context

-- Every fifth probe repeats the previous tenant setting, so cache hits are covered as
-- well as invalidation on every change.  Probes run in g order (a fresh temp table's
-- sequential scan returns rows in insertion order).
CREATE TEMP TABLE context_inputs AS
SELECT g, CASE WHEN g % 5 = 0 THEN lag(tenant_text) OVER (ORDER BY g) ELSE tenant_text END
              AS tenant_text,
       user_text, missing
FROM (SELECT g, pg_temp.random_setting() AS tenant_text, pg_temp.random_setting() AS user_text,
             CASE WHEN g % 4 = 0 THEN 'deny' ELSE 'error' END AS missing
      FROM generate_series(1, 6000) g) x
ORDER BY g;

CREATE TEMP TABLE context_results AS
SELECT i.*, p.* FROM context_inputs i, LATERAL pg_temp.probe_context(i.tenant_text, i.user_text,
                                                                     i.missing) p
ORDER BY i.g;

SELECT ok((SELECT coalesce(array_agg(DISTINCT s), '{}') FROM context_results,
                  unnest(ARRAY[tenant_state, user_state, rls_state]) s WHERE s <> 'ok')
          <@ ARRAY['22P02', '42501'],
          'tenant-context functions raise only 22P02 and 42501');
SELECT is_empty($$
    SELECT g, tenant_text, tenant, tenant_state FROM context_results
    WHERE NOT CASE WHEN tenant_text = '' THEN tenant IS NULL AND tenant_state = 'ok'
                   WHEN tenant_castable THEN tenant = cast_tenant AND tenant_state = 'ok'
                   ELSE tenant_state = '22P02' END
    $$, 'current_tenant_id(): the uuid cast''s answer for every setting, NULL for empty, else 22P02');
SELECT is_empty($$
    SELECT g, user_text, usr, user_state FROM context_results
    WHERE NOT CASE WHEN user_text = '' THEN usr IS NULL AND user_state = 'ok'
                   WHEN user_castable THEN usr = cast_user AND user_state = 'ok'
                   ELSE user_state = '22P02' END
    $$, 'current_user_id(): the same for the user setting');
SELECT is_empty($$
    SELECT g, tenant_text, missing, rls, rls_state FROM context_results
    WHERE NOT CASE WHEN tenant_text = '' AND missing = 'error' THEN rls_state = '42501'
                   WHEN tenant_text = '' THEN rls IS NULL AND rls_state = 'ok'
                   WHEN tenant_castable THEN rls = cast_tenant AND rls_state = 'ok'
                   ELSE rls_state = '22P02' END
    $$, 'rls_tenant_id(): 42501 or NULL (deny) when unset, 22P02 when malformed, else the tenant');
SELECT cmp_ok((SELECT count(DISTINCT tenant_state) FROM context_results), '=', 2::bigint,
              'settings included both valid and malformed tenants');

------------------------------------------------------------------------------
-- 3. Random JSON documents as body headers
------------------------------------------------------------------------------
CREATE FUNCTION pg_temp.random_json(depth int) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    parts text[] := '{}';
BEGIN
    CASE pg_temp.rint(CASE WHEN depth >= 4 THEN 2 ELSE 0 END, 7)
    WHEN 0 THEN
        FOR i IN 1 .. pg_temp.rint(0, 5) LOOP
            parts := parts || (to_json(pg_temp.pick(ARRAY['a', 'b', 'From', 'To', 'Subject',
                                                          'X-Id', '', 'é', 'a b', 'k' || i]))::text
                               || pg_temp.pick(ARRAY[':', ' : ', E':\n']) || pg_temp.random_json(depth + 1));
        END LOOP;
        RETURN '{' || array_to_string(parts, pg_temp.pick(ARRAY[',', ', '])) || '}';
    WHEN 1 THEN
        FOR i IN 1 .. pg_temp.rint(0, 5) LOOP
            parts := parts || pg_temp.random_json(depth + 1);
        END LOOP;
        RETURN '[' || array_to_string(parts, ',') || ']';
    WHEN 2, 3 THEN
        RETURN to_json(pg_temp.random_key_text())::text;
    WHEN 4 THEN
        RETURN pg_temp.pick(ARRAY['"\u00e9"', '"\ud83d\ude00"', '"tab\there"', '"q\"uote"',
                                  '"back\\slash"', '"\/"', '"line\nbreak"', '""']);
    WHEN 5 THEN
        RETURN pg_temp.pick(ARRAY['0', '-0', '1', '1.0', '1.50', '-12.5e3', '1E+2', '0.000001',
                                  '123456789012345678901234567890', '1e308', '-1e-308',
                                  pg_temp.rint(-100000, 100000)::text]);
    ELSE
        RETURN pg_temp.pick(ARRAY['true', 'false', 'null']);
    END CASE;
END $$;

-- Some documents are broken on purpose: the cast to jsonb rejects them (22P02, or
-- 22P05 for \u0000) before pm.body_storage_key is reached.
CREATE TEMP TABLE json_inputs AS
SELECT g, md5((g % 3)::text)::uuid AS tenant,
       CASE WHEN random() < 0.2 THEN NULL ELSE pg_temp.random_key_text() END AS txt,
       CASE WHEN random() < 0.2 THEN NULL ELSE pg_temp.random_key_text() END AS html,
       CASE pg_temp.rint(0, 19)
       WHEN 0 THEN left(d, pg_temp.rint(0, greatest(length(d) - 1, 0)))
       WHEN 1 THEN '{"h":"\u0000"}'
       WHEN 2 THEN '"\ud800"'
       ELSE d END AS doc
FROM (SELECT g, pg_temp.random_json(0) AS d FROM generate_series(1, 3000) g) x;

CREATE FUNCTION pg_temp.probe_body(tenant uuid, txt text, html text, doc text,
                                   OUT headers jsonb, OUT cast_state text,
                                   OUT key text, OUT key_state text,
                                   OUT reparsed_key text, OUT reordered_key text)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    cast_state := 'ok';
    BEGIN
        headers := doc::jsonb;
    EXCEPTION WHEN others THEN
        cast_state := SQLSTATE;
        RETURN;
    END;
    key_state := 'ok';
    BEGIN
        key := pm.body_storage_key(tenant, txt, html, headers);
        reparsed_key := pm.body_storage_key(tenant, txt, html, headers::text::jsonb);
        IF jsonb_typeof(headers) = 'object' THEN
            -- The same object written with its top-level keys in reverse order.
            reordered_key := pm.body_storage_key(tenant, txt, html, (
                SELECT ('{' || coalesce(string_agg(to_json(e.key)::text || ':' || e.value::text,
                                                   ',' ORDER BY e.key DESC), '') || '}')::jsonb
                FROM jsonb_each(headers) e));
        END IF;
    EXCEPTION WHEN others THEN
        key_state := SQLSTATE;
    END;
END $$;

CREATE TEMP TABLE json_results AS
SELECT i.*, p.* FROM json_inputs i, LATERAL pg_temp.probe_body(i.tenant, i.txt, i.html, i.doc) p;

SELECT ok((SELECT coalesce(array_agg(DISTINCT cast_state), '{}') FROM json_results WHERE cast_state <> 'ok')
          <@ ARRAY['22P02', '22P05'], 'only the jsonb cast rejects broken documents (22P02/22P05)');
SELECT is((SELECT count(*) FROM json_results WHERE cast_state = 'ok' AND key_state <> 'ok'),
          0::bigint, 'pm.body_storage_key never raises for a non-NULL tenant');
SELECT is((SELECT count(*) FROM json_results
           WHERE cast_state = 'ok' AND NOT (pm.storage_key_is_valid(key) AND
                 key ~ ('^pmk1\.body\.' || replace(tenant::text, '-', '') || '\.[0-9a-f]{64}$'))),
          0::bigint, 'every body key is a valid body key of its tenant');
SELECT is((SELECT count(*) FROM json_results
           WHERE cast_state = 'ok' AND (key <> reparsed_key OR key <> reordered_key)),
          0::bigint, 'equal jsonb (re-serialised, keys reordered) gives the same key');
SELECT is((SELECT count(DISTINCT key) FROM json_results WHERE cast_state = 'ok'),
          (SELECT count(DISTINCT (tenant, txt, html, headers::text)) FROM json_results
           WHERE cast_state = 'ok'),
          'distinct bodies give distinct keys (and equal bodies equal keys)');

------------------------------------------------------------------------------
-- 4. dns_records documents through pm_oltp.domains (documented: 22023, 23514)
------------------------------------------------------------------------------
-- `n` only makes a LATERAL call depend on the outer row: an uncorrelated function
-- scan would be evaluated once and replayed for every row.
CREATE FUNCTION pg_temp.random_dns_doc(n int, OUT doc text, OUT well_formed boolean)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    recs text[] := '{}';
    fields text[];
    bad boolean := false;
    v text;
BEGIN
    IF random() < 0.25 THEN
        doc := pg_temp.random_json(0);
        well_formed := NULL;  -- unknown: whatever the validator says, but only 22023/23514
        RETURN;
    END IF;
    FOR i IN 1 .. pg_temp.rint(0, 4) LOOP
        fields := '{}';
        v := pg_temp.pick(ARRAY['SPF', 'DKIM', 'DMARC', 'MX', 'A', 'AAAA', 'CNAME', 'TXT', 'spf', '']);
        bad := bad OR NOT v = ANY (ARRAY['SPF', 'DKIM', 'DMARC', 'MX', 'A', 'AAAA', 'CNAME']);
        fields := fields || ('"record_type":' || to_json(v)::text);
        FOREACH v IN ARRAY ARRAY['name', 'value'] LOOP
            CASE pg_temp.rint(0, 9)
            WHEN 0 THEN bad := true;                                            -- missing
            WHEN 1 THEN bad := true; fields := fields || (to_json(v)::text || ':""');
            WHEN 2 THEN bad := true; fields := fields || (to_json(v)::text || ':42');
            ELSE fields := fields || (to_json(v)::text || ':' ||
                                      to_json(coalesce(nullif(pg_temp.random_key_text(), ''), 'x'))::text);
            END CASE;
        END LOOP;
        CASE pg_temp.rint(0, 7)
        WHEN 0 THEN NULL;                                                        -- optional
        WHEN 1 THEN bad := true; fields := fields || '"ttl":-1'::text;
        WHEN 2 THEN bad := true; fields := fields || '"ttl":1.5'::text;
        WHEN 3 THEN bad := true; fields := fields || '"ttl":"300"'::text;
        WHEN 4 THEN bad := true; fields := fields || '"ttl":2147483648'::text;
        ELSE fields := fields || ('"ttl":' || pg_temp.rint(0, 86400));
        END CASE;
        CASE pg_temp.rint(0, 5)
        WHEN 0 THEN NULL;
        WHEN 1 THEN bad := true; fields := fields || '"verification_status":"done"'::text;
        ELSE fields := fields || ('"verification_status":' ||
                                  to_json(pg_temp.pick(ARRAY['pending', 'verified', 'failed', 'error']))::text);
        END CASE;
        IF random() < 0.2 THEN
            fields := fields || '"extra":{"note":"kept"}'::text;
        END IF;
        recs := recs || ('{' || array_to_string(fields, ',') || '}');
    END LOOP;
    CASE pg_temp.rint(0, 9)
    WHEN 0 THEN bad := true; doc := '[' || array_to_string(recs, ',') || ']';
    WHEN 1 THEN bad := true; doc := '{"records":' || coalesce(recs[1], '7') || '}';
    WHEN 2 THEN bad := true; doc := '{"recs":[' || array_to_string(recs, ',') || ']}';
    ELSE doc := '{"records":[' || array_to_string(recs, ',') || ']}';
    END CASE;
    well_formed := NOT bad;
END $$;

CREATE FUNCTION pg_temp.probe_domain(tenant uuid, n int, doc text) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    EXECUTE 'INSERT INTO pm_oltp.domains (tenant_id, domain, dns_records) VALUES ($1, $2, $3::jsonb)'
        USING tenant, format('fuzz-%s.example.com', n), doc;
    RETURN 'ok';
EXCEPTION WHEN others THEN
    RETURN SQLSTATE;
END $$;

CREATE TEMP TABLE dns_results (n int, doc text, well_formed boolean, state text);
DO $$
DECLARE
    tenant uuid := 'f0220000-0000-4000-8000-000000000001';
BEGIN
    IF to_regclass('pm_oltp.domains') IS NULL THEN
        RETURN;
    END IF;
    EXECUTE 'INSERT INTO pm_oltp.tenants (id, name) VALUES ($1, $2)' USING tenant, 'fuzz tenant';
    INSERT INTO dns_results
    SELECT g, d.doc, d.well_formed, pg_temp.probe_domain(tenant, g, d.doc)
    FROM generate_series(1, 2000) g, LATERAL pg_temp.random_dns_doc(g) d;
END $$;

SELECT CASE WHEN to_regclass('pm_oltp.domains') IS NULL
            THEN skip('pm_oltp is not installed', 3)
            ELSE collect_tap(
                is((SELECT count(*) FROM dns_results), 2000::bigint,
                   '2000 dns_records documents inserted or rejected'),
                ok((SELECT coalesce(array_agg(DISTINCT state), '{}') FROM dns_results
                    WHERE state <> 'ok') <@ ARRAY['22023', '23514'],
                   'pm_oltp.domains rejects dns_records only with 22023 or 23514'),
                is((SELECT count(*) FROM dns_results
                    WHERE well_formed IS NOT NULL AND (state = 'ok') <> well_formed),
                   0::bigint, 'well-formed documents are stored, malformed ones rejected'))
       END;
SELECT cmp_ok((SELECT count(*) FROM dns_results WHERE state <> 'ok'), '>=',
              CASE WHEN to_regclass('pm_oltp.domains') IS NULL THEN 0 ELSE 200 END::bigint,
              'the dns fuzz exercised the rejection path');
SELECT cmp_ok((SELECT count(*) FROM dns_results WHERE state = 'ok'), '>=',
              CASE WHEN to_regclass('pm_oltp.domains') IS NULL THEN 0 ELSE 200 END::bigint,
              'and the acceptance path');

SELECT * FROM finish();
ROLLBACK;
