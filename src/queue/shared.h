/*
 * queue_shared.h — pm_queue's per-queue state shared by every backend of the cluster:
 * the claim hint (common/claim_hint.h) and whether workers of the queue are waiting for a
 * NOTIFY.  Attached lazily from the shared memory PostgreSQL keeps spare for extensions
 * (no shared_preload_libraries needed); when that is not available every claim is a full
 * scan and every enqueue notifies, which is correct, only slower.
 *
 * Hint changes that depend on a commit (a job made ready, writes outside the API) are
 * queued here and applied by a transaction callback after the commit is visible; those of
 * a prepared transaction are parked in shared memory under its xid and applied by the
 * first claim that finds it ended (COMMIT PREPARED runs in any backend).
 */
#pragma once

#include "queue/pure/claim_hint.h"

#include <optional>
#include <string_view>

namespace pm::queue_shared {

/* The slot of `queue` in this database, or -1 (no shared memory, or every slot taken). */
int slot_for(std::string_view queue);

queue::ClaimStart begin_claim(int slot);
void finish_claim(int slot, const queue::ClaimStart &start, std::optional<queue::HintKey> first_live);

/* At commit: a job of `queue` became ready at `key`. */
void lower_at_commit(std::string_view queue, queue::HintKey key);

/* Workers of `queue` may be waiting: true when the caller should NOTIFY (and the flag is
 * cleared when this transaction commits). */
bool wake_needed(std::string_view queue);

/* NOTIFY pm_queue (payload `queue`) when this transaction commits; never for a prepared
 * one. */
void notify_at_commit(std::string_view queue);

/* A claim of `queue` came back short: its worker may wait for a NOTIFY next. */
void mark_idle(std::string_view queue);

/* Writes to pm_queue.jobs inside a hot-write section account for their own effect on the
 * hints; any other write invalidates every hint of the database at commit. */
void hot_write_begin();
void hot_write_end();
void jobs_written_outside_api();

/* Scope of a hot-write section for C++ callers. */
class HotWrite {
public:
    HotWrite() { hot_write_begin(); }
    ~HotWrite() { hot_write_end(); }
    HotWrite(const HotWrite &) = delete;
    HotWrite &operator=(const HotWrite &) = delete;
};

} // namespace pm::queue_shared
