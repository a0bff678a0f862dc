// Unit tests for pm_queue's time-ordered job ids (UUID version 7).
#include "queue/pure/job_id.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace {

using pm::queue::uuid_v7;
using pm::queue::uuid_v7_millis;

TEST(QueueJobId, LayoutFollowsRfc9562)
{
    const std::array<std::uint8_t, 10> ones{0xff, 0xff, 0xff, 0xff, 0xff,
                                            0xff, 0xff, 0xff, 0xff, 0xff};
    const auto id = uuid_v7(UINT64_C(0x0123456789ab), ones);
    EXPECT_EQ(pm::format_uuid(id), "01234567-89ab-7fff-bfff-ffffffffffff");
    const std::array<std::uint8_t, 10> zeros{};
    EXPECT_EQ(pm::format_uuid(uuid_v7(UINT64_C(0x0123456789ab), zeros)),
              "01234567-89ab-7000-8000-000000000000");
}

TEST(QueueJobId, MillisecondsRoundTrip)
{
    const std::array<std::uint8_t, 10> r{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    for (std::uint64_t ms : {UINT64_C(0), UINT64_C(1710078330250), UINT64_C(0xffffffffffff)})
        EXPECT_EQ(uuid_v7_millis(uuid_v7(ms, r)), ms);
}

TEST(QueueJobId, LaterMillisecondsSortAfterEarlierOnes)
{
    const std::array<std::uint8_t, 10> high{0xff, 0xff, 0xff, 0xff, 0xff,
                                            0xff, 0xff, 0xff, 0xff, 0xff};
    const std::array<std::uint8_t, 10> low{};
    const auto earlier = uuid_v7(1710078330250, high);
    const auto later = uuid_v7(1710078330251, low);
    EXPECT_TRUE(std::lexicographical_compare(earlier.begin(), earlier.end(), later.begin(),
                                             later.end()));
}

} // namespace
