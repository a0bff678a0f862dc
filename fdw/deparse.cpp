/*
 * deparse.cpp — remote SQL from planner expressions.
 *
 * Shippable: plain columns of the foreign table, constants and parameters of built-in
 * types, the built-in comparison operators = <> < <= > >= (ordering ones only under the
 * default collation), IS [NOT] NULL, = ANY(array) / <> ALL(array) (so IN lists), ARRAY[...]
 * and AND / OR / NOT.  Anything else stays a local filter.  Vars of other relations (the
 * outer side of a parameterised nested loop) and Params become $n parameters.
 */
#include "pm_fdw.h"
#include "fdw/common/fdw_text.h"

extern "C" {
#include "access/htup_details.h"
#include "access/sysattr.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/paths.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/typcache.h"
}

#include <cstring>

namespace {

bool is_builtin(Oid oid)
{
    return oid < FirstGenbkiObjectId;
}

bool collation_ok(Oid collid)
{
    return collid == InvalidOid || collid == DEFAULT_COLLATION_OID || collid == C_COLLATION_OID;
}

struct WalkerContext {
    PlannerInfo *root;
    RelOptInfo *baserel;
};

bool shippable(Node *node, WalkerContext *cxt);

bool shippable_list(List *args, WalkerContext *cxt)
{
    ListCell *lc;
    foreach (lc, args)
        if (!shippable((Node *) lfirst(lc), cxt))
            return false;
    return true;
}

bool shippable_operator(Oid opno, bool ordering_needs_collation, Oid inputcollid)
{
    if (!is_builtin(opno))
        return false;
    HeapTuple tuple = SearchSysCache1(OPEROID, ObjectIdGetDatum(opno));
    if (!HeapTupleIsValid(tuple))
        return false;
    Form_pg_operator form = (Form_pg_operator) GETSTRUCT(tuple);
    const char *name = NameStr(form->oprname);
    bool ok = form->oprkind == 'b' &&
              (strcmp(name, "=") == 0 || strcmp(name, "<>") == 0 || strcmp(name, "<") == 0 ||
               strcmp(name, "<=") == 0 || strcmp(name, ">") == 0 || strcmp(name, ">=") == 0);
    bool ordering = ok && strcmp(name, "=") != 0 && strcmp(name, "<>") != 0;
    ReleaseSysCache(tuple);
    if (ok && ordering && ordering_needs_collation && !collation_ok(inputcollid))
        return false;
    return ok;
}

bool shippable(Node *node, WalkerContext *cxt)
{
    if (node == nullptr)
        return true;
    switch (nodeTag(node)) {
    case T_Var: {
        Var *var = (Var *) node;
        if (var->varlevelsup != 0)
            return false;
        if (bms_is_member(var->varno, cxt->baserel->relids)) {
            if (var->varattno <= 0)
                return false;
            return collation_ok(var->varcollid);
        }
        /* Another relation's column: becomes a parameter. */
        return is_builtin(var->vartype);
    }
    case T_Const: {
        Const *c = (Const *) node;
        return is_builtin(c->consttype) && collation_ok(c->constcollid);
    }
    case T_Param: {
        Param *p = (Param *) node;
        return (p->paramkind == PARAM_EXTERN || p->paramkind == PARAM_EXEC) &&
               is_builtin(p->paramtype);
    }
    case T_OpExpr: {
        OpExpr *op = (OpExpr *) node;
        return shippable_operator(op->opno, true, op->inputcollid) &&
               shippable_list(op->args, cxt);
    }
    case T_ScalarArrayOpExpr: {
        ScalarArrayOpExpr *op = (ScalarArrayOpExpr *) node;
        if (!shippable_operator(op->opno, true, op->inputcollid))
            return false;
        const char *name = get_opname(op->opno);
        if (!((op->useOr && strcmp(name, "=") == 0) || (!op->useOr && strcmp(name, "<>") == 0)))
            return false;
        return shippable_list(op->args, cxt);
    }
    case T_NullTest: {
        NullTest *nt = (NullTest *) node;
        return !nt->argisrow && shippable((Node *) nt->arg, cxt);
    }
    case T_BoolExpr:
        return shippable_list(((BoolExpr *) node)->args, cxt);
    case T_RelabelType: {
        RelabelType *r = (RelabelType *) node;
        return is_builtin(r->resulttype) && collation_ok(r->resultcollid) &&
               shippable((Node *) r->arg, cxt);
    }
    case T_ArrayExpr: {
        ArrayExpr *a = (ArrayExpr *) node;
        return is_builtin(a->array_typeid) && shippable_list(a->elements, cxt);
    }
    case T_List:
        return shippable_list((List *) node, cxt);
    default:
        return false;
    }
}

struct DeparseContext {
    PlannerInfo *root;
    RelOptInfo *baserel;
    StringInfo buf;
    List **params_list;
};

void deparse(Node *node, DeparseContext *cxt);

void deparse_type(StringInfo buf, Oid type, int32 typmod)
{
    appendStringInfoString(buf, format_type_with_typemod(type, typmod));
}

void deparse_param(Node *node, Oid type, int32 typmod, DeparseContext *cxt)
{
    int index = 0;
    ListCell *lc;
    int i = 1;
    foreach (lc, *cxt->params_list) {
        if (equal(lfirst(lc), node)) {
            index = i;
            break;
        }
        ++i;
    }
    if (index == 0) {
        *cxt->params_list = lappend(*cxt->params_list, node);
        index = list_length(*cxt->params_list);
    }
    appendStringInfo(cxt->buf, "$%d::", index);
    deparse_type(cxt->buf, type, typmod);
}

void deparse_const(Const *c, DeparseContext *cxt)
{
    StringInfo buf = cxt->buf;
    if (c->constisnull) {
        appendStringInfoString(buf, "NULL::");
        deparse_type(buf, c->consttype, c->consttypmod);
        return;
    }
    Oid outfunc;
    bool varlena;
    getTypeOutputInfo(c->consttype, &outfunc, &varlena);
    char *text = OidOutputFunctionCall(outfunc, c->constvalue);
    switch (c->consttype) {
    case INT4OID:
    case INT2OID:
    case INT8OID:
        if (text[0] != '-') {
            appendStringInfoString(buf, text);
            if (c->consttype != INT4OID) {
                appendStringInfoString(buf, "::");
                deparse_type(buf, c->consttype, c->consttypmod);
            }
            return;
        }
        break;
    case BOOLOID:
        appendStringInfoString(buf, strcmp(text, "t") == 0 ? "true" : "false");
        return;
    default:
        break;
    }
    pmfdw_append_literal(buf, text);
    appendStringInfoString(buf, "::");
    deparse_type(buf, c->consttype, c->consttypmod);
}

void deparse_args_op(const char *opname, Node *left, Node *right, DeparseContext *cxt)
{
    appendStringInfoChar(cxt->buf, '(');
    deparse(left, cxt);
    appendStringInfo(cxt->buf, " %s ", opname);
    deparse(right, cxt);
    appendStringInfoChar(cxt->buf, ')');
}

void deparse(Node *node, DeparseContext *cxt)
{
    StringInfo buf = cxt->buf;
    switch (nodeTag(node)) {
    case T_Var: {
        Var *var = (Var *) node;
        if (bms_is_member(var->varno, cxt->baserel->relids) && var->varlevelsup == 0) {
            RangeTblEntry *rte = planner_rt_fetch(var->varno, cxt->root);
            appendStringInfoString(buf,
                                   quote_identifier(pmfdw_remote_column(rte->relid, var->varattno)));
        } else {
            deparse_param(node, var->vartype, var->vartypmod, cxt);
        }
        break;
    }
    case T_Const:
        deparse_const((Const *) node, cxt);
        break;
    case T_Param: {
        Param *p = (Param *) node;
        deparse_param(node, p->paramtype, p->paramtypmod, cxt);
        break;
    }
    case T_OpExpr: {
        OpExpr *op = (OpExpr *) node;
        deparse_args_op(get_opname(op->opno), (Node *) linitial(op->args),
                        (Node *) lsecond(op->args), cxt);
        break;
    }
    case T_ScalarArrayOpExpr: {
        ScalarArrayOpExpr *op = (ScalarArrayOpExpr *) node;
        appendStringInfoChar(buf, '(');
        deparse((Node *) linitial(op->args), cxt);
        appendStringInfo(buf, " %s %s (", get_opname(op->opno), op->useOr ? "ANY" : "ALL");
        deparse((Node *) lsecond(op->args), cxt);
        appendStringInfoString(buf, "))");
        break;
    }
    case T_NullTest: {
        NullTest *nt = (NullTest *) node;
        appendStringInfoChar(buf, '(');
        deparse((Node *) nt->arg, cxt);
        appendStringInfoString(buf, nt->nulltesttype == IS_NULL ? " IS NULL)" : " IS NOT NULL)");
        break;
    }
    case T_BoolExpr: {
        BoolExpr *b = (BoolExpr *) node;
        if (b->boolop == NOT_EXPR) {
            appendStringInfoString(buf, "(NOT ");
            deparse((Node *) linitial(b->args), cxt);
            appendStringInfoChar(buf, ')');
            break;
        }
        const char *op = b->boolop == AND_EXPR ? " AND " : " OR ";
        appendStringInfoChar(buf, '(');
        bool first = true;
        ListCell *lc;
        foreach (lc, b->args) {
            if (!first)
                appendStringInfoString(buf, op);
            deparse((Node *) lfirst(lc), cxt);
            first = false;
        }
        appendStringInfoChar(buf, ')');
        break;
    }
    case T_RelabelType: {
        RelabelType *r = (RelabelType *) node;
        deparse((Node *) r->arg, cxt);
        if (r->relabelformat != COERCE_IMPLICIT_CAST) {
            appendStringInfoString(buf, "::");
            deparse_type(buf, r->resulttype, r->resulttypmod);
        }
        break;
    }
    case T_ArrayExpr: {
        ArrayExpr *a = (ArrayExpr *) node;
        appendStringInfoString(buf, "ARRAY[");
        bool first = true;
        ListCell *lc;
        foreach (lc, a->elements) {
            if (!first)
                appendStringInfoString(buf, ", ");
            deparse((Node *) lfirst(lc), cxt);
            first = false;
        }
        appendStringInfoString(buf, "]::");
        deparse_type(buf, a->array_typeid, -1);
        break;
    }
    case T_List: {
        bool first = true;
        ListCell *lc;
        foreach (lc, (List *) node) {
            if (!first)
                appendStringInfoString(buf, " AND ");
            deparse((Node *) lfirst(lc), cxt);
            first = false;
        }
        break;
    }
    default:
        elog(ERROR, "pm_fdw: unsupported expression type for deparse: %d", (int) nodeTag(node));
    }
}

} // namespace

void pmfdw_append_literal(StringInfo buf, const char *value)
{
    const bool backslash = strchr(value, '\\') != nullptr;
    if (backslash)
        appendStringInfoChar(buf, 'E');
    appendStringInfoChar(buf, '\'');
    for (const char *p = value; *p; ++p) {
        if (*p == '\'' || *p == '\\')
            appendStringInfoChar(buf, *p);
        appendStringInfoChar(buf, *p);
    }
    appendStringInfoChar(buf, '\'');
}

bool pmfdw_is_foreign_expr(PlannerInfo *root, RelOptInfo *baserel, Expr *expr)
{
    WalkerContext cxt = {root, baserel};
    if (!shippable((Node *) expr, &cxt))
        return false;
    if (contain_mutable_functions((Node *) expr))
        return false;
    return true;
}

Expr *pmfdw_pathkey_expr(RelOptInfo *baserel, PathKey *pathkey)
{
    EquivalenceClass *ec = pathkey->pk_eclass;
    ListCell *lc;
    if (ec->ec_has_volatile)
        return nullptr;
    foreach (lc, ec->ec_members) {
        EquivalenceMember *em = (EquivalenceMember *) lfirst(lc);
        if (em->em_is_child || !bms_equal(em->em_relids, baserel->relids))
            continue;
        Expr *e = em->em_expr;
        while (IsA(e, RelabelType))
            e = ((RelabelType *) e)->arg;
        if (IsA(e, Var) && ((Var *) e)->varattno > 0)
            return em->em_expr;
    }
    return nullptr;
}

bool pmfdw_is_foreign_pathkey(PlannerInfo *root, RelOptInfo *baserel, PathKey *pathkey)
{
    Expr *e = pmfdw_pathkey_expr(baserel, pathkey);
    if (e == nullptr)
        return false;
    if (!pmfdw_is_foreign_expr(root, baserel, e))
        return false;
    /* The remote sorts with the type's default btree operators. */
    Oid type = exprType((Node *) e);
    TypeCacheEntry *tc = lookup_type_cache(type, TYPECACHE_BTREE_OPFAMILY);
    if (!is_builtin(type) || tc->btree_opf != pathkey->pk_opfamily)
        return false;
    return collation_ok(pathkey->pk_eclass->ec_collation);
}

void pmfdw_deparse_expr(StringInfo buf, Expr *expr, PlannerInfo *root, RelOptInfo *baserel,
                        List **params_list)
{
    DeparseContext cxt = {root, baserel, buf, params_list};
    deparse((Node *) expr, &cxt);
}

void pmfdw_deparse_select(StringInfo buf, PlannerInfo *root, RelOptInfo *baserel,
                          Bitmapset *attrs_used, List *remote_conds, List *pathkeys,
                          bool for_update, List **retrieved_attrs, List **params_list)
{
    RangeTblEntry *rte = planner_rt_fetch(baserel->relid, root);
    Relation rel = table_open(rte->relid, NoLock);
    TupleDesc tupdesc = RelationGetDescr(rel);
    bool whole_row = bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, attrs_used);
    bool first = true;

    *retrieved_attrs = NIL;
    appendStringInfoString(buf, "SELECT ");
    for (int i = 1; i <= tupdesc->natts; ++i) {
        Form_pg_attribute attr = TupleDescAttr(tupdesc, i - 1);
        if (attr->attisdropped)
            continue;
        if (!whole_row && !bms_is_member(i - FirstLowInvalidHeapAttributeNumber, attrs_used))
            continue;
        if (!first)
            appendStringInfoString(buf, ", ");
        appendStringInfoString(buf, quote_identifier(pmfdw_remote_column(rte->relid, i)));
        *retrieved_attrs = lappend_int(*retrieved_attrs, i);
        first = false;
    }
    if (bms_is_member(SelfItemPointerAttributeNumber - FirstLowInvalidHeapAttributeNumber,
                      attrs_used)) {
        if (!first)
            appendStringInfoString(buf, ", ");
        appendStringInfoString(buf, "ctid");
        *retrieved_attrs = lappend_int(*retrieved_attrs, SelfItemPointerAttributeNumber);
        first = false;
    }
    if (first)
        appendStringInfoString(buf, "NULL");
    appendStringInfoString(buf, " FROM ");
    pmfdw_append_remote_table(buf, rel);
    table_close(rel, NoLock);

    if (remote_conds != NIL) {
        appendStringInfoString(buf, " WHERE ");
        DeparseContext cxt = {root, baserel, buf, params_list};
        bool firstc = true;
        ListCell *lc;
        foreach (lc, remote_conds) {
            Expr *e = (Expr *) lfirst(lc);
            if (IsA(e, RestrictInfo))
                e = ((RestrictInfo *) e)->clause;
            if (!firstc)
                appendStringInfoString(buf, " AND ");
            deparse((Node *) e, &cxt);
            firstc = false;
        }
    }
    if (pathkeys != NIL) {
        appendStringInfoString(buf, " ORDER BY ");
        bool firstk = true;
        ListCell *lc;
        foreach (lc, pathkeys) {
            PathKey *pk = (PathKey *) lfirst(lc);
            Expr *e = pmfdw_pathkey_expr(baserel, pk);
            if (!firstk)
                appendStringInfoString(buf, ", ");
            DeparseContext cxt = {root, baserel, buf, params_list};
            deparse((Node *) e, &cxt);
            if (pk->pk_strategy == BTGreaterStrategyNumber)
                appendStringInfoString(buf, " DESC");
            else
                appendStringInfoString(buf, " ASC");
            appendStringInfoString(buf, pk->pk_nulls_first ? " NULLS FIRST" : " NULLS LAST");
            firstk = false;
        }
    }
    if (for_update)
        appendStringInfoString(buf, " FOR UPDATE");
}
