/*
 * transaction.cpp — remote transactions follow the local one, and carry its tenant.
 *
 * A remote transaction starts when a connection is first used in a local transaction
 * (REPEATABLE READ, or SERIALIZABLE when the local one is), savepoints are created up to
 * the local nesting level when used, released or rolled back with the local
 * subtransaction; the remote transaction commits in the local PRE_COMMIT (so a remote
 * failure aborts the local transaction) and aborts with it.
 *
 * Tenant context (spec fdw.md §1): the caller's app.current_tenant_id /
 * app.current_user_id are set transaction-locally on the remote with set_config(), sent
 * with the BEGIN and re-sent only when they change.  Without a tenant the remote gets an
 * empty tenant and pm.missing_tenant_context = 'deny', so remote RLS shows no row (what a
 * tenant-less session sees), rather than raising.
 */
#include "pm_fdw.h"
#include "fdw/common/fdw_text.h"

extern "C" {
#include "access/xact.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
}

#include <cstring>


namespace {

const char *setting(const char *name)
{
    const char *v = GetConfigOption(name, true, false);
    return v ? v : "";
}

void append_set(StringInfo sql, const char *name, const char *value)
{
    appendStringInfo(sql, "set_config('%s', ", name);
    pmfdw_append_literal(sql, value);
    appendStringInfoString(sql, ", true)");
}

} // namespace

bool pmfdw_context_changed(const PmFdwXactState *xs)
{
    if (!xs->context_sent)
        return true;
    return strcmp(xs->sent_tenant, setting("app.current_tenant_id")) != 0 ||
           strcmp(xs->sent_user, setting("app.current_user_id")) != 0;
}

void pmfdw_append_context(PmFdwXactState *xs, StringInfo sql)
{
    const char *tenant = setting("app.current_tenant_id");
    const char *user = setting("app.current_user_id");
    if (strlen(tenant) >= sizeof(xs->sent_tenant) || strlen(user) >= sizeof(xs->sent_user))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("tenant context too long to propagate to a remote tier"),
                        errdetail("app.current_tenant_id and app.current_user_id hold uuids.")));
    appendStringInfoString(sql, "SELECT ");
    append_set(sql, "app.current_tenant_id", tenant);
    appendStringInfoString(sql, ", ");
    append_set(sql, "app.current_user_id", user);
    appendStringInfoString(sql, ", ");
    append_set(sql, "pm.missing_tenant_context", tenant[0] ? "error" : "deny");
    strlcpy(xs->sent_tenant, tenant, sizeof(xs->sent_tenant));
    strlcpy(xs->sent_user, user, sizeof(xs->sent_user));
    xs->context_sent = true;
}

void pmfdw_append_xact_begin(PmFdwXactState *xs, StringInfo sql, bool propagate_tenant)
{
    int level = GetCurrentTransactionNestLevel();
    if (xs->xact_depth <= 0) {
        appendStringInfoString(sql, IsolationIsSerializable()
                                        ? "START TRANSACTION ISOLATION LEVEL SERIALIZABLE; "
                                        : "START TRANSACTION ISOLATION LEVEL REPEATABLE READ; ");
        xs->xact_depth = 1;
        xs->context_sent = false;
    }
    while (xs->xact_depth < level) {
        xs->xact_depth++;
        appendStringInfo(sql, "SAVEPOINT s%d; ", xs->xact_depth);
    }
    if (propagate_tenant && pmfdw_context_changed(xs))
        pmfdw_append_context(xs, sql);
}

namespace {

/* Best effort at abort: never raises, never waits longer than response_timeout.  A
 * statement still running remotely is not cancelled: libpq's cancel request waits for an
 * answer without a time limit, and a hung server never gives one.  Closing the connection
 * ends the remote statement and transaction just as surely. */
void abort_remote(PmFdwConn *entry, const char *sql)
{
    if (pmfdw_pgconn(entry) == nullptr)
        return;
    if (pmfdw_conn_lost(entry) || PQtransactionStatus(pmfdw_pgconn(entry)) == PQTRANS_ACTIVE) {
        pmfdw_disconnect(entry);
        return;
    }
    if (!pmfdw_exec_quietly(entry, sql))
        pmfdw_disconnect(entry);
}

PmFdwXactState *state_of(PmFdwConn *entry)
{
    return &entry->xs;
}

void xact_callback(XactEvent event, void *)
{
    if (pmfdw_connections == nullptr)
        return;
    HASH_SEQ_STATUS scan;
    PmFdwConn *entry;
    hash_seq_init(&scan, pmfdw_connections);
    while ((entry = (PmFdwConn *) hash_seq_search(&scan)) != nullptr) {
        PmFdwXactState *xs = state_of(entry);
        if (pmfdw_pgconn(entry) == nullptr || xs->xact_depth <= 0)
            continue;
        switch (event) {
        case XACT_EVENT_PARALLEL_PRE_COMMIT:
        case XACT_EVENT_PRE_COMMIT:
            pmfdw_exec_command(entry, "COMMIT TRANSACTION");
            xs->xact_depth = 0;
            xs->context_sent = false;
            break;
        case XACT_EVENT_PRE_PREPARE:
            ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                            errmsg("cannot PREPARE a transaction that used a pm_fdw tier")));
            break;
        case XACT_EVENT_PARALLEL_ABORT:
        case XACT_EVENT_ABORT:
            xs->xact_depth = 0;
            xs->context_sent = false;
            abort_remote(entry, "ABORT TRANSACTION; DEALLOCATE ALL");
            break;
        default:
            break;
        }
    }
    if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
        event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT) {
        hash_seq_init(&scan, pmfdw_connections);
        while ((entry = (PmFdwConn *) hash_seq_search(&scan)) != nullptr) {
            state_of(entry)->xact_depth = 0;
            state_of(entry)->context_sent = false;
        }
    }
}

void subxact_callback(SubXactEvent event, SubTransactionId, SubTransactionId, void *)
{
    if (pmfdw_connections == nullptr)
        return;
    if (event != SUBXACT_EVENT_PRE_COMMIT_SUB && event != SUBXACT_EVENT_ABORT_SUB)
        return;
    int level = GetCurrentTransactionNestLevel();
    HASH_SEQ_STATUS scan;
    PmFdwConn *entry;
    hash_seq_init(&scan, pmfdw_connections);
    while ((entry = (PmFdwConn *) hash_seq_search(&scan)) != nullptr) {
        PmFdwXactState *xs = state_of(entry);
        if (pmfdw_pgconn(entry) == nullptr || xs->xact_depth < level)
            continue;
        char sql[128];
        if (event == SUBXACT_EVENT_PRE_COMMIT_SUB) {
            snprintf(sql, sizeof(sql), "RELEASE SAVEPOINT s%d", level);
            pmfdw_exec_command(entry, sql);
        } else {
            snprintf(sql, sizeof(sql), "ROLLBACK TO SAVEPOINT s%d; RELEASE SAVEPOINT s%d", level,
                     level);
            /* The remote set_config() of the subtransaction is undone too. */
            xs->context_sent = false;
            abort_remote(entry, sql);
        }
        xs->xact_depth = level - 1;
    }
}

} // namespace

void pmfdw_register_xact_callbacks(void)
{
    RegisterXactCallback(xact_callback, nullptr);
    RegisterSubXactCallback(subxact_callback, nullptr);
}
