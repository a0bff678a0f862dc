/* queue_shared.cpp — see queue_shared.h. */
#include "queue/shared.h"

#include "shared/boundary.h"

extern "C" {
#include "access/transam.h"
#include "access/xact.h"
#include "commands/async.h"
#include "commands/trigger.h"
#include "port/atomics.h"
#include "storage/procarray.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(pm_queue_hot_write_begin);
PG_FUNCTION_INFO_V1(pm_queue_hot_write_end);
PG_FUNCTION_INFO_V1(pm_queue_note_ready);
PG_FUNCTION_INFO_V1(pm_queue_jobs_written);
}

#include <cstring>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

namespace pm::queue_shared {
namespace {

constexpr int kSlots = 64;
constexpr std::size_t kNameLen = 64; /* queue names are at most 63 bytes (CHECK on job_queues) */
/* The safety net against writes no code path reported (see claim_hint.h). */
constexpr std::int64_t kFullScanPeriodUs = INT64_C(10) * 1000000;

struct Slot {
    slock_t lock;
    bool used;
    bool idle; /* a claim came back short since the last notifying commit */
    Oid database;
    char name[kNameLen];
    queue::HintSlot hint;
};

/* Prepared transactions whose hint changes wait for COMMIT/ROLLBACK PREPARED, which runs
 * in whatever backend: they are parked here and applied by the first claim that finds the
 * transaction no longer in progress (its outcome is then visible to new snapshots). */
constexpr int kPrepared = 64;
constexpr int kWholeDatabase = -1; /* slot of a record that invalidates every hint */

struct PreparedChange {
    bool used;
    Oid database;
    TransactionId xid;
    int slot;
    queue::HintKey key;
};

struct Shared {
    slock_t lock; /* taking a free slot; the prepared records */
    Slot slots[kSlots];
    pg_atomic_uint32 n_prepared;
    PreparedChange prepared[kPrepared];
};

Shared *shared = nullptr;
bool attach_failed = false;
std::unordered_map<std::string, int> slot_cache; /* this backend's database only */

struct Pending {
    std::vector<std::pair<int, queue::HintKey>> lowers;
    std::vector<int> woken;
    /* NOTIFYs sent at pre-commit, not when asked for: a transaction that has run NOTIFY
     * cannot be prepared, and an enqueue should not decide whether it can. */
    std::vector<std::string> notify;
    bool invalidate_database = false;
    void clear()
    {
        lowers.clear();
        woken.clear();
        notify.clear();
        invalidate_database = false;
    }
};
Pending pending;
int hot_write_depth = 0;
bool callbacks_registered = false;

void apply_pending() noexcept
{
    if (shared == nullptr)
        return;
    for (const auto &[slot, key] : pending.lowers) {
        Slot &s = shared->slots[slot];
        SpinLockAcquire(&s.lock);
        queue::lower_hint(s.hint, key);
        SpinLockRelease(&s.lock);
    }
    for (int slot : pending.woken) {
        Slot &s = shared->slots[slot];
        SpinLockAcquire(&s.lock);
        s.idle = false;
        SpinLockRelease(&s.lock);
    }
    if (pending.invalidate_database) {
        for (Slot &s : shared->slots) {
            SpinLockAcquire(&s.lock);
            if (s.used && s.database == MyDatabaseId)
                queue::invalidate_hint(s.hint);
            SpinLockRelease(&s.lock);
        }
    }
}

void apply_change(int slot, queue::HintKey key, Oid database) noexcept
{
    if (slot != kWholeDatabase) {
        Slot &s = shared->slots[slot];
        SpinLockAcquire(&s.lock);
        queue::lower_hint(s.hint, key);
        SpinLockRelease(&s.lock);
        return;
    }
    for (Slot &s : shared->slots) {
        SpinLockAcquire(&s.lock);
        if (s.used && s.database == database)
            queue::invalidate_hint(s.hint);
        SpinLockRelease(&s.lock);
    }
}

/* At PRE_PREPARE: parks this transaction's pending hint changes under its xid.  False when
 * there is no room (the caller refuses the PREPARE rather than lose them). */
bool park_for_prepare() noexcept
{
    if (shared == nullptr || (pending.lowers.empty() && !pending.invalidate_database))
        return true;
    const TransactionId xid = GetTopTransactionIdIfAny();
    if (!TransactionIdIsValid(xid))
        return true; /* wrote nothing */
    std::size_t need = pending.lowers.size() + (pending.invalidate_database ? 1 : 0);
    bool ok = true;
    SpinLockAcquire(&shared->lock);
    std::size_t free_slots = 0;
    for (const PreparedChange &p : shared->prepared)
        free_slots += p.used ? 0 : 1;
    if (free_slots < need) {
        ok = false;
    } else {
        auto put = [&](int slot, queue::HintKey key) {
            for (PreparedChange &p : shared->prepared) {
                if (!p.used) {
                    p = PreparedChange{true, MyDatabaseId, xid, slot, key};
                    return;
                }
            }
        };
        for (const auto &[slot, key] : pending.lowers)
            put(slot, key);
        if (pending.invalidate_database)
            put(kWholeDatabase, queue::kHintStart);
        pg_atomic_add_fetch_u32(&shared->n_prepared, static_cast<uint32>(need));
    }
    SpinLockRelease(&shared->lock);
    return ok;
}

/* Applies the parked changes of this database's prepared transactions that have ended.
 * Called before a claim reads its hint, so the claim starts below a job a COMMIT PREPARED
 * made ready; claims already under way are clamped by the lowering (claim_hint.h). */
void settle_prepared()
{
    if (pg_atomic_read_u32(&shared->n_prepared) == 0)
        return;
    TransactionId xids[kPrepared];
    int count = 0;
    SpinLockAcquire(&shared->lock);
    for (const PreparedChange &p : shared->prepared)
        if (p.used && p.database == MyDatabaseId)
            xids[count++] = p.xid;
    SpinLockRelease(&shared->lock);
    for (int i = 0; i < count; i++) {
        bool running = true;
        pg_call([&] { running = TransactionIdIsInProgress(xids[i]); });
        if (running)
            continue;
        PreparedChange mine[kPrepared];
        int n = 0;
        SpinLockAcquire(&shared->lock);
        for (PreparedChange &p : shared->prepared) {
            if (p.used && p.database == MyDatabaseId && p.xid == xids[i]) {
                mine[n++] = p;
                p.used = false;
            }
        }
        if (n > 0)
            pg_atomic_sub_fetch_u32(&shared->n_prepared, static_cast<uint32>(n));
        SpinLockRelease(&shared->lock);
        for (int k = 0; k < n; k++)
            apply_change(mine[k].slot, mine[k].key, mine[k].database);
    }
}

/* Runs after the commit is visible to new snapshots (CallXactCallbacks follows
 * ProcArrayEndTransaction), which is what the hint invariant needs.  Nothing here owns a
 * C++ object: ereport may leave through this frame. */
void on_xact(XactEvent event, void *) noexcept
{
    switch (event) {
    case XACT_EVENT_PRE_COMMIT:
        for (std::size_t i = 0; i < pending.notify.size(); i++)
            Async_Notify("pm_queue", pending.notify[i].c_str());
        break;
    case XACT_EVENT_PRE_PREPARE:
        if (!park_for_prepare())
            ereport(ERROR, (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
                            errmsg("cannot prepare a transaction that wrote pm_queue jobs: %d prepared "
                                   "transactions already wait to update the claim hints",
                                   kPrepared),
                            errhint("COMMIT PREPARED or ROLLBACK PREPARED the older ones first.")));
        break;
    case XACT_EVENT_COMMIT:
    case XACT_EVENT_PARALLEL_COMMIT:
        apply_pending();
        [[fallthrough]];
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT:
    case XACT_EVENT_PREPARE:
        /* A prepared transaction's changes were parked at PRE_PREPARE; its NOTIFYs are
         * dropped (workers fall back to their wait's timeout) and the idle flags stay set,
         * so the next committing enqueue wakes them. */
        pending.clear();
        hot_write_depth = 0;
        break;
    default:
        break;
    }
}

void on_subxact(SubXactEvent event, SubTransactionId, SubTransactionId, void *) noexcept
{
    /* An error inside a hot-write section: later writes of this transaction invalidate. */
    if (event == SUBXACT_EVENT_ABORT_SUB)
        hot_write_depth = 0;
}

void ensure_callbacks()
{
    if (callbacks_registered)
        return;
    pg_call([] {
        RegisterXactCallback(&on_xact, nullptr);
        RegisterSubXactCallback(&on_subxact, nullptr);
    });
    callbacks_registered = true;
}

void initialise(Shared *p) noexcept
{
    std::memset(static_cast<void *>(p), 0, sizeof(Shared));
    SpinLockInit(&p->lock);
    pg_atomic_init_u32(&p->n_prepared, 0);
    for (Slot &s : p->slots) {
        SpinLockInit(&s.lock);
        new (&s.hint) queue::HintSlot();
    }
}

Shared *attach()
{
    if (shared != nullptr || attach_failed)
        return shared;
    Shared *p = nullptr;
    try {
        pg_call([&] {
            bool found = false;
            LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
            PG_TRY();
            {
                p = static_cast<Shared *>(ShmemInitStruct("pm_queue claim hints 0.4", sizeof(Shared), &found));
                if (!found)
                    initialise(p);
            }
            PG_FINALLY();
            {
                LWLockRelease(AddinShmemInitLock);
            }
            PG_END_TRY();
        });
    } catch (const PgError &e) {
        /* Out of spare shared memory: run without hints (see the header). */
        FreeErrorData(e.edata());
        attach_failed = true;
        return nullptr;
    }
    shared = p;
    return shared;
}

std::uint32_t name_hash(std::string_view name)
{
    std::uint32_t h = 2166136261u ^ MyDatabaseId;
    for (unsigned char c : name)
        h = (h ^ c) * 16777619u;
    return h;
}

} // namespace

int slot_for(std::string_view queue)
{
    if (queue.empty() || queue.size() >= kNameLen)
        return -1;
    ensure_callbacks();
    if (attach() == nullptr)
        return -1;
    std::string key(queue);
    if (auto it = slot_cache.find(key); it != slot_cache.end())
        return it->second;
    int found = -1;
    const std::uint32_t h = name_hash(queue);
    SpinLockAcquire(&shared->lock);
    for (int i = 0; i < kSlots && found < 0; i++) {
        const int idx = static_cast<int>((h + static_cast<std::uint32_t>(i)) % kSlots);
        Slot &s = shared->slots[idx];
        if (s.used && s.database == MyDatabaseId && std::strncmp(s.name, key.c_str(), kNameLen) == 0) {
            found = idx;
        } else if (!s.used) {
            /* A new slot knows nothing: no hint, and idle so the first enqueue notifies. */
            s.used = true;
            s.idle = true;
            s.database = MyDatabaseId;
            std::memset(s.name, 0, kNameLen);
            std::memcpy(s.name, key.data(), key.size());
            new (&s.hint) queue::HintSlot();
            found = idx;
        }
    }
    SpinLockRelease(&shared->lock);
    if (found >= 0)
        slot_cache.emplace(std::move(key), found);
    return found;
}

queue::ClaimStart begin_claim(int slot)
{
    settle_prepared();
    const std::int64_t now = GetCurrentTimestamp();
    Slot &s = shared->slots[slot];
    SpinLockAcquire(&s.lock);
    queue::ClaimStart start = queue::begin_claim(s.hint, now, kFullScanPeriodUs);
    SpinLockRelease(&s.lock);
    /* This transaction's own uncommitted writes are visible to its claims but not yet in
     * the shared hint. */
    if (pending.invalidate_database) {
        start.from = queue::kHintStart;
        start.full = true;
    }
    for (const auto &[pslot, pkey] : pending.lowers)
        if (pslot == slot && pkey < start.from)
            start.from = pkey;
    return start;
}

void finish_claim(int slot, const queue::ClaimStart &start, std::optional<queue::HintKey> first_live)
{
    Slot &s = shared->slots[slot];
    SpinLockAcquire(&s.lock);
    queue::finish_claim(s.hint, start, first_live);
    SpinLockRelease(&s.lock);
}

void lower_at_commit(std::string_view queue, queue::HintKey key)
{
    const int slot = slot_for(queue);
    if (slot < 0)
        return;
    for (auto &[pslot, pkey] : pending.lowers) {
        if (pslot == slot) {
            pkey = std::min(pkey, key);
            return;
        }
    }
    pending.lowers.emplace_back(slot, key);
}

bool wake_needed(std::string_view queue)
{
    const int slot = slot_for(queue);
    if (slot < 0)
        return true;
    Slot &s = shared->slots[slot];
    SpinLockAcquire(&s.lock);
    const bool idle = s.idle;
    SpinLockRelease(&s.lock);
    if (idle)
        pending.woken.push_back(slot);
    return idle;
}

void notify_at_commit(std::string_view queue)
{
    ensure_callbacks();
    for (const std::string &q : pending.notify)
        if (q == queue)
            return;
    pending.notify.emplace_back(queue);
}

void mark_idle(std::string_view queue)
{
    const int slot = slot_for(queue);
    if (slot < 0)
        return;
    Slot &s = shared->slots[slot];
    SpinLockAcquire(&s.lock);
    s.idle = true;
    SpinLockRelease(&s.lock);
}

void hot_write_begin()
{
    ensure_callbacks();
    hot_write_depth++;
}

void hot_write_end()
{
    if (hot_write_depth > 0)
        hot_write_depth--;
}

void jobs_written_outside_api()
{
    if (hot_write_depth > 0)
        return;
    ensure_callbacks();
    /* A session that never claimed or enqueued has not attached yet: without this its
     * commit (or PREPARE) would have no hints to reset. */
    attach();
    pending.invalidate_database = true;
}

} // namespace pm::queue_shared

/* For plpgsql functions of the API that write jobs and report the effect themselves. */
extern "C" Datum pm_queue_hot_write_begin(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        pm::queue_shared::hot_write_begin();
        PG_RETURN_VOID();
    });
}

extern "C" Datum pm_queue_hot_write_end(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        pm::queue_shared::hot_write_end();
        PG_RETURN_VOID();
    });
}

/* note_ready(queue, priority, run_at): ends a hot-write section that made jobs of `queue`
 * ready at (priority, run_at) or later. */
extern "C" Datum pm_queue_note_ready(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        pm::queue_shared::hot_write_end();
        if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2)) {
            pm::queue_shared::jobs_written_outside_api();
            PG_RETURN_VOID();
        }
        const std::string_view queue = pm::to_string_view(PG_GETARG_TEXT_PP(0));
        pm::queue_shared::lower_at_commit(queue, {PG_GETARG_INT32(1), PG_GETARG_TIMESTAMPTZ(2)});
        PG_RETURN_VOID();
    });
}

/* Statement trigger on pm_queue.jobs: a write outside the API invalidates the hints. */
extern "C" Datum pm_queue_jobs_written(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        if (!CALLED_AS_TRIGGER(fcinfo))
            throw pm::SqlError(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
                               "pm_queue.jobs_written() must be called as a trigger");
        pm::queue_shared::jobs_written_outside_api();
        return PointerGetDatum(nullptr);
    });
}
