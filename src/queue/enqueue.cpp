/*
 * queue_enqueue.cpp — pm_queue.enqueue(...): arguments checked in C++, one INSERT planned
 * once per backend (the queue's defaults and rate-key rule are read by the INSERT itself);
 * pm_queue.check_enqueue() says why when it inserts nothing.  The new job lowers the claim
 * hint at commit, and listeners are notified only when a worker of the queue came back
 * empty-handed since the last notifying commit (NOTIFY serialises committers).
 */
#include "shared/boundary.h"
#include "queue/plan.h"
#include "queue/shared.h"

extern "C" {
#include "access/detoast.h"
#include "catalog/pg_type_d.h"
#include "mb/pg_wchar.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(pm_queue_enqueue);
PG_FUNCTION_INFO_V1(pm_queue_wake_workers);
PG_FUNCTION_INFO_V1(pm_queue_enqueue_many);
Datum pm_queue_check_rate_key(PG_FUNCTION_ARGS);
}

#include <string>

namespace {

using pm::queue::KeptPlan;
using pm::queue::result_value;

constexpr int kMaxPayloadBytes = 65536; /* = pm_queue.max_payload_bytes() */
const pg_uuid_t kPlatformTenant{};      /* = pm_queue.platform_tenant(), the nil uuid */

#define PM_ENQUEUE_COLUMNS                                                                       \
    "INSERT INTO pm_queue.jobs (queue_name, tenant_id, priority, payload, rate_key, max_attempts," \
    "                           run_at, idempotency_key)"                                       \
    "SELECT q.name, $2, coalesce($3, q.default_priority), $4, $5, coalesce($6, q.max_attempts), $7, $8" \
    "  FROM pm_queue.job_queues q"                                                               \
    " WHERE q.name = $1"                                                                         \
    "   AND (q.rate_key_prefix IS NULL OR starts_with($5, q.rate_key_prefix))"

KeptPlan insert_plan(PM_ENQUEUE_COLUMNS " RETURNING id, priority",
                     {TEXTOID, UUIDOID, INT4OID, JSONBOID, TEXTOID, INT4OID, TIMESTAMPTZOID, TEXTOID});
/* A concurrent enqueue of the same key waits on the arbiter index for the other
 * transaction, then finds its row: one job, one id, whoever wins. */
KeptPlan insert_keyed_plan(PM_ENQUEUE_COLUMNS
                           " ON CONFLICT (queue_name, tenant_id, idempotency_key)"
                           "    WHERE idempotency_key IS NOT NULL DO NOTHING"
                           " RETURNING id, priority",
                           {TEXTOID, UUIDOID, INT4OID, JSONBOID, TEXTOID, INT4OID, TIMESTAMPTZOID, TEXTOID});
KeptPlan check_plan("SELECT pm_queue.check_enqueue($1, $2)", {TEXTOID, TEXTOID});
KeptPlan existing_plan("SELECT j.id FROM pm_queue.jobs j"
                       " WHERE j.queue_name = $1 AND j.tenant_id = $2 AND j.idempotency_key = $3",
                       {TEXTOID, UUIDOID, TEXTOID});

/* enqueue_many's checks and INSERT stay in plpgsql (enqueue_many_rows); it runs here inside
 * a hot-write section, and each row carries the key the batch became ready at. */
KeptPlan many_plan("SELECT r.id, r.ready_priority, r.ready_at"
                   "  FROM pm_queue.enqueue_many_rows($1, $2, $3, $4, $5, $6, $7, $8) r",
                   {TEXTOID, JSONBARRAYOID, INT4OID, TIMESTAMPTZOID, INT4OID, TEXTARRAYOID, UUIDOID,
                    TEXTARRAYOID});

std::string timestamp_text(TimestampTz t)
{
    std::string out;
    pm::pg_call([&] { out = DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(t))); });
    return out;
}

/* NOTIFY pm_queue, payload the queue name, when its workers may be waiting. */
void wake(std::string_view queue)
{
    if (!pm::queue_shared::wake_needed(queue))
        return;
    pm::queue_shared::notify_at_commit(queue);
}

} // namespace

extern "C" Datum pm_queue_enqueue(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        const std::string queue = PG_ARGISNULL(0) ? std::string() : pm::to_string(PG_GETARG_TEXT_PP(0));
        if (PG_ARGISNULL(1))
            throw pm::SqlError(ERRCODE_NULL_VALUE_NOT_ALLOWED,
                               "payload of a job for queue " + queue + " must not be NULL", {},
                               "Pass '{}' for a job without arguments.");
        std::size_t size = 0;
        pm::pg_call([&] { size = toast_datum_size(PG_GETARG_DATUM(1)); });
        if (size > kMaxPayloadBytes)
            throw pm::SqlError(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                               "payload of a job for queue " + queue + " is " + std::to_string(size) +
                                   " bytes, the limit is " + std::to_string(kMaxPayloadBytes),
                               {},
                               "Jobs carry ids and storage keys, not bodies: store the data (content "
                               "tier) and enqueue its key.");
        if (!PG_ARGISNULL(2) && (PG_GETARG_INT32(2) < 1 || PG_GETARG_INT32(2) > 1000))
            throw pm::SqlError(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
                               "priority " + std::to_string(PG_GETARG_INT32(2)) + " is out of range",
                               "Priorities run from 1 (runs first) to 1000 (runs last).",
                               "Pass NULL for the queue's default_priority.");
        if (!PG_ARGISNULL(4) && (PG_GETARG_INT32(4) < 1 || PG_GETARG_INT32(4) > 1000))
            throw pm::SqlError(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
                               "max_attempts " + std::to_string(PG_GETARG_INT32(4)) +
                                   " is out of range (1..1000)");
        const TimestampTz now = GetCurrentTransactionStartTimestamp();
        const TimestampTz ready_at = PG_ARGISNULL(3) ? now : PG_GETARG_TIMESTAMPTZ(3);
        if (TIMESTAMP_NOT_FINITE(ready_at))
            throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                               "run_at must be a finite timestamp, got " + timestamp_text(ready_at));
        if (!PG_ARGISNULL(7))
            pm::pg_call([&] { DirectFunctionCall1(pm_queue_check_rate_key, PG_GETARG_DATUM(7)); });
        const bool keyed = !PG_ARGISNULL(5);
        if (keyed) {
            text *key = PG_GETARG_TEXT_PP(5);
            int chars = 0;
            pm::pg_call([&] { chars = pg_mbstrlen_with_len(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key)); });
            if (chars < 1 || chars > 200)
                throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                                   "idempotency_key must be 1 to 200 characters");
        }

        const Datum tenant = PG_ARGISNULL(6) ? UUIDPGetDatum(const_cast<pg_uuid_t *>(&kPlatformTenant))
                                             : PG_GETARG_DATUM(6);
        const Datum args[8] = {PG_GETARG_DATUM(0), tenant, PG_GETARG_DATUM(2), PG_GETARG_DATUM(1),
                               PG_GETARG_DATUM(7), PG_GETARG_DATUM(4), TimestampTzGetDatum(ready_at),
                               PG_GETARG_DATUM(5)};
        const char nulls[9] = {PG_ARGISNULL(0) ? 'n' : ' ', ' ', PG_ARGISNULL(2) ? 'n' : ' ', ' ',
                               PG_ARGISNULL(7) ? 'n' : ' ', PG_ARGISNULL(4) ? 'n' : ' ', ' ',
                               keyed ? ' ' : 'n', '\0'};
        const Datum check_args[2] = {PG_GETARG_DATUM(0), PG_GETARG_DATUM(7)};
        const char check_nulls[3] = {nulls[0], nulls[4], '\0'};

        pm::SpiSession spi;
        pg_uuid_t job{};
        for (;;) {
            uint64 rows = 0;
            {
                pm::queue_shared::HotWrite hot;
                rows = (keyed ? insert_keyed_plan : insert_plan).run(args, nulls);
            }
            if (rows > 0) {
                job = *DatumGetUUIDP(*result_value(0, 1));
                pm::queue_shared::lower_at_commit(queue, {DatumGetInt32(*result_value(0, 2)), ready_at});
                break;
            }
            /* Unknown queue or missing rate key: raises.  Otherwise the key is taken. */
            check_plan.run(check_args, check_nulls);
            if (!keyed)
                throw pm::SqlError(ERRCODE_INTERNAL_ERROR, "enqueue inserted no job for queue " + queue);
            const Datum find_args[3] = {args[0], tenant, args[7]};
            if (existing_plan.run(find_args, "   ") > 0) {
                pg_uuid_t *out = static_cast<pg_uuid_t *>(SPI_palloc(sizeof(pg_uuid_t)));
                *out = *DatumGetUUIDP(*result_value(0, 1));
                PG_RETURN_UUID_P(out);
            }
            /* The holder was pruned between our insert and our read: insert again. */
        }
        if (ready_at <= now)
            wake(queue);
        pg_uuid_t *out = static_cast<pg_uuid_t *>(SPI_palloc(sizeof(pg_uuid_t)));
        *out = job;
        PG_RETURN_UUID_P(out);
    });
}

/* wake_workers(queue): enqueue_many's NOTIFY, on the same terms as enqueue's. */
extern "C" Datum pm_queue_wake_workers(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        if (!PG_ARGISNULL(0))
            wake(pm::to_string_view(PG_GETARG_TEXT_PP(0)));
        PG_RETURN_VOID();
    });
}

/* enqueue_many(...): the batch form.  Ids in the order of payloads. */
extern "C" Datum pm_queue_enqueue_many(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
        /* SETOF uuid: a scalar, so the executor's one-column descriptor. */
        pm::pg_call([&] { InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC); });
        Datum args[8];
        char nulls[9];
        for (int i = 0; i < 8; i++) {
            args[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
            nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
        }
        nulls[8] = '\0';
        pm::SpiSession spi;
        uint64 rows = 0;
        {
            pm::queue_shared::HotWrite hot;
            rows = many_plan.run(args, nulls);
        }
        if (rows > 0) {
            const std::string_view queue = pm::to_string_view(PG_GETARG_TEXT_PP(0));
            const TimestampTz ready_at = DatumGetTimestampTz(*result_value(0, 3));
            pm::queue_shared::lower_at_commit(queue, {DatumGetInt32(*result_value(0, 2)), ready_at});
            if (ready_at <= GetCurrentTransactionStartTimestamp())
                wake(queue);
        }
        for (uint64 r = 0; r < rows; r++) {
            const auto id = result_value(r, 1);
            Datum value = id ? *id : (Datum) 0;
            bool isnull = !id;
            pm::pg_call([&] { tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull); });
        }
        return (Datum) 0;
    });
}
