/*
 * scan.cpp — the pm_fdw handler, and planning and executing foreign scans.
 *
 * Planning: WHERE clauses that deparse.cpp can ship go to the remote, the rest stay local
 * filters; only the columns the query uses are fetched; a path sorted remotely is offered
 * when the query wants an order the remote can produce; join clauses (also those implied
 * by equivalence classes) give parameterised paths for nested loops.
 *
 * Execution, two modes:
 *   cursor   no parameters: "DECLARE c CURSOR FOR ...; FETCH n FROM c" in one round trip,
 *            then FETCH n (fetch_size, default 1000) until a short batch; a drained
 *            cursor is not closed separately (the remote transaction end does it).
 *   direct   parameters ($n: nested-loop outer values, = ANY($1) arrays, initplans):
 *            one PQexecParams round trip; from the second execution on (a nested loop
 *            rescanning) a named prepared statement, so the remote plans it once.
 * libpq results are owned by a memory context whose reset callback frees them, so an
 * error anywhere (a bad value, a cancel) leaks nothing.
 */
#include "pm_fdw.h"

extern "C" {
#include "access/htup_details.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "commands/defrem.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "foreign/fdwapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(pm_fdw_handler);
}

#include <cstring>

namespace {

constexpr double kStartupCost = 100.0;   /* a round trip, as postgres_fdw's default */
constexpr double kParamStartupCost = 25.0; /* one round trip, no cursor, prepared */
constexpr double kTupleCost = 0.01;

using RelInfo = PmFdwRelInfo;

enum PrivateIndex { PrivSql = 0, PrivRetrieved, PrivFetchSize, PrivRows };

/* -------------------------------------------------------------------- planning */

void get_rel_size(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
    RelInfo *info = (RelInfo *) palloc0(sizeof(RelInfo));
    baserel->fdw_private = info;
    RangeTblEntry *rte = planner_rt_fetch(baserel->relid, root);
    Oid userid = OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
    info->table = GetForeignTable(foreigntableid);
    info->server = GetForeignServer(info->table->serverid);
    info->user = GetUserMapping(userid, info->server->serverid);
    pmfdw_table_options(foreigntableid, &info->opts);

    ListCell *lc;
    foreach (lc, baserel->baserestrictinfo) {
        RestrictInfo *ri = (RestrictInfo *) lfirst(lc);
        if (pmfdw_is_foreign_expr(root, baserel, ri->clause))
            info->remote_conds = lappend(info->remote_conds, ri);
        else
            info->local_conds = lappend(info->local_conds, ri);
    }
    pull_varattnos((Node *) baserel->reltarget->exprs, baserel->relid, &info->attrs_used);
    foreach (lc, info->local_conds) {
        RestrictInfo *ri = (RestrictInfo *) lfirst(lc);
        pull_varattnos((Node *) ri->clause, baserel->relid, &info->attrs_used);
    }
    if (baserel->tuples < 0)
        baserel->tuples = 1000;
    set_baserel_size_estimates(root, baserel);
}

struct EcArg {
    Expr *current;
    List *already_used;
};

bool ec_member_matches(PlannerInfo *, RelOptInfo *, EquivalenceClass *, EquivalenceMember *em,
                       void *arg)
{
    EcArg *state = (EcArg *) arg;
    Expr *expr = em->em_expr;
    if (state->current != nullptr)
        return equal(expr, state->current);
    if (list_member(state->already_used, expr))
        return false;
    state->current = expr;
    return true;
}

void add_param_path(PlannerInfo *root, RelOptInfo *baserel, RestrictInfo *rinfo,
                    List **seen_outer)
{
    if (!join_clause_is_movable_to(rinfo, baserel))
        return;
    if (!pmfdw_is_foreign_expr(root, baserel, rinfo->clause))
        return;
    Relids required_outer = bms_union(rinfo->clause_relids, baserel->lateral_relids);
    required_outer = bms_del_members(required_outer, baserel->relids);
    if (bms_is_empty(required_outer))
        return;
    ListCell *lc;
    foreach (lc, *seen_outer)
        if (bms_equal((Relids) lfirst(lc), required_outer))
            return;
    *seen_outer = lappend(*seen_outer, required_outer);

    ParamPathInfo *ppi = get_baserel_parampathinfo(root, baserel, required_outer);
    double rows = ppi->ppi_rows;
    Cost startup = kParamStartupCost;
    Cost total = startup + rows * (kTupleCost + cpu_tuple_cost);
    add_path(baserel, (Path *) create_foreignscan_path(root, baserel, nullptr, rows, startup, total,
                                                       NIL, required_outer, nullptr, NIL));
}

/* fdw_private of a path that carries the query's LIMIT: (count, offset or NULL). */
List *limit_private(Expr *count, Expr *offset)
{
    return list_make2(count, offset);
}

void get_paths(PlannerInfo *root, RelOptInfo *baserel, Oid)
{
    double rows = baserel->rows;
    Cost startup = kStartupCost;
    Cost total = startup + baserel->tuples * cpu_operator_cost + rows * (kTupleCost + cpu_tuple_cost);

    /* Remote ORDER BY, when the whole wanted order can be produced remotely. */
    bool sorted = false;
    if (root->query_pathkeys != NIL) {
        sorted = true;
        ListCell *lc;
        foreach (lc, root->query_pathkeys)
            if (!pmfdw_is_foreign_pathkey(root, baserel, (PathKey *) lfirst(lc))) {
                sorted = false;
                break;
            }
    }
    /* The LIMIT goes on the path whose output order is the query's (limit.cpp). */
    Expr *count = nullptr, *offset = nullptr;
    bool limit = (root->query_pathkeys == NIL || sorted) &&
                 pmfdw_limit_pushable(root, baserel, &count, &offset);
    List *plain_private = limit && !sorted ? limit_private(count, offset) : NIL;
    add_path(baserel, (Path *) create_foreignscan_path(root, baserel, nullptr, rows, startup, total,
                                                       NIL, baserel->lateral_relids, nullptr,
                                                       plain_private));
    if (sorted) {
        Cost sorted_total = total + rows * cpu_operator_cost * 2.0;
        add_path(baserel,
                 (Path *) create_foreignscan_path(root, baserel, nullptr, rows, startup,
                                                  sorted_total, root->query_pathkeys,
                                                  baserel->lateral_relids, nullptr,
                                                  limit ? limit_private(count, offset) : NIL));
    }

    /* Parameterised paths for nested loops. */
    List *seen_outer = NIL;
    ListCell *lc;
    foreach (lc, baserel->joininfo)
        add_param_path(root, baserel, (RestrictInfo *) lfirst(lc), &seen_outer);
    if (baserel->has_eclass_joins) {
        EcArg arg = {nullptr, NIL};
        for (;;) {
            arg.current = nullptr;
            List *clauses = generate_implied_equalities_for_column(root, baserel, ec_member_matches,
                                                                   &arg, baserel->lateral_referencers);
            if (arg.current == nullptr)
                break;
            ListCell *lc2;
            foreach (lc2, clauses)
                add_param_path(root, baserel, (RestrictInfo *) lfirst(lc2), &seen_outer);
            arg.already_used = lappend(arg.already_used, arg.current);
        }
    }
}

ForeignScan *get_plan(PlannerInfo *root, RelOptInfo *baserel, Oid, ForeignPath *best_path,
                      List *tlist, List *scan_clauses, Plan *outer_plan)
{
    RelInfo *info = (RelInfo *) baserel->fdw_private;
    List *remote_conds = NIL;
    List *local_exprs = NIL;
    ListCell *lc;
    foreach (lc, scan_clauses) {
        RestrictInfo *ri = (RestrictInfo *) lfirst(lc);
        if (ri->pseudoconstant)
            continue;
        if (list_member_ptr(info->remote_conds, ri))
            remote_conds = lappend(remote_conds, ri);
        else if (list_member_ptr(info->local_conds, ri))
            local_exprs = lappend(local_exprs, ri->clause);
        else if (pmfdw_is_foreign_expr(root, baserel, ri->clause))
            remote_conds = lappend(remote_conds, ri);
        else
            local_exprs = lappend(local_exprs, ri->clause);
    }
    Bitmapset *attrs_used = bms_copy(info->attrs_used);
    pull_varattnos((Node *) local_exprs, baserel->relid, &attrs_used);

    bool for_update = false;
    if (baserel->relid == (Index) root->parse->resultRelation &&
        (root->parse->commandType == CMD_UPDATE || root->parse->commandType == CMD_DELETE))
        for_update = true;

    StringInfoData sql;
    initStringInfo(&sql);
    List *retrieved = NIL;
    List *params = NIL;
    pmfdw_deparse_select(&sql, root, baserel, attrs_used, remote_conds, best_path->path.pathkeys,
                         for_update, &retrieved, &params);
    if (best_path->fdw_private != NIL && !for_update)
        pmfdw_append_limit(&sql, (Expr *) linitial(best_path->fdw_private),
                           (Expr *) lsecond(best_path->fdw_private), &params);

    List *priv = list_make3(makeString(sql.data), retrieved, makeInteger(info->opts.fetch_size));
    return make_foreignscan(tlist, local_exprs, baserel->relid, params, priv, NIL, NIL, outer_plan);
}

/* -------------------------------------------------------------------- execution */

struct ScanState {
    Relation rel;
    TupleDesc tupdesc;
    AttInMetadata *attinmeta;
    char *sql;
    List *retrieved_attrs;
    int fetch_size;
    PmFdwConn *conn;
    bool unavailable;
    /* parameters */
    int nparams;
    List *param_exprs;
    FmgrInfo *param_out;
    const char **param_values;
    PmFdwStmt stmt;
    /* cursor mode */
    unsigned int cursor;
    bool cursor_open;
    bool eof;
    /* current result */
    PGresult *res;
    int row;
    int nrows;
    bool started;
    MemoryContext res_cxt;
    MemoryContext temp_cxt;
};

void free_result_callback(void *arg)
{
    ScanState *st = (ScanState *) arg;
    if (st->res)
        PQclear(st->res);
    st->res = nullptr;
}

void set_result(ScanState *st, PGresult *res)
{
    if (st->res)
        PQclear(st->res);
    st->res = res;
    st->row = 0;
    st->nrows = res ? PQntuples(res) : 0;
}

void begin_scan(ForeignScanState *node, int eflags)
{
    ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
    EState *estate = node->ss.ps.state;
    ScanState *st = (ScanState *) palloc0(sizeof(ScanState));
    node->fdw_state = st;
    st->sql = strVal(list_nth(fsplan->fdw_private, PrivSql));
    st->retrieved_attrs = (List *) list_nth(fsplan->fdw_private, PrivRetrieved);
    st->fetch_size = intVal(list_nth(fsplan->fdw_private, PrivFetchSize));
    if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
        return;

    st->rel = node->ss.ss_currentRelation;
    st->tupdesc = RelationGetDescr(st->rel);
    st->attinmeta = TupleDescGetAttInMetadata(st->tupdesc);
    st->res_cxt = AllocSetContextCreate(estate->es_query_cxt, "pm_fdw scan results",
                                        ALLOCSET_SMALL_SIZES);
    MemoryContextCallback *cb =
        (MemoryContextCallback *) MemoryContextAlloc(st->res_cxt, sizeof(MemoryContextCallback));
    cb->func = free_result_callback;
    cb->arg = st;
    MemoryContextRegisterResetCallback(st->res_cxt, cb);
    st->temp_cxt = AllocSetContextCreate(estate->es_query_cxt, "pm_fdw scan tuple",
                                         ALLOCSET_DEFAULT_SIZES);

    UserMapping *user = pmfdw_exec_user(estate, fsplan->scan.scanrelid, RelationGetRelid(st->rel));
    ForeignServer *server = GetForeignServer(user->serverid);
    PmFdwOptions opts;
    pmfdw_table_options(RelationGetRelid(st->rel), &opts);
    st->conn = pmfdw_connect(server, user, &opts, true);
    st->unavailable = st->conn == nullptr;

    st->nparams = list_length(fsplan->fdw_exprs);
    if (st->nparams > 0) {
        st->param_exprs = ExecInitExprList(fsplan->fdw_exprs, (PlanState *) node);
        st->param_out = (FmgrInfo *) palloc0(sizeof(FmgrInfo) * st->nparams);
        st->param_values = (const char **) palloc0(sizeof(char *) * st->nparams);
        int i = 0;
        ListCell *lc;
        foreach (lc, fsplan->fdw_exprs) {
            Oid outfunc;
            bool varlena;
            getTypeOutputInfo(exprType((Node *) lfirst(lc)), &outfunc, &varlena);
            fmgr_info(outfunc, &st->param_out[i++]);
        }
    }
}

void eval_params(ForeignScanState *node, ScanState *st)
{
    ExprContext *econtext = node->ss.ps.ps_ExprContext;
    MemoryContext old = MemoryContextSwitchTo(econtext->ecxt_per_tuple_memory);
    int i = 0;
    ListCell *lc;
    foreach (lc, st->param_exprs) {
        bool isnull;
        Datum v = ExecEvalExpr((ExprState *) lfirst(lc), econtext, &isnull);
        st->param_values[i] = isnull ? nullptr : OutputFunctionCall(&st->param_out[i], v);
        ++i;
    }
    MemoryContextSwitchTo(old);
}

void check(ScanState *st, PGresult *res, const char *sql)
{
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        if (st->res == res)
            st->res = nullptr;
        pmfdw_report(ERROR, res, st->conn, sql);
    }
}

void start_query(ForeignScanState *node, ScanState *st)
{
    pmfdw_sync_context(st->conn);
    st->started = true;
    st->eof = false;
    if (st->nparams > 0) {
        eval_params(node, st);
        PGresult *res = pmfdw_stmt_exec(st->conn, &st->stmt, st->sql, st->nparams,
                                        st->param_values);
        set_result(st, res);
        check(st, res, st->sql);
        st->eof = true;
        return;
    }
    st->cursor = pmfdw_next_number(st->conn);
    char *sql = psprintf("DECLARE c%u CURSOR FOR %s; FETCH %d FROM c%u", st->cursor, st->sql,
                         st->fetch_size, st->cursor);
    PGresult *res = pmfdw_exec(st->conn, sql);
    set_result(st, res);
    check(st, res, sql);
    st->cursor_open = true;
    st->eof = st->nrows < st->fetch_size;
}

void fetch_more(ScanState *st)
{
    char sql[64];
    snprintf(sql, sizeof(sql), "FETCH %d FROM c%u", st->fetch_size, st->cursor);
    set_result(st, nullptr);
    PGresult *res = pmfdw_exec(st->conn, sql);
    set_result(st, res);
    check(st, res, sql);
    st->eof = st->nrows < st->fetch_size;
}

TupleTableSlot *iterate(ForeignScanState *node)
{
    ScanState *st = (ScanState *) node->fdw_state;
    TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
    ExecClearTuple(slot);
    if (st->unavailable)
        return slot;
    if (!st->started)
        start_query(node, st);
    while (st->row >= st->nrows) {
        if (st->eof || st->nparams > 0)
            return slot;
        fetch_more(st);
    }
    MemoryContextReset(st->temp_cxt);
    HeapTuple tuple = pmfdw_make_tuple(st->res, st->row, st->rel, st->tupdesc, st->attinmeta,
                                       st->retrieved_attrs, st->temp_cxt);
    st->row++;
    ExecStoreHeapTuple(tuple, slot, false);
    return slot;
}

void close_cursor(ScanState *st)
{
    if (st->cursor_open && !st->eof && st->conn && pmfdw_pgconn(st->conn)) {
        char sql[64];
        snprintf(sql, sizeof(sql), "CLOSE c%u", st->cursor);
        pmfdw_exec_command(st->conn, sql);
    }
    st->cursor_open = false;
}

void rescan(ForeignScanState *node)
{
    ScanState *st = (ScanState *) node->fdw_state;
    if (st->unavailable || !st->started)
        return;
    if (st->nparams > 0 && node->ss.ps.chgParam == nullptr) {
        st->row = 0; /* same parameters: replay the result we have */
        return;
    }
    close_cursor(st);
    set_result(st, nullptr);
    st->started = false;
}

void end_scan(ForeignScanState *node)
{
    ScanState *st = (ScanState *) node->fdw_state;
    if (st == nullptr || st->rel == nullptr)
        return;
    if (!st->unavailable) {
        close_cursor(st);
        pmfdw_stmt_release(st->conn, &st->stmt);
    }
    set_result(st, nullptr);
}

void explain_scan(ForeignScanState *node, ExplainState *es)
{
    ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
    if (es->verbose) {
        ExplainPropertyText("Remote SQL", strVal(list_nth(fsplan->fdw_private, PrivSql)), es);
        ExplainPropertyText("Remote Mode",
                            fsplan->fdw_exprs != NIL ? "direct (parameterised, prepared on rescan)"
                                                     : "cursor",
                            es);
    }
}

} // namespace

bool pmfdw_is_own_rel(RelOptInfo *rel)
{
    return rel->reloptkind == RELOPT_BASEREL && rel->fdwroutine != nullptr &&
           rel->fdwroutine->GetForeignRelSize == get_rel_size && rel->fdw_private != nullptr;
}

UserMapping *pmfdw_exec_user(EState *estate, Index rti, Oid foreigntableid)
{
    RangeTblEntry *rte = exec_rt_fetch(rti, estate);
    Oid userid = OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
    ForeignTable *table = GetForeignTable(foreigntableid);
    return GetUserMapping(userid, table->serverid);
}

HeapTuple pmfdw_make_tuple(PGresult *res, int row, Relation rel, TupleDesc tupdesc,
                           AttInMetadata *attinmeta, List *retrieved_attrs,
                           MemoryContext temp_context)
{
    MemoryContext old = MemoryContextSwitchTo(temp_context);
    Datum *values = (Datum *) palloc0(sizeof(Datum) * tupdesc->natts);
    bool *nulls = (bool *) palloc(sizeof(bool) * tupdesc->natts);
    memset(nulls, true, sizeof(bool) * tupdesc->natts);
    ItemPointer ctid = nullptr;
    int col = 0;
    ListCell *lc;
    (void) rel;
    foreach (lc, retrieved_attrs) {
        int attnum = lfirst_int(lc);
        const char *value = PQgetisnull(res, row, col) ? nullptr : PQgetvalue(res, row, col);
        if (attnum > 0) {
            Form_pg_attribute attr = TupleDescAttr(tupdesc, attnum - 1);
            values[attnum - 1] = InputFunctionCall(&attinmeta->attinfuncs[attnum - 1],
                                                   (char *) value, attinmeta->attioparams[attnum - 1],
                                                   attinmeta->atttypmods[attnum - 1]);
            nulls[attnum - 1] = value == nullptr;
            (void) attr;
        } else if (attnum == SelfItemPointerAttributeNumber && value != nullptr) {
            ctid = (ItemPointer) DatumGetPointer(DirectFunctionCall1(tidin, CStringGetDatum(value)));
        }
        ++col;
    }
    HeapTuple tuple = heap_form_tuple(tupdesc, values, nulls);
    if (ctid)
        tuple->t_self = *ctid;
    /* Like a heap tuple fetched from a table: no transaction info. */
    HeapTupleHeaderSetXmax(tuple->t_data, InvalidTransactionId);
    HeapTupleHeaderSetXmin(tuple->t_data, InvalidTransactionId);
    HeapTupleHeaderSetCmin(tuple->t_data, InvalidTransactionId);
    MemoryContextSwitchTo(old);
    return tuple;
}

extern "C" Datum pm_fdw_handler(PG_FUNCTION_ARGS)
{
    (void) fcinfo;
    FdwRoutine *routine = makeNode(FdwRoutine);
    routine->GetForeignRelSize = get_rel_size;
    routine->GetForeignPaths = get_paths;
    routine->GetForeignPlan = get_plan;
    routine->BeginForeignScan = begin_scan;
    routine->IterateForeignScan = iterate;
    routine->ReScanForeignScan = rescan;
    routine->EndForeignScan = end_scan;
    routine->ExplainForeignScan = explain_scan;
    routine->ImportForeignSchema = pmfdw_import_foreign_schema;
    pmfdw_set_modify_routines(routine);
    PG_RETURN_POINTER(routine);
}
