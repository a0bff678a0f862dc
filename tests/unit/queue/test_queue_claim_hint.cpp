// Claim hint rules (src/queue/pure/claim_hint.cpp): a hint never passes a job a snapshot may
// not have seen, and advances only to what a claim's own scan saw.
#include "queue/pure/claim_hint.h"

#include <gtest/gtest.h>

using pm::queue::begin_claim;
using pm::queue::finish_claim;
using pm::queue::HintKey;
using pm::queue::HintSlot;
using pm::queue::invalidate_hint;
using pm::queue::kHintEnd;
using pm::queue::kHintStart;
using pm::queue::kRecentLowerings;
using pm::queue::lower_hint;

namespace {
constexpr std::int64_t kPeriod = 10'000'000;
}

TEST(ClaimHint, FirstClaimScansFromTheStartThenUsesTheHint)
{
    HintSlot slot;
    auto start = begin_claim(slot, 1000, kPeriod);
    EXPECT_TRUE(start.full);
    EXPECT_EQ(start.from, kHintStart);
    finish_claim(slot, start, HintKey{100, 500});
    start = begin_claim(slot, 2000, kPeriod);
    EXPECT_FALSE(start.full);
    EXPECT_EQ(start.from, (HintKey{100, 500}));
}

TEST(ClaimHint, AdvancesMonotonically)
{
    HintSlot slot;
    auto a = begin_claim(slot, 0, kPeriod);
    finish_claim(slot, a, HintKey{100, 50});
    auto b = begin_claim(slot, 1, kPeriod);
    auto c = begin_claim(slot, 2, kPeriod);
    finish_claim(slot, c, HintKey{100, 90});
    finish_claim(slot, b, HintKey{100, 70}); /* an older snapshot finishing late */
    EXPECT_EQ(begin_claim(slot, 3, kPeriod).from, (HintKey{100, 90}));
}

TEST(ClaimHint, EmptyReadySetMeansNothingToScanUntilAJobArrives)
{
    HintSlot slot;
    finish_claim(slot, begin_claim(slot, 0, kPeriod), std::nullopt);
    EXPECT_EQ(begin_claim(slot, 1, kPeriod).from, kHintEnd);
    lower_hint(slot, HintKey{100, 77});
    EXPECT_EQ(begin_claim(slot, 2, kPeriod).from, (HintKey{100, 77}));
}

TEST(ClaimHint, ACommitDuringAClaimClampsItsAdvance)
{
    HintSlot slot;
    finish_claim(slot, begin_claim(slot, 0, kPeriod), HintKey{100, 10});
    auto start = begin_claim(slot, 1, kPeriod);
    lower_hint(slot, HintKey{100, 20}); /* committed after the claim's snapshot */
    finish_claim(slot, start, HintKey{100, 30});
    EXPECT_EQ(begin_claim(slot, 2, kPeriod).from, (HintKey{100, 20}));
}

TEST(ClaimHint, LoweringBelowTheHintMovesItBack)
{
    HintSlot slot;
    finish_claim(slot, begin_claim(slot, 0, kPeriod), HintKey{500, 10});
    lower_hint(slot, HintKey{5, 99}); /* a more urgent job, due later */
    EXPECT_EQ(begin_claim(slot, 1, kPeriod).from, (HintKey{5, 99}));
}

TEST(ClaimHint, TooManyConcurrentLoweringsStopTheAdvance)
{
    HintSlot slot;
    finish_claim(slot, begin_claim(slot, 0, kPeriod), HintKey{100, 10});
    auto start = begin_claim(slot, 1, kPeriod);
    for (std::size_t i = 0; i <= kRecentLowerings; i++)
        lower_hint(slot, HintKey{100, 1000 + static_cast<std::int64_t>(i)});
    finish_claim(slot, start, HintKey{100, 5000});
    EXPECT_EQ(begin_claim(slot, 2, kPeriod).from, (HintKey{100, 10}));
}

TEST(ClaimHint, InvalidationForcesAFullScanAndBlocksInFlightClaims)
{
    HintSlot slot;
    finish_claim(slot, begin_claim(slot, 0, kPeriod), HintKey{100, 10});
    auto start = begin_claim(slot, 1, kPeriod);
    invalidate_hint(slot);
    finish_claim(slot, start, HintKey{100, 50});
    auto next = begin_claim(slot, 2, kPeriod);
    EXPECT_TRUE(next.full);
    EXPECT_EQ(next.from, kHintStart);
}

TEST(ClaimHint, PeriodicFullScanIsTakenByOneClaimer)
{
    HintSlot slot;
    finish_claim(slot, begin_claim(slot, 0, kPeriod), HintKey{100, 10});
    EXPECT_FALSE(begin_claim(slot, kPeriod - 1, kPeriod).full);
    EXPECT_TRUE(begin_claim(slot, kPeriod, kPeriod).full);
    EXPECT_FALSE(begin_claim(slot, kPeriod + 1, kPeriod).full);
}
