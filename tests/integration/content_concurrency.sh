#!/usr/bin/env bash
# pm_content under concurrency, on its own cluster with a content database as the
# embedded deployment has it (pm_core + pm_content only):
#   1. two sessions put the same body at the same moment: one row, both get the key, no error
#      (also when the first one rolls back);
#   2. six sessions put the same 300 bodies and attachments in different orders: one copy each;
#   3. the age guard: an old orphan that a transaction in flight is re-putting (about to
#      reference) is never collected, and the collector does not wait for it;
#   4. a read never waits behind a lock to refresh last_accessed_at;
#   5. expire skips an expired object whose expiry a put in flight is extending;
#   6. attachment bytes being re-attached in flight are not collected;
#   7. pm.rls_audit() is empty in the content database.
# Run by tests/run (PM_ROOT, PM_TEST_LIB set) or by hand as root.
set -euo pipefail

PM_ROOT=${PM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PM_TEST_LIB=${PM_TEST_LIB:-$PM_ROOT/tests/lib}
# shellcheck source=tests/lib/cluster.sh
. "$PM_TEST_LIB/cluster.sh"

# shellcheck source=tests/lib/checks.sh
. "$PM_TEST_LIB/checks.sh"
now_ms() { echo $(($(date +%s%N) / 1000000)); }

pm_cluster_start content >/dev/null
work=$(pm_cluster_dir content)/work
mkdir -p "$work"
pm_psql content -d postgres -c "CREATE DATABASE pm_content"
q() { pm_psql content -d pm_content -At "$@"; }
q -c "CREATE EXTENSION pm_content CASCADE" -c "SELECT pm.ensure_roles()" >/dev/null

T=11111111-0000-4000-8000-000000000001

# --- 7. audit ---------------------------------------------------------------------------
check "pm.rls_audit() is empty in the content database" \
    "$(q -c "SELECT count(*) FROM pm.rls_audit()")" "0"

# --- 1. two sessions, same body, same moment -------------------------------------------
for outcome in COMMIT ROLLBACK; do
    body="same moment $outcome"
    q -c "BEGIN" -c "SELECT pm_content.put_body('$T', '$body', NULL)" \
      -c "SELECT pg_sleep(2)" -c "$outcome" >"$work/a.out" 2>&1 &
    a=$!
    sleep 0.5
    start=$(now_ms)
    q -c "SELECT pm_content.put_body('$T', '$body', NULL)" >"$work/b.out" 2>&1
    b_ms=$(($(now_ms) - start))
    wait "$a"
    key=$(q -c "SELECT pm.body_storage_key('$T', '$body', NULL, NULL)")
    check "1/$outcome: second session waited for the first (a real race)" \
        "$((b_ms > 1000))" "1"
    check "1/$outcome: second session got the key, no error" "$(cat "$work/b.out")" "$key"
    check "1/$outcome: first session got the same key" "$(head -1 "$work/a.out")" "$key"
    check "1/$outcome: exactly one row stored" \
        "$(q -c "SELECT count(*) FROM pm_content.content_objects WHERE storage_key = '$key'")" "1"
done

# --- 2. six sessions, same 300 bodies and attachments, different orders ---------------
# One put per transaction, as senders do.  (Many puts of shared content in one long
# transaction can deadlock with another doing the same in another order, like any
# unique insert: sort the keys first, see docs/content.md.)
pids=()
for s in 1 2 3 4 5 6; do
    q -v s="$s" >"$work/storm$s.out" 2>&1 <<SQL &
SELECT format(\$f\$SELECT pm_content.put_body('$T', %L, %L, %L)\$f\$,
              'storm body ' || g, '<p>storm ' || g || '</p>', jsonb_build_object('n', g))
FROM generate_series(1, 300) g ORDER BY md5(g::text || :'s') \gexec
SELECT format(\$f\$SELECT pm_content.put_attachment(%L, 'terms.pdf', 'application/pdf', %L) IS NOT NULL\$f\$,
              pm.body_storage_key('$T', 'storm body ' || g, '<p>storm ' || g || '</p>', jsonb_build_object('n', g)),
              convert_to(repeat('terms and conditions ', 200 + g % 3), 'UTF8'))
FROM generate_series(1, 300) g ORDER BY md5(g::text || :'s' || 'a') \gexec
SQL
    pids+=($!)
done
storm_ok=0
for p in "${pids[@]}"; do wait "$p" && storm_ok=$((storm_ok + 1)); done
check "2: all six sessions succeeded" "$storm_ok" "6"
check "2: every session got 300 keys and 300 attachment ids, nothing else" \
    "$(cat "$work"/storm*.out | sed -e 's/^pmk1.body.*/key/' | sort | uniq -c | awk '{print $1 "x" $2}' | tr '\n' ' ')" \
    "1800xkey 1800xt "
check "2: one row per body" \
    "$(q -c "SELECT count(*) FROM pm_content.content_objects WHERE storage_key IN (
              SELECT pm.body_storage_key('$T', 'storm body ' || g, '<p>storm ' || g || '</p>', jsonb_build_object('n', g))
              FROM generate_series(1, 300) g)")" "300"
check "2: one attachment row per body, three distinct blobs" \
    "$(q -c "SELECT count(*) || '/' || count(DISTINCT blob_key) FROM pm_content.attachments WHERE filename = 'terms.pdf'")" \
    "300/3"

# --- 3. the age guard ----------------------------------------------------------------
q >/dev/null <<SQL
SELECT pm_content.put_body('$T', 'old orphan in flight', NULL), pm_content.put_body('$T', 'old orphan idle', NULL);
UPDATE pm_content.content_objects SET created_at = now() - interval '2 days', last_accessed_at = now() - interval '2 days'
 WHERE content_text IN ('old orphan in flight', 'old orphan idle');
SQL
inflight=$(q -c "SELECT pm.body_storage_key('$T', 'old orphan in flight', NULL, NULL)")
idle=$(q -c "SELECT pm.body_storage_key('$T', 'old orphan idle', NULL, NULL)")
# Session A re-puts the old orphan (as a sender would right before writing the key to
# OLTP) and keeps its transaction open.
q -c "BEGIN" -c "SELECT pm_content.put_body('$T', 'old orphan in flight', NULL)" \
  -c "SELECT pg_sleep(3)" -c "COMMIT" >"$work/guard_a.out" 2>&1 &
a=$!
sleep 0.7
start=$(now_ms)
# Everything but the two orphans is "referenced".
referenced="SELECT array_agg(storage_key) FROM pm_content.content_objects WHERE storage_key NOT IN ('$inflight', '$idle')"
collected=$(q -c "SET statement_timeout = '2s'" -c "SELECT pm_content.collect_orphans(($referenced), interval '1 day')" | tail -1)
c_ms=$(($(now_ms) - start))
check "3: the collector did not wait for the transaction in flight" "$((c_ms < 1500))" "1"
check "3: it collected the idle orphan only" "$collected" "1"
wait "$a"
check "3: the in-flight re-put succeeded" "$(head -1 "$work/guard_a.out")" "$inflight"
check "3: after that commit the object is fresh, still not collected" \
    "$(q -c "SELECT pm_content.collect_orphans(($referenced), interval '1 day')")" "0"
check "3: the in-flight object exists, the idle one is gone" \
    "$(q -c "SELECT string_agg(content_text, ',') FROM pm_content.content_objects WHERE storage_key IN ('$inflight', '$idle')")" \
    "old orphan in flight"

# --- 4. a read never waits to refresh last_accessed_at --------------------------------
q -c "UPDATE pm_content.content_objects SET last_accessed_at = now() - interval '1 day' WHERE storage_key = '$idle' OR storage_key = '$inflight'" >/dev/null
q -c "BEGIN" -c "SELECT 1 FROM pm_content.content_objects WHERE storage_key = '$inflight' FOR UPDATE" \
  -c "SELECT pg_sleep(3)" -c "COMMIT" >/dev/null 2>&1 &
a=$!
sleep 0.7
start=$(now_ms)
got=$(q -c "SET statement_timeout = '2s'" -c "SELECT content_text FROM pm_content.get('$inflight')" | tail -1)
r_ms=$(($(now_ms) - start))
wait "$a"
check "4: get() of a locked, stale object returned at once" "$((r_ms < 1500))" "1"
check "4: with the body" "$got" "old orphan in flight"
check "4: and left the refresh for later (row was locked)" \
    "$(q -c "SELECT last_accessed_at < now() - interval '1 hour' FROM pm_content.content_objects WHERE storage_key = '$inflight'")" "t"
q -c "SELECT count(*) FROM pm_content.get('$inflight')" >/dev/null
check "4: the next unhindered get() refreshed it" \
    "$(q -c "SELECT last_accessed_at > now() - interval '1 minute' FROM pm_content.content_objects WHERE storage_key = '$inflight'")" "t"

# --- 5. expire vs a put extending the expiry ------------------------------------------
q >/dev/null <<SQL
SELECT pm_content.put_body('$T', 'expiring', NULL, NULL, now() + interval '1 day');
UPDATE pm_content.content_objects SET expires_at = now() - interval '1 minute' WHERE content_text = 'expiring';
SQL
q -c "BEGIN" -c "SELECT pm_content.put_body('$T', 'expiring', NULL, NULL, now() + interval '30 days')" \
  -c "SELECT pg_sleep(3)" -c "COMMIT" >/dev/null 2>&1 &
a=$!
sleep 0.7
check "5: expire() skips the row a put is extending, without waiting" \
    "$(q -c "SET statement_timeout = '2s'" -c "SELECT pm_content.expire()" | tail -1)" "0"
wait "$a"
check "5: after the put committed the object is alive" \
    "$(q -c "SELECT pm_content.expire()" -c "SELECT count(*) FROM pm_content.get(pm.body_storage_key('$T', 'expiring', NULL, NULL))" | tail -1)" "1"

# --- 6. attachment bytes re-attached in flight ----------------------------------------
parent=$(q -c "SELECT pm_content.put_body('$T', 'attachment parent', NULL)")
q >/dev/null <<SQL
SELECT pm_content.put_attachment('$parent', 'old.bin', 'application/octet-stream', '\xdeadbeef');
DELETE FROM pm_content.attachments WHERE filename = 'old.bin';
UPDATE pm_content.attachment_blobs SET last_referenced_at = now() - interval '2 hours'
 WHERE storage_key = pm.storage_key('$T', 'att', '\xdeadbeef');
SQL
q -c "BEGIN" -c "SELECT pm_content.put_attachment('$parent', 'again.bin', 'application/octet-stream', '\xdeadbeef') IS NOT NULL" \
  -c "SELECT pg_sleep(3)" -c "COMMIT" >"$work/att_a.out" 2>&1 &
a=$!
sleep 0.7
check "6: collect_blobs() skips bytes being re-attached, without waiting" \
    "$(q -c "SET statement_timeout = '2s'" -c "SELECT pm_content.collect_blobs()" | tail -1)" "0"
wait "$a"
check "6: the re-attach succeeded" "$(head -1 "$work/att_a.out")" "t"
check "6: and the bytes stay" \
    "$(q -c "SELECT pm_content.collect_blobs()" -c "SELECT count(*) FROM pm_content.decoded_attachments WHERE filename = 'again.bin' AND content = '\xdeadbeef'" | tail -1)" "1"

checks_done
