/*
 * queue_complete.cpp — pm_queue.complete(job_id, worker_id, result): one primary-key UPDATE
 * planned once per backend; only when it matches nothing does pm_queue.check_not_held()
 * say why (or return false for a repeated complete by the same worker).
 * pm_queue.complete_many(job_ids, worker_id, results): the batch form, one UPDATE.  Both
 * write inside a hot-write section (a completion leaves the ready set alone) of their own:
 * the section's SQL helpers are not callable by the application (0.4).
 */
#include "shared/boundary.h"
#include "queue/plan.h"
#include "queue/shared.h"

extern "C" {
#include "catalog/pg_type_d.h"
#include "funcapi.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(pm_queue_complete);
PG_FUNCTION_INFO_V1(pm_queue_complete_many);
}

namespace {

pm::queue::KeptPlan complete_plan(
    "UPDATE pm_queue.jobs j"
    "   SET status = 'completed', completed_at = now(), updated_at = now(), locked_until = NULL,"
    "       result = $3"
    /* status as a parameter: with a literal, the planner has preferred scanning a whole
     * partial index whose predicate it could prove to the primary-key probe. */
    " WHERE j.id = $1 AND j.status = $4 AND j.locked_by = $2",
    {UUIDOID, TEXTOID, JSONBOID, TEXTOID});

/* Generic plans: with the ids spelled out, the planner likes to AND the primary key with the
 * partial index of running jobs, which costs a scan of that whole index per call. */
#define PM_COMPLETE_MANY(SET_RESULT)                                                             \
    "UPDATE pm_queue.jobs j"                                                                     \
    "   SET status = 'completed', completed_at = now(), updated_at = now(), locked_until = NULL" \
    SET_RESULT                                                                                   \
    " WHERE j.id = ANY ($1) AND j.status = $4 AND j.locked_by = $2"                             \
    " RETURNING j.id"

pm::queue::KeptPlan complete_many_plan(PM_COMPLETE_MANY(""), {UUIDARRAYOID, TEXTOID, JSONBARRAYOID, TEXTOID});
pm::queue::KeptPlan complete_many_results_plan(PM_COMPLETE_MANY(", result = $3[array_position($1, j.id)]"),
                                               {UUIDARRAYOID, TEXTOID, JSONBARRAYOID, TEXTOID});

pm::queue::KeptPlan not_held_plan("SELECT pm_queue.check_not_held($1, $2, 'complete')",
                                  {UUIDOID, TEXTOID});

} // namespace

extern "C" Datum pm_queue_complete(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        const Datum args[4] = {PG_GETARG_DATUM(0), PG_GETARG_DATUM(1), PG_GETARG_DATUM(2),
                               pm::text_datum("running")};
        const char nulls[5] = {PG_ARGISNULL(0) ? 'n' : ' ', PG_ARGISNULL(1) ? 'n' : ' ',
                               PG_ARGISNULL(2) ? 'n' : ' ', ' ', '\0'};
        pm::SpiSession spi;
        uint64 done = 0;
        {
            /* A completed job leaves the ready set alone: no hint changes. */
            pm::queue_shared::HotWrite hot;
            done = complete_plan.run(args, nulls);
        }
        if (done > 0)
            PG_RETURN_BOOL(true);
        not_held_plan.run(args, nulls);
        const auto held = pm::queue::result_value(0, 1);
        PG_RETURN_BOOL(held && DatumGetBool(*held));
    });
}

/* complete_many(job_ids, worker_id, results): the ids this worker held and has now completed
 * (jobs it does not hold are left alone and not returned); results parallel to job_ids. */
extern "C" Datum pm_queue_complete_many(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
        /* SETOF uuid: a scalar, so the executor's one-column descriptor. */
        pm::pg_call([&] { InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC); });
        if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
            return (Datum) 0;
        const Datum args[4] = {PG_GETARG_DATUM(0), PG_GETARG_DATUM(1), PG_GETARG_DATUM(2),
                               pm::text_datum("running")};
        const char nulls[5] = {' ', ' ', PG_ARGISNULL(2) ? 'n' : ' ', ' ', '\0'};
        pm::SpiSession spi;
        uint64 done = 0;
        {
            pm::queue_shared::HotWrite hot;
            done = (PG_ARGISNULL(2) ? complete_many_plan : complete_many_results_plan).run(args, nulls);
        }
        for (uint64 r = 0; r < done; r++) {
            Datum id = *pm::queue::result_value(r, 1);
            bool isnull = false;
            pm::pg_call([&] { tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &id, &isnull); });
        }
        return (Datum) 0;
    });
}
