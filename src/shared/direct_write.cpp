/*
 * direct_write.cpp — see direct_write.h.
 */
#include "shared/direct_write.h"

extern "C" {
#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
}

namespace pm::direct {

void open_writer(Writer &w, Oid relid, AclMode required)
{
    w.rel = table_open(relid, RowExclusiveLock);
    if (required != ACL_NO_RIGHTS) {
        const AclResult acl = pg_class_aclcheck(relid, GetUserId(), required);
        if (acl != ACLCHECK_OK)
            aclcheck_error(acl, OBJECT_TABLE, RelationGetRelationName(w.rel));
    }
    w.estate = CreateExecutorState();
    RangeTblEntry *rte = makeNode(RangeTblEntry);
    rte->rtekind = RTE_RELATION;
    rte->relid = relid;
    rte->relkind = w.rel->rd_rel->relkind;
    rte->rellockmode = RowExclusiveLock;
    ExecInitRangeTable(w.estate, list_make1(rte));
    w.rri = makeNode(ResultRelInfo);
    InitResultRelInfo(w.rri, w.rel, 1, nullptr, 0);
    w.estate->es_output_cid = GetCurrentCommandId(true);
    w.estate->es_snapshot = GetActiveSnapshot();
    AfterTriggerBeginQuery();
    ExecOpenIndices(w.rri, false);
    EvalPlanQualInit(&w.epq, w.estate, nullptr, NIL, -1);
    w.stored = table_slot_create(w.rel, &w.estate->es_tupleTable);
    w.row = ExecInitExtraTupleSlot(w.estate, RelationGetDescr(w.rel), &TTSOpsVirtual);
}

void close_writer(Writer &w)
{
    EvalPlanQualEnd(&w.epq);
    ExecCloseIndices(w.rri);
    AfterTriggerEndQuery(w.estate);
    ExecResetTupleTable(w.estate->es_tupleTable, false);
    FreeExecutorState(w.estate);
    table_close(w.rel, NoLock);
    /* Later statements of this transaction see the writes. */
    CommandCounterIncrement();
}

TupleTableSlot *begin_new_version(Writer &w, TupleTableSlot *from)
{
    const int natts = RelationGetDescr(w.rel)->natts;
    slot_getallattrs(from);
    ExecClearTuple(w.row);
    memcpy(w.row->tts_values, from->tts_values, sizeof(Datum) * natts);
    memcpy(w.row->tts_isnull, from->tts_isnull, sizeof(bool) * natts);
    return w.row;
}

void set_column(TupleTableSlot *row, AttrNumber attnum, Datum value, bool isnull)
{
    row->tts_values[attnum - 1] = value;
    row->tts_isnull[attnum - 1] = isnull;
}

AttrNumber column_number(Relation rel, const char *name)
{
    const AttrNumber attnum = get_attnum(RelationGetRelid(rel), name);
    if (attnum == InvalidAttrNumber)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
                        errmsg("table \"%s\" has no column \"%s\"", RelationGetRelationName(rel), name)));
    return attnum;
}

void open_lookup(KeyLookup &l, Relation rel, Oid index_oid, Snapshot snapshot)
{
    l.rel = rel;
    l.index = index_open(index_oid, AccessShareLock);
    l.nkeys = IndexRelationGetNumberOfKeyAttributes(l.index);
    for (int i = 0; i < l.nkeys; i++) {
        /* The index's own equality operator for the column, whatever its type. */
        const Oid op = get_opfamily_member(l.index->rd_opfamily[i], l.index->rd_opcintype[i],
                                           l.index->rd_opcintype[i], BTEqualStrategyNumber);
        ScanKeyEntryInitialize(&l.keys[i], 0, i + 1, BTEqualStrategyNumber, InvalidOid,
                               l.index->rd_indcollation[i], get_opcode(op), (Datum) 0);
    }
    l.scan = index_beginscan(rel, l.index, snapshot, l.nkeys, 0);
}

bool lookup(KeyLookup &l, const Datum *keys, TupleTableSlot *out)
{
    for (int i = 0; i < l.nkeys; i++)
        l.keys[i].sk_argument = keys[i];
    index_rescan(l.scan, l.keys, l.nkeys, nullptr, 0);
    return index_getnext_slot(l.scan, ForwardScanDirection, out);
}

void close_lookup(KeyLookup &l)
{
    index_endscan(l.scan);
    index_close(l.index, NoLock);
}

Oid relation_oid(const char *schema, const char *name)
{
    const Oid ns = get_namespace_oid(schema, true);
    return OidIsValid(ns) ? get_relname_relid(name, ns) : InvalidOid;
}

bool rls_applies(Oid relid)
{
    return check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED;
}

} // namespace pm::direct
