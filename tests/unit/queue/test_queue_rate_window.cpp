// Unit tests for pm_queue's fixed rate windows and rate keys.
#include "queue/pure/rate_key.h"
#include "queue/pure/rate_window.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace {

using namespace pm::queue;

constexpr std::int64_t kSecond = 1000000;
constexpr std::int64_t kDay = 86400 * kSecond;

// 2024-03-10 13:45:30.25 UTC as microseconds since 2000-01-01 (PostgreSQL's epoch).
constexpr std::int64_t kAt = (INT64_C(1710078330) * kSecond + 250000) - kUnixToPostgresEpochUs;
constexpr std::int64_t kMidnight = INT64_C(1710028800) * kSecond - kUnixToPostgresEpochUs;

TEST(QueueRateWindow, DayWindowsAreUtcCalendarDays)
{
    EXPECT_EQ(window_start(kAt, kDay), kMidnight);
    EXPECT_EQ(window_end(kAt, kDay), kMidnight + kDay);
    EXPECT_EQ(window_start(kMidnight, kDay), kMidnight);                  // start is inclusive
    EXPECT_EQ(window_start(kMidnight - 1, kDay), kMidnight - kDay);       // ... end exclusive
}

TEST(QueueRateWindow, HourAndOddLengthsAlignOnTheUnixEpoch)
{
    const std::int64_t hour = 3600 * kSecond;
    EXPECT_EQ(window_start(kAt, hour), kMidnight + 13 * hour);
    const std::int64_t seven = 7 * kSecond;
    const std::int64_t s = window_start(kAt, seven);
    EXPECT_EQ((s + kUnixToPostgresEpochUs) % seven, 0);
    EXPECT_LE(s, kAt);
    EXPECT_GT(s + seven, kAt);
}

TEST(QueueRateWindow, EveryInstantFallsInExactlyOneWindow)
{
    const std::int64_t len = 3 * kSecond;
    for (std::int64_t t = kAt - 10 * len; t < kAt + 10 * len; t += 123457) {
        const std::int64_t s = window_start(t, len);
        EXPECT_LE(s, t);
        EXPECT_LT(t, s + len);
        EXPECT_EQ(window_start(s, len), s);
        EXPECT_EQ(window_end(t, len), s + len);
    }
}

TEST(QueueRateWindow, TimesBeforeBothEpochsFloorDownward)
{
    const std::int64_t t = -kUnixToPostgresEpochUs - 1;  // 1969-12-31 23:59:59.999999 UTC
    EXPECT_EQ(window_start(t, kDay), -kUnixToPostgresEpochUs - kDay);
    EXPECT_EQ(window_start(-1, kDay), -kDay);            // 1999-12-31
}

TEST(QueueRateWindow, WindowLengthBounds)
{
    EXPECT_TRUE(invalid_window_length(0));
    EXPECT_TRUE(invalid_window_length(-kDay));
    EXPECT_TRUE(invalid_window_length(kSecond - 1));
    EXPECT_FALSE(invalid_window_length(kSecond));
    EXPECT_FALSE(invalid_window_length(366 * kDay));
    EXPECT_TRUE(invalid_window_length(366 * kDay + 1));
}

TEST(QueueRateKey, MailboxKeysCarryAUuid)
{
    auto id = mailbox_of("mailbox:a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    ASSERT_TRUE(id.has_value());
    EXPECT_EQ(pm::format_uuid(*id), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    EXPECT_FALSE(mailbox_of("mailbox:"));
    EXPECT_FALSE(mailbox_of("mailbox:nope"));
    EXPECT_FALSE(mailbox_of("Mailbox:a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));
    EXPECT_FALSE(mailbox_of("domain:a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));
    EXPECT_FALSE(mailbox_of("mailbox:a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11:x"));
}

TEST(QueueRateKey, Validation)
{
    EXPECT_FALSE(invalid_rate_key("domain:a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));
    EXPECT_FALSE(invalid_rate_key("webhook:acme"));
    EXPECT_FALSE(invalid_rate_key("mailbox:a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));
    EXPECT_TRUE(invalid_rate_key(""));
    EXPECT_TRUE(invalid_rate_key("mailbox:12"));
    EXPECT_TRUE(invalid_rate_key(std::string(kMaxRateKeyLength + 1, 'k')));
    EXPECT_FALSE(invalid_rate_key(std::string(kMaxRateKeyLength, 'k')));
    EXPECT_TRUE(invalid_rate_key("a\nb"));
}

} // namespace
