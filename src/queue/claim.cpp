/*
 * queue_claim.cpp — pm_queue.claim(queues, worker_id, max_jobs): the hot path in C++ over
 * statements planned once per backend (queue_plan.h).
 *
 * A single-queue round (a worker's usual call): lock_plan locks the first `want` ready jobs
 * in (priority, run_at) order with SKIP LOCKED (an ordered range scan of jobs_live_idx),
 * returning their tids, the queue's lease timeout and the claim hint's probe; when some
 * carry a rate key, their keys' budgets are consumed (queue_budget.cpp for workers,
 * grant_plan under row-level security) and common/rate_admission.h decides which run now
 * (the others are deferred to their window's end by defer_plan); queue_lease.cpp leases the
 * ones that run without a statement (a HOT update per row).  Locking stays a statement of
 * its own because EvalPlanQual rechecks re-initialise every sub-plan of the locking
 * statement (see lock_plan).  Multi-queue claims run round_plan (lock, lease unkeyed, probe
 * in one statement, a scan per queue merged in order), then the same budget step and
 * lease_plan for keyed candidates.  Another round follows only when candidates were
 * deferred and more may be ready (bounded).  Queues with max_running_per_tenant take the
 * plpgsql path
 * pm_queue.claim_capped().
 */
#include "shared/boundary.h"
#include "queue/pure/rate_admission.h"
#include "shared/direct_write.h"
#include "queue/budget.h"
#include "queue/lease.h"
#include "queue/plan.h"
#include "queue/shared.h"

extern "C" {
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type_d.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(pm_queue_claim);
}

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using pm::queue::HintKey;
using pm::queue::KeptPlan;
using pm::queue::result_value;

constexpr int kMaxRounds = 8;

/* The predicate of jobs_live_idx (unfinished jobs), spelled out in every scan of it so the
 * planner can use the partial index; the status test then skips the running ones. */
#define PM_LIVE_READY(J)                                                                         \
    J ".completed_at IS NULL AND " J ".failed_at IS NULL AND " J ".cancelled_at IS NULL"         \
    " AND " J ".status IN ('queued', 'retry_scheduled')"

/*
 * A round: $1 queues, $2/$3 start (priority, run_at), $4 want, $5 worker, $6 ids to skip,
 * $7 the queue whose first live ready entry to probe (NULL: no probe).
 *   q      the queues (and which are unknown, paused, capped);
 *   cand   the first `want` ready jobs in (priority, run_at) order, locked with SKIP LOCKED
 *          (an ordered range scan of jobs_live_idx per queue, merged across queues);
 *   probe  the first live entry of the ready index from the start: due or not, locked or
 *          not (the claim hint, common/claim_hint.h).
 * Result rows (kind, job, id, priority, run_at, queue, rate_key): kind 't' a leased job, 'k' a
 * rate-keyed candidate left to the caller (lease_with_budgets), 'f' the probe, 'c' a capped
 * queue, 'u' an unknown one.
 */
#define PM_ROUND_CAND                                                                            \
    "WITH q AS MATERIALIZED ("                                                                   \
    "    SELECT jq.name, jq.is_active, jq.max_running_per_tenant IS NOT NULL AS capped,"         \
    "           jq.timeout_seconds, jq.name IS NULL AS unknown"                                  \
    "      FROM unnest($1::text[]) AS x(name)"                                                   \
    "      LEFT JOIN pm_queue.job_queues jq ON jq.name = x.name"                                 \
    "), cand AS MATERIALIZED ("                                                                  \
    "    SELECT c.id, c.rate_key, c.priority, c.run_at, c.queue_name"                            \
    "      FROM q CROSS JOIN LATERAL ("                                                          \
    "           SELECT j.id, j.rate_key, j.priority, j.run_at, j.queue_name"                     \
    "             FROM pm_queue.jobs j"                                                          \
    "            WHERE j.queue_name = q.name"                                                    \
    "              AND " PM_LIVE_READY("j")                                                       \
    "              AND j.run_at <= now()"                                                        \
    "              AND (j.priority, j.run_at) >= ($2, $3)"                                       \
    "              AND j.id <> ALL ($6)"                                                         \
    /* One claimer per rate key at a time: the key's advisory lock is tried before the row  \
     * is locked, so a job whose key another claimer is consuming is left to that claimer   \
     * (neither locked nor waited for; it stays live, so the hint probe never passes it).   \
     * Held to commit; never waited on: no deadlock. */                                      \
    "              AND (j.rate_key IS NULL"                                                      \
    "                   OR pg_try_advisory_xact_lock(7368050, hashtext(j.rate_key)))"            \
    "            ORDER BY j.priority, j.run_at"                                                  \
    "            LIMIT $4"                                                                       \
    "              FOR UPDATE SKIP LOCKED) c"                                                    \
    "     WHERE q.is_active AND NOT q.capped"                                                    \
    "     ORDER BY c.priority, c.run_at"                                                         \
    "     LIMIT $4"                                                                              \
    ")"

/* Leases the jobs of `verdict 'take'`: rows by `id = ANY (...)`, not by a join, so the plan
 * stays a primary-key probe whatever the planner guesses about the size of cand. */
#define PM_ROUND_LEASE(WORKER, TAKE_IDS)                                                         \
    ", claimed AS ("                                                                             \
    "    UPDATE pm_queue.jobs j"                                                                 \
    "       SET status = 'running', locked_by = " WORKER ","                                     \
    "           locked_until = now() + (SELECT q.timeout_seconds FROM q WHERE q.name = j.queue_name)" \
    "                                  * interval '1 second',"                                   \
    "           attempt_count = j.attempt_count + 1, started_at = now(), updated_at = now()"     \
    "     WHERE j.id = ANY (ARRAY(" TAKE_IDS "))"                                               \
    "    RETURNING j.*"                                                                          \
    ")"

/* The first live entry of the ready index of queue QUEUE from (PRIO, RUN_AT): due or not,
 * locked or not (the claim hint). */
#define PM_PROBE(QUEUE, PRIO, RUN_AT)                                                            \
    " UNION ALL"                                                                                 \
    " SELECT 'f', NULL, NULL, f.priority, f.run_at, NULL, NULL"                                  \
    "   FROM (SELECT j.priority, j.run_at FROM pm_queue.jobs j"                                  \
    "          WHERE j.queue_name = " QUEUE " AND " PM_LIVE_READY("j")                           \
    "            AND (j.priority, j.run_at) >= (" PRIO ", " RUN_AT ")"                          \
    "          ORDER BY j.priority, j.run_at LIMIT 1) f"

#define PM_ROUND_TAIL                                                                            \
    PM_PROBE("$7", "$2", "$3")                                                                   \
    " UNION ALL"                                                                                 \
    " SELECT CASE WHEN q.unknown THEN 'u' ELSE 'c' END, NULL, NULL, NULL, NULL, NULL, NULL"      \
    "   FROM q WHERE q.unknown OR (q.capped AND q.is_active)"

const std::initializer_list<Oid> kRoundArgs = {TEXTARRAYOID, INT4OID, TIMESTAMPTZOID, INT4OID,
                                               TEXTOID,      UUIDARRAYOID, TEXTOID};

/* Queues whose jobs carry no rate key: lease every candidate; a keyed one (rare here) is
 * returned as 'k' and goes through lease_with_budgets(). */
KeptPlan round_plan(PM_ROUND_CAND PM_ROUND_LEASE("$5", "SELECT c.id FROM cand c WHERE c.rate_key IS NULL")
                    " SELECT 't'::text AS kind, c::pm_queue.jobs AS job, c.id, c.priority, c.run_at,"
                    "        NULL::text AS queue, NULL::text AS rate_key FROM claimed c"
                    " UNION ALL"
                    " SELECT 'k', NULL, c.id, c.priority, c.run_at, c.queue_name, c.rate_key FROM cand c"
                    "  WHERE c.rate_key IS NOT NULL" PM_ROUND_TAIL,
                    kRoundArgs);

/*
 * The budget step as a statement, for callers under row-level security on the budget tables
 * (workers run as pm_service and take queue_budget.cpp's direct path, same semantics).
 * Consumes rate budget for this claim's keyed candidates: $1 the distinct keys, $2 how many
 * candidates carry each.  One row per key with a finite budget: (key, grants, end of the
 * current window); keys without a row are unlimited.
 *   budgets   pm_queue.rate_limits, else the mailbox's daily_limit per UTC day when pm_oltp
 *             shares the database.  Every key here is already this claimer's: lock_plan and
 *             round_plan only lock a keyed job after taking its key's advisory lock, so no
 *             other claimer consumes these keys until this transaction ends;
 *   granted   one upsert per key and window.  ON CONFLICT DO UPDATE works on the latest
 *             committed counter under its row lock, so the grants of successive claimers add
 *             up whatever their snapshots, and used never passes max_per_window.
 * Which candidates the grants go to is decided in C++ (common/rate_admission.h): the first
 * ones of each key in claim order.
 */
#define PM_GRANT_SQL(BUDGET_JOINS)                                                               \
    "WITH budgets AS ("                                                                          \
    "    SELECT k.key, k.n, b.max_per_window, b.window_len,"                                     \
    "           pm_queue.rate_window_start(now(), b.window_len) AS ws"                           \
    "      FROM unnest($1::text[], $2::int[]) AS k(key, n)" BUDGET_JOINS                         \
    "), granted AS ("                                                                            \
    "    INSERT INTO pm_queue.rate_windows AS w"                                                 \
    "           (key, window_start, window_end, max_per_window, used, last_grant)"               \
    "    SELECT b.key, b.ws, b.ws + b.window_len, b.max_per_window,"                             \
    "           least(b.n, b.max_per_window), least(b.n, b.max_per_window)"                      \
    "      FROM budgets b"                                                                       \
    "    ON CONFLICT (key, window_start) DO UPDATE"                                              \
    "       SET used = w.used + least(excluded.last_grant,"                                      \
    "                                 greatest(excluded.max_per_window - w.used, 0)),"           \
    "           last_grant = least(excluded.last_grant,"                                         \
    "                              greatest(excluded.max_per_window - w.used, 0)),"              \
    "           max_per_window = excluded.max_per_window"                                        \
    "     WHERE w.used < excluded.max_per_window"                                                \
    "    RETURNING w.key, w.last_grant"                                                          \
    ")"                                                                                          \
    " SELECT b.key, coalesce(g.last_grant, 0), b.ws + b.window_len"                              \
    "   FROM budgets b LEFT JOIN granted g ON g.key = b.key"

KeptPlan grant_plan_oltp(PM_GRANT_SQL(
                             "  LEFT JOIN LATERAL (SELECT rl.max_per_window, rl.window_len"
                             "                       FROM pm_queue.rate_limits rl"
                             "                      WHERE rl.key = k.key LIMIT 1) r ON true"
                             "  LEFT JOIN LATERAL (SELECT a.daily_limit FROM pm_oltp.email_accounts a"
                             "                      WHERE r.max_per_window IS NULL"
                             "                        AND a.id = pm_queue.rate_key_mailbox(k.key)"
                             "                        AND a.daily_limit IS NOT NULL LIMIT 1) m ON true"
                             " CROSS JOIN LATERAL (SELECT coalesce(r.max_per_window, m.daily_limit) AS max_per_window,"
                             "                            coalesce(r.window_len, interval '1 day') AS window_len) b"
                             " WHERE b.max_per_window IS NOT NULL"),
                         {TEXTARRAYOID, INT4ARRAYOID});
KeptPlan grant_plan_alone(PM_GRANT_SQL(
                              " CROSS JOIN LATERAL (SELECT rl.max_per_window, rl.window_len"
                              "                       FROM pm_queue.rate_limits rl"
                              "                      WHERE rl.key = k.key LIMIT 1) b"),
                          {TEXTARRAYOID, INT4ARRAYOID});

/* Leases the keyed candidates of a multi-queue claim that their budgets admitted ($1 their
 * ids, locked by round_plan; $2 worker).  Single-queue claims lease without a statement
 * (queue_lease.cpp). */
KeptPlan lease_plan("WITH q AS (SELECT jq.name, jq.timeout_seconds FROM pm_queue.job_queues jq)"
                    PM_ROUND_LEASE("$2", "SELECT unnest($1::uuid[])")
                    " SELECT 't'::text AS kind, c::pm_queue.jobs AS job, c.id, c.priority, c.run_at,"
                    "        NULL::text AS queue, NULL::text AS rate_key FROM claimed c",
                    {UUIDARRAYOID, TEXTOID});

/* Moves over-budget jobs ($1, locked by this claim) to the end of their window ($2). */
KeptPlan defer_plan("UPDATE pm_queue.jobs j SET run_at = d.until, updated_at = now()"
                    "  FROM unnest($1::uuid[], $2::timestamptz[]) AS d(id, until)"
                    " WHERE j.id = d.id",
                    {UUIDARRAYOID, TIMESTAMPTZARRAYOID});

/*
 * Single-queue claims (a worker's usual call) lock their candidates in a statement of their
 * own, without CTEs or sub-plans ($1 queue, $2/$3 start (priority, run_at), $4 want, $5 ids
 * to skip).  Why: a candidate claimed and committed by another worker after this
 * statement's snapshot is found again by SKIP LOCKED's update-chain walk, and rechecked by
 * EvalPlanQual, whose set-up initialises every sub-plan of the statement once more; under
 * contention (4+ workers) that happened on most claims and, with the lease and the budget
 * pipeline in the same statement, doubled the server CPU per claim.  The queue's own state
 * is a one-time filter (an InitPlan): a paused or capped queue locks nothing.
 */
KeptPlan lock_plan(
    "SELECT j.id, j.rate_key, j.priority, j.ctid,"
    "       (SELECT q.timeout_seconds FROM pm_queue.job_queues q WHERE q.name = $1),"
    /* The claim hint's probe ($6 NULL: none): the first ready entry from the hint, due or
     * not, locked or not, as a whole row (one sub-plan for both columns). */
    "       (SELECT f FROM pm_queue.jobs f"
    "         WHERE f.queue_name = $6 AND " PM_LIVE_READY("f")
    "           AND (f.priority, f.run_at) >= ($2, $3)"
    "         ORDER BY f.priority, f.run_at LIMIT 1)"
    "  FROM pm_queue.jobs j"
    " WHERE j.queue_name = $1"
    "   AND " PM_LIVE_READY("j")
    "   AND j.run_at <= now()"
    "   AND (j.priority, j.run_at) >= ($2, $3)"
    "   AND j.id <> ALL ($5)"
    "   AND EXISTS (SELECT 1 FROM pm_queue.job_queues q"
    "                WHERE q.name = $1 AND q.is_active AND q.max_running_per_tenant IS NULL)"
    /* The key's advisory lock before the row's: see PM_ROUND_CAND. */
    "   AND (j.rate_key IS NULL OR pg_try_advisory_xact_lock(7368050, hashtext(j.rate_key)))"
    " ORDER BY j.priority, j.run_at"
    " LIMIT $4"
    "   FOR UPDATE OF j SKIP LOCKED",
    {TEXTOID, INT4OID, TIMESTAMPTZOID, INT4OID, UUIDARRAYOID, TEXTOID});

/* The probe alone, for a claim that locked nothing (lock_plan's probe is in its rows). */
KeptPlan probe_plan("SELECT f.priority, f.run_at FROM pm_queue.jobs f"
                    " WHERE f.queue_name = $1 AND " PM_LIVE_READY("f")
                    "   AND (f.priority, f.run_at) >= ($2, $3)"
                    " ORDER BY f.priority, f.run_at LIMIT 1",
                    {TEXTOID, INT4OID, TIMESTAMPTZOID});

/* Why a single-queue claim found fewer jobs than it wanted: unknown queue (no row), capped
 * (claim_capped()), paused or simply short. */
KeptPlan queue_state_plan("SELECT q.max_running_per_tenant IS NOT NULL AND q.is_active"
                          "  FROM pm_queue.job_queues q WHERE q.name = $1",
                          {TEXTOID});

KeptPlan capped_plan("SELECT c FROM pm_queue.claim_capped($1, $2, $3) c", {TEXTARRAYOID, TEXTOID, INT4OID});

/* Mailbox budgets come from pm_oltp when it shares this database (checked per call: it can
 * be created after this backend prepared its plans). */
bool oltp_mailboxes_here()
{
    bool here = false;
    pm::pg_call([&] { here = OidIsValid(pm::direct::relation_oid("pm_oltp", "email_accounts")); });
    return here;
}

/* A locked candidate: the budget of its rate key (if any) decides whether it runs now. */
struct Candidate {
    pg_uuid_t id;
    std::optional<std::string> rate_key;
    int priority;
    std::string queue;
};

/* A PostgreSQL array of `elem_type` holding `values`, each made a Datum by `to_datum` (runs
 * inside pg_call: it may palloc). */
template <typename T, typename ToDatum>
Datum datum_array(const std::vector<T> &values, Oid elem_type, ToDatum to_datum)
{
    Datum result = (Datum) 0;
    pm::pg_call([&] {
        int16 len = 0;
        bool byval = false;
        char align = 0;
        get_typlenbyvalalign(elem_type, &len, &byval, &align);
        Datum *elems = static_cast<Datum *>(palloc(sizeof(Datum) * (values.size() + 1)));
        for (std::size_t i = 0; i < values.size(); i++)
            elems[i] = to_datum(values[i]);
        result = PointerGetDatum(construct_array(elems, static_cast<int>(values.size()), elem_type, len, byval, align));
    });
    return result;
}

Datum text_array(const std::vector<std::string> &values)
{
    return datum_array(values, TEXTOID, [](const std::string &v) {
        return PointerGetDatum(cstring_to_text_with_len(v.data(), static_cast<int>(v.size())));
    });
}

Datum int4_array(const std::vector<int> &values)
{
    return datum_array(values, INT4OID, [](int v) { return Int32GetDatum(v); });
}

Datum uuid_array(const std::vector<pg_uuid_t> &ids)
{
    return datum_array(ids, UUIDOID, [](const pg_uuid_t &id) {
        pg_uuid_t *copy = static_cast<pg_uuid_t *>(palloc(sizeof(pg_uuid_t)));
        *copy = id;
        return UUIDPGetDatum(copy);
    });
}

Datum timestamptz_array(const std::vector<TimestampTz> &values)
{
    return datum_array(values, TIMESTAMPTZOID, [](TimestampTz v) { return TimestampTzGetDatum(v); });
}

/* Where a job (a pm_queue.jobs composite) sits in the live index: (priority, run_at). */
HintKey hint_key_of_job(Datum job)
{
    HintKey key{};
    pm::pg_call([&] {
        bool isnull = false;
        const HeapTupleHeader row = DatumGetHeapTupleHeader(job);
        key.priority = DatumGetInt32(GetAttributeByName(row, "priority", &isnull));
        key.run_at = DatumGetTimestampTz(GetAttributeByName(row, "run_at", &isnull));
    });
    return key;
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
        std::vector<Candidate> keyed;
        std::optional<HintKey> first_live;
        std::vector<pg_uuid_t> defer_ids;
        std::vector<TimestampTz> defer_until;
        int n_cand = 0;
        /* Rows of round_plan / lease_plan (see PM_ROUND_TAIL for the kinds). */
        auto take_rows = [&](uint64 rows, bool candidates) {
            for (uint64 r = 0; r < rows; r++) {
                const char kind = *VARDATA_ANY(DatumGetTextPP(*result_value(r, 1)));
                if (candidates && (kind == 't' || kind == 'k'))
                    n_cand++;
                switch (kind) {
                case 't':
                    put_job(rsinfo, *result_value(r, 2));
                    n_claimed++;
                    break;
                case 'k':
                    keyed.push_back(Candidate{*DatumGetUUIDP(*result_value(r, 3)),
                                              pm::to_string(DatumGetTextPP(*result_value(r, 7))),
                                              DatumGetInt32(*result_value(r, 4)),
                                              pm::to_string(DatumGetTextPP(*result_value(r, 6)))});
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
        };
        /* Budgets for locked candidates: which run now (returned), which wait for their
         * window's end (queued for defer_plan; the hint must not pass them). */
        auto admit = [&](const std::vector<Candidate> &cands) {
            std::vector<std::optional<std::string>> keys;
            keys.reserve(cands.size());
            for (const Candidate &c : cands)
                keys.push_back(c.rate_key);
            /* Keys with a finite budget -> their grants and window end. */
            std::unordered_map<std::string, pm::queue_budget::Grant> grants;
            const auto demand = pm::queue::key_demand(keys);
            if (!demand.empty()) {
                const bool oltp = oltp_mailboxes_here();
                if (!pm::queue_budget::grant(demand, oltp, grants)) {
                    /* Row-level security applies to the caller: grant under its policies. */
                    std::vector<std::string> demand_keys;
                    std::vector<int> demand_counts;
                    for (const auto &[key, n] : demand) {
                        demand_keys.push_back(key);
                        demand_counts.push_back(n);
                    }
                    KeptPlan &plan = oltp ? grant_plan_oltp : grant_plan_alone;
                    const Datum args[2] = {text_array(demand_keys), int4_array(demand_counts)};
                    const uint64 rows = plan.run(args, "  ");
                    for (uint64 r = 0; r < rows; r++)
                        grants[pm::to_string(DatumGetTextPP(*result_value(r, 1)))] =
                            pm::queue_budget::Grant{DatumGetInt32(*result_value(r, 2)),
                                                    DatumGetTimestampTz(*result_value(r, 3))};
                }
            }
            std::unordered_map<std::string, int> granted;
            for (const auto &[key, g] : grants)
                granted[key] = g.granted;
            const std::vector<bool> runs = pm::queue::admit_in_claim_order(keys, granted);
            for (std::size_t i = 0; i < cands.size(); i++) {
                if (runs[i])
                    continue;
                const TimestampTz until = grants.at(*cands[i].rate_key).window_end;
                pm::queue_shared::lower_at_commit(cands[i].queue, HintKey{cands[i].priority, until});
                seen.push_back(cands[i].id);
                defer_ids.push_back(cands[i].id);
                defer_until.push_back(until);
            }
            return runs;
        };
        for (int round = 1;; round++) {
            n_cand = 0;
            keyed.clear();
            first_live.reset();
            /* lock_plan $6 / round_plan $7: probe for the hint only where it is used. */
            const Datum probe = single && round == 1 && slot >= 0 ? pm::text_datum(names[0]) : (Datum) 0;
            if (single) {
                /* Lock and probe (lock_plan), admit under the rate budgets, lease
                 * (queue_lease.cpp, no statement).  Lock and probe start where this claim
                 * read the hint (begin_claim, once: its periodic full scan from the start
                 * is the safety net for a job the hint passed), and the claim's window ends
                 * right after lock_plan, so it overlaps few lowerings by concurrent commits
                 * (past kRecentLowerings of them the claim could not advance the hint). */
                std::vector<Candidate> locked;
                std::vector<ItemPointerData> tids;
                bool any_keyed = false;
                int32 timeout_seconds = 0;
                {
                    const Datum args[6] = {pm::text_datum(names[0]), Int32GetDatum(start.from.priority),
                                           TimestampTzGetDatum(start.from.run_at), Int32GetDatum(want),
                                           uuid_array(seen), probe};
                    const char nulls[7] = {' ', ' ', ' ', ' ', ' ', probe ? ' ' : 'n', '\0'};
                    const uint64 rows = lock_plan.run(args, nulls);
                    for (uint64 r = 0; r < rows; r++) {
                        const auto key = result_value(r, 2);
                        any_keyed = any_keyed || key.has_value();
                        locked.push_back(Candidate{*DatumGetUUIDP(*result_value(r, 1)),
                                                   key ? std::optional<std::string>(
                                                             pm::to_string(DatumGetTextPP(*key)))
                                                       : std::nullopt,
                                                   DatumGetInt32(*result_value(r, 3)), names[0]});
                        tids.push_back(*reinterpret_cast<ItemPointer>(DatumGetPointer(*result_value(r, 4))));
                    }
                    n_cand = static_cast<int>(rows);
                    if (rows > 0) {
                        timeout_seconds = DatumGetInt32(*result_value(0, 5));
                        if (const auto row = result_value(0, 6))
                            first_live = hint_key_of_job(*row);
                    }
                }
                if (probe) {
                    if (n_cand == 0) {
                        const Datum args[3] = {pm::text_datum(names[0]), Int32GetDatum(start.from.priority),
                                               TimestampTzGetDatum(start.from.run_at)};
                        if (probe_plan.run(args, "   ") > 0)
                            first_live = HintKey{DatumGetInt32(*result_value(0, 1)),
                                                 DatumGetTimestampTz(*result_value(0, 2))};
                    }
                    pm::queue_shared::finish_claim(slot, start, first_live);
                }
                if (n_cand < want && round == 1) {
                    const Datum args[1] = {pm::text_datum(names[0])};
                    if (queue_state_plan.run(args, " ") == 0)
                        unknown = true;
                    else
                        has_capped = DatumGetBool(*result_value(0, 1));
                }
                std::vector<ItemPointerData> take = tids;
                if (any_keyed) {
                    const std::vector<bool> runs = admit(locked);
                    take.clear();
                    for (std::size_t i = 0; i < runs.size(); i++)
                        if (runs[i])
                            take.push_back(tids[i]);
                }
                n_claimed += pm::queue_lease::lease_locked(take, worker, timeout_seconds, rsinfo->setResult);
            } else {
                {
                    pm::queue_shared::HotWrite hot;
                    const Datum args[7] = {queues, Int32GetDatum(start.from.priority),
                                           TimestampTzGetDatum(start.from.run_at), Int32GetDatum(want),
                                           worker, uuid_array(seen), probe};
                    const char nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', probe ? ' ' : 'n', '\0'};
                    take_rows(round_plan.run(args, nulls), true);
                }
                if (!keyed.empty()) {
                    const std::vector<bool> runs = admit(keyed);
                    std::vector<pg_uuid_t> take;
                    for (std::size_t i = 0; i < runs.size(); i++)
                        if (runs[i])
                            take.push_back(keyed[i].id);
                    if (!take.empty()) {
                        pm::queue_shared::HotWrite hot;
                        const Datum args[2] = {uuid_array(take), worker};
                        take_rows(lease_plan.run(args, "  "), false);
                    }
                }
            }
            if (!defer_ids.empty()) {
                pm::queue_shared::HotWrite hot;
                const Datum args[2] = {uuid_array(defer_ids), timestamptz_array(defer_until)};
                defer_plan.run(args, "  ");
                defer_ids.clear();
                defer_until.clear();
            }
            if (unknown)
                raise_unknown_queue(queues);
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
