// Unit tests for the maths behind pm.engagement and pm.health_score (hand-computed cases).
#include "core/pure/engagement.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace {

using pm::engagement::HealthInputs;
using pm::engagement::Totals;
using Row = std::array<std::optional<std::int64_t>, pm::engagement::kCounterCount>;

Row row(std::int64_t sent, std::int64_t delivered, std::int64_t opened, std::int64_t clicked,
        std::int64_t replied, std::int64_t bounced, std::int64_t unsub, std::int64_t complaints)
{
    return {sent, delivered, opened, clicked, replied, bounced, unsub, complaints};
}

TEST(Engagement, RatesUseTheIndustryDenominators)
{
    Totals t;
    t.add(row(200, 180, 90, 18, 9, 20, 2, 1));
    auto r = pm::engagement::rates(t);
    EXPECT_DOUBLE_EQ(*r.delivery, 0.9);      // 180 / 200
    EXPECT_DOUBLE_EQ(*r.bounce, 0.1);        // 20 / 200
    EXPECT_DOUBLE_EQ(*r.open, 0.5);          // 90 / 180
    EXPECT_DOUBLE_EQ(*r.click, 0.1);         // 18 / 180
    EXPECT_DOUBLE_EQ(*r.reply, 0.05);        // 9 / 180
    EXPECT_DOUBLE_EQ(*r.unsubscribe, 2.0 / 180);
    EXPECT_DOUBLE_EQ(*r.complaint, 1.0 / 180);
}

TEST(Engagement, ZeroDenominatorsGiveNoRate)
{
    Totals t;
    auto r = pm::engagement::rates(t);
    EXPECT_FALSE(r.delivery);
    EXPECT_FALSE(r.open);
    t.add(row(5, 0, 0, 0, 0, 5, 0, 0)); // all bounced: nothing delivered
    r = pm::engagement::rates(t);
    EXPECT_DOUBLE_EQ(*r.bounce, 1.0);
    EXPECT_DOUBLE_EQ(*r.delivery, 0.0);
    EXPECT_FALSE(r.open);
    EXPECT_FALSE(r.complaint);
}

TEST(Engagement, NullsCountAsZero)
{
    Totals t;
    Row r = row(10, 8, 4, 0, 0, 0, 0, 0);
    r[pm::engagement::kOpened] = std::nullopt;
    t.add(r);
    EXPECT_EQ(t.sums[pm::engagement::kSent], 10);
    EXPECT_EQ(t.sums[pm::engagement::kOpened], 0);
}

TEST(Engagement, MergeEqualsAddingEveryRowToOneState)
{
    Totals serial, left, right;
    for (int i = 1; i <= 50; ++i) {
        Row r = row(i, i - 1, i / 2, i / 5, i / 10, 1, i % 3, i % 7 == 0);
        serial.add(r);
        (i % 2 ? left : right).add(r);
    }
    left.merge(right);
    EXPECT_EQ(left.sums, serial.sums);
}

TEST(Engagement, SerializationRoundTripsAndRejectsWrongSizes)
{
    Totals t;
    t.add(row(1, 2, 3, 4, 5, 6, 7, (std::int64_t(1) << 40) + 3));
    unsigned char buf[pm::engagement::kSerializedSize];
    pm::engagement::serialize(t, buf);
    Totals back = pm::engagement::deserialize(
        std::string_view(reinterpret_cast<const char *>(buf), sizeof buf));
    EXPECT_EQ(back.sums, t.sums);
    EXPECT_THROW(pm::engagement::deserialize(std::string_view("short")), std::invalid_argument);
}

TEST(Engagement, OverflowAndNegativeCountersAreErrors)
{
    Totals t;
    t.add(row(INT64_MAX, 0, 0, 0, 0, 0, 0, 0));
    EXPECT_THROW(t.add(row(1, 0, 0, 0, 0, 0, 0, 0)), std::overflow_error);
    EXPECT_EQ(t.sums[0], INT64_MAX); // a failed add leaves the sum as it was
    Totals n;
    try {
        n.add(row(1, -2, 0, 0, 0, 0, 0, 0));
        FAIL() << "a negative counter was accepted";
    } catch (const std::invalid_argument &e) {
        EXPECT_NE(std::string(e.what()).find("delivered is -2"), std::string::npos);
    }
}

HealthInputs health(std::int64_t sent, std::int64_t delivered, std::int64_t bounced,
                    std::int64_t complaints, std::int64_t replied, double progress)
{
    HealthInputs in;
    in.sent = sent;
    in.delivered = delivered;
    in.bounced = bounced;
    in.complaints = complaints;
    in.replied = replied;
    in.warmup_progress = progress;
    return in;
}

TEST(HealthScore, HandComputedCases)
{
    // Nothing sent, unwarmed: the neutral 80.
    EXPECT_EQ(pm::engagement::health_score(health(0, 0, 0, 0, 0, 0)), 80);
    // Fully warmed, clean: 80 + 5.
    EXPECT_EQ(pm::engagement::health_score(health(1000, 1000, 0, 0, 0, 100)), 85);
    // Bounces at exactly 2 %: no penalty yet.
    EXPECT_EQ(pm::engagement::health_score(health(1000, 980, 20, 0, 0, 0)), 80);
    // 4 % bounces: 1500 × 0.02 = 30 off.
    EXPECT_EQ(pm::engagement::health_score(health(1000, 960, 40, 0, 0, 0)), 50);
    // 0.3 % complaints over 1000 delivered: 20000 × 0.002 = 40 off.
    EXPECT_EQ(pm::engagement::health_score(health(1000, 1000, 0, 3, 0, 0)), 40);
    // 5 % replies: 150 × 0.05 = 7.5 → 87.5 rounds to 88.
    EXPECT_EQ(pm::engagement::health_score(health(1000, 1000, 0, 0, 50, 0)), 88);
    // Replies credit at most 15; the score at most 100.
    EXPECT_EQ(pm::engagement::health_score(health(100, 100, 0, 0, 100, 100)), 100);
    // Both penalties capped at 60 each, the score at 0.
    EXPECT_EQ(pm::engagement::health_score(health(100, 50, 50, 10, 0, 0)), 0);
    // Half-way through warmup: 80 + 2.5 rounds to 83 (half away from zero).
    EXPECT_EQ(pm::engagement::health_score(health(0, 0, 0, 0, 0, 50)), 83);
}

TEST(HealthScore, BadInputIsRejected)
{
    EXPECT_THROW(pm::engagement::health_score(health(-1, 0, 0, 0, 0, 0)), std::invalid_argument);
    EXPECT_THROW(pm::engagement::health_score(health(1, 1, 0, 0, 0, 101)), std::invalid_argument);
    EXPECT_THROW(pm::engagement::health_score(health(1, 1, 0, 0, 0, -0.5)), std::invalid_argument);
}

} // namespace
