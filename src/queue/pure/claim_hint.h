/*
 * claim_hint.h — where a claim may start its scan of the ready index, without PostgreSQL.
 *
 * Claimed jobs leave index entries behind at the head of the ready index until vacuum
 * removes them, and vacuum cannot while any session holds an older snapshot: a claim that
 * starts at the head then walks every job claimed since that snapshot, and throughput
 * collapses.  A hint is a position (priority, run_at) below which no ready job that any
 * future snapshot could see exists, so a claim may start its index scan there.
 *
 * Invariant: every live ready-set entry (queued or retry_scheduled, due or not) has a key
 * >= `key`, except entries written by transactions that have not committed yet.  It holds
 * because:
 *   - a claim advances the hint only to the first live entry its own snapshot saw from its
 *     starting point (a job another claimer has locked but not committed is still live, so
 *     a rolled-back or crashed claim never leaves a job behind the hint);
 *   - every commit that makes a job ready calls lower() with the job's key, after the commit
 *     is visible; a claim whose snapshot missed that job cannot advance past it, because
 *     finish() clamps its advance to every key lowered since the claim began;
 *   - writes outside the API invalidate() the hint (a full scan comes next).
 * A full scan is also forced every `full_scan_period` as a safety net.
 *
 * Keys are (priority, run_at in microseconds); kStart/kEnd are -inf/+inf.
 */
#pragma once

#include <array>
#include <cstdint>
#include <optional>

namespace pm::queue {

struct HintKey {
    std::int32_t priority = 0;
    std::int64_t run_at = 0;
};

inline bool operator<(HintKey a, HintKey b)
{
    return a.priority != b.priority ? a.priority < b.priority : a.run_at < b.run_at;
}
inline bool operator==(HintKey a, HintKey b)
{
    return a.priority == b.priority && a.run_at == b.run_at;
}

constexpr HintKey kHintStart{INT32_MIN, INT64_MIN};
constexpr HintKey kHintEnd{INT32_MAX, INT64_MAX};

/* Lowerings remembered to clamp in-flight claims; a claim that overlapped more gives up. */
constexpr std::size_t kRecentLowerings = 8;

/* One queue's hint; lives in shared memory (trivially copyable, no pointers). */
struct HintSlot {
    bool valid = false;
    HintKey key{};
    std::uint64_t seq = 0; /* lowerings and invalidations so far */
    std::array<HintKey, kRecentLowerings> recent{};
    std::int64_t last_full_scan = INT64_MIN;
};

/* What a claim starts from. */
struct ClaimStart {
    HintKey from = kHintStart;
    std::uint64_t seq = 0;
    bool full = true;
};

/* Called under the slot's lock when a claim begins; `now` and the period in microseconds. */
ClaimStart begin_claim(HintSlot &slot, std::int64_t now, std::int64_t full_scan_period);

/* Called under the slot's lock after the claim's scan: `first_live` is the first live
 * ready-set entry the scan's snapshot saw at or after `start.from` (nullopt: none). */
void finish_claim(HintSlot &slot, const ClaimStart &start, std::optional<HintKey> first_live);

/* A committed transaction made a job ready at `key`. */
void lower_hint(HintSlot &slot, HintKey key);

/* Jobs were written outside the API: nothing is known any more. */
void invalidate_hint(HintSlot &slot);

} // namespace pm::queue
