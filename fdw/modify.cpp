/*
 * modify.cpp — INSERT (batched: batch_size rows per remote statement), UPDATE and DELETE
 * (rows identified by the remote ctid, fetched by the scan with FOR UPDATE), RETURNING,
 * and inserts routed to a foreign table that is a partition of a local partitioned table
 * (or COPY into it).  Every statement is one PQexecParams round trip.
 */
#include "pm_fdw.h"
#include "fdw/common/fdw_text.h"

extern "C" {
#include "access/htup_details.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "foreign/fdwapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/appendinfo.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
}

#include <cstring>
#include <string>
#include <vector>

namespace {

struct ModifyState {
    Relation rel;
    AttInMetadata *attinmeta;
    PmFdwConn *conn;
    CmdType op;
    char *sql;
    List *target_attrs;
    int nattrs;
    FmgrInfo *out;
    AttrNumber ctid_attno;
    bool has_returning;
    List *retrieved_attrs;
    MemoryContext temp_cxt;
    char *target; /* quoted remote table */
    char **columns; /* quoted remote columns of target_attrs */
    int batch_size;
    int batch_sql_rows;
    char *batch_sql;
};

enum ModifyPrivate { MSql = 0, MAttrs, MReturning, MRetrieved };

void append_returning(StringInfo sql, Relation rel, List **retrieved)
{
    TupleDesc tupdesc = RelationGetDescr(rel);
    bool first = true;
    *retrieved = NIL;
    appendStringInfoString(sql, " RETURNING ");
    for (int i = 1; i <= tupdesc->natts; ++i) {
        if (TupleDescAttr(tupdesc, i - 1)->attisdropped)
            continue;
        if (!first)
            appendStringInfoString(sql, ", ");
        appendStringInfoString(sql, quote_identifier(pmfdw_remote_column(RelationGetRelid(rel), i)));
        *retrieved = lappend_int(*retrieved, i);
        first = false;
    }
    if (first)
        appendStringInfoString(sql, "NULL");
}

List *all_columns(Relation rel)
{
    TupleDesc tupdesc = RelationGetDescr(rel);
    List *attrs = NIL;
    for (int i = 1; i <= tupdesc->natts; ++i) {
        Form_pg_attribute attr = TupleDescAttr(tupdesc, i - 1);
        if (!attr->attisdropped && !attr->attgenerated)
            attrs = lappend_int(attrs, i);
    }
    return attrs;
}

/* INSERT INTO t (cols) VALUES ($1..)x rows — via the pure builder. */
char *insert_sql(const char *target, char **columns, int ncols, int rows)
{
    char *result = nullptr;
    try {
        std::vector<std::string> cols;
        for (int i = 0; i < ncols; ++i)
            cols.emplace_back(columns[i]);
        std::string sql = pm::fdw::build_insert_sql(target, cols, (std::size_t) rows);
        result = strdup(sql.c_str());
    } catch (...) {
        result = nullptr;
    }
    if (result == nullptr)
        ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
    char *copy = pstrdup(result);
    free(result);
    return copy;
}

void build_plan_sql(StringInfo sql, CmdType op, Relation rel, List *target_attrs,
                    bool returning, List **retrieved, ModifyState *st)
{
    StringInfoData target;
    initStringInfo(&target);
    pmfdw_append_remote_table(&target, rel);
    int n = list_length(target_attrs);
    char **columns = (char **) palloc0(sizeof(char *) * (n + 1));
    int i = 0;
    ListCell *lc;
    foreach (lc, target_attrs)
        columns[i++] = pstrdup(quote_identifier(pmfdw_remote_column(RelationGetRelid(rel),
                                                                     lfirst_int(lc))));
    if (st) {
        st->target = target.data;
        st->columns = columns;
    }
    switch (op) {
    case CMD_INSERT:
        appendStringInfoString(sql, insert_sql(target.data, columns, n, 1));
        break;
    case CMD_UPDATE:
        appendStringInfo(sql, "UPDATE %s SET ", target.data);
        for (i = 0; i < n; ++i)
            appendStringInfo(sql, "%s%s = $%d", i ? ", " : "", columns[i], i + 1);
        appendStringInfo(sql, " WHERE ctid = $%d", n + 1);
        break;
    case CMD_DELETE:
        appendStringInfo(sql, "DELETE FROM %s WHERE ctid = $1", target.data);
        break;
    default:
        elog(ERROR, "pm_fdw: unexpected operation %d", (int) op);
    }
    *retrieved = NIL;
    if (returning)
        append_returning(sql, rel, retrieved);
}

void add_update_targets(PlannerInfo *root, Index rtindex, RangeTblEntry *, Relation)
{
    Var *var = makeVar(rtindex, SelfItemPointerAttributeNumber, TIDOID, -1, InvalidOid, 0);
    add_row_identity_var(root, var, rtindex, "ctid");
}

List *plan_modify(PlannerInfo *root, ModifyTable *plan, Index resultRelation, int subplan_index)
{
    CmdType op = plan->operation;
    RangeTblEntry *rte = planner_rt_fetch(resultRelation, root);
    Relation rel = table_open(rte->relid, NoLock);
    List *target_attrs = NIL;
    if (op == CMD_INSERT) {
        target_attrs = all_columns(rel);
    } else if (op == CMD_UPDATE) {
        Bitmapset *cols = bms_union(rte->updatedCols, rte->extraUpdatedCols);
        int col = -1;
        while ((col = bms_next_member(cols, col)) >= 0) {
            AttrNumber attno = col + FirstLowInvalidHeapAttributeNumber;
            if (attno <= InvalidAttrNumber)
                elog(ERROR, "pm_fdw: system-column update is not supported");
            target_attrs = lappend_int(target_attrs, attno);
        }
    }
    bool returning = plan->returningLists != NIL &&
                     list_nth(plan->returningLists, subplan_index) != nullptr;
    if (plan->onConflictAction != ONCONFLICT_NONE)
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("ON CONFLICT is not supported on pm_fdw foreign tables")));
    StringInfoData sql;
    initStringInfo(&sql);
    List *retrieved = NIL;
    build_plan_sql(&sql, op, rel, target_attrs, returning, &retrieved, nullptr);
    table_close(rel, NoLock);
    return list_make4(makeString(sql.data), target_attrs, makeInteger(returning ? 1 : 0), retrieved);
}

ModifyState *create_state(EState *estate, ResultRelInfo *rinfo, CmdType op, char *sql,
                          List *target_attrs, bool returning, List *retrieved, Plan *subplan)
{
    ModifyState *st = (ModifyState *) palloc0(sizeof(ModifyState));
    Relation rel = rinfo->ri_RelationDesc;
    st->rel = rel;
    st->op = op;
    st->sql = sql;
    st->target_attrs = target_attrs;
    st->nattrs = list_length(target_attrs);
    st->has_returning = returning;
    st->retrieved_attrs = retrieved;
    st->attinmeta = TupleDescGetAttInMetadata(RelationGetDescr(rel));
    st->temp_cxt = AllocSetContextCreate(estate->es_query_cxt, "pm_fdw modify",
                                         ALLOCSET_SMALL_SIZES);
    st->out = (FmgrInfo *) palloc0(sizeof(FmgrInfo) * (st->nattrs + 1));
    int i = 0;
    ListCell *lc;
    foreach (lc, target_attrs) {
        Form_pg_attribute attr = TupleDescAttr(RelationGetDescr(rel), lfirst_int(lc) - 1);
        Oid outfunc;
        bool varlena;
        getTypeOutputInfo(attr->atttypid, &outfunc, &varlena);
        fmgr_info(outfunc, &st->out[i++]);
    }
    if (op == CMD_UPDATE || op == CMD_DELETE) {
        st->ctid_attno = ExecFindJunkAttributeInTlist(subplan->targetlist, "ctid");
        if (!AttributeNumberIsValid(st->ctid_attno))
            elog(ERROR, "pm_fdw: could not find junk ctid column");
    }
    /* target / columns for batch SQL */
    StringInfoData target;
    initStringInfo(&target);
    pmfdw_append_remote_table(&target, rel);
    st->target = target.data;
    st->columns = (char **) palloc0(sizeof(char *) * (st->nattrs + 1));
    i = 0;
    foreach (lc, target_attrs)
        st->columns[i++] = pstrdup(quote_identifier(pmfdw_remote_column(RelationGetRelid(rel),
                                                                          lfirst_int(lc))));

    Oid userid = GetUserId();
    if (rinfo->ri_RangeTableIndex > 0) {
        RangeTblEntry *rte = exec_rt_fetch(rinfo->ri_RangeTableIndex, estate);
        if (OidIsValid(rte->checkAsUser))
            userid = rte->checkAsUser;
    }
    ForeignTable *table = GetForeignTable(RelationGetRelid(rel));
    ForeignServer *server = GetForeignServer(table->serverid);
    UserMapping *user = GetUserMapping(userid, server->serverid);
    PmFdwOptions opts;
    pmfdw_table_options(RelationGetRelid(rel), &opts);
    st->batch_size = opts.batch_size;
    st->conn = pmfdw_connect(server, user, &opts, false);
    return st;
}

void begin_modify(ModifyTableState *mtstate, ResultRelInfo *rinfo, List *fdw_private, int,
                  int eflags)
{
    if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
        return;
    CmdType op = mtstate->operation;
    Plan *subplan = outerPlanState(mtstate)->plan;
    rinfo->ri_FdwState = create_state(mtstate->ps.state, rinfo, op,
                                      strVal(list_nth(fdw_private, MSql)),
                                      (List *) list_nth(fdw_private, MAttrs),
                                      intVal(list_nth(fdw_private, MReturning)) != 0,
                                      (List *) list_nth(fdw_private, MRetrieved), subplan);
}

/* Text of the target attributes of `slot`, appended to values[offset...]. */
void slot_values(ModifyState *st, TupleTableSlot *slot, const char **values, int offset)
{
    int i = 0;
    ListCell *lc;
    foreach (lc, st->target_attrs) {
        bool isnull;
        Datum v = slot_getattr(slot, lfirst_int(lc), &isnull);
        values[offset + i] = isnull ? nullptr : OutputFunctionCall(&st->out[i], v);
        ++i;
    }
}

PGresult *run(ModifyState *st, const char *sql, int nparams, const char **values)
{
    pmfdw_sync_context(st->conn);
    PGresult *res = pmfdw_exec_params(st->conn, sql, nparams, values);
    ExecStatusType want = st->has_returning ? PGRES_TUPLES_OK : PGRES_COMMAND_OK;
    if (PQresultStatus(res) != want)
        pmfdw_report(ERROR, res, st->conn, sql);
    return res;
}

/* Stores the RETURNING row into slot and frees res; or just frees it. */
TupleTableSlot *finish_row(ModifyState *st, PGresult *res, TupleTableSlot *slot)
{
    int affected = atoi(PQcmdTuples(res));
    if (st->has_returning && PQntuples(res) > 0) {
        HeapTuple tuple = pmfdw_make_tuple(res, 0, st->rel, RelationGetDescr(st->rel),
                                           st->attinmeta, st->retrieved_attrs, st->temp_cxt);
        PQclear(res);
        ExecForceStoreHeapTuple(tuple, slot, false);
        return slot;
    }
    PQclear(res);
    return affected > 0 ? slot : nullptr;
}

TupleTableSlot *exec_insert(EState *, ResultRelInfo *rinfo, TupleTableSlot *slot, TupleTableSlot *)
{
    ModifyState *st = (ModifyState *) rinfo->ri_FdwState;
    MemoryContextReset(st->temp_cxt);
    MemoryContext old = MemoryContextSwitchTo(st->temp_cxt);
    const char **values = (const char **) palloc0(sizeof(char *) * (st->nattrs + 1));
    slot_values(st, slot, values, 0);
    MemoryContextSwitchTo(old);
    return finish_row(st, run(st, st->sql, st->nattrs, values), slot);
}

TupleTableSlot **exec_batch_insert(EState *, ResultRelInfo *rinfo, TupleTableSlot **slots,
                                   TupleTableSlot **, int *numSlots)
{
    ModifyState *st = (ModifyState *) rinfo->ri_FdwState;
    int n = *numSlots;
    MemoryContextReset(st->temp_cxt);
    MemoryContext old = MemoryContextSwitchTo(st->temp_cxt);
    const char **values = (const char **) palloc0(sizeof(char *) * (st->nattrs * n + 1));
    for (int r = 0; r < n; ++r)
        slot_values(st, slots[r], values, r * st->nattrs);
    MemoryContextSwitchTo(old);
    if (st->batch_sql_rows != n) {
        MemoryContext q = MemoryContextSwitchTo(GetMemoryChunkContext(st));
        st->batch_sql = insert_sql(st->target, st->columns, st->nattrs, n);
        MemoryContextSwitchTo(q);
        st->batch_sql_rows = n;
    }
    PGresult *res = run(st, st->batch_sql, st->nattrs * n, values);
    *numSlots = atoi(PQcmdTuples(res));
    PQclear(res);
    return slots;
}

int batch_size(ResultRelInfo *rinfo)
{
    ModifyState *st = (ModifyState *) rinfo->ri_FdwState;
    if (st == nullptr || st->has_returning)
        return 1;
    if (rinfo->ri_TrigDesc && (rinfo->ri_TrigDesc->trig_insert_after_row ||
                               rinfo->ri_TrigDesc->trig_insert_before_row))
        return 1;
    int size = st->batch_size;
    if (st->nattrs > 0 && size * st->nattrs > 65535)
        size = 65535 / st->nattrs;
    return size < 1 ? 1 : size;
}

TupleTableSlot *exec_update_delete(ModifyState *st, TupleTableSlot *slot, TupleTableSlot *plan_slot)
{
    bool isnull;
    Datum ctid = ExecGetJunkAttribute(plan_slot, st->ctid_attno, &isnull);
    if (isnull)
        elog(ERROR, "pm_fdw: ctid is NULL");
    MemoryContextReset(st->temp_cxt);
    MemoryContext old = MemoryContextSwitchTo(st->temp_cxt);
    const char **values = (const char **) palloc0(sizeof(char *) * (st->nattrs + 2));
    if (st->op == CMD_UPDATE)
        slot_values(st, slot, values, 0);
    values[st->nattrs] = DatumGetCString(DirectFunctionCall1(tidout, ctid));
    MemoryContextSwitchTo(old);
    return finish_row(st, run(st, st->sql, st->nattrs + 1, values), slot);
}

TupleTableSlot *exec_update(EState *, ResultRelInfo *rinfo, TupleTableSlot *slot,
                            TupleTableSlot *plan_slot)
{
    return exec_update_delete((ModifyState *) rinfo->ri_FdwState, slot, plan_slot);
}

TupleTableSlot *exec_delete(EState *, ResultRelInfo *rinfo, TupleTableSlot *slot,
                            TupleTableSlot *plan_slot)
{
    return exec_update_delete((ModifyState *) rinfo->ri_FdwState, slot, plan_slot);
}

void end_modify(EState *, ResultRelInfo *)
{
}

void begin_insert(ModifyTableState *mtstate, ResultRelInfo *rinfo)
{
    Relation rel = rinfo->ri_RelationDesc;
    List *attrs = all_columns(rel);
    bool returning = rinfo->ri_returningList != NIL;
    StringInfoData sql;
    initStringInfo(&sql);
    List *retrieved = NIL;
    build_plan_sql(&sql, CMD_INSERT, rel, attrs, returning, &retrieved, nullptr);
    rinfo->ri_FdwState = create_state(mtstate->ps.state, rinfo, CMD_INSERT, sql.data, attrs,
                                      returning, retrieved, nullptr);
}

int updatable(Relation rel)
{
    PmFdwOptions opts;
    pmfdw_table_options(RelationGetRelid(rel), &opts);
    return opts.updatable ? (1 << CMD_INSERT) | (1 << CMD_UPDATE) | (1 << CMD_DELETE) : 0;
}

void explain_modify(ModifyTableState *, ResultRelInfo *rinfo, List *fdw_private, int,
                    struct ExplainState *es)
{
    if (es->verbose) {
        ExplainPropertyText("Remote SQL", strVal(list_nth(fdw_private, MSql)), es);
        if (rinfo->ri_BatchSize > 1)
            ExplainPropertyInteger("Batch Size", nullptr, rinfo->ri_BatchSize, es);
    }
}

} // namespace

void pmfdw_set_modify_routines(FdwRoutine *routine)
{
    routine->AddForeignUpdateTargets = add_update_targets;
    routine->PlanForeignModify = plan_modify;
    routine->BeginForeignModify = begin_modify;
    routine->ExecForeignInsert = exec_insert;
    routine->ExecForeignBatchInsert = exec_batch_insert;
    routine->GetForeignModifyBatchSize = batch_size;
    routine->ExecForeignUpdate = exec_update;
    routine->ExecForeignDelete = exec_delete;
    routine->EndForeignModify = end_modify;
    routine->BeginForeignInsert = begin_insert;
    routine->EndForeignInsert = end_modify;
    routine->IsForeignRelUpdatable = updatable;
    routine->ExplainForeignModify = explain_modify;
}
