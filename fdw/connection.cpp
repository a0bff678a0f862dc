/*
 * connection.cpp — connections to remote tiers: one per user mapping per backend, kept
 * across transactions, opened with a real connect_timeout (default 2 s, enforced here:
 * libpq ignores it in non-blocking mode), guarded by the server's health entry.
 *
 * Password hygiene: the password goes to libpq as a keyword value and nowhere else; any
 * message built from libpq's text is scrubbed of it (fdw/common/fdw_text.cpp) before it
 * reaches an error, a log line or pm.tier_status().
 *
 * Security (as postgres_fdw): a non-superuser must give a password in the user mapping
 * and the remote must actually have asked for it, unless a superuser set
 * password_required 'false' on the mapping.
 */
#include "pm_fdw.h"
#include "fdw/common/fdw_options.h"
#include "fdw/common/fdw_text.h"

extern "C" {
#include "access/xact.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
}

#include <cstring>


HTAB *pmfdw_connections = nullptr;

namespace {

char *unanswered_message(const PmFdwConn *entry);

/* Copies libpq's message, scrubbed of `secret`, into palloc'd memory. */
char *scrubbed(const char *message, const char *secret) noexcept
{
    const char *src = message ? message : "";
    char *out = nullptr;
    try {
        std::vector<std::string> secrets;
        if (secret && secret[0])
            secrets.emplace_back(secret);
        std::string clean = pm::fdw::trim_message(pm::fdw::scrub_secrets(src, secrets));
        out = strdup(clean.c_str());
    } catch (...) {
        out = nullptr;
    }
    if (out == nullptr)
        return pstrdup("(message withheld)");
    char *p = pstrdup(out);
    free(out);
    return p;
}

void invalidate_callback(Datum, int, uint32)
{
    if (pmfdw_connections == nullptr)
        return;
    HASH_SEQ_STATUS scan;
    PmFdwConn *entry;
    hash_seq_init(&scan, pmfdw_connections);
    while ((entry = (PmFdwConn *) hash_seq_search(&scan)) != nullptr)
        entry->invalidated = true;
}

void ensure_cache()
{
    if (pmfdw_connections != nullptr)
        return;
    HASHCTL ctl;
    memset(&ctl, 0, sizeof(ctl));
    ctl.keysize = sizeof(Oid);
    ctl.entrysize = sizeof(PmFdwConn);
    pmfdw_connections = hash_create("pm_fdw connections", 8, &ctl, HASH_ELEM | HASH_BLOBS);
    pmfdw_register_xact_callbacks();
    CacheRegisterSyscacheCallback(FOREIGNSERVEROID, invalidate_callback, (Datum) 0);
    CacheRegisterSyscacheCallback(USERMAPPINGOID, invalidate_callback, (Datum) 0);
}

pg_attribute_noreturn() void raise_unavailable(PmFdwConn *entry, const char *reason, bool fast)
{
    ereport(ERROR,
            (errcode(ERRCODE_CONNECTION_FAILURE),
             errmsg("tier \"%s\" is unavailable", entry->tier),
             errdetail("%s%s", fast ? "Failing fast while the server is down; last error: " : "",
                       reason),
             errhint("pm.tier_status() shows its state and when it is retried.")));
}

const char *option_value(List *options, const char *name)
{
    ListCell *lc;
    foreach (lc, options) {
        DefElem *def = (DefElem *) lfirst(lc);
        if (strcmp(def->defname, name) == 0)
            return defGetString(def);
    }
    return nullptr;
}

/* The option catalogue says which options are libpq's (fdw/common/fdw_options.cpp). */
bool is_libpq_option(const char *name)
{
    const pm::fdw::OptionSpec *spec = pm::fdw::find_option(name);
    return spec != nullptr && spec->libpq;
}

/*
 * Opens the connection; on failure returns nullptr and a scrubbed message in *error.
 * Waits on the latch so that a cancel or termination is honoured.
 */
PGconn *open_connection(ForeignServer *server, UserMapping *user, const PmFdwOptions *opts,
                        char **error)
{
    int n = list_length(server->options) + list_length(user->options) + 6;
    const char **keys = (const char **) palloc0(sizeof(char *) * n);
    const char **vals = (const char **) palloc0(sizeof(char *) * n);
    int i = 0;
    bool have_user = false;
    const char *password = nullptr;
    ListCell *lc;

    foreach (lc, server->options) {
        DefElem *def = (DefElem *) lfirst(lc);
        if (!is_libpq_option(def->defname) || strcmp(def->defname, "connect_timeout") == 0)
            continue;
        keys[i] = def->defname;
        vals[i++] = defGetString(def);
    }
    foreach (lc, user->options) {
        DefElem *def = (DefElem *) lfirst(lc);
        if (!is_libpq_option(def->defname))
            continue;
        if (strcmp(def->defname, "user") == 0)
            have_user = true;
        if (strcmp(def->defname, "password") == 0)
            password = defGetString(def);
        keys[i] = def->defname;
        vals[i++] = defGetString(def);
    }
    if (!have_user && OidIsValid(user->userid)) {
        /* The local role's name, never the server's OS user. */
        keys[i] = "user";
        vals[i++] = GetUserNameFromId(user->userid, false);
    }
    keys[i] = "fallback_application_name";
    vals[i++] = "pm_fdw";
    keys[i] = "client_encoding";
    vals[i++] = GetDatabaseEncodingName();
    keys[i] = nullptr;
    vals[i] = nullptr;

    const bool password_required =
        !superuser_arg(user->userid) &&
        !(option_value(user->options, "password_required") &&
          strcmp(option_value(user->options, "password_required"), "false") == 0);
    if (password_required && (password == nullptr || password[0] == '\0'))
        ereport(ERROR,
                (errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED),
                 errmsg("password is required to use tier \"%s\"", opts->tier),
                 errdetail("Non-superusers must give a password in the user mapping."),
                 errhint("ALTER USER MAPPING ... OPTIONS (ADD password '...'), or a superuser "
                         "sets password_required 'false'.")));

    PGconn *conn = PQconnectStartParams(keys, vals, 0);
    if (conn == nullptr) {
        *error = pstrdup("out of memory");
        return nullptr;
    }
    TimestampTz deadline =
        GetCurrentTimestamp() + (TimestampTz) opts->connect_timeout_s * USECS_PER_SEC;
    PostgresPollingStatusType st =
        PQstatus(conn) == CONNECTION_BAD ? PGRES_POLLING_FAILED : PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
        long remaining = (long) ((deadline - GetCurrentTimestamp()) / 1000);
        if (remaining <= 0) {
            PQfinish(conn);
            *error = psprintf("timeout expired after connect_timeout %d s", opts->connect_timeout_s);
            return nullptr;
        }
        int events = st == PGRES_POLLING_READING ? WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE;
        int rc = WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH | events,
                                   PQsocket(conn), remaining, PG_WAIT_EXTENSION);
        if (rc & WL_LATCH_SET) {
            ResetLatch(MyLatch);
            if (InterruptPending) {
                PQfinish(conn);
                CHECK_FOR_INTERRUPTS();
                *error = pstrdup("connection attempt interrupted");
                return nullptr;
            }
        }
        if (rc & events)
            st = PQconnectPoll(conn);
    }
    if (st == PGRES_POLLING_FAILED || PQstatus(conn) != CONNECTION_OK) {
        *error = scrubbed(PQerrorMessage(conn), password);
        PQfinish(conn);
        return nullptr;
    }
    if (password_required && !PQconnectionUsedPassword(conn)) {
        PQfinish(conn);
        ereport(ERROR,
                (errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED),
                 errmsg("password is required to use tier \"%s\"", opts->tier),
                 errdetail("The remote server did not ask for the password; a non-superuser may "
                           "not connect without one."),
                 errhint("Make the remote require password authentication for this role.")));
    }
    return conn;
}

void disconnect(PmFdwConn *entry)
{
    if (entry->conn)
        PQfinish(entry->conn);
    entry->conn = nullptr;
    entry->unanswered = false;
    entry->xs.xact_depth = 0;
    entry->xs.context_sent = false;
}

} // namespace

/* For transaction.cpp. */
void pmfdw_disconnect(PmFdwConn *entry)
{
    disconnect(entry);
}

PGconn *pmfdw_pgconn(PmFdwConn *conn)
{
    return conn->conn;
}

unsigned int pmfdw_next_number(PmFdwConn *conn)
{
    return ++conn->counter;
}

const char *pmfdw_conn_tier(PmFdwConn *conn)
{
    return conn->tier;
}

Oid pmfdw_conn_server(PmFdwConn *conn)
{
    return conn->serverid;
}

PmFdwConn *pmfdw_connect(ForeignServer *server, UserMapping *user, const PmFdwOptions *opts,
                         bool allow_empty)
{
    ensure_cache();
    bool found = false;
    PmFdwConn *entry = (PmFdwConn *) hash_search(pmfdw_connections, &user->umid, HASH_ENTER, &found);
    if (!found) {
        memset(((char *) entry) + sizeof(Oid), 0, sizeof(PmFdwConn) - sizeof(Oid));
    }
    entry->serverid = server->serverid;
    strlcpy(entry->tier, opts->tier, sizeof(entry->tier));
    entry->propagate_tenant = opts->propagate_tenant;
    entry->retry_interval_ms = opts->retry_interval_ms;
    entry->retry_max_ms = opts->retry_max_ms;
    entry->response_timeout_ms = opts->response_timeout_ms;

    if (entry->conn && entry->invalidated && entry->xs.xact_depth == 0)
        disconnect(entry);
    if (entry->conn && pmfdw_conn_lost(entry) && entry->xs.xact_depth == 0)
        disconnect(entry);

    for (int attempt = 0; attempt < 2; ++attempt) {
        bool probing = false;
        if (entry->xs.xact_depth == 0) {
            char last_error[256];
            last_error[0] = '\0';
            PmFdwAdmission admission = pmfdw_health_admit(server->serverid, last_error,
                                                          sizeof(last_error));
            if (admission == PMFDW_FAILFAST) {
                if (allow_empty && opts->on_unavailable_empty) {
                    ereport(WARNING,
                            (errcode(ERRCODE_CONNECTION_FAILURE),
                             errmsg("tier \"%s\" is unavailable: returning no rows", entry->tier),
                             errdetail("Last error: %s", last_error)));
                    return nullptr;
                }
                raise_unavailable(entry, last_error, true);
            }
            probing = admission == PMFDW_PROBE;
        }

        bool opened_now = false;
        TimestampTz started = GetCurrentTimestamp();
        if (entry->conn == nullptr) {
            char *error = nullptr;
            entry->invalidated = false;
            entry->xs.xact_depth = 0;
            entry->xs.context_sent = false;
            entry->conn = open_connection(server, user, opts, &error);
            if (entry->conn == nullptr) {
                pmfdw_health_failed(server->serverid, error, opts->retry_interval_ms,
                                    opts->retry_max_ms);
                if (allow_empty && opts->on_unavailable_empty) {
                    ereport(WARNING,
                            (errcode(ERRCODE_CONNECTION_FAILURE),
                             errmsg("tier \"%s\" is unavailable: returning no rows", entry->tier),
                             errdetail("%s", error)));
                    return nullptr;
                }
                raise_unavailable(entry, error, false);
            }
            opened_now = true;
        }

        /* Bring the remote session to the local transaction state in one round trip. */
        StringInfoData sql;
        initStringInfo(&sql);
        if (opened_now)
            appendStringInfoString(&sql,
                                   "SET search_path = pg_catalog; SET timezone = 'UTC'; "
                                   "SET datestyle = ISO; SET intervalstyle = postgres; "
                                   "SET extra_float_digits = 3; ");
        pmfdw_append_xact_begin(&entry->xs, &sql, entry->propagate_tenant);
        if (sql.len == 0)
            return entry;

        PGresult *res = pmfdw_exec(entry, sql.data);
        if (PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK) {
            PQclear(res);
            if (opened_now || probing || attempt > 0)
                pmfdw_health_ok(server->serverid,
                                (double) (GetCurrentTimestamp() - started) / 1000.0);
            return entry;
        }
        if (PQstatus(entry->conn) == CONNECTION_BAD && !entry->unanswered && !opened_now &&
            attempt == 0) {
            /* A cached connection the server dropped (restart): reconnect once. */
            PQclear(res);
            disconnect(entry);
            continue;
        }
        if (pmfdw_conn_lost(entry)) {
            char *error = entry->unanswered ? unanswered_message(entry)
                                            : scrubbed(PQerrorMessage(entry->conn), nullptr);
            PQclear(res);
            pmfdw_health_failed(server->serverid, error, opts->retry_interval_ms,
                                opts->retry_max_ms);
            disconnect(entry);
            raise_unavailable(entry, error, false);
        }
        entry->xs.xact_depth = 0;
        pmfdw_report(ERROR, res, entry, sql.data);
    }
    raise_unavailable(entry, "could not reconnect", false);
}

void pmfdw_sync_context(PmFdwConn *conn)
{
    if (!conn->propagate_tenant || !pmfdw_context_changed(&conn->xs))
        return;
    StringInfoData sql;
    initStringInfo(&sql);
    pmfdw_append_context(&conn->xs, &sql);
    if (sql.len > 0)
        pmfdw_exec_command(conn, sql.data);
}

namespace {

/*
 * Waits until the connection has a complete result, is broken, or has been silent for
 * response_timeout.  A stopped (SIGSTOP) or wedged server still accepts bytes on its
 * socket, so without the limit a caller would wait for ever.  `interruptible`: a
 * cancel or statement_timeout of the local query raises here; abort paths pass false.
 */
bool wait_ready(PmFdwConn *entry, bool interruptible)
{
    PGconn *conn = entry->conn;
    const bool bounded = entry->response_timeout_ms > 0;
    TimestampTz deadline = 0;
    if (bounded)
        deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
                                               (int) entry->response_timeout_ms);
    while (PQisBusy(conn)) {
        long wait_ms = -1L;
        if (bounded) {
            wait_ms = (long) ((deadline - GetCurrentTimestamp()) / 1000);
            if (wait_ms <= 0) {
                entry->unanswered = true;
                return false;
            }
        }
        int rc = WaitLatchOrSocket(MyLatch,
                                   WL_LATCH_SET | WL_SOCKET_READABLE | WL_EXIT_ON_PM_DEATH |
                                       (bounded ? WL_TIMEOUT : 0),
                                   PQsocket(conn), wait_ms, PG_WAIT_EXTENSION);
        if (rc & WL_LATCH_SET) {
            ResetLatch(MyLatch);
            if (interruptible)
                CHECK_FOR_INTERRUPTS();
        }
        if (rc & WL_SOCKET_READABLE) {
            if (!PQconsumeInput(conn))
                return false;
            /* Bytes arrived: the server is alive, the limit counts from here again. */
            if (bounded)
                deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
                                                       (int) entry->response_timeout_ms);
        }
    }
    return true;
}

char *unanswered_message(const PmFdwConn *entry)
{
    return psprintf("no answer within response_timeout (%.0f ms)", entry->response_timeout_ms);
}

} // namespace

bool pmfdw_conn_lost(const PmFdwConn *entry)
{
    return entry->conn == nullptr || entry->unanswered || PQstatus(entry->conn) == CONNECTION_BAD;
}

PGresult *pmfdw_get_result(PmFdwConn *entry)
{
    /* After a timeout the answer may still be in flight: report the failure once, then
     * "no more results", so loops draining results end. */
    if (entry->unanswered)
        return nullptr;
    if (!wait_ready(entry, true) && entry->unanswered)
        return PQmakeEmptyPGresult(entry->conn, PGRES_FATAL_ERROR);
    return PQgetResult(entry->conn);
}

bool pmfdw_exec_quietly(PmFdwConn *entry, const char *sql)
{
    if (pmfdw_conn_lost(entry) || !PQsendQuery(entry->conn, sql))
        return false;
    bool ok = true;
    for (;;) {
        if (!wait_ready(entry, false))
            return false;
        PGresult *res = PQgetResult(entry->conn);
        if (res == nullptr)
            break;
        ExecStatusType st = PQresultStatus(res);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
            ok = false;
        PQclear(res);
    }
    return ok && PQstatus(entry->conn) != CONNECTION_BAD;
}

/* All results of the command; keeps the last one (errors win). */
static PGresult *collect(PmFdwConn *entry)
{
    PGresult *last = nullptr;
    for (;;) {
        PGresult *res = pmfdw_get_result(entry);
        if (res == nullptr)
            break;
        if (last != nullptr) {
            ExecStatusType s = PQresultStatus(last);
            if (s == PGRES_FATAL_ERROR) {
                PQclear(res);
                continue;
            }
            PQclear(last);
        }
        last = res;
        if (pmfdw_conn_lost(entry))
            break;
    }
    if (last == nullptr)
        last = PQmakeEmptyPGresult(entry->conn, PGRES_FATAL_ERROR);
    return last;
}

PGresult *pmfdw_exec(PmFdwConn *entry, const char *sql)
{
    if (!PQsendQuery(entry->conn, sql))
        return PQmakeEmptyPGresult(entry->conn, PGRES_FATAL_ERROR);
    return collect(entry);
}

PGresult *pmfdw_exec_params(PmFdwConn *entry, const char *sql, int nparams,
                            const char *const *values)
{
    if (!PQsendQueryParams(entry->conn, sql, nparams, nullptr, values, nullptr, nullptr, 0))
        return PQmakeEmptyPGresult(entry->conn, PGRES_FATAL_ERROR);
    return collect(entry);
}

PGresult *pmfdw_stmt_exec(PmFdwConn *entry, PmFdwStmt *stmt, const char *sql, int nparams,
                          const char *const *values)
{
    if (++stmt->executions == 1)
        return pmfdw_exec_params(entry, sql, nparams, values);
    if (!stmt->prepared) {
        snprintf(stmt->name, sizeof(stmt->name), "pmfdw_s%u", pmfdw_next_number(entry));
        if (!PQsendPrepare(entry->conn, stmt->name, sql, nparams, nullptr))
            return PQmakeEmptyPGresult(entry->conn, PGRES_FATAL_ERROR);
        PGresult *res = collect(entry);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            return res;
        PQclear(res);
        stmt->prepared = true;
    }
    if (!PQsendQueryPrepared(entry->conn, stmt->name, nparams, values, nullptr, nullptr, 0))
        return PQmakeEmptyPGresult(entry->conn, PGRES_FATAL_ERROR);
    return collect(entry);
}

void pmfdw_stmt_release(PmFdwConn *entry, PmFdwStmt *stmt)
{
    if (!stmt->prepared)
        return;
    stmt->prepared = false;
    if (pmfdw_conn_lost(entry))
        return;
    char sql[64];
    snprintf(sql, sizeof(sql), "DEALLOCATE %s", stmt->name);
    pmfdw_exec_command(entry, sql);
}

void pmfdw_exec_command(PmFdwConn *entry, const char *sql)
{
    PGresult *res = pmfdw_exec(entry, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        pmfdw_report(ERROR, res, entry, sql);
    PQclear(res);
}

void pmfdw_report(int elevel, PGresult *res, PmFdwConn *entry, const char *sql)
{
    const bool lost = pmfdw_conn_lost(entry);
    char *primary = nullptr, *detail = nullptr, *hint = nullptr, *context = nullptr;
    int sqlstate = ERRCODE_CONNECTION_FAILURE;
    if (res) {
        const char *diag_sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        const char *p = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        const char *d = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
        const char *h = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
        const char *c = PQresultErrorField(res, PG_DIAG_CONTEXT);
        if (diag_sqlstate && !lost)
            sqlstate = MAKE_SQLSTATE(diag_sqlstate[0], diag_sqlstate[1], diag_sqlstate[2],
                                     diag_sqlstate[3], diag_sqlstate[4]);
        primary = p ? scrubbed(p, nullptr) : nullptr;
        detail = d ? scrubbed(d, nullptr) : nullptr;
        hint = h ? scrubbed(h, nullptr) : nullptr;
        context = c ? scrubbed(c, nullptr) : nullptr;
    }
    if (entry->unanswered)
        primary = unanswered_message(entry);
    else if (primary == nullptr && entry->conn)
        primary = scrubbed(PQerrorMessage(entry->conn), nullptr);
    if (res)
        PQclear(res);
    if (lost) {
        pmfdw_health_failed(entry->serverid, primary, entry->retry_interval_ms, entry->retry_max_ms);
        ereport(elevel,
                (errcode(ERRCODE_CONNECTION_FAILURE),
                 errmsg("lost the connection to tier \"%s\"", entry->tier),
                 errdetail("%s", primary ? primary : "connection broken"),
                 errhint("pm.tier_status() shows its state and when it is retried.")));
        return;
    }
    ereport(elevel,
            (errcode(sqlstate),
             errmsg("%s", primary ? primary : "remote error"),
             detail ? errdetail_internal("%s", detail) : 0,
             hint ? errhint("%s", hint) : 0,
             context ? errcontext("remote tier \"%s\": %s", entry->tier, context)
                     : errcontext("remote tier \"%s\"", entry->tier),
             sql ? errcontext("remote SQL command: %s", sql) : 0));
    if (elevel >= ERROR)
        pg_unreachable();
}
