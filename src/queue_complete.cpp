/*
 * queue_complete.cpp — pm_queue.complete(job_id, worker_id, result) and
 * pm_queue.complete_many(job_ids, worker_id, results).
 *
 * Workers (pm_service, outside row-level security) complete without a statement: the job
 * by primary key, locked in its newest version (table_tuple_lock, following the update
 * chain, waiting for a concurrent reaper or cancel to finish), checked to be running under
 * this worker's lease, and rewritten through the executor's helper
 * (direct_write.h).  A planned UPDATE spent more time starting than updating one row.
 * Callers under row-level security run complete_plan, under their policies.
 * When nothing was completed, pm_queue.check_not_held() says why (or returns false for a
 * worker repeating its own complete()).
 */
#include "boundary.h"
#include "direct_write.h"
#include "queue_plan.h"
#include "queue_shared.h"

extern "C" {
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation_d.h"
#include "catalog/pg_type_d.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(pm_queue_complete);
PG_FUNCTION_INFO_V1(pm_queue_complete_many);
}

#include <vector>

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

Oid jobs_oid()
{
    Oid oid = InvalidOid;
    pm::pg_call([&] { oid = get_relname_relid("jobs", get_namespace_oid("pm_queue", false)); });
    return oid;
}

bool rls_applies(Oid relid)
{
    bool applies = false;
    pm::pg_call([&] { applies = pm::direct::rls_applies(relid); });
    return applies;
}

/*
 * Completes each job of `ids` that is running under `worker`'s lease; results[i] (NULL
 * Datum: none) becomes its result.  done[i] says which were.  For callers outside
 * row-level security.
 */
void complete_direct(Oid relid, const std::vector<pg_uuid_t> &ids, Datum worker,
                     const std::vector<Datum> &results, std::vector<bool> &done)
{
    done.assign(ids.size(), false);
    pm::pg_call([&] {
        pm::direct::Writer w;
        pm::direct::open_writer(w, relid, ACL_SELECT | ACL_UPDATE);
        const AttrNumber status = pm::direct::column_number(w.rel, "status");
        const AttrNumber locked_by = pm::direct::column_number(w.rel, "locked_by");
        const AttrNumber locked_until = pm::direct::column_number(w.rel, "locked_until");
        const AttrNumber completed_at = pm::direct::column_number(w.rel, "completed_at");
        const AttrNumber updated_at = pm::direct::column_number(w.rel, "updated_at");
        const AttrNumber result = pm::direct::column_number(w.rel, "result");
        const Datum completed = CStringGetTextDatum("completed");
        const Datum now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
        Snapshot snapshot = RegisterSnapshot(GetLatestSnapshot());
        pm::direct::KeyLookup by_id;
        pm::direct::open_lookup(by_id, w.rel, RelationGetPrimaryKeyIndex(w.rel), snapshot);

        for (std::size_t i = 0; i < ids.size(); i++) {
            pg_uuid_t *id = static_cast<pg_uuid_t *>(palloc(sizeof(pg_uuid_t)));
            *id = ids[i];
            const Datum key = UUIDPGetDatum(id);
            if (!pm::direct::lookup(by_id, &key, w.stored))
                continue;
            /* The newest version, locked: a reaper or cancel racing us finishes first. */
            TM_FailureData failure;
            ItemPointerData tid = w.stored->tts_tid;
            const TM_Result locked =
                table_tuple_lock(w.rel, &tid, snapshot, w.stored, GetCurrentCommandId(false), LockTupleNoKeyExclusive,
                                 LockWaitBlock, TUPLE_LOCK_FLAG_FIND_LAST_VERSION, &failure);
            if (locked != TM_Ok)
                continue;
            bool isnull = false;
            const Datum st = slot_getattr(w.stored, status, &isnull);
            if (isnull || strcmp(TextDatumGetCString(st), "running") != 0)
                continue;
            const Datum holder = slot_getattr(w.stored, locked_by, &isnull);
            if (isnull || !DatumGetBool(DirectFunctionCall2Coll(texteq, DEFAULT_COLLATION_OID, holder, worker)))
                continue;
            TupleTableSlot *row = pm::direct::begin_new_version(w, w.stored);
            pm::direct::set_column(row, status, completed);
            pm::direct::set_column(row, completed_at, now);
            pm::direct::set_column(row, updated_at, now);
            pm::direct::set_column(row, locked_until, (Datum) 0, true);
            pm::direct::set_column(row, result, results[i], results[i] == (Datum) 0);
            ExecStoreVirtualTuple(row);
            ExecSimpleRelationUpdate(w.rri, w.estate, &w.epq, w.stored, row);
            ResetPerTupleExprContext(w.estate);
            done[i] = true;
        }
        pm::direct::close_lookup(by_id);
        UnregisterSnapshot(snapshot);
        pm::direct::close_writer(w);
    });
}

} // namespace

extern "C" Datum pm_queue_complete(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        const Datum args[4] = {PG_GETARG_DATUM(0), PG_GETARG_DATUM(1), PG_GETARG_DATUM(2),
                               pm::text_datum("running")};
        const char nulls[5] = {PG_ARGISNULL(0) ? 'n' : ' ', PG_ARGISNULL(1) ? 'n' : ' ',
                               PG_ARGISNULL(2) ? 'n' : ' ', ' ', '\0'};
        pm::SpiSession spi;
        const Oid jobs = jobs_oid();
        if (!PG_ARGISNULL(0) && !PG_ARGISNULL(1) && !rls_applies(jobs)) {
            std::vector<bool> done;
            complete_direct(jobs, {*PG_GETARG_UUID_P(0)}, args[1],
                            {PG_ARGISNULL(2) ? (Datum) 0 : args[2]}, done);
            if (done[0])
                PG_RETURN_BOOL(true);
        } else {
            uint64 n = 0;
            {
                /* A completed job leaves the ready set alone: no hint changes. */
                pm::queue_shared::HotWrite hot;
                n = complete_plan.run(args, nulls);
            }
            if (n > 0)
                PG_RETURN_BOOL(true);
        }
        not_held_plan.run(args, nulls);
        const auto held = pm::queue::result_value(0, 1);
        PG_RETURN_BOOL(held && DatumGetBool(*held));
    });
}

namespace {

pm::queue::KeptPlan complete_many_sql("SELECT pm_queue.complete_many_sql($1, $2, $3)",
                                      {UUIDARRAYOID, TEXTOID, JSONBARRAYOID});

} // namespace

extern "C" Datum pm_queue_complete_many(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
        pm::pg_call([&] { InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC); });
        if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
            return (Datum) 0;
        pm::SpiSession spi;
        const Oid jobs = jobs_oid();
        if (rls_applies(jobs)) {
            const Datum args[3] = {PG_GETARG_DATUM(0), PG_GETARG_DATUM(1), PG_GETARG_DATUM(2)};
            const char nulls[4] = {' ', ' ', PG_ARGISNULL(2) ? 'n' : ' ', '\0'};
            const uint64 rows = complete_many_sql.run(args, nulls);
            for (uint64 r = 0; r < rows; r++) {
                Datum id = *pm::queue::result_value(r, 1);
                bool null = false;
                pm::pg_call([&] { tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &id, &null); });
            }
            return (Datum) 0;
        }
        std::vector<pg_uuid_t> ids;
        std::vector<Datum> results;
        pm::pg_call([&] {
            Datum *elems = nullptr;
            bool *elem_nulls = nullptr;
            int n = 0;
            deconstruct_array(PG_GETARG_ARRAYTYPE_P(0), UUIDOID, UUID_LEN, false, TYPALIGN_CHAR, &elems,
                              &elem_nulls, &n);
            Datum *res = nullptr;
            bool *res_nulls = nullptr;
            int nres = 0;
            if (!PG_ARGISNULL(2))
                deconstruct_array(PG_GETARG_ARRAYTYPE_P(2), JSONBOID, -1, false, TYPALIGN_INT, &res, &res_nulls,
                                  &nres);
            for (int i = 0; i < n; i++) {
                if (elem_nulls[i])
                    continue;
                ids.push_back(*DatumGetUUIDP(elems[i]));
                results.push_back(i < nres && !res_nulls[i] ? res[i] : (Datum) 0);
            }
        });
        std::vector<bool> done;
        complete_direct(jobs, ids, PG_GETARG_DATUM(1), results, done);
        for (std::size_t i = 0; i < ids.size(); i++) {
            if (!done[i])
                continue;
            pm::pg_call([&] {
                pg_uuid_t *id = static_cast<pg_uuid_t *>(palloc(sizeof(pg_uuid_t)));
                *id = ids[i];
                Datum value = UUIDPGetDatum(id);
                bool null = false;
                tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &null);
            });
        }
        return (Datum) 0;
    });
}
