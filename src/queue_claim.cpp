/*
 * queue_claim.cpp — pm_queue.claim(queues, worker_id, max_jobs): the hot path in C++ over
 * statements planned once per backend (queue_plan.h).
 *
 * A round is one statement: lock the first `want` ready jobs in (priority, run_at) order
 * with SKIP LOCKED (an ordered range scan of jobs_ready_idx per queue, merged across
 * queues), lease at once those without a rate key, and probe where the first live entry of
 * the ready index is (the claim hint, common/claim_hint.h).  Rate-keyed candidates go
 * through a second statement that consumes their budgets (one upsert per key and window)
 * and defers the rest to their window's end.  Another round follows only when candidates
 * were deferred and more may be ready (bounded).  Queues with max_running_per_tenant take
 * the plpgsql path pm_queue.claim_capped().
 */
#include "boundary.h"
#include "queue_plan.h"
#include "queue_shared.h"

extern "C" {
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type_d.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(pm_queue_claim);
}

#include <optional>
#include <string>
#include <vector>

namespace {

using pm::queue::HintKey;
using pm::queue::KeptPlan;
using pm::queue::result_value;

constexpr int kMaxRounds = 8;

/* $1 queues, $2/$3 start (priority, run_at), $4 want, $5 worker, $6 ids to skip,
 * $7 the queue whose first live ready entry to probe (NULL: no probe). */
KeptPlan round_plan(R"SQL(
WITH q AS MATERIALIZED (
    SELECT jq.name, jq.is_active, jq.max_running_per_tenant IS NOT NULL AS capped, jq.timeout_seconds,
           x.name IS NULL AS null_name, jq.name IS NULL AS unknown
      FROM unnest($1::text[]) AS x(name)
      LEFT JOIN pm_queue.job_queues jq ON jq.name = x.name
), cand AS MATERIALIZED (
    SELECT c.id, c.rate_key, c.priority, c.run_at, true AS key_ok
      FROM q CROSS JOIN LATERAL (
           SELECT j.id, j.rate_key, j.priority, j.run_at
             FROM pm_queue.jobs j
            WHERE j.queue_name = q.name
              AND j.status IN ('queued', 'retry_scheduled')
              AND j.run_at <= now()
              AND (j.priority, j.run_at) >= ($2, $3)
              AND j.id <> ALL ($6)
              -- One claimer per rate key at a time: the key's advisory lock is tried before
              -- the row is locked, so a job whose key another claimer is consuming is left
              -- to that claimer (neither locked nor waited for; it stays live, so the hint
              -- probe below never passes it).  Held to commit; never waited on: no deadlock.
              AND (j.rate_key IS NULL
                   OR pg_try_advisory_xact_lock(7368050, hashtext(j.rate_key)))
            ORDER BY j.priority, j.run_at
            LIMIT $4
              FOR UPDATE SKIP LOCKED) c
     WHERE q.is_active AND NOT q.capped
     ORDER BY c.priority, c.run_at
     LIMIT $4
), claimed AS (
    -- Rows by `id = ANY (...)`, not by a join: the plan stays a primary-key probe whatever
    -- the planner guesses about the size of cand.
    UPDATE pm_queue.jobs j
       SET status = 'running', locked_by = $5,
           locked_until = now() + (SELECT q.timeout_seconds FROM q WHERE q.name = j.queue_name)
                                  * interval '1 second',
           attempt_count = j.attempt_count + 1, started_at = now(), updated_at = now()
     WHERE j.id = ANY (ARRAY(SELECT c.id FROM cand c WHERE c.rate_key IS NULL))
    RETURNING j.*
)
SELECT 't'::text AS kind, c::pm_queue.jobs AS job, c.id, c.priority, c.run_at FROM claimed c
UNION ALL
SELECT CASE WHEN c.key_ok THEN 'k' ELSE 's' END, NULL, c.id, c.priority, c.run_at
  FROM cand c WHERE c.rate_key IS NOT NULL
UNION ALL
-- The first live entry of the ready index from the start: due or not, locked or not.
SELECT 'f', NULL, NULL, f.priority, f.run_at
  FROM (SELECT j.priority, j.run_at FROM pm_queue.jobs j
         WHERE j.queue_name = $7 AND j.status IN ('queued', 'retry_scheduled')
           AND (j.priority, j.run_at) >= ($2, $3)
         ORDER BY j.priority, j.run_at LIMIT 1) f
UNION ALL
SELECT CASE WHEN q.unknown THEN 'u' ELSE 'c' END, NULL, NULL, NULL, NULL
  FROM q WHERE q.unknown OR (q.capped AND q.is_active)
)SQL",
                    {TEXTARRAYOID, INT4OID, TIMESTAMPTZOID, INT4OID, TEXTOID, UUIDARRAYOID, TEXTOID});

/* Rate-limited candidates ($1 ids, locked by this claim; $2 worker): which run now.
 *   budgets   the finite budget of each key (pm_queue.rate_limits, else the mailbox's
 *             daily_limit when pm_oltp shares the database);
 *   granted   consume: one upsert per key and window.  ON CONFLICT DO UPDATE works on the
 *             latest committed counter under its row lock, so the grants of successive
 *             claimers add up whatever their snapshots, and used never passes max_per_window;
 *   verdict   the first `granted` candidates of each key (claim order) run; the rest are
 *             deferred to the end of the window (run_at), never failed. */
#define PM_LIMITED_SQL(BUDGET_JOIN)                                                              \
    "WITH cand AS ("                                                                             \
    "    SELECT j.id, j.rate_key, j.priority, j.run_at, j.queue_name"                            \
    "      FROM pm_queue.jobs j WHERE j.id = ANY ($1)"                                           \
    "), budgets AS ("                                                                            \
    "    SELECT k.key, " BUDGET_JOIN                                                             \
    "), locked AS ("                                                                             \
    "    SELECT b.*, pg_try_advisory_xact_lock(7368050, hashtext(b.key)) AS ok FROM budgets b"   \
    "), granted AS ("                                                                            \
    "    INSERT INTO pm_queue.rate_windows AS w"                                                 \
    "           (key, window_start, window_end, max_per_window, used, last_grant)"               \
    "    SELECT b.key, s.ws, s.ws + b.window_len, b.max_per_window,"                             \
    "           least(n.n, b.max_per_window), least(n.n, b.max_per_window)"                      \
    "      FROM locked b"                                                                        \
    "      JOIN (SELECT c.rate_key, count(*)::int AS n FROM cand c GROUP BY 1) n"                \
    "        ON n.rate_key = b.key"                                                              \
    "     CROSS JOIN LATERAL (SELECT pm_queue.rate_window_start(now(), b.window_len) AS ws) s"   \
    "     WHERE b.ok"                                                                            \
    "    ON CONFLICT (key, window_start) DO UPDATE"                                              \
    "       SET used = w.used + least(excluded.last_grant,"                                      \
    "                                 greatest(excluded.max_per_window - w.used, 0)),"           \
    "           last_grant = least(excluded.last_grant,"                                         \
    "                              greatest(excluded.max_per_window - w.used, 0)),"              \
    "           max_per_window = excluded.max_per_window"                                        \
    "     WHERE w.used < excluded.max_per_window"                                                \
    "    RETURNING w.key, w.last_grant"                                                          \
    "), verdict AS ("                                                                            \
    "    SELECT c.id, c.priority, c.queue_name,"                                                 \
    "           CASE WHEN b.key IS NULL THEN 'take'"                                             \
    "                WHEN NOT b.ok THEN 'skip'"                                                  \
    "                WHEN row_number() OVER (PARTITION BY c.rate_key ORDER BY c.priority, c.run_at)" \
    "                     <= coalesce(g.last_grant, 0) THEN 'take'"                              \
    "                ELSE 'defer' END AS verdict,"                                               \
    "           pm_queue.rate_window_start(now(), b.window_len) + b.window_len AS until"         \
    "      FROM cand c"                                                                          \
    "      LEFT JOIN locked b ON b.key = c.rate_key"                                             \
    "      LEFT JOIN granted g ON g.key = c.rate_key"                                            \
    "), deferred AS ("                                                                           \
    "    UPDATE pm_queue.jobs j"                                                                 \
    "       SET run_at = (SELECT v.until FROM verdict v WHERE v.id = j.id), updated_at = now()"  \
    "     WHERE j.id = ANY (ARRAY(SELECT v.id FROM verdict v WHERE v.verdict = 'defer'))"        \
    "    RETURNING j.id"                                                                         \
    "), claimed AS ("                                                                            \
    "    UPDATE pm_queue.jobs j"                                                                 \
    "       SET status = 'running', locked_by = $2,"                                             \
    "           locked_until = now() + (SELECT q.timeout_seconds FROM pm_queue.job_queues q"     \
    "                                    WHERE q.name = j.queue_name) * interval '1 second',"    \
    "           attempt_count = j.attempt_count + 1, started_at = now(), updated_at = now()"     \
    "     WHERE j.id = ANY (ARRAY(SELECT v.id FROM verdict v WHERE v.verdict = 'take'))"         \
    "    RETURNING j.*"                                                                          \
    ")"                                                                                          \
    " SELECT 'take'::text AS verdict, c.id, c::pm_queue.jobs AS job, c.priority,"                \
    "        NULL::timestamptz AS until, c.queue_name FROM claimed c"                            \
    " UNION ALL"                                                                                 \
    " SELECT v.verdict, v.id, NULL, v.priority, v.until, v.queue_name"                           \
    "   FROM verdict v WHERE v.verdict <> 'take'"

KeptPlan limited_plan_oltp(
    PM_LIMITED_SQL("coalesce(r.max_per_window, m.daily_limit) AS max_per_window,"
                   "           coalesce(r.window_len, interval '1 day') AS window_len"
                   "      FROM (SELECT DISTINCT c.rate_key AS key FROM cand c) k"
                   "      LEFT JOIN pm_queue.rate_limits r ON r.key = k.key"
                   "      LEFT JOIN pm_oltp.email_accounts m"
                   "             ON r.key IS NULL AND m.id = pm_queue.rate_key_mailbox(k.key)"
                   "            AND m.daily_limit IS NOT NULL"
                   "     WHERE r.key IS NOT NULL OR m.id IS NOT NULL"),
    {UUIDARRAYOID, TEXTOID});

KeptPlan limited_plan_alone(
    PM_LIMITED_SQL("r.max_per_window, r.window_len"
                   "      FROM (SELECT DISTINCT c.rate_key AS key FROM cand c) k"
                   "      JOIN pm_queue.rate_limits r ON r.key = k.key"),
    {UUIDARRAYOID, TEXTOID});

KeptPlan capped_plan("SELECT c FROM pm_queue.claim_capped($1, $2, $3) c", {TEXTARRAYOID, TEXTOID, INT4OID});

/* Mailbox budgets come from pm_oltp when it shares this database (checked per call: it can
 * be created after this backend prepared its plans). */
bool oltp_mailboxes_here()
{
    bool here = false;
    pm::pg_call([&] {
        const Oid ns = get_namespace_oid("pm_oltp", true);
        here = OidIsValid(ns) && OidIsValid(get_relname_relid("email_accounts", ns));
    });
    return here;
}

Datum uuid_array(const std::vector<pg_uuid_t> &ids)
{
    Datum result = (Datum) 0;
    pm::pg_call([&] {
        Datum *elems = static_cast<Datum *>(palloc(sizeof(Datum) * (ids.size() + 1)));
        for (std::size_t i = 0; i < ids.size(); i++) {
            pg_uuid_t *u = static_cast<pg_uuid_t *>(palloc(sizeof(pg_uuid_t)));
            *u = ids[i];
            elems[i] = UUIDPGetDatum(u);
        }
        result = PointerGetDatum(construct_array(elems, static_cast<int>(ids.size()), UUIDOID,
                                                 UUID_LEN, false, TYPALIGN_CHAR));
    });
    return result;
}

void put_job(ReturnSetInfo *rsinfo, Datum job)
{
    pm::pg_call([&] {
        HeapTupleHeader th = DatumGetHeapTupleHeader(job);
        HeapTupleData tuple;
        tuple.t_len = HeapTupleHeaderGetDatumLength(th);
        ItemPointerSetInvalid(&tuple.t_self);
        tuple.t_tableOid = InvalidOid;
        tuple.t_data = th;
        tuplestore_puttuple(rsinfo->setResult, &tuple);
    });
}

void raise_unknown_queue(Datum queues)
{
    pm::pg_call([&] {
        Oid types[1] = {TEXTARRAYOID};
        Datum values[1] = {queues};
        SPI_execute_with_args(
            "SELECT pm_queue.raise_unknown_queue((SELECT x FROM unnest($1) x"
            " WHERE x IS NULL OR NOT EXISTS (SELECT 1 FROM pm_queue.job_queues q WHERE q.name = x)"
            " LIMIT 1))",
            1, types, values, nullptr, false, 0);
    });
}

} // namespace

extern "C" Datum pm_queue_claim(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        if (PG_ARGISNULL(1) || VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(1)) == 0 ||
            pm::to_string_view(PG_GETARG_TEXT_PP(1)).size() > 200)
            throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE, "worker_id must be 1 to 200 characters",
                               {}, "Use something that names the process, e.g. host:pid.");
        if (PG_ARGISNULL(2) || PG_GETARG_INT32(2) < 1 || PG_GETARG_INT32(2) > 1000)
            throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                               "max_jobs must be between 1 and 1000, got " +
                                   (PG_ARGISNULL(2) ? std::string("NULL")
                                                    : std::to_string(PG_GETARG_INT32(2))));
        std::vector<std::string> names;
        bool has_null_name = false;
        if (!PG_ARGISNULL(0)) {
            ArrayType *arr = PG_GETARG_ARRAYTYPE_P(0);
            Datum *elems = nullptr;
            bool *nulls = nullptr;
            int n = 0;
            pm::pg_call([&] { deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n); });
            for (int i = 0; i < n; i++) {
                if (nulls[i])
                    has_null_name = true;
                else
                    names.emplace_back(pm::to_string(DatumGetTextPP(elems[i])));
            }
        }
        if (names.empty() && !has_null_name)
            throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE, "queues must name at least one queue");
        /* Per-tenant caps are counted with a fresh snapshot per statement. */
        if (XactIsoLevel != XACT_READ_COMMITTED)
            throw pm::SqlError(ERRCODE_INVALID_TRANSACTION_STATE,
                               "pm_queue.claim() must run at READ COMMITTED isolation",
                               std::string("The transaction is ") +
                                   (XactIsoLevel == XACT_SERIALIZABLE ? "serializable"
                                    : XactIsoLevel == XACT_REPEATABLE_READ ? "repeatable read"
                                                                          : "read uncommitted") +
                                   ".");

        const Datum queues = PG_GETARG_DATUM(0);
        const Datum worker = PG_GETARG_DATUM(1);
        const int max_jobs = PG_GETARG_INT32(2);
        ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
        pm::pg_call([&] { InitMaterializedSRF(fcinfo, 0); });

        /* The hint serves single-queue claims, the worker's usual call. */
        const bool single = names.size() == 1 && !has_null_name;
        const int slot = single ? pm::queue_shared::slot_for(names[0]) : -1;
        pm::queue::ClaimStart start;
        if (slot >= 0)
            start = pm::queue_shared::begin_claim(slot);

        pm::SpiSession spi;
        int want = max_jobs;
        int n_claimed = 0;
        bool has_capped = false;
        bool unknown = false;
        std::vector<pg_uuid_t> seen;
        for (int round = 1;; round++) {
            int n_cand = 0;
            std::vector<pg_uuid_t> keyed;
            std::optional<HintKey> first_live;
            {
                pm::queue_shared::HotWrite hot;
                /* $7: probe for the hint only where it is used. */
                const Datum probe = single && round == 1 && slot >= 0 ? pm::text_datum(names[0]) : (Datum) 0;
                const Datum args[7] = {queues, Int32GetDatum(start.from.priority),
                                       TimestampTzGetDatum(start.from.run_at), Int32GetDatum(want),
                                       worker, uuid_array(seen), probe};
                const char nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', probe ? ' ' : 'n', '\0'};
                const uint64 rows = round_plan.run(args, nulls);
                for (uint64 r = 0; r < rows; r++) {
                    const char kind = *VARDATA_ANY(DatumGetTextPP(*result_value(r, 1)));
                    switch (kind) {
                    case 't':
                        put_job(rsinfo, *result_value(r, 2));
                        n_claimed++;
                        n_cand++;
                        break;
                    case 'k':
                        keyed.push_back(*DatumGetUUIDP(*result_value(r, 3)));
                        n_cand++;
                        break;
                    case 's':
                        seen.push_back(*DatumGetUUIDP(*result_value(r, 3)));
                        n_cand++;
                        break;
                    case 'f':
                        first_live = HintKey{DatumGetInt32(*result_value(r, 4)),
                                             DatumGetTimestampTz(*result_value(r, 5))};
                        break;
                    case 'c':
                        has_capped = true;
                        break;
                    default:
                        unknown = true;
                        break;
                    }
                }
                if (round == 1 && slot >= 0)
                    pm::queue_shared::finish_claim(slot, start, first_live);
            }
            if (unknown)
                raise_unknown_queue(queues);

            if (!keyed.empty()) {
                pm::queue_shared::HotWrite hot;
                KeptPlan &plan = oltp_mailboxes_here() ? limited_plan_oltp : limited_plan_alone;
                const Datum args[2] = {uuid_array(keyed), worker};
                const uint64 rows = plan.run(args, "  ");
                for (uint64 r = 0; r < rows; r++) {
                    const std::string_view verdict = pm::to_string_view(DatumGetTextPP(*result_value(r, 1)));
                    if (verdict == "take") {
                        put_job(rsinfo, *result_value(r, 3));
                        n_claimed++;
                        continue;
                    }
                    seen.push_back(*DatumGetUUIDP(*result_value(r, 2)));
                    if (verdict == "defer") {
                        /* Ready again at its window's end: the hint must not pass it. */
                        const std::string queue = pm::to_string(DatumGetTextPP(*result_value(r, 6)));
                        pm::queue_shared::lower_at_commit(
                            queue, HintKey{DatumGetInt32(*result_value(r, 4)),
                                           DatumGetTimestampTz(*result_value(r, 5))});
                    }
                }
            }
            if (n_claimed >= max_jobs || n_cand < want || round >= kMaxRounds)
                break;
            want = max_jobs - n_claimed;
        }

        if (has_capped && n_claimed < max_jobs) {
            const Datum args[3] = {queues, worker, Int32GetDatum(max_jobs - n_claimed)};
            const uint64 rows = capped_plan.run(args, "   ");
            for (uint64 r = 0; r < rows; r++) {
                if (auto job = result_value(r, 1)) {
                    put_job(rsinfo, *job);
                    n_claimed++;
                }
            }
        }
        if (n_claimed < max_jobs)
            for (const std::string &name : names)
                pm::queue_shared::mark_idle(name);
        return (Datum) 0;
    });
}
