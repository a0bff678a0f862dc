/*
 * limit.cpp — LIMIT / OFFSET pushdown for a scan that feeds the query's Limit directly.
 *
 * When nothing between the foreign scan and the query's LIMIT can drop, add or reorder
 * rows — a single-table SELECT, every WHERE condition shipped (no local filter), no
 * grouping, aggregates, DISTINCT, window functions, set-returning functions in the target
 * list or row locks, and ORDER BY absent or entirely done remotely — the remote may stop
 * after `LIMIT count + offset` rows.  The local Limit node stays and still applies OFFSET
 * and LIMIT: the remote only saves sending (and producing) rows nobody will read.
 * Constants are folded here; other expressions (parameters of prepared statements or
 * PL/pgSQL, casts of them, init plans) are evaluated by the scan like its other parameters
 * and sent as $n.  A NULL count (LIMIT ALL) or a negative constant is not pushed
 * (the local Limit raises the error for the latter); a NULL offset parameter makes the
 * remote limit NULL, i.e. no limit — correct, only not faster.
 */
#include "pm_fdw.h"

extern "C" {
#include "catalog/pg_type.h"
#include "common/int.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
}

bool pmfdw_limit_pushable(PlannerInfo *root, RelOptInfo *baserel, Expr **count, Expr **offset)
{
    Query *parse = root->parse;
    PmFdwRelInfo *info = (PmFdwRelInfo *) baserel->fdw_private;
    *count = *offset = nullptr;
    if (parse->commandType != CMD_SELECT || parse->limitCount == nullptr ||
        parse->limitOption != LIMIT_OPTION_COUNT)
        return false;
    if (baserel->reloptkind != RELOPT_BASEREL ||
        bms_membership(root->all_baserels) != BMS_SINGLETON || info->local_conds != NIL)
        return false;
    if (parse->hasAggs || parse->groupClause != NIL || parse->groupingSets != NIL ||
        parse->havingQual != nullptr || parse->hasWindowFuncs || parse->distinctClause != NIL ||
        parse->hasTargetSRFs || parse->rowMarks != NIL || parse->setOperations != nullptr)
        return false;

    Expr *c = (Expr *) parse->limitCount;
    Expr *o = (Expr *) parse->limitOffset;
    if (IsA(c, Const) && (o == nullptr || IsA(o, Const))) {
        Const *cc = (Const *) c;
        if (cc->constisnull || cc->consttype != INT8OID)
            return false;
        int64 n = DatumGetInt64(cc->constvalue);
        int64 skip = 0;
        if (o != nullptr && !((Const *) o)->constisnull) {
            if (((Const *) o)->consttype != INT8OID)
                return false;
            skip = DatumGetInt64(((Const *) o)->constvalue);
        }
        int64 sum;
        if (n < 0 || skip < 0 || pg_add_s64_overflow(n, skip, &sum))
            return false;
        *count = (Expr *) makeConst(INT8OID, -1, InvalidOid, sizeof(int64), Int64GetDatum(sum),
                                    false, FLOAT8PASSBYVAL);
        return true;
    }
    /* Evaluated by the scan (as its other parameters) and sent as $n: it must give the value
     * the Limit node computes, so nothing volatile. */
    if (exprType((Node *) c) != INT8OID || contain_volatile_functions((Node *) c) ||
        (o != nullptr && (exprType((Node *) o) != INT8OID || contain_volatile_functions((Node *) o))))
        return false;
    *count = c;
    *offset = o;
    return true;
}

namespace {

void append_value(StringInfo buf, Expr *e, List **params_list)
{
    if (IsA(e, Const)) {
        appendStringInfo(buf, INT64_FORMAT, DatumGetInt64(((Const *) e)->constvalue));
        return;
    }
    *params_list = lappend(*params_list, e);
    appendStringInfo(buf, "$%d::pg_catalog.int8", list_length(*params_list));
}

} // namespace

void pmfdw_append_limit(StringInfo buf, Expr *count, Expr *offset, List **params_list)
{
    appendStringInfoString(buf, " LIMIT ");
    if (offset == nullptr) {
        append_value(buf, count, params_list);
        return;
    }
    appendStringInfoChar(buf, '(');
    append_value(buf, count, params_list);
    appendStringInfoString(buf, " + ");
    append_value(buf, offset, params_list);
    appendStringInfoChar(buf, ')');
}
