-- pm_core partition manager: pm.partition_create_parent / run_maintenance / partition_status /
-- partition_undo and the pm.partition_sets registry.  Expected bounds and names are computed
-- here with PostgreSQL's own date functions in UTC, not with the C++ under test.
-- Concurrency, lock waits and pg_dump: tests/integration/partition_maintenance.sh.
\ir ../include/common.psql

BEGIN;
SELECT plan(70);
SET LOCAL TimeZone = 'UTC';

CREATE FUNCTION pg_temp.day(k int) RETURNS timestamptz LANGUAGE sql STABLE AS
$$ SELECT date_trunc('day', now()) + k * interval '1 day' $$;
CREATE FUNCTION pg_temp.parts(parent regclass) RETURNS bigint LANGUAGE sql STABLE AS
$$ SELECT count(*) FROM pg_inherits WHERE inhparent = parent $$;
CREATE FUNCTION pg_temp.bound(part regclass) RETURNS text LANGUAGE sql STABLE AS
$$ SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE oid = part $$;
CREATE FUNCTION pg_temp.checksum(rel regclass) RETURNS text LANGUAGE plpgsql AS
$$ DECLARE r text; BEGIN
   EXECUTE format('SELECT count(*) || '':'' || coalesce(sum(hashtext(t::text)::bigint), 0) FROM %s t', rel) INTO r;
   RETURN r; END $$;

-- A tenant-owned event table as later tiers will have them: RLS, an app grant, an owner.
CREATE ROLE pm_part_owner;
CREATE TABLE public.events (
    id        bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id uuid NOT NULL,
    at        timestamptz NOT NULL,
    kind      text NOT NULL CHECK (kind <> ''),
    PRIMARY KEY (tenant_id, at, id)
) PARTITION BY RANGE (at);
CREATE INDEX events_kind ON public.events (kind);
SELECT pm.enable_tenant_isolation('public.events');
GRANT SELECT, INSERT ON public.events TO pm_app;
ALTER TABLE public.events OWNER TO pm_part_owner;

-- ---------------------------------------------------------------- create_parent
SELECT is(pm.partition_create_parent('public.events', 'at', 'day', premake => 4,
                                     start => now() - interval '3 days'),
          8, 'create_parent: 3 past days + today + 4 premade = 8 partitions');
SELECT is(pg_temp.parts('public.events'), 9::bigint, 'create_parent: the 8 and a default partition');
SELECT is(pg_temp.bound(('public.events_p' || to_char(now(), 'YYYYMMDD'))::regclass),
          format('FOR VALUES FROM (%L) TO (%L)', pg_temp.day(0), pg_temp.day(1)),
          'today''s partition is named events_pYYYYMMDD and spans UTC midnight to midnight');
SELECT is(pg_temp.bound('public.events_default'), 'DEFAULT', 'the default partition is events_default');
SELECT results_eq(
    $$SELECT grain, premake, retention, retention_mode, with_default, control = 'at', control_type
      FROM pm.partition_sets WHERE parent = 'public.events'::regclass$$,
    $$VALUES ('day', 4, NULL::interval, 'drop', true, true, 'timestamptz'::regtype)$$,
    'the set is registered in pm.partition_sets');
SELECT results_eq(
    $$SELECT grain, partitions, ahead, newest_upper, oldest_lower, rows_in_default
      FROM pm.partition_status() WHERE parent = 'public.events'::regclass$$,
    $$SELECT 'day', 8, 4, pg_temp.day(5), pg_temp.day(-3), 0::bigint$$,
    'partition_status: 8 partitions, 4 ahead, bounds and an empty default');

-- Parent properties on every partition.
SELECT is((SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = 'public.events'::regclass
             AND (SELECT count(*) FROM pg_index x WHERE x.indrelid = c.oid) = 2),
          9::bigint, 'every partition has the parent''s two indexes');
SELECT is((SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = 'public.events'::regclass AND c.relrowsecurity
             AND c.relforcerowsecurity
             AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)),
          9::bigint, 'every partition has RLS enabled and forced, with the parent''s policy');
SELECT is((SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = 'public.events'::regclass
             AND c.relowner = 'pm_part_owner'::regrole
             AND has_table_privilege('pm_app', c.oid, 'INSERT')
             AND NOT has_table_privilege('pm_app', c.oid, 'DELETE')),
          9::bigint, 'every partition has the parent''s owner and exactly its grants to pm_app');
SELECT is((SELECT count(*) FROM pg_constraint co JOIN pg_inherits i ON i.inhrelid = co.conrelid
           WHERE i.inhparent = 'public.events'::regclass AND co.conname = 'pm_partition_bound'),
          0::bigint, 'the CHECK used to attach without a scan is gone after ATTACH');
SELECT is((SELECT count(*) FROM pm.rls_audit()), 0::bigint, 'pm.rls_audit() is empty');

ALTER TABLE public.events_default DISABLE ROW LEVEL SECURITY;
SELECT results_eq($$SELECT table_name, problem FROM pm.rls_audit()$$,
                  $$VALUES ('public.events_default'::regclass, 'row level security is not enabled')$$,
                  'pm.rls_audit() reports a partition whose RLS was switched off');
ALTER TABLE public.events_default ENABLE ROW LEVEL SECURITY;

-- Tenants through the parent and through a partition named directly.
SELECT is(pg_temp.as_role('pm_app', pg_temp.uid('a', 1),
          $$INSERT INTO public.events (tenant_id, at, kind)
            SELECT pm.current_tenant_id(), now(), 'sent' FROM generate_series(1, 5)$$),
          'rows:5', 'tenant A inserts 5 events through the parent');
SELECT is(pg_temp.as_role('pm_app', pg_temp.uid('b', 1),
          format('SELECT count(*) FROM public.%I', 'events_p' || to_char(now(), 'YYYYMMDD')), 'value'),
          '0', 'tenant B reading the partition directly sees none of them');
SELECT is(pg_temp.as_role('pm_app', pg_temp.uid('a', 1),
          format('SELECT count(*) FROM public.%I', 'events_p' || to_char(now(), 'YYYYMMDD')), 'value'),
          '5', 'tenant A sees its 5 in the partition');
SELECT is(pg_temp.as_role('pm_app', pg_temp.uid('b', 1),
          $$INSERT INTO public.events_default (tenant_id, at, kind)
            VALUES ('aaaaaaaa-0000-4000-8000-000000000001', now() + interval '30 days', 'x')$$),
          'error:42501', 'tenant B cannot write a row of tenant A into a partition');
SELECT is(pg_temp.as_role('pm_app', pg_temp.uid('a', 1), 'SELECT * FROM pm.run_maintenance()'),
          'error:42501', 'the application role cannot run maintenance');

-- ---------------------------------------------------------------- maintenance
SELECT results_eq($$SELECT created, dropped, detached, moved_from_default, skipped
                    FROM pm.run_maintenance('public.events')$$,
                  $$VALUES (0, 0, 0, 0::bigint, NULL::text)$$,
                  'run_maintenance on a set that is up to date changes nothing');

-- Rows that landed in the default: 250 at +10 days, 100 at +20 days, 7 at -40 days.
INSERT INTO public.events (tenant_id, at, kind)
SELECT pg_temp.uid('a', 1), pg_temp.day(CASE WHEN g <= 250 THEN 10 WHEN g <= 350 THEN 20 ELSE -40 END)
       + (g % 24) * interval '1 hour', 'misplaced'
FROM generate_series(1, 357) g;
SELECT is((SELECT rows_in_default FROM pm.partition_status()
           WHERE parent = 'public.events'::regclass), 357::bigint,
          'partition_status counts the 357 rows waiting in the default');
CREATE TEMP TABLE before_sum AS SELECT pg_temp.checksum('public.events') AS sum;
SELECT results_eq($$SELECT created, dropped, moved_from_default, skipped
                    FROM pm.run_maintenance('public.events')$$,
                  $$VALUES (3, 0, 357::bigint, NULL::text)$$,
                  'run_maintenance makes the 3 partitions the default''s rows need and moves them');
SELECT is(pg_temp.checksum('public.events'), (SELECT sum FROM before_sum),
          'no row lost or duplicated: count and checksum of the set unchanged');
SELECT is((SELECT count(*) FROM ONLY public.events_default), 0::bigint, 'the default is empty');
SELECT results_eq(
    $$SELECT tableoid::regclass, count(*) FROM public.events WHERE kind = 'misplaced'
      GROUP BY 1 ORDER BY 2$$,
    $$VALUES (('events_p' || to_char(pg_temp.day(-40), 'YYYYMMDD'))::regclass, 7::bigint),
             (('events_p' || to_char(pg_temp.day(20), 'YYYYMMDD'))::regclass, 100::bigint),
             (('events_p' || to_char(pg_temp.day(10), 'YYYYMMDD'))::regclass, 250::bigint)$$,
    'each row is now in the partition of its own day');
SELECT is((SELECT count(*) FROM pm.rls_audit()), 0::bigint,
          'pm.rls_audit() is still empty with the new partitions');
SELECT matches((SELECT last_result FROM pm.partition_status()
                WHERE parent = 'public.events'::regclass),
               '^created 3, dropped 0, detached 0, moved 357$', 'last_result says what the run did');
SELECT ok((SELECT last_run = now() FROM pm.partition_sets WHERE parent = 'public.events'::regclass),
          'last_run is recorded');

-- ---------------------------------------------------------------- retention
CREATE TABLE public.audit_drop (at timestamptz NOT NULL, n int) PARTITION BY RANGE (at);
SELECT is(pm.partition_create_parent('public.audit_drop', 'at', 'day', premake => 2,
                                     retention => '3 days', start => now() - interval '10 days'),
          13, 'a set with 10 past days, today and 2 premade');
INSERT INTO public.audit_drop SELECT pg_temp.day(-k) + interval '1 hour', k FROM generate_series(0, 10) k;
-- Partitions whose whole range ends on or before now - 3 days: days -10 .. upper <= now - 3d.
SELECT results_eq($$SELECT created, dropped, detached FROM pm.run_maintenance('public.audit_drop')$$,
                  $$SELECT 0, (SELECT count(*)::int FROM generate_series(-10, 0) k
                               WHERE pg_temp.day(k + 1) <= now() - interval '3 days'), 0$$,
                  'retention drops exactly the partitions older than now - 3 days');
SELECT is((SELECT min(at) >= now() - interval '4 days' FROM public.audit_drop), true,
          'the rows of dropped partitions are gone, newer ones stay');
SELECT is((SELECT oldest_lower FROM pm.partition_status() WHERE parent = 'public.audit_drop'::regclass),
          (SELECT min(pg_temp.day(k)) FROM generate_series(-10, 0) k
           WHERE pg_temp.day(k + 1) > now() - interval '3 days'),
          'oldest_lower is the first day kept');

CREATE TABLE public.audit_detach (at timestamptz NOT NULL) PARTITION BY RANGE (at);
SELECT pm.partition_create_parent('public.audit_detach', 'at', 'day', premake => 1,
                                  retention => '2 days', retention_mode => 'detach',
                                  start => now() - interval '5 days');
SELECT ok((SELECT detached >= 3 AND dropped = 0 FROM pm.run_maintenance('public.audit_detach')),
          'retention_mode detach detaches instead of dropping');
SELECT is((SELECT relispartition FROM pg_class
           WHERE oid = ('public.audit_detach_p' || to_char(pg_temp.day(-5), 'YYYYMMDD'))::regclass),
          false, 'a detached partition stays as a plain table');

-- ---------------------------------------------------------------- grains and control types
CREATE TABLE public.weekly (at timestamptz NOT NULL) PARTITION BY RANGE (at);
SELECT pm.partition_create_parent('public.weekly', 'at', 'week', premake => 1, with_default => false);
SELECT is(pg_temp.bound(('public.weekly_p' || to_char(now(), 'IYYY"w"IW'))::regclass),
          format('FOR VALUES FROM (%L) TO (%L)', date_trunc('week', now()),
                 date_trunc('week', now()) + interval '7 days'),
          'week partitions are ISO weeks named _pIYYYwIW, Monday to Monday');
SELECT is(pg_temp.parts('public.weekly'), 2::bigint, 'with_default => false makes no default');

CREATE TABLE public.monthly (at timestamptz NOT NULL) PARTITION BY RANGE (at);
SELECT pm.partition_create_parent('public.monthly', 'at', 'month', premake => 2);
SELECT is(pg_temp.bound(('public.monthly_p' || to_char(now() + interval '2 months', 'YYYYMM'))::regclass),
          format('FOR VALUES FROM (%L) TO (%L)', date_trunc('month', now()) + interval '2 months',
                 date_trunc('month', now()) + interval '3 months'),
          'month partitions start on the 1st at 00:00 UTC');

CREATE TABLE public.hourly (at timestamptz NOT NULL) PARTITION BY RANGE (at);
SELECT is(pm.partition_create_parent('public.hourly', 'at', 'hour', premake => 6), 7,
          'hour grain: the current hour and 6 ahead');
SELECT ok(to_regclass('public.hourly_p' || to_char(now(), 'YYYYMMDDHH24')) IS NOT NULL,
          'hour partitions are named _pYYYYMMDDHH');

CREATE TABLE public.daily_date (d date NOT NULL) PARTITION BY RANGE (d);
SELECT pm.partition_create_parent('public.daily_date', 'd', 'day', premake => 1);
SELECT is(pg_temp.bound(('public.daily_date_p' || to_char(now(), 'YYYYMMDD'))::regclass),
          format('FOR VALUES FROM (%L) TO (%L)', (now())::date, (now())::date + 1),
          'date controls get date bounds');

CREATE TABLE public.by_id (id bigint NOT NULL) PARTITION BY RANGE (id);
SELECT is(pm.partition_create_parent('public.by_id', 'id', '1000', premake => 2), 3,
          'bigint control with a numeric step: [0,1000) and 2 ahead');
INSERT INTO public.by_id VALUES (12345), (2500);
SELECT results_eq($$SELECT created, moved_from_default FROM pm.run_maintenance('public.by_id')$$,
                  $$VALUES (3, 1::bigint)$$,
                  'integer sets premake ahead of the largest value and drain the default');
SELECT ok(to_regclass('public.by_id_p12000') IS NOT NULL AND to_regclass('public.by_id_p14000') IS NOT NULL,
          'step partitions are named by their lower bound');
SELECT is(pg_temp.bound('public.by_id_p12000'), 'FOR VALUES FROM (''12000'') TO (''13000'')',
          'a step partition spans one step');

-- Names that need quotes.
CREATE SCHEMA "we.ird";
CREATE TABLE "we.ird"."Weird Name" ("At Time" timestamptz NOT NULL) PARTITION BY RANGE ("At Time");
SELECT is(pm.partition_create_parent('"we.ird"."Weird Name"', 'At Time', 'day', premake => 1), 2,
          'a schema with a dot and a table and column needing quotes');
SELECT ok(to_regclass(format('%I.%I', 'we.ird', 'Weird Name_p' || to_char(now(), 'YYYYMMDD'))) IS NOT NULL,
          'its partitions are quoted the same way');
INSERT INTO "we.ird"."Weird Name" VALUES (now() + interval '9 days');
SELECT is((SELECT moved_from_default FROM pm.run_maintenance('"we.ird"."Weird Name"')), 1::bigint,
          'maintenance works on the quoted set');

-- ---------------------------------------------------------------- bad input changes nothing
CREATE TABLE public.plain (at timestamptz NOT NULL);
CREATE TABLE public.listed (k text NOT NULL) PARTITION BY LIST (k);
CREATE TABLE public.naive (at timestamp NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE public.fresh (at timestamptz NOT NULL, other timestamptz) PARTITION BY RANGE (at);
CREATE TEMP TABLE sets_before AS SELECT count(*) AS n FROM pm.partition_sets;

SELECT throws_ok($$SELECT pm.partition_create_parent('public.plain', 'at', 'day')$$, '42809',
                 'table public.plain is not partitioned', 'a plain table: 42809');
SELECT throws_ok($$SELECT pm.partition_create_parent('public.listed', 'k', 'day')$$, '42809',
                 'table public.listed is partitioned by list, not by range', 'a list-partitioned table: 42809');
SELECT throws_ok($$SELECT pm.partition_create_parent('public.naive', 'at', 'day')$$, '42804',
                 NULL, 'timestamp without time zone: 42804');
SELECT throws_ok($$SELECT pm.partition_create_parent('public.fresh', 'other', 'day')$$, '42P10',
                 'table public.fresh is partitioned by column "at", not by "other"', 'not the key column: 42P10');
SELECT throws_ok($$SELECT pm.partition_create_parent('public.fresh', 'nope', 'day')$$, '42703',
                 NULL, 'a column that does not exist: 42703');
SELECT throws_ok($$SELECT pm.partition_create_parent('public.fresh', 'at', 'fortnight')$$, '22023',
                 'invalid grain "fortnight" for a timestamptz control: expected hour, day, week, month or year',
                 'a bad grain: 22023 naming it');
SELECT throws_ok($$SELECT pm.partition_create_parent('public.daily_date', 'd', 'hour')$$, '22023',
                 NULL, 'hour on a date control: 22023');
SELECT throws_ok($$SELECT pm.partition_create_parent('public.fresh', 'at', 'day', retention => '2 hours')$$,
                 '22023', 'retention 02:00:00 is shorter than one day partition (1 day)',
                 'retention shorter than the grain: 22023');
SELECT throws_ok($$SELECT pm.partition_create_parent('public.fresh', 'at', 'day', retention_mode => 'archive')$$,
                 '22023', 'invalid retention_mode "archive": expected drop or detach', 'a bad retention_mode: 22023');
SELECT throws_ok($$SELECT pm.partition_create_parent('public.fresh', 'at', 'day', premake => -1)$$,
                 '22023', 'premake must be between 0 and 1000, got -1', 'negative premake: 22023');
SELECT throws_ok($$SELECT pm.partition_create_parent('public.fresh', 'at', NULL)$$, '22004',
                 'argument grain must not be NULL', 'NULL grain: 22004');
SELECT throws_ok($$SELECT pm.partition_create_parent('public.events', 'at', 'day')$$, '42710',
                 'table public.events is already a registered partition set', 'registered twice: 42710');
SELECT throws_ok($$SELECT pm.partition_create_parent('public.by_id', 'id', '0')$$, '22023',
                 NULL, 'a zero step: 22023');
-- Fuzzed grains and steps: random text never crashes, never registers, only ever 22023.
SELECT setseed(0.1206);
CREATE TABLE public.fuzz_ids (id bigint NOT NULL) PARTITION BY RANGE (id);
CREATE FUNCTION pg_temp.fuzz_grains(parent regclass, control name, n int, alphabet text)
RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
    states text[] := '{}';
    g text;
BEGIN
    FOR i IN 1..n LOOP
        SELECT string_agg(substr(alphabet, 1 + floor(random() * length(alphabet))::int, 1), '')
          INTO g FROM generate_series(1, 1 + floor(random() * 12)::int);
        CONTINUE WHEN g ~ '^(hour|day|week|month|year|0*[1-9][0-9]{0,17})$';
        BEGIN
            PERFORM pm.partition_create_parent(parent, control, g);
            states := states || 'accepted:' || g;
        EXCEPTION WHEN OTHERS THEN
            IF NOT SQLSTATE = ANY (states) THEN states := states || SQLSTATE::text; END IF;
        END;
    END LOOP;
    RETURN states;
END $$;
SELECT is(pg_temp.fuzz_grains('public.fresh', 'at', 1500, 'dayhourwkmnt y01-'), '{22023}',
          '1500 random grains for a timestamptz control: only 22023');
SELECT is(pg_temp.fuzz_grains('public.fuzz_ids', 'id', 1500, '0123456789-+e. x'), '{22023}',
          '1500 random steps for a bigint control: only 22023');
SELECT is((SELECT count(*) FROM pm.partition_sets), (SELECT n FROM sets_before),
          'the failed calls registered nothing');
SELECT is(pg_temp.parts('public.fresh'), 0::bigint, 'and created no partition');

SELECT throws_ok($$SELECT * FROM pm.run_maintenance('public.fresh')$$, '42704',
                 'table public.fresh is not a registered partition set', 'maintenance of an unregistered table: 42704');
SELECT throws_ok($$SELECT * FROM pm.run_maintenance(NULL, '0 ms')$$, '22023', NULL, 'lock_wait 0: 22023');
SELECT throws_ok($$SELECT * FROM pm.run_maintenance(NULL, '50 ms', 0)$$, '22023',
                 'attempts must be between 1 and 1000, got 0', 'attempts 0: 22023');
SELECT throws_ok($$SELECT pm.partition_schedule()$$, '0A000', NULL,
                 'the cron helper says so when pg_cron is not in this database');

-- ---------------------------------------------------------------- undo
SELECT ok(pm.partition_undo('public.weekly'), 'partition_undo unregisters a set');
SELECT is(pg_temp.parts('public.weekly'), 2::bigint, 'and keeps its partitions');
SELECT throws_ok($$SELECT pm.partition_undo('public.weekly')$$, '42704', NULL,
                 'undo of a set that is not registered: 42704');

DROP TABLE public.monthly;
SELECT is((SELECT count(*) FROM pm.partition_sets WHERE parent::text = 'public.monthly'), 0::bigint,
          'dropping a parent unregisters its set');

SELECT * FROM finish();
ROLLBACK;
