/*
 * queue_complete.cpp — pm_queue.complete(job_id, worker_id, result): one primary-key UPDATE
 * planned once per backend; only when it matches nothing does pm_queue.check_not_held()
 * say why (or return false for a repeated complete by the same worker).
 */
#include "shared/boundary.h"
#include "queue/plan.h"
#include "queue/shared.h"

extern "C" {
#include "catalog/pg_type_d.h"

PG_FUNCTION_INFO_V1(pm_queue_complete);
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
