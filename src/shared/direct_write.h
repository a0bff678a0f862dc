/*
 * direct_write.h — writing rows of one table without a planned statement, the way the
 * executor itself does (constraints, row triggers, index entries), for hot paths whose
 * rows are already found.  Used by pm_queue's lease and budget steps.
 *
 * C-like on purpose: call these inside pm::pg_call (they raise PostgreSQL errors).
 */
#pragma once

extern "C" {
#include "postgres.h"
#include "executor/executor.h"
#include "access/genam.h"
#include "access/relscan.h"
#include "nodes/execnodes.h"
#include "utils/acl.h"
#include "utils/rel.h"
}

namespace pm::direct {

struct Writer {
    Relation rel;
    EState *estate;
    ResultRelInfo *rri;
    EPQState epq;
    TupleTableSlot *stored; /* a slot of the table's own kind, for fetched rows */
    TupleTableSlot *row;    /* a virtual slot for new row versions */
};

/* Opens `relid` for writing after checking that the current user holds `required` on it
 * (ACL_NO_RIGHTS: no check, for trusted triggers writing a table the user may not touch). */
void open_writer(Writer &w, Oid relid, AclMode required);
void close_writer(Writer &w);

/* Copies `from` (a stored row) into w.row, ready for set_column(); returns w.row. */
TupleTableSlot *begin_new_version(Writer &w, TupleTableSlot *from);
void set_column(TupleTableSlot *row, AttrNumber attnum, Datum value, bool isnull = false);

/* Attribute number of `name`, or an error naming the table. */
AttrNumber column_number(Relation rel, const char *name);

/* Repeated lookups of single rows through one unique index of a table (an open scan
 * rescanned per key). */
struct KeyLookup {
    Relation rel;
    Relation index;
    IndexScanDesc scan;
    int nkeys;
    ScanKeyData keys[INDEX_MAX_KEYS];
};

/* Prepares lookups through `index_oid` (of `rel`) as `snapshot` sees the table. */
void open_lookup(KeyLookup &l, Relation rel, Oid index_oid, Snapshot snapshot);
/* The row whose key columns equal `keys` (one per key column) into `out`; false: none. */
bool lookup(KeyLookup &l, const Datum *keys, TupleTableSlot *out);
void close_lookup(KeyLookup &l);

/* The table schema.name, or InvalidOid when it (or the schema) does not exist. */
Oid relation_oid(const char *schema, const char *name);

/* True when row-level security applies to the current user on `relid`. */
bool rls_applies(Oid relid);

} // namespace pm::direct
