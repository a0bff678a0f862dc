/*
 * worker.cpp — the outbox shipper: one background worker per database named in
 * pm.outbox_databases (penguinmails preloaded).  It runs shipping passes in its own short
 * transactions, sleeps pm.outbox_naptime when nothing is due, and stops at once on
 * SIGTERM (a post in progress is abandoned; its batch stays in the outbox and is sent again
 * after the restart).  The postmaster restarts it 5 s after a crash.
 */
#include "shared/boundary.h"
#include "outbox/settings.h"
#include "outbox/ship.h"

extern "C" {
#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"

PGDLLEXPORT void pm_outbox_worker_main(Datum arg);
}

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

namespace pm::outbox {

namespace {

volatile sig_atomic_t stop_requested = false;

void handle_sigterm(SIGNAL_ARGS)
{
    int saved_errno = errno;
    stop_requested = true;
    SetLatch(MyLatch);
    errno = saved_errno;
}

std::vector<std::string> database_list()
{
    std::vector<std::string> names;
    std::istringstream in(databases ? databases : "");
    std::string name;
    while (std::getline(in, name, ',')) {
        std::size_t first = name.find_first_not_of(" \t");
        std::size_t last = name.find_last_not_of(" \t");
        if (first != std::string::npos)
            names.push_back(name.substr(first, last - first + 1));
    }
    return names;
}

enum class PassEnd { idle, more_due, failed };

/* One pass; errors are logged and the transaction rolled back, the worker carries on. */
PassEnd run_pass(MemoryContext pass_context)
{
    MemoryContext caller = MemoryContextSwitchTo(pass_context);
    PassEnd end = PassEnd::failed;
    try {
        PassResult result = ship_pass(std::nullopt, 100000, PassMode::own_transactions,
                                      [] { return static_cast<bool>(stop_requested); });
        end = result.more_due ? PassEnd::more_due : PassEnd::idle;
    } catch (const PgError &e) {
        ErrorData *edata = e.edata();
        ereport(LOG, (errmsg("outbox shipper: %s", edata && edata->message ? edata->message : "error")));
        if (IsTransactionState() || IsAbortedTransactionBlockState())
            AbortCurrentTransaction();
    } catch (const std::exception &e) {
        ereport(LOG, (errmsg("outbox shipper: %s", e.what())));
        if (IsTransactionState())
            AbortCurrentTransaction();
    }
    MemoryContextSwitchTo(caller);
    MemoryContextReset(pass_context);
    return end;
}

} // namespace

void register_workers()
{
    std::vector<std::string> names = database_list();
    for (std::size_t i = 0; i < names.size(); i++) {
        if (names[i].size() >= BGW_EXTRALEN) {
            ereport(WARNING, (errmsg("pm.outbox_databases: database name \"%s\" is too long; no shipper for it",
                                     names[i].c_str())));
            continue;
        }
        BackgroundWorker worker{};
        worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
        worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
        worker.bgw_restart_time = 5;
        snprintf(worker.bgw_library_name, BGW_MAXLEN, "penguinmails");
        snprintf(worker.bgw_function_name, BGW_MAXLEN, "pm_outbox_worker_main");
        snprintf(worker.bgw_name, BGW_MAXLEN, "pm outbox shipper %s", names[i].c_str());
        snprintf(worker.bgw_type, BGW_MAXLEN, "pm outbox shipper");
        snprintf(worker.bgw_extra, BGW_EXTRALEN, "%s", names[i].c_str());
        RegisterBackgroundWorker(&worker);
    }
}

} // namespace pm::outbox

using namespace pm::outbox;

void pm_outbox_worker_main(Datum)
{
    pqsignal(SIGTERM, handle_sigterm);
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    BackgroundWorkerUnblockSignals();

    char dbname[BGW_EXTRALEN];
    snprintf(dbname, sizeof dbname, "%s", MyBgworkerEntry->bgw_extra);
    BackgroundWorkerInitializeConnection(dbname, nullptr, 0);
    pgstat_report_appname("pm outbox shipper");
    ereport(LOG, (errmsg("outbox shipper started in database \"%s\"", dbname)));

    MemoryContext pass_context =
        AllocSetContextCreate(TopMemoryContext, "pm outbox pass", ALLOCSET_DEFAULT_SIZES);
    while (!stop_requested) {
        if (ConfigReloadPending) {
            ConfigReloadPending = false;
            ProcessConfigFile(PGC_SIGHUP);
        }
        PassEnd end = run_pass(pass_context);
        if (stop_requested)
            break;
        if (end != PassEnd::more_due) {
            /* After an error, at least a second: a broken setup logs once a second, not 10 times. */
            long wait_ms = end == PassEnd::failed ? std::max(naptime_ms, 1000) : naptime_ms;
            (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, wait_ms,
                             PG_WAIT_EXTENSION);
            ResetLatch(MyLatch);
        }
    }
    ereport(LOG, (errmsg("outbox shipper in database \"%s\" stopped", dbname)));
    /* Exit code 1: the postmaster starts the worker again after bgw_restart_time.  SIGTERM
     * also comes from pg_terminate_backend() and from DROP DATABASE ... WITH (FORCE) of a
     * database that is then created again; exiting 0 would end shipping until a restart.
     * At shutdown the postmaster restarts nothing either way. */
    proc_exit(1);
}
