/*
 * batch_join.cpp — a join from a local relation to a pm_fdw table in one remote statement
 * per batch of outer rows, instead of one per outer row.
 *
 * The planner alone can only offer a parameterised nested loop (a round trip per outer row)
 * or a hash join over a full remote scan.  A join hook adds a third path, a CustomScan
 * "pm_fdw batched join", for
 *
 *     <any local rel> [LEFT] JOIN <pm_fdw table> ON <pm_fdw table>.col = <outer expression>
 *
 * It reads up to pm.fdw_join_batch_size (default 1000) outer rows, sends
 * `SELECT <needed columns> FROM <remote> WHERE <pushed conditions> AND col = ANY($1::type[])`
 * with the batch's distinct non-null keys (prepared from the second batch on), indexes the
 * remote rows by key text (fdw/common/fdw_batch.cpp) and emits, per outer row in outer
 * order, the matching remote rows — or, for a LEFT join, the outer row null-extended when
 * none matched.  Every join clause is still evaluated on each pair, so the key index only
 * has to find candidates: it is used for key types whose equality is equality of their text
 * form (integers, oid, text under a deterministic collation, uuid); other joins keep the
 * planner's own paths.  A NULL outer key matches nothing (as `=`) and is not sent.
 *
 * Like the scans, frames here hold no C++ objects with destructors: the key index is
 * created and freed through noexcept wrappers and lives in a memory context whose reset
 * callback deletes it (and clears the remote result), so an error anywhere leaks nothing.
 */
#include "pm_fdw.h"
#include "fdw/common/fdw_batch.h"

extern "C" {
#include "access/htup_details.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "foreign/fdwapi.h"
#include "miscadmin.h"
#include "nodes/extensible.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/planmain.h"
#include "optimizer/prep.h"
#include "optimizer/restrictinfo.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"
}

#include <cmath>
#include <cstdlib>
#include <cstring>

namespace {

constexpr const char *kName = "pm_fdw batched join";
/* Costs on scan.cpp's scale: a prepared round trip per batch instead of one per row. */
constexpr double kBatchRoundTripCost = 25.0;
constexpr double kTupleCost = 0.01;

int join_batch_size = 1000;
set_join_pathlist_hook_type prev_join_hook = nullptr;

/* ------------------------------------------------------------- pure C++ wrappers */

/* malloc'd array literal of the distinct non-null keys (nullptr: out of memory). */
char *array_literal(char **keys, int n, int *count) noexcept
{
    char *out = nullptr;
    std::size_t elements = 0;
    try {
        std::string text = pm::fdw::distinct_array_literal(keys, static_cast<std::size_t>(n),
                                                           &elements);
        out = strdup(text.c_str());
    } catch (...) {
        out = nullptr;
    }
    *count = static_cast<int>(elements);
    return out;
}

pm::fdw::KeyIndex *key_index_new(char **keys, int n) noexcept
{
    try {
        return new pm::fdw::KeyIndex(keys, static_cast<std::size_t>(n));
    } catch (...) {
        return nullptr;
    }
}

void key_index_find(const pm::fdw::KeyIndex *index, const char *key, const int **rows,
                    int *n) noexcept
{
    const std::vector<int> &found = index->find(key);
    *rows = found.data();
    *n = static_cast<int>(found.size());
}

/* ------------------------------------------------------------------- planning */

/* Key types whose `=` is equality of the text form (see the header comment). */
bool text_equality_type(Oid type)
{
    switch (type) {
    case INT2OID:
    case INT4OID:
    case INT8OID:
    case OIDOID:
    case TEXTOID:
    case UUIDOID:
        return true;
    default:
        return false;
    }
}

/*
 * Is `ri` "inner.col = <expression of the outer rel only>" (either way round) with the
 * type's own equality?  Then *var and *outer_expr get its two sides.
 */
bool key_clause(PlannerInfo *root, RestrictInfo *ri, RelOptInfo *outerrel, RelOptInfo *innerrel,
                Var **var, Expr **outer_expr)
{
    if (!IsA(ri->clause, OpExpr))
        return false;
    OpExpr *op = (OpExpr *) ri->clause;
    if (list_length(op->args) != 2)
        return false;
    for (int side = 0; side < 2; ++side) {
        Node *v = (Node *) list_nth(op->args, side);
        Node *other = (Node *) list_nth(op->args, 1 - side);
        if (!IsA(v, Var))
            continue;
        Var *key = (Var *) v;
        if (key->varno != (int) innerrel->relid || key->varlevelsup != 0 || key->varattno <= 0)
            continue;
        Relids other_relids = pull_varnos(root, other);
        if (bms_is_empty(other_relids) || !bms_is_subset(other_relids, outerrel->relids))
            continue;
        if (contain_volatile_functions(other))
            continue;
        if (!text_equality_type(key->vartype) || exprType(other) != key->vartype)
            continue;
        if (lookup_type_cache(key->vartype, TYPECACHE_EQ_OPR)->eq_opr != op->opno)
            continue;
        if (OidIsValid(op->inputcollid) && !get_collation_isdeterministic(op->inputcollid))
            continue;
        *var = key;
        *outer_expr = (Expr *) other;
        return true;
    }
    return false;
}

enum PathPrivate { PpSql = 0, PpRetrieved, PpKeyPos, PpKeyExpr, PpJoinQuals, PpOtherQuals, PpLeft };
enum PlanPrivate { PlSql = 0, PlRetrieved, PlKeyPos, PlTable, PlRti, PlLeft, PlBatch, PlOuterCols };

Plan *plan_path(PlannerInfo *root, RelOptInfo *rel, CustomPath *best_path, List *tlist, List *,
                List *custom_plans);
const CustomPathMethods path_methods = {kName, plan_path, nullptr};

void join_hook(PlannerInfo *root, RelOptInfo *joinrel, RelOptInfo *outerrel, RelOptInfo *innerrel,
               JoinType jointype, JoinPathExtraData *extra)
{
    if (prev_join_hook)
        prev_join_hook(root, joinrel, outerrel, innerrel, jointype, extra);
    if (join_batch_size <= 0)
        return;
    if (jointype != JOIN_INNER && jointype != JOIN_LEFT)
        return;
    if (extra->sjinfo->jointype != jointype)
        return; /* an inner join made of a unique-ified semi join */
    if (!pmfdw_is_own_rel(innerrel) || !bms_is_empty(innerrel->lateral_relids) ||
        !bms_is_empty(joinrel->lateral_relids))
        return;
    /* Rows to be updated or locked need the per-row scan (ctid, FOR UPDATE). */
    if ((Index) root->parse->resultRelation == innerrel->relid ||
        get_plan_rowmark(root->rowMarks, innerrel->relid) != nullptr)
        return;
    Path *outer_path = outerrel->cheapest_total_path;
    if (outer_path == nullptr || outer_path->param_info != nullptr)
        return;
    PmFdwRelInfo *info = (PmFdwRelInfo *) innerrel->fdw_private;

    /* What the join needs from the remote rows: plain columns only. */
    Bitmapset *attrs = nullptr;
    ListCell *lc;
    foreach (lc, innerrel->reltarget->exprs) {
        Node *e = (Node *) lfirst(lc);
        if (!IsA(e, Var) || ((Var *) e)->varattno <= 0)
            return;
        attrs = bms_add_member(attrs, ((Var *) e)->varattno - FirstLowInvalidHeapAttributeNumber);
    }

    Var *key_var = nullptr;
    Expr *key_expr = nullptr;
    foreach (lc, extra->restrictlist) {
        RestrictInfo *ri = (RestrictInfo *) lfirst(lc);
        if (ri->pseudoconstant)
            return;
        if (key_var == nullptr)
            key_clause(root, ri, outerrel, innerrel, &key_var, &key_expr);
    }
    if (key_var == nullptr)
        return;
    attrs = bms_add_member(attrs, key_var->varattno - FirstLowInvalidHeapAttributeNumber);

    List *joinquals = NIL, *otherquals = NIL;
    extract_actual_join_clauses(extra->restrictlist, joinrel->relids, &joinquals, &otherquals);
    /* The table's own local filters: on a pair, which for a LEFT join decides a match. */
    foreach (lc, info->local_conds) {
        RestrictInfo *ri = (RestrictInfo *) lfirst(lc);
        pull_varattnos((Node *) ri->clause, innerrel->relid, &attrs);
        if (jointype == JOIN_LEFT)
            joinquals = lappend(joinquals, ri->clause);
        else
            otherquals = lappend(otherquals, ri->clause);
    }

    StringInfoData sql;
    initStringInfo(&sql);
    List *retrieved = NIL, *params = NIL;
    pmfdw_deparse_select(&sql, root, innerrel, attrs, info->remote_conds, NIL, false, &retrieved,
                         &params);
    if (params != NIL)
        return; /* remote conditions with their own parameters: keep it simple */
    if (bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, attrs))
        return;
    int key_pos = 0;
    foreach (lc, retrieved) {
        if (lfirst_int(lc) == key_var->varattno)
            break;
        ++key_pos;
    }
    appendStringInfoString(&sql, info->remote_conds != NIL ? " AND " : " WHERE ");
    RangeTblEntry *rte = planner_rt_fetch(innerrel->relid, root);
    appendStringInfo(&sql, "%s = ANY ($1::%s[])",
                     quote_identifier(pmfdw_remote_column(rte->relid, key_var->varattno)),
                     format_type_be_qualified(key_var->vartype));

    double outer_rows = Max(outer_path->rows, 1.0);
    double batches = std::ceil(outer_rows / join_batch_size);
    CustomPath *cp = makeNode(CustomPath);
    cp->path.pathtype = T_CustomScan;
    cp->path.parent = joinrel;
    cp->path.pathtarget = joinrel->reltarget;
    cp->path.param_info = nullptr;
    cp->path.parallel_aware = false;
    cp->path.parallel_safe = false; /* the remote connection is this backend's */
    cp->path.parallel_workers = 0;
    cp->path.rows = joinrel->rows;
    cp->path.startup_cost = outer_path->startup_cost + kBatchRoundTripCost;
    cp->path.total_cost = outer_path->total_cost + batches * kBatchRoundTripCost +
                          joinrel->rows * (kTupleCost + cpu_tuple_cost) +
                          outer_rows * cpu_operator_cost * 2;
    cp->path.pathkeys = NIL;
    cp->custom_paths = list_make1(outer_path);
    cp->custom_private = list_make5(makeString(sql.data), retrieved, makeInteger(key_pos),
                                    key_expr, joinquals);
    cp->custom_private = lappend(cp->custom_private, otherquals);
    cp->custom_private = lappend(cp->custom_private, makeInteger(jointype == JOIN_LEFT));
    cp->methods = &path_methods;
    add_path(joinrel, (Path *) cp);
}

CustomScanMethods scan_methods;

Plan *plan_path(PlannerInfo *root, RelOptInfo *rel, CustomPath *best_path, List *tlist, List *,
                List *custom_plans)
{
    List *priv = best_path->custom_private;
    Plan *outer_plan = (Plan *) linitial(custom_plans);
    /* The inner rel is the pm_fdw table among the join's base rels not under the outer plan. */
    Path *outer_path = (Path *) linitial(best_path->custom_paths);
    Relids inner_relids = bms_difference(rel->relids, outer_path->parent->relids);
    int rti = bms_singleton_member(inner_relids);
    RelOptInfo *innerrel = find_base_rel(root, rti);
    RangeTblEntry *rte = planner_rt_fetch(rti, root);

    /* Scan tuple: the outer plan's columns, then the remote columns in SELECT order. */
    List *scan_tlist = NIL;
    int resno = 1;
    ListCell *lc;
    foreach (lc, outer_plan->targetlist) {
        TargetEntry *tle = (TargetEntry *) lfirst(lc);
        scan_tlist = lappend(scan_tlist, makeTargetEntry((Expr *) copyObjectImpl(tle->expr), resno++,
                                                         nullptr, false));
    }
    int outer_cols = resno - 1;
    foreach (lc, (List *) list_nth(priv, PpRetrieved)) {
        AttrNumber attno = (AttrNumber) lfirst_int(lc);
        Oid type, coll;
        int32 typmod;
        get_atttypetypmodcoll(rte->relid, attno, &type, &typmod, &coll);
        scan_tlist = lappend(scan_tlist,
                             makeTargetEntry((Expr *) makeVar(innerrel->relid, attno, type, typmod,
                                                              coll, 0),
                                             resno++, nullptr, false));
    }

    CustomScan *cs = makeNode(CustomScan);
    cs->scan.plan.targetlist = tlist;
    cs->scan.plan.qual = (List *) list_nth(priv, PpOtherQuals);
    cs->scan.scanrelid = 0;
    cs->flags = best_path->flags;
    cs->custom_plans = custom_plans;
    cs->custom_exprs = list_make2(list_nth(priv, PpKeyExpr), list_nth(priv, PpJoinQuals));
    cs->custom_scan_tlist = scan_tlist;
    List *plan_priv = list_make5(list_nth(priv, PpSql), list_nth(priv, PpRetrieved),
                                 list_nth(priv, PpKeyPos), makeInteger((int) rte->relid),
                                 makeInteger(rti));
    plan_priv = lappend(plan_priv, list_nth(priv, PpLeft));
    plan_priv = lappend(plan_priv, makeInteger(join_batch_size));
    plan_priv = lappend(plan_priv, makeInteger(outer_cols));
    cs->custom_private = plan_priv;
    cs->methods = &scan_methods;
    return (Plan *) cs;
}

/* ------------------------------------------------------------------ execution */

struct BatchJoinState {
    CustomScanState css; /* first: the executor sees a CustomScanState */
    char *sql;
    bool left;
    int batch_size;
    int outer_cols;
    int inner_cols;
    int key_pos;
    Oid relid;
    ExprState *key_expr;
    ExprState *joinqual;
    FmgrInfo key_out;
    FmgrInfo *in_funcs;
    Oid *in_ioparams;
    int32 *in_typmods;
    PmFdwConn *conn;
    bool unavailable;
    PmFdwStmt stmt;
    TupleTableSlot *outer_slot;
    /* the current batch (memory: batch_cxt) */
    MemoryContext batch_cxt;
    MinimalTuple *outer_rows;
    char **outer_keys;
    int nbatch;
    bool outer_done;
    PGresult *res;
    pm::fdw::KeyIndex *index;
    int statements; /* remote statements sent (EXPLAIN ANALYZE) */
    int batches;
    /* position */
    int cur;
    const int *cand;
    int ncand;
    int cpos;
    bool matched;
};

void free_batch(void *arg)
{
    BatchJoinState *st = (BatchJoinState *) arg;
    if (st->res)
        PQclear(st->res);
    st->res = nullptr;
    delete st->index;
    st->index = nullptr;
}

void reset_batch(BatchJoinState *st)
{
    if (st->outer_slot)
        ExecClearTuple(st->outer_slot);
    MemoryContextReset(st->batch_cxt);
    st->outer_rows = nullptr;
    st->outer_keys = nullptr;
    st->nbatch = 0;
    st->cur = -1;
    st->cand = nullptr;
    st->ncand = st->cpos = 0;
    MemoryContextCallback *cb =
        (MemoryContextCallback *) MemoryContextAlloc(st->batch_cxt, sizeof(MemoryContextCallback));
    cb->func = free_batch;
    cb->arg = st;
    MemoryContextRegisterResetCallback(st->batch_cxt, cb);
}

Node *create_state(CustomScan *cs);
void begin(CustomScanState *node, EState *estate, int eflags);
TupleTableSlot *exec(CustomScanState *node);
void end(CustomScanState *node);
void rescan(CustomScanState *node);
void explain(CustomScanState *node, List *ancestors, ExplainState *es);

const CustomExecMethods exec_methods = {
    kName, begin, exec, end, rescan, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
    explain};

Node *create_state(CustomScan *)
{
    BatchJoinState *st = (BatchJoinState *) newNode(sizeof(BatchJoinState), T_CustomScanState);
    st->css.methods = &exec_methods;
    return (Node *) st;
}

void begin(CustomScanState *node, EState *estate, int eflags)
{
    BatchJoinState *st = (BatchJoinState *) node;
    CustomScan *cs = (CustomScan *) node->ss.ps.plan;
    List *priv = cs->custom_private;
    st->sql = strVal(list_nth(priv, PlSql));
    List *retrieved = (List *) list_nth(priv, PlRetrieved);
    st->key_pos = intVal(list_nth(priv, PlKeyPos));
    st->relid = (Oid) intVal(list_nth(priv, PlTable));
    Index rti = (Index) intVal(list_nth(priv, PlRti));
    st->left = intVal(list_nth(priv, PlLeft)) != 0;
    st->batch_size = intVal(list_nth(priv, PlBatch));
    st->outer_cols = intVal(list_nth(priv, PlOuterCols));
    st->inner_cols = list_length(retrieved);

    PlanState *outer = ExecInitNode((Plan *) linitial(cs->custom_plans), estate, eflags);
    node->custom_ps = list_make1(outer);
    if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
        return;

    st->key_expr = ExecInitExpr((Expr *) linitial(cs->custom_exprs), (PlanState *) node);
    st->joinqual = ExecInitQual((List *) lsecond(cs->custom_exprs), (PlanState *) node);
    Oid outfunc;
    bool varlena;
    getTypeOutputInfo(exprType((Node *) linitial(cs->custom_exprs)), &outfunc, &varlena);
    fmgr_info(outfunc, &st->key_out);
    st->in_funcs = (FmgrInfo *) palloc0(sizeof(FmgrInfo) * Max(st->inner_cols, 1));
    st->in_ioparams = (Oid *) palloc0(sizeof(Oid) * Max(st->inner_cols, 1));
    st->in_typmods = (int32 *) palloc0(sizeof(int32) * Max(st->inner_cols, 1));
    int i = 0;
    ListCell *lc;
    foreach (lc, retrieved) {
        Oid type, coll, infunc;
        get_atttypetypmodcoll(st->relid, (AttrNumber) lfirst_int(lc), &type, &st->in_typmods[i],
                              &coll);
        getTypeInputInfo(type, &infunc, &st->in_ioparams[i]);
        fmgr_info(infunc, &st->in_funcs[i]);
        ++i;
    }
    st->outer_slot = MakeSingleTupleTableSlot(ExecGetResultType(outer), &TTSOpsMinimalTuple);
    st->batch_cxt = AllocSetContextCreate(estate->es_query_cxt, "pm_fdw batched join",
                                          ALLOCSET_DEFAULT_SIZES);
    reset_batch(st);

    UserMapping *user = pmfdw_exec_user(estate, rti, st->relid);
    PmFdwOptions opts;
    pmfdw_table_options(st->relid, &opts);
    st->conn = pmfdw_connect(GetForeignServer(user->serverid), user, &opts, true);
    st->unavailable = st->conn == nullptr;
}

/* Fills the scan tuple with outer row i and remote row j (-1: NULLs). */
void fill(BatchJoinState *st, TupleTableSlot *slot, int i, int j)
{
    ExecClearTuple(slot);
    ExecStoreMinimalTuple(st->outer_rows[i], st->outer_slot, false);
    slot_getallattrs(st->outer_slot);
    memcpy(slot->tts_values, st->outer_slot->tts_values, sizeof(Datum) * st->outer_cols);
    memcpy(slot->tts_isnull, st->outer_slot->tts_isnull, sizeof(bool) * st->outer_cols);
    MemoryContext old = MemoryContextSwitchTo(st->css.ss.ps.ps_ExprContext->ecxt_per_tuple_memory);
    for (int c = 0; c < st->inner_cols; ++c) {
        int k = st->outer_cols + c;
        if (j < 0 || PQgetisnull(st->res, j, c)) {
            slot->tts_values[k] = (Datum) 0;
            slot->tts_isnull[k] = true;
        } else {
            slot->tts_values[k] = InputFunctionCall(&st->in_funcs[c], PQgetvalue(st->res, j, c),
                                                    st->in_ioparams[c], st->in_typmods[c]);
            slot->tts_isnull[k] = false;
        }
    }
    MemoryContextSwitchTo(old);
    ExecStoreVirtualTuple(slot);
}

/* Reads the next batch of outer rows and fetches their remote rows in one statement. */
void load_batch(BatchJoinState *st)
{
    reset_batch(st);
    PlanState *outer = (PlanState *) linitial(st->css.custom_ps);
    TupleTableSlot *scan = st->css.ss.ss_ScanTupleSlot;
    ExprContext *econtext = st->css.ss.ps.ps_ExprContext;
    MemoryContext old = MemoryContextSwitchTo(st->batch_cxt);
    st->outer_rows = (MinimalTuple *) palloc(sizeof(MinimalTuple) * st->batch_size);
    st->outer_keys = (char **) palloc(sizeof(char *) * st->batch_size);
    MemoryContextSwitchTo(old);
    while (st->nbatch < st->batch_size) {
        TupleTableSlot *row = ExecProcNode(outer);
        if (TupIsNull(row)) {
            st->outer_done = true;
            break;
        }
        old = MemoryContextSwitchTo(st->batch_cxt);
        MinimalTuple copy = ExecCopySlotMinimalTuple(row);
        MemoryContextSwitchTo(old);
        st->outer_rows[st->nbatch] = copy;
        /* The key expression reads the outer columns of the scan tuple. */
        fill(st, scan, st->nbatch, -1);
        econtext->ecxt_scantuple = scan;
        bool isnull;
        old = MemoryContextSwitchTo(econtext->ecxt_per_tuple_memory);
        Datum key = ExecEvalExpr(st->key_expr, econtext, &isnull);
        char *text = isnull ? nullptr : OutputFunctionCall(&st->key_out, key);
        MemoryContextSwitchTo(old);
        st->outer_keys[st->nbatch] = text ? MemoryContextStrdup(st->batch_cxt, text) : nullptr;
        ResetExprContext(econtext);
        st->nbatch++;
    }
    ExecClearTuple(scan);
    if (st->nbatch == 0)
        return;
    st->batches++;

    int keys = 0;
    char *literal = array_literal(st->outer_keys, st->nbatch, &keys);
    if (literal == nullptr)
        ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
    char *param = MemoryContextStrdup(st->batch_cxt, literal);
    free(literal);

    int nres = 0;
    if (keys > 0 && !st->unavailable) {
        pmfdw_sync_context(st->conn);
        const char *values[1] = {param};
        PGresult *res = pmfdw_stmt_exec(st->conn, &st->stmt, st->sql, 1, values);
        st->statements++;
        if (PQresultStatus(res) != PGRES_TUPLES_OK)
            pmfdw_report(ERROR, res, st->conn, st->sql);
        st->res = res; /* freed by the batch context's reset callback */
        nres = PQntuples(res);
    }
    char **remote_keys = (char **) MemoryContextAlloc(st->batch_cxt, sizeof(char *) * Max(nres, 1));
    for (int j = 0; j < nres; ++j)
        remote_keys[j] = PQgetisnull(st->res, j, st->key_pos) ? nullptr
                                                              : PQgetvalue(st->res, j, st->key_pos);
    st->index = key_index_new(remote_keys, nres);
    if (st->index == nullptr)
        ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
}

TupleTableSlot *next_tuple(ScanState *ss)
{
    BatchJoinState *st = (BatchJoinState *) ss;
    TupleTableSlot *slot = ss->ss_ScanTupleSlot;
    ExprContext *econtext = ss->ps.ps_ExprContext;
    for (;;) {
        while (st->cur >= 0 && st->cpos < st->ncand) {
            int j = st->cand[st->cpos++];
            fill(st, slot, st->cur, j);
            econtext->ecxt_scantuple = slot;
            if (st->joinqual == nullptr || ExecQual(st->joinqual, econtext)) {
                st->matched = true;
                return slot;
            }
        }
        if (st->cur >= 0 && st->left && !st->matched) {
            st->matched = true;
            fill(st, slot, st->cur, -1);
            return slot;
        }
        if (st->cur + 1 < st->nbatch) {
            st->cur++;
            key_index_find(st->index, st->outer_keys[st->cur], &st->cand, &st->ncand);
            st->cpos = 0;
            st->matched = false;
            continue;
        }
        if (st->outer_done)
            return ExecClearTuple(slot);
        load_batch(st);
        if (st->nbatch == 0)
            return ExecClearTuple(slot);
    }
}

bool recheck(ScanState *, TupleTableSlot *)
{
    return true;
}

TupleTableSlot *exec(CustomScanState *node)
{
    return ExecScan(&node->ss, (ExecScanAccessMtd) next_tuple, (ExecScanRecheckMtd) recheck);
}

void end(CustomScanState *node)
{
    BatchJoinState *st = (BatchJoinState *) node;
    ExecEndNode((PlanState *) linitial(node->custom_ps));
    if (st->batch_cxt == nullptr)
        return;
    if (st->outer_slot)
        ExecClearTuple(st->outer_slot);
    MemoryContextReset(st->batch_cxt);
    if (st->outer_slot)
        ExecDropSingleTupleTableSlot(st->outer_slot);
    st->outer_slot = nullptr;
    if (!st->unavailable)
        pmfdw_stmt_release(st->conn, &st->stmt);
}

void rescan(CustomScanState *node)
{
    BatchJoinState *st = (BatchJoinState *) node;
    PlanState *outer = (PlanState *) linitial(node->custom_ps);
    if (outer->chgParam == nullptr)
        ExecReScan(outer);
    reset_batch(st);
    st->outer_done = false;
}

void explain(CustomScanState *node, List *, ExplainState *es)
{
    BatchJoinState *st = (BatchJoinState *) node;
    CustomScan *cs = (CustomScan *) node->ss.ps.plan;
    if (es->verbose) {
        ExplainPropertyText("Remote SQL", strVal(list_nth(cs->custom_private, PlSql)), es);
        ExplainPropertyInteger("Keys per Remote Statement", nullptr,
                               intVal(list_nth(cs->custom_private, PlBatch)), es);
    }
    if (es->analyze) {
        ExplainPropertyInteger("Outer Batches", nullptr, st->batches, es);
        ExplainPropertyInteger("Remote Statements", nullptr, st->statements, es);
    }
}

} // namespace

void pmfdw_batch_join_init(void)
{
    DefineCustomIntVariable(
        "pm.fdw_join_batch_size",
        "Outer rows whose keys a join to a pm_fdw table sends in one remote statement.",
        "0 turns the batched join off (the planner then uses a nested loop with one remote "
        "statement per outer row, or a hash join over a full remote scan).",
        &join_batch_size, 1000, 0, 100000, PGC_USERSET, 0, nullptr, nullptr, nullptr);
    scan_methods.CustomName = kName;
    scan_methods.CreateCustomScanState = create_state;
    RegisterCustomScanMethods(&scan_methods);
    prev_join_hook = set_join_pathlist_hook;
    set_join_pathlist_hook = join_hook;
}
