-- pm.engagement (aggregate) and pm.health_score: hand-computed cases, NULLs, zero
-- denominators, parallel plans equal to serial ones, bad input.
\ir ../include/common.psql

BEGIN;
SELECT plan(14);

CREATE FUNCTION pg_temp.explain_lines(q text) RETURNS SETOF text LANGUAGE plpgsql AS
$$ DECLARE l text; BEGIN FOR l IN EXECUTE 'EXPLAIN ' || q LOOP RETURN NEXT l; END LOOP; END $$;

CREATE TEMP TABLE rows_ (sent int, delivered int, opened int, clicked int, replied int,
                         bounced int, unsub int, complaints int);
INSERT INTO rows_ VALUES (100, 90, 45, 9, 3, 10, 1, 0), (100, 90, 45, 9, 6, 10, 1, 1),
                         (0, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

SELECT is((SELECT row(e.sent, e.delivered, e.opened, e.clicked, e.replied, e.bounced, e.unsubscribed, e.complaints)::text
           FROM (SELECT (pm.engagement(sent, delivered, opened, clicked, replied, bounced, unsub, complaints)).* FROM rows_) e),
          '(200,180,90,18,9,20,2,1)', 'totals are sums; NULL counters count as 0');
SELECT is((SELECT (pm.engagement(sent, delivered, opened, clicked, replied, bounced, unsub, complaints)).delivery_rate FROM rows_),
          0.9::float8, 'delivery rate = delivered / sent (180 / 200)');
SELECT is((SELECT (pm.engagement(sent, delivered, opened, clicked, replied, bounced, unsub, complaints)).open_rate FROM rows_),
          0.5::float8, 'open rate = opened / delivered (90 / 180)');
SELECT is((SELECT (pm.engagement(sent, delivered, opened, clicked, replied, bounced, unsub, complaints)).reply_rate FROM rows_),
          0.05::float8, 'reply rate = replied / delivered (9 / 180)');
SELECT is((SELECT (pm.engagement(sent, delivered, opened, clicked, replied, bounced, unsub, complaints)).bounce_rate FROM rows_),
          0.1::float8, 'bounce rate = bounced / sent (20 / 200)');
SELECT ok((SELECT (e).delivery_rate IS NULL AND (e).open_rate IS NULL AND (e).sent = 0
           FROM (SELECT pm.engagement(sent, delivered, opened, clicked, replied, bounced, unsub, complaints) e
                 FROM rows_ WHERE sent = 0) x),
          'zero denominators give NULL rates, not a division error');
SELECT ok((SELECT (e).sent = 0 AND (e).open_rate IS NULL
           FROM (SELECT pm.engagement(1, 1, 1, 1, 1, 1, 1, 1) e FROM rows_ WHERE false) x),
          'over no rows: zero totals, NULL rates');
SELECT throws_ok($$SELECT pm.engagement(1, -1, 0, 0, 0, 0, 0, 0)$$, '22023',
                 'engagement: delivered is -1; counters must not be negative', 'negative counters are refused');
SELECT throws_ok($$SELECT pm.engagement(9223372036854775807, 0, 0, 0, 0, 0, 0, 0) FROM generate_series(1, 2)$$, '22003',
                 NULL, 'a sum past bigint is a range error');

-- Parallel: force a parallel plan over a table big enough to be split.
CREATE TABLE pg_temp.big AS
SELECT (i % 97) AS sent, (i % 89) AS delivered, (i % 31) AS opened, (i % 7) AS clicked,
       (i % 5) AS replied, (i % 3) AS bounced, (i % 2) AS unsub, (i % 11 = 0)::int AS complaints
FROM generate_series(1, 200000) i;
ANALYZE pg_temp.big;
CREATE FUNCTION pg_temp.totals() RETURNS text LANGUAGE sql AS
$$ SELECT pm.engagement(sent, delivered, opened, clicked, replied, bounced, unsub, complaints)::text FROM pg_temp.big $$;
SET LOCAL max_parallel_workers_per_gather = 0;
SELECT pg_temp.totals() AS serial \gset
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL force_parallel_mode = on;
SELECT is(pg_temp.totals(), :'serial', 'a parallel plan (partial states combined) gives the serial answer');
-- Temp tables are never scanned in parallel: check the plan of a regular table instead.
CREATE TABLE public.engagement_big AS SELECT * FROM pg_temp.big;
ANALYZE public.engagement_big;
SELECT matches((SELECT string_agg(p, E'\n') FROM (SELECT * FROM pg_temp.explain_lines(
    'SELECT pm.engagement(sent, delivered, opened, clicked, replied, bounced, unsub, complaints) FROM public.engagement_big')) x(p)),
    'Partial Aggregate', 'the aggregate runs as partial aggregates in parallel workers');
SELECT is((SELECT pm.engagement(sent, delivered, opened, clicked, replied, bounced, unsub, complaints)::text FROM public.engagement_big),
          :'serial', 'and the parallel result over the regular table equals the serial one');

SELECT is(pm.health_score(1000, 960, 40, 0, 0, 0), 50, 'health: 4 % bounces cost 30 points (80 - 1500 x 0.02)');
SELECT throws_ok($$SELECT pm.health_score(10, 10, 0, 0, 0, 150)$$, '22023',
                 'health_score: warmup progress is 150.000000; expected a percentage between 0 and 100',
                 'a warmup progress outside 0..100 is refused');

SELECT * FROM finish();
ROLLBACK;
