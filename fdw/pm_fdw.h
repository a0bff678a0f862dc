/*
 * pm_fdw.h — what the pm_fdw files share (PostgreSQL side).
 *
 *   options.cpp      validator, run-time options of servers and foreign tables
 *   health.cpp       per-server circuit breaker (shared memory when preloaded)
 *   connection.cpp   connection cache, connect with timeout, password hygiene, errors
 *   transaction.cpp  remote transactions tied to the local one; tenant context
 *   deparse.cpp      remote SQL from planner expressions
 *   scan.cpp         planning and executing scans (handler lives here)
 *   limit.cpp        when a scan may carry the query's LIMIT, and its remote text
 *   batch_join.cpp   local rel JOIN pm_fdw table: one remote = ANY per batch of keys
 *   modify.cpp       INSERT (batched) / UPDATE / DELETE
 *   import.cpp       IMPORT FOREIGN SCHEMA
 *   link.cpp         pm.tier_status, pm.resolve_content(_many), pm.put_content
 *   call.cpp         pm.tier_call: a function of the linked tier, its rows returned here
 *
 * Code in these files is "C-style": PostgreSQL errors (ereport, a longjmp) may be raised
 * anywhere in them, so frames hold no C++ objects with destructors.  The pure C++ parts
 * (option catalogue, SQL text, back-off) live in fdw/common/ and are called through
 * small wrappers that copy their results into palloc'd memory before anything can raise.
 */
#pragma once

extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "funcapi.h"
#include "libpq-fe.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "nodes/execnodes.h"
#include "nodes/pathnodes.h"
#include "utils/rel.h"
#include "utils/hsearch.h"
}

/* ---------------------------------------------------------------- options.cpp */

struct PmFdwOptions {
    int fetch_size;
    int batch_size;
    bool on_unavailable_empty;
    double retry_interval_ms;
    double retry_max_ms;
    bool updatable;
    bool propagate_tenant;
    int connect_timeout_s;
    double response_timeout_ms; /* 0: wait for an answer as long as it takes */
    char tier[NAMEDATALEN];     /* 'tier' option, else the server name */
};

void pmfdw_server_options(ForeignServer *server, PmFdwOptions *out);
/* Server options, then the table's overrides. */
void pmfdw_table_options(Oid foreigntableid, PmFdwOptions *out);
/* Remote schema/table name of a foreign table (quoted "schema.table"). */
void pmfdw_append_remote_table(StringInfo buf, Relation rel);
/* Remote column name (column_name option or the local name), unquoted. */
const char *pmfdw_remote_column(Oid relid, AttrNumber attnum);

/* ---------------------------------------------------------------- health.cpp */

void pmfdw_health_preload(void); /* from _PG_init when preloading */
bool pmfdw_health_shared(void);

enum PmFdwAdmission { PMFDW_GO = 0, PMFDW_PROBE = 1, PMFDW_FAILFAST = 2 };
/* May this backend connect to `serverid` now?  On FAILFAST, last_error gets the reason. */
PmFdwAdmission pmfdw_health_admit(Oid serverid, char *last_error, size_t len);
void pmfdw_health_ok(Oid serverid, double rtt_ms);
void pmfdw_health_failed(Oid serverid, const char *message, double retry_interval_ms,
                         double retry_max_ms);
void pmfdw_health_forget(Oid serverid);

struct PmFdwHealthRow {
    bool known;
    int state; /* pm::fdw::HealthState */
    int failures;
    char last_error[256];
    TimestampTz last_ok;
    TimestampTz retry_at;
    double rtt_ms;
};
void pmfdw_health_get(Oid serverid, PmFdwHealthRow *out);

/* ---------------------------------------------------------------- connection.cpp */

struct PmFdwXactState {
    int xact_depth;       /* 0: no remote xact; 1: top level; n: savepoint level */
    bool context_sent;    /* tenant context sent in this remote xact */
    char sent_tenant[64];
    char sent_user[64];
};


/* One cached connection per user mapping (the hash key). */
struct PmFdwConn {
    Oid umid;
    PGconn *conn;
    Oid serverid;
    char tier[NAMEDATALEN];
    PmFdwXactState xs;
    unsigned int counter;
    bool invalidated;
    bool propagate_tenant;
    double retry_interval_ms;
    double retry_max_ms;
    double response_timeout_ms;
    /* The remote did not answer within response_timeout: the connection is unusable (a
     * stopped or hung server) and is closed without another word to it. */
    bool unanswered;
};
extern HTAB *pmfdw_connections;
void pmfdw_disconnect(PmFdwConn *entry);
/* Broken, closed, or unanswered: nothing more may be sent on it. */
bool pmfdw_conn_lost(const PmFdwConn *entry);
/* Sends `sql` and waits at most response_timeout for it, never raising (abort paths).
 * False when it failed or did not answer; the caller then disconnects. */
bool pmfdw_exec_quietly(PmFdwConn *entry, const char *sql);

/*
 * The connection for `user` on `server`, inside a remote transaction matching the local
 * one, with the caller's tenant context sent.  Fails fast (08006) while the server is down.
 * With allow_empty and on_unavailable 'empty', returns nullptr after a WARNING instead.
 */
PmFdwConn *pmfdw_connect(ForeignServer *server, UserMapping *user, const PmFdwOptions *opts,
                         bool allow_empty);
PGconn *pmfdw_pgconn(PmFdwConn *conn);
unsigned int pmfdw_next_number(PmFdwConn *conn);
/* Re-sends the tenant context if it changed since the last statement. */
void pmfdw_sync_context(PmFdwConn *conn);

/* Waits for the result of the command sent last (interruptible); NULL when done. */
PGresult *pmfdw_get_result(PmFdwConn *conn);
/* Sends and waits; returns the last result (caller PQclear()s). */
PGresult *pmfdw_exec(PmFdwConn *conn, const char *sql);
PGresult *pmfdw_exec_params(PmFdwConn *conn, const char *sql, int nparams,
                            const char *const *values);
/* Runs a command that returns no rows; raises on failure. */
void pmfdw_exec_command(PmFdwConn *conn, const char *sql);
/* Raises the remote error (clears res).  SQLSTATE of the remote, or 08006 on a lost link. */
void pmfdw_report(int elevel, PGresult *res, PmFdwConn *conn,
                  const char *sql);
/* Name of the tier (for messages). */
const char *pmfdw_conn_tier(PmFdwConn *conn);
Oid pmfdw_conn_server(PmFdwConn *conn);

/*
 * A statement run once per execution with new parameter values (nested-loop rescans,
 * batches of a join): the first execution is a plain PQexecParams; from the second on it
 * is prepared once on the connection and executed by name, so the remote plans it once.
 */
struct PmFdwStmt {
    int executions;
    bool prepared;
    char name[32];
};
/* Runs `sql` with text parameters; returns its result (caller checks and PQclear()s). */
PGresult *pmfdw_stmt_exec(PmFdwConn *conn, PmFdwStmt *stmt, const char *sql, int nparams,
                          const char *const *values);
/* DEALLOCATEs the prepared statement, if any. */
void pmfdw_stmt_release(PmFdwConn *conn, PmFdwStmt *stmt);

/* ---------------------------------------------------------------- transaction.cpp */

void pmfdw_register_xact_callbacks(void);
/* Builds the commands that bring the remote session to the local transaction state. */
void pmfdw_append_xact_begin(PmFdwXactState *xs, StringInfo sql, bool propagate_tenant);
void pmfdw_append_context(PmFdwXactState *xs, StringInfo sql);
bool pmfdw_context_changed(const PmFdwXactState *xs);

/* ---------------------------------------------------------------- deparse.cpp */

bool pmfdw_is_foreign_expr(PlannerInfo *root, RelOptInfo *baserel, Expr *expr);
bool pmfdw_is_foreign_pathkey(PlannerInfo *root, RelOptInfo *baserel, PathKey *pathkey);
Expr *pmfdw_pathkey_expr(RelOptInfo *baserel, PathKey *pathkey);

/* SELECT <retrieved> FROM <remote> [WHERE remote_conds] [ORDER BY pathkeys] [LIMIT n] */
void pmfdw_deparse_select(StringInfo buf, PlannerInfo *root, RelOptInfo *baserel,
                          Bitmapset *attrs_used, List *remote_conds, List *pathkeys,
                          bool for_update, List **retrieved_attrs, List **params_list);
void pmfdw_deparse_expr(StringInfo buf, Expr *expr, PlannerInfo *root, RelOptInfo *baserel,
                        List **params_list);
void pmfdw_append_literal(StringInfo buf, const char *value);

/* ---------------------------------------------------------------- scan.cpp / modify.cpp */

/* What planning knows about a pm_fdw base relation (RelOptInfo.fdw_private). */
struct PmFdwRelInfo {
    ForeignTable *table;
    ForeignServer *server;
    UserMapping *user;
    PmFdwOptions opts;
    List *remote_conds; /* RestrictInfos shipped in the remote WHERE */
    List *local_conds;  /* RestrictInfos evaluated locally */
    Bitmapset *attrs_used;
};
/* Is `rel` a pm_fdw foreign table planned by scan.cpp (fdw_private is a PmFdwRelInfo)? */
bool pmfdw_is_own_rel(RelOptInfo *rel);
/* The user the scan of range table entry `rti` connects as. */
UserMapping *pmfdw_exec_user(EState *estate, Index rti, Oid foreigntableid);

extern "C" {
Datum pm_fdw_handler(PG_FUNCTION_ARGS);
Datum pm_fdw_validator(PG_FUNCTION_ARGS);
}
void pmfdw_set_modify_routines(struct FdwRoutine *routine);
List *pmfdw_import_foreign_schema(struct ImportForeignSchemaStmt *stmt, Oid serverOid);

/* Fills values/nulls of `tupdesc` from row `row` of `res` (attrs in retrieved_attrs,
 * 1-based column numbers in the result in the same order). */
HeapTuple pmfdw_make_tuple(PGresult *res, int row, Relation rel, TupleDesc tupdesc,
                           AttInMetadata *attinmeta, List *retrieved_attrs,
                           MemoryContext temp_context);

/* ---------------------------------------------------------------- limit.cpp */

/* May the scan of `baserel` carry the query's LIMIT (see limit.cpp)?  Then *count (and
 * *offset, a parameter expression or nullptr) say what to append with pmfdw_append_limit. */
bool pmfdw_limit_pushable(PlannerInfo *root, RelOptInfo *baserel, Expr **count, Expr **offset);
void pmfdw_append_limit(StringInfo buf, Expr *count, Expr *offset, List **params_list);

/* ---------------------------------------------------------------- batch_join.cpp */

/* Installs the join hook that batches the keys of a local table into `= ANY($1)`. */
void pmfdw_batch_join_init(void);

/* _PG_init */
void pmfdw_init(void);

/* ---------------------------------------------------------------- link.cpp */

/* Servers of a tier, by shard: pm.fdw_tier_shards, else the single pm_tier_<tier>
 * (42704 naming the tier when it is not linked).  Array in TopTransactionContext. */
int pmfdw_tier_servers(const char *tier, Oid **servers);
