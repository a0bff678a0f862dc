// Partition grain arithmetic (src/core/pure/partition_bounds.cpp): UTC bounds, month ends,
// leap days, ISO weeks, integer steps, names within 63 bytes, bound text parsing.
#include "core/pure/partition_bounds.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <set>
#include <string>

namespace {

using namespace pm::partition;

constexpr std::int64_t kHour = 3600LL * 1000000LL;
constexpr std::int64_t kDay = 24 * kHour;

std::int64_t ts(int y, int m, int d, int hh = 0, int mi = 0)
{
    return days_from_civil(y, m, d) * kDay + hh * kHour + mi * 60LL * 1000000LL;
}

GrainSpec time_grain(const char *g)
{
    return parse_grain(g, ControlKind::timestamptz);
}

TEST(PartitionCivil, EpochAndRoundTripOverFourCenturies)
{
    EXPECT_EQ(days_from_civil(2000, 1, 1), 0);
    EXPECT_EQ(days_from_civil(1970, 1, 1), -10957);
    EXPECT_EQ(days_from_civil(2026, 12, 6), 9836);
    for (std::int64_t d = -146097; d <= 146097; d += 1) {
        const CivilDate c = civil_from_days(d);
        ASSERT_EQ(days_from_civil(c.year, c.month, c.day), d) << d;
    }
}

TEST(PartitionCivil, LeapYears)
{
    EXPECT_EQ(civil_from_days(days_from_civil(2024, 2, 28) + 1).day, 29);
    EXPECT_EQ(civil_from_days(days_from_civil(2023, 2, 28) + 1).month, 3);
    EXPECT_EQ(civil_from_days(days_from_civil(1900, 2, 28) + 1).month, 3); // not a leap year
    EXPECT_EQ(civil_from_days(days_from_civil(2000, 2, 28) + 1).day, 29);  // is one
}

TEST(PartitionGrain, ParsesKeywordsAndStepsAndNamesTheBadValue)
{
    EXPECT_EQ(time_grain("hour").grain, Grain::hour);
    EXPECT_EQ(parse_grain("week", ControlKind::date).grain, Grain::week);
    EXPECT_EQ(parse_grain("1000000", ControlKind::integer).step, 1000000);
    EXPECT_EQ(grain_text(parse_grain("250", ControlKind::integer)), "250");
    for (const char *bad : {"", "Day", "days", "minute", " day", "1 day"}) {
        try {
            time_grain(bad);
            ADD_FAILURE() << "accepted " << bad;
        } catch (const BadGrain &e) {
            EXPECT_NE(std::string(e.what()).find(std::string("\"") + bad + "\""), std::string::npos);
        }
    }
    EXPECT_THROW(parse_grain("hour", ControlKind::date), BadGrain);
    for (const char *bad : {"0", "-5", "1e6", "day", "99999999999999999999", "12 ", ""})
        EXPECT_THROW(parse_grain(bad, ControlKind::integer), BadGrain) << bad;
}

TEST(PartitionRange, DaysAreUtcAnd24HoursEvenOnDstDays)
{
    const GrainSpec day = time_grain("day");
    // 2026-03-29 is a DST change in Europe and 2026-11-01 in the USA: still 24 h in UTC.
    for (int dd : {29, 30}) {
        const Range r = range_of(day, ts(2026, 3, dd, 13, 5));
        EXPECT_EQ(r.lower, ts(2026, 3, dd));
        EXPECT_EQ(r.upper - r.lower, kDay);
    }
    const Range nov = range_of(day, ts(2026, 11, 1, 23, 59));
    EXPECT_EQ(nov.upper - nov.lower, kDay);
    EXPECT_EQ(range_of(day, ts(2026, 12, 6)).lower, ts(2026, 12, 6)); // lower bound inclusive
    EXPECT_EQ(range_of(day, ts(2026, 12, 7) - 1).lower, ts(2026, 12, 6));
}

TEST(PartitionRange, MonthEndsAndLeapDays)
{
    const GrainSpec month = time_grain("month");
    EXPECT_EQ(range_of(month, ts(2024, 2, 29, 23)).upper, ts(2024, 3, 1));
    EXPECT_EQ(range_of(month, ts(2023, 2, 15)).upper - ts(2023, 2, 1), 28 * kDay);
    EXPECT_EQ(range_of(month, ts(2026, 12, 31, 23)).upper, ts(2027, 1, 1));
    EXPECT_EQ(range_of(month, ts(2026, 1, 31)).upper, ts(2026, 2, 1));
    const GrainSpec year = time_grain("year");
    EXPECT_EQ(range_of(year, ts(2024, 7, 1)), (Range{ts(2024, 1, 1), ts(2025, 1, 1)}));
    EXPECT_EQ(range_of(year, ts(2024, 7, 1)).upper - ts(2024, 1, 1), 366 * kDay);
}

TEST(PartitionRange, IsoWeeksStartOnMondayAndTakeTheYearOfTheirThursday)
{
    const GrainSpec week = time_grain("week");
    // 2026-12-06 is a Sunday: its week began Monday 2026-11-30 and is ISO week 49.
    const Range r = range_of(week, ts(2026, 12, 6, 12));
    EXPECT_EQ(r.lower, ts(2026, 11, 30));
    EXPECT_EQ(partition_suffix(week, r), "_p2026w49");
    // 2027-01-01 (Friday) belongs to 2026-W53; 2024-12-30 (Monday) starts 2025-W01.
    EXPECT_EQ(partition_suffix(week, range_of(week, ts(2027, 1, 1))), "_p2026w53");
    EXPECT_EQ(partition_suffix(week, range_of(week, ts(2024, 12, 31))), "_p2025w01");
    EXPECT_EQ(partition_suffix(week, range_of(week, ts(2021, 1, 3))), "_p2020w53");
    const GrainSpec dweek = parse_grain("week", ControlKind::date);
    EXPECT_EQ(range_of(dweek, days_from_civil(2026, 12, 6)).lower, days_from_civil(2026, 11, 30));
}

TEST(PartitionRange, ConsecutiveRangesTileWithoutGapsOrOverlap)
{
    for (const char *g : {"hour", "day", "week", "month", "year"}) {
        const GrainSpec spec = time_grain(g);
        Range r = range_of(spec, ts(1999, 12, 30));
        std::set<std::string> names;
        for (int i = 0; i < 500; i++) {
            const Range next = next_range(spec, r);
            ASSERT_EQ(next.lower, r.upper) << g;
            ASSERT_LT(next.lower, next.upper) << g;
            ASSERT_TRUE(names.insert(partition_suffix(spec, r)).second) << g << " name repeats";
            r = next;
        }
    }
}

TEST(PartitionRange, HoursAndDatesBeforeTheEpoch)
{
    EXPECT_EQ(range_of(time_grain("hour"), ts(1999, 12, 31, 23, 30)).lower, ts(1999, 12, 31, 23));
    EXPECT_EQ(partition_suffix(time_grain("hour"), range_of(time_grain("hour"), ts(2026, 12, 6, 14, 1))),
              "_p2026120614");
    EXPECT_EQ(utc_day_of(-1), -1); // 1999-12-31 23:59:59.999999 UTC
    EXPECT_EQ(utc_day_of(0), 0);
    EXPECT_EQ(utc_day_of(ts(2026, 12, 6, 23, 59)), days_from_civil(2026, 12, 6));
    const GrainSpec dday = parse_grain("day", ControlKind::date);
    EXPECT_EQ(range_of(dday, -1), (Range{-1, 0}));
    EXPECT_EQ(bound_literal(dday, -1), "'1999-12-31'");
}

TEST(PartitionRange, IntegerStepsFloorNegativesAndRefuseOverflow)
{
    const GrainSpec step = parse_grain("1000", ControlKind::integer);
    EXPECT_EQ(range_of(step, 0), (Range{0, 1000}));
    EXPECT_EQ(range_of(step, 999), (Range{0, 1000}));
    EXPECT_EQ(range_of(step, -1), (Range{-1000, 0}));
    EXPECT_EQ(partition_suffix(step, range_of(step, -1)), "_pm1000");
    EXPECT_EQ(partition_suffix(step, range_of(step, 123456)), "_p123000");
    EXPECT_THROW(range_of(step, INT64_MAX), std::out_of_range);
}

TEST(PartitionName, LongParentsAreCutOnACharacterBoundaryAndStayDistinct)
{
    EXPECT_EQ(partition_name("events", "_p20261206"), "events_p20261206");
    const std::string a(60, 'a');
    const std::string b = a + "b";
    const std::string na = partition_name(a, "_p20261206");
    const std::string nb = partition_name(b, "_p20261206");
    EXPECT_LE(na.size(), 63u);
    EXPECT_NE(na, nb);
    EXPECT_EQ(na.substr(na.size() - 10), "_p20261206");
    // 30 two-byte characters: a cut never splits one.
    std::string utf;
    for (int i = 0; i < 30; i++)
        utf += "\xc3\xa9";
    const std::string nu = partition_name(utf, "_p2026w49");
    EXPECT_LE(nu.size(), 63u);
    const std::size_t tag = nu.find('_');
    EXPECT_EQ(tag % 2, 0u);
    EXPECT_EQ(default_partition_name("t"), "t_default");
}

TEST(PartitionLiteral, TimestampsAreUtcTextPostgresReadsBack)
{
    const GrainSpec day = time_grain("day");
    EXPECT_EQ(bound_literal(day, ts(2026, 12, 6)), "'2026-12-06 00:00:00+00'");
    EXPECT_EQ(bound_literal(day, ts(2026, 12, 6, 14, 30) + 5), "'2026-12-06 14:30:00.000005+00'");
    EXPECT_EQ(bound_literal(parse_grain("7", ControlKind::integer), -7), "-7");
}

TEST(PartitionBoundText, ParsesRangeAndDefaultAndRejectsTheRest)
{
    auto r = parse_bound_text("FOR VALUES FROM ('2026-12-06 00:00:00+00') TO ('2026-12-07 00:00:00+00')");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->from, "2026-12-06 00:00:00+00");
    EXPECT_EQ(r->to, "2026-12-07 00:00:00+00");
    auto n = parse_bound_text("FOR VALUES FROM ('-1000') TO (0)");
    ASSERT_TRUE(n);
    EXPECT_EQ(n->from, "-1000");
    EXPECT_EQ(n->to, "0");
    auto m = parse_bound_text("FOR VALUES FROM (MINVALUE) TO ('it''s')");
    ASSERT_TRUE(m);
    EXPECT_EQ(m->from, "MINVALUE");
    EXPECT_EQ(m->to, "it's");
    EXPECT_TRUE(parse_bound_text("DEFAULT")->is_default);
    for (const char *bad : {"", "FOR VALUES IN (1, 2)", "FOR VALUES WITH (modulus 4, remainder 0)",
                            "FOR VALUES FROM (1, 2) TO (3, 4)", "FOR VALUES FROM ('x) TO ('y')",
                            "FOR VALUES FROM (1) TO (2) trailing", "FOR VALUES FROM () TO (1)"})
        EXPECT_FALSE(parse_bound_text(bad)) << bad;
}

TEST(PartitionBoundText, FuzzedInputNeverCrashes)
{
    std::mt19937 rng(7);
    const std::string seed = "FOR VALUES FROM ('2026-12-06 00:00:00+00') TO ('2026-12-07')";
    for (int i = 0; i < 20000; i++) {
        std::string s = seed;
        const int edits = 1 + static_cast<int>(rng() % 4);
        for (int e = 0; e < edits && !s.empty(); e++) {
            const std::size_t at = rng() % s.size();
            switch (rng() % 3) {
            case 0: s[at] = static_cast<char>(rng() % 256); break;
            case 1: s.erase(at, 1 + rng() % 5); break;
            default: s.insert(at, 1, "'(),"[rng() % 4]); break;
            }
        }
        (void) parse_bound_text(s);
    }
    SUCCEED();
}

} // namespace
