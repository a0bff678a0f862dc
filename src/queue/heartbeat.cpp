/*
 * queue_heartbeat.cpp — pm_queue.heartbeat(job_id, worker_id): extends the holder's lease
 * by its queue's timeout.  One UPDATE planned once per backend, in a hot-write section of its
 * own (a lease extension leaves the ready set alone): the section's SQL helpers are not
 * callable by the application (0.4).
 */
#include "shared/boundary.h"
#include "queue/plan.h"
#include "queue/shared.h"

extern "C" {
#include "catalog/pg_type_d.h"

PG_FUNCTION_INFO_V1(pm_queue_heartbeat);
}

namespace {

pm::queue::KeptPlan heartbeat_plan(
    "UPDATE pm_queue.jobs j"
    "   SET locked_until = now() + q.timeout_seconds * interval '1 second', updated_at = now()"
    "  FROM pm_queue.job_queues q"
    " WHERE j.id = $1 AND j.status = $3 AND j.locked_by = $2 AND q.name = j.queue_name",
    {UUIDOID, TEXTOID, TEXTOID});

} // namespace

/* True while the worker holds the lease; false when it lost it (or the job is unknown). */
extern "C" Datum pm_queue_heartbeat(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
            PG_RETURN_BOOL(false);
        const Datum args[3] = {PG_GETARG_DATUM(0), PG_GETARG_DATUM(1), pm::text_datum("running")};
        pm::SpiSession spi;
        pm::queue_shared::HotWrite hot;
        PG_RETURN_BOOL(heartbeat_plan.run(args, "   ") > 0);
    });
}
