/*
 * health.cpp — per-server health (a circuit breaker) shared by every backend.
 *
 * With penguinmails in shared_preload_libraries the table lives in shared memory, so
 * one backend's failed connection makes every other backend fail fast at once.  Without
 * preloading each backend keeps its own table (a NOTICE says so once, at the first
 * failure): the same behaviour, per session.
 *
 * Entries are keyed by (database, server oid); a spinlock guards the table (every
 * operation is a handful of loads and stores).  The arithmetic is in
 * fdw/common/fdw_backoff.cpp.
 */
#include "pm_fdw.h"
#include "fdw/common/fdw_backoff.h"

extern "C" {
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/timestamp.h"
}

#include <cstring>

namespace {

constexpr int kEntries = 128;
constexpr double kProbeLeaseMs = 30000.0;

struct Entry {
    Oid dbid;
    Oid serverid;
    int state;
    int failures;
    TimestampTz last_ok;
    TimestampTz retry_at;
    TimestampTz probe_started;
    double rtt_ms;
    char last_error[256];
};

struct Table {
    slock_t lock;
    Entry entries[kEntries];
};

Table *table = nullptr;
Table local_table;
bool shared = false;
bool noticed = false;
shmem_request_hook_type prev_shmem_request_hook = nullptr;
shmem_startup_hook_type prev_shmem_startup_hook = nullptr;

void request_shmem(void)
{
    if (prev_shmem_request_hook)
        prev_shmem_request_hook();
    RequestAddinShmemSpace(MAXALIGN(sizeof(Table)));
}

void startup_shmem(void)
{
    if (prev_shmem_startup_hook)
        prev_shmem_startup_hook();
    bool found = false;
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    table = static_cast<Table *>(ShmemInitStruct("pm_fdw server health", sizeof(Table), &found));
    if (!found) {
        memset(table, 0, sizeof(Table));
        SpinLockInit(&table->lock);
    }
    LWLockRelease(AddinShmemInitLock);
    shared = true;
}

Table *get_table()
{
    if (table == nullptr) {
        table = &local_table;
        SpinLockInit(&table->lock);
    }
    return table;
}

/* Under the lock. */
Entry *find(Table *t, Oid serverid, bool create)
{
    Entry *free_slot = nullptr;
    Entry *oldest_up = nullptr;
    for (int i = 0; i < kEntries; ++i) {
        Entry *e = &t->entries[i];
        if (e->serverid == serverid && e->dbid == MyDatabaseId)
            return e;
        if (e->serverid == InvalidOid) {
            if (!free_slot)
                free_slot = e;
        } else if (e->state == 0 && (!oldest_up || e->last_ok < oldest_up->last_ok)) {
            oldest_up = e;
        }
    }
    if (!create)
        return nullptr;
    Entry *e = free_slot ? free_slot : oldest_up;
    if (!e)
        return nullptr; /* every slot is a down server: do not forget one */
    memset(e, 0, sizeof(Entry));
    e->dbid = MyDatabaseId;
    e->serverid = serverid;
    return e;
}

double ms(TimestampTz t)
{
    return (double) t / 1000.0;
}

} // namespace

void pmfdw_health_preload(void)
{
    prev_shmem_request_hook = shmem_request_hook;
    shmem_request_hook = request_shmem;
    prev_shmem_startup_hook = shmem_startup_hook;
    shmem_startup_hook = startup_shmem;
}

bool pmfdw_health_shared(void)
{
    return shared;
}

PmFdwAdmission pmfdw_health_admit(Oid serverid, char *last_error, size_t len)
{
    Table *t = get_table();
    TimestampTz now = GetCurrentTimestamp();
    PmFdwAdmission result = PMFDW_GO;
    SpinLockAcquire(&t->lock);
    Entry *e = find(t, serverid, false);
    if (e != nullptr) {
        pm::fdw::Admission a =
            pm::fdw::admit(static_cast<pm::fdw::HealthState>(e->state), ms(now), ms(e->retry_at),
                           ms(e->probe_started), kProbeLeaseMs);
        if (a == pm::fdw::Admission::Probe) {
            e->state = static_cast<int>(pm::fdw::HealthState::Probing);
            e->probe_started = now;
            result = PMFDW_PROBE;
        } else if (a == pm::fdw::Admission::FailFast) {
            result = PMFDW_FAILFAST;
            if (last_error && len)
                strlcpy(last_error, e->last_error, len);
        }
    }
    SpinLockRelease(&t->lock);
    return result;
}

void pmfdw_health_ok(Oid serverid, double rtt_ms)
{
    Table *t = get_table();
    TimestampTz now = GetCurrentTimestamp();
    SpinLockAcquire(&t->lock);
    Entry *e = find(t, serverid, true);
    if (e != nullptr) {
        e->state = static_cast<int>(pm::fdw::HealthState::Up);
        e->failures = 0;
        e->last_ok = now;
        e->retry_at = 0;
        if (rtt_ms >= 0)
            e->rtt_ms = rtt_ms;
    }
    SpinLockRelease(&t->lock);
}

void pmfdw_health_failed(Oid serverid, const char *message, double retry_interval_ms,
                         double retry_max_ms)
{
    Table *t = get_table();
    TimestampTz now = GetCurrentTimestamp();
    SpinLockAcquire(&t->lock);
    Entry *e = find(t, serverid, true);
    if (e != nullptr) {
        e->failures = e->failures + 1;
        double delay = pm::fdw::backoff_ms(e->failures, retry_interval_ms, retry_max_ms);
        e->state = static_cast<int>(pm::fdw::HealthState::Down);
        e->retry_at = now + (TimestampTz) (delay * 1000.0);
        strlcpy(e->last_error, message ? message : "", sizeof(e->last_error));
    }
    SpinLockRelease(&t->lock);
    if (!shared && !noticed) {
        noticed = true;
        ereport(NOTICE,
                (errmsg("pm_fdw keeps server health per session"),
                 errdetail("penguinmails is not in shared_preload_libraries, so other sessions "
                           "will try the server themselves before failing fast."),
                 errhint("Add penguinmails to shared_preload_libraries to share it.")));
    }
}

void pmfdw_health_forget(Oid serverid)
{
    Table *t = get_table();
    SpinLockAcquire(&t->lock);
    Entry *e = find(t, serverid, false);
    if (e != nullptr)
        memset(e, 0, sizeof(Entry));
    SpinLockRelease(&t->lock);
}

void pmfdw_health_get(Oid serverid, PmFdwHealthRow *out)
{
    Table *t = get_table();
    memset(out, 0, sizeof(*out));
    SpinLockAcquire(&t->lock);
    Entry *e = find(t, serverid, false);
    if (e != nullptr) {
        out->known = true;
        out->state = e->state;
        out->failures = e->failures;
        memcpy(out->last_error, e->last_error, sizeof(out->last_error));
        out->last_ok = e->last_ok;
        out->retry_at = e->retry_at;
        out->rtt_ms = e->rtt_ms;
    }
    SpinLockRelease(&t->lock);
}

void pmfdw_init(void)
{
    if (process_shared_preload_libraries_in_progress)
        pmfdw_health_preload();
    pmfdw_batch_join_init();
}
