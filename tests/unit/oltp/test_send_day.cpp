#include "oltp/pure/send_day.h"

#include <gtest/gtest.h>

using pm::oltp::utc_day;

namespace {
constexpr int64_t kDay = INT64_C(86400000000);
}

TEST(UtcDay, EpochAndItsLastMicrosecond)
{
    EXPECT_EQ(utc_day(0), 0);
    EXPECT_EQ(utc_day(kDay - 1), 0);
    EXPECT_EQ(utc_day(kDay), 1);
}

TEST(UtcDay, BeforeTheEpochFloorsToTheDayItFallsOn)
{
    EXPECT_EQ(utc_day(-1), -1);
    EXPECT_EQ(utc_day(-kDay), -1);
    EXPECT_EQ(utc_day(-kDay - 1), -2);
}

TEST(UtcDay, AKnownDate)
{
    // 2026-12-07 13:45:00 UTC: 9837 days after 2000-01-01.
    const int64_t ts = INT64_C(9837) * kDay + (13 * 3600 + 45 * 60) * INT64_C(1000000);
    EXPECT_EQ(utc_day(ts), 9837);
}

TEST(UtcDay, InfinitiesStayInfinite)
{
    EXPECT_EQ(utc_day(pm::oltp::kTimestampInfinity), pm::oltp::kDateInfinity);
    EXPECT_EQ(utc_day(pm::oltp::kTimestampMinusInfinity), pm::oltp::kDateMinusInfinity);
    EXPECT_EQ(utc_day(pm::oltp::kTimestampInfinity - 1), static_cast<int32_t>((pm::oltp::kTimestampInfinity - 1) / kDay));
}
