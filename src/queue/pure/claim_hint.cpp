/* claim_hint.cpp — see claim_hint.h. */
#include "queue/pure/claim_hint.h"

#include <algorithm>

namespace pm::queue {

ClaimStart begin_claim(HintSlot &slot, std::int64_t now, std::int64_t full_scan_period)
{
    const bool due = slot.last_full_scan == INT64_MIN || now - slot.last_full_scan >= full_scan_period ||
                     now < slot.last_full_scan;
    if (!slot.valid || due) {
        /* Stamped now, so concurrent claimers do not all take the slow road at once. */
        slot.last_full_scan = now;
        return ClaimStart{kHintStart, slot.seq, true};
    }
    return ClaimStart{slot.key, slot.seq, false};
}

void finish_claim(HintSlot &slot, const ClaimStart &start, std::optional<HintKey> first_live)
{
    if (slot.seq - start.seq > kRecentLowerings)
        return; /* too much happened meanwhile to know what the scan missed */
    HintKey k = first_live.value_or(kHintEnd);
    /* Jobs made ready since the claim began may be invisible to its snapshot. */
    for (std::uint64_t s = start.seq; s < slot.seq; s++)
        k = std::min(k, slot.recent[s % kRecentLowerings]);
    if (slot.valid) {
        slot.key = std::max(slot.key, k);
    } else if (start.full && slot.seq == start.seq) {
        slot.valid = true;
        slot.key = k;
    }
}

void lower_hint(HintSlot &slot, HintKey key)
{
    slot.recent[slot.seq % kRecentLowerings] = key;
    slot.seq++;
    if (slot.valid && key < slot.key)
        slot.key = key;
}

void invalidate_hint(HintSlot &slot)
{
    slot.recent[slot.seq % kRecentLowerings] = kHintStart;
    slot.seq++;
    slot.valid = false;
}

} // namespace pm::queue
