// Unit tests for pm_queue's retry backoff: min(base * 2^exponent, max) * (1 +- jitter).
#include "queue/pure/backoff.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace {

using pm::queue::backoff_delay_ms;
using pm::queue::BackoffPolicy;
using pm::queue::invalid_backoff;

TEST(QueueBackoff, DoublesFromBaseUntilTheCapWithoutJitter)
{
    const BackoffPolicy p{1000, 300000, 0.0};
    const std::int64_t expected[] = {1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000,
                                     300000, 300000};
    for (int e = 0; e < 11; e++)
        EXPECT_EQ(backoff_delay_ms(e, p, 0.99), expected[e]) << "exponent " << e;
}

TEST(QueueBackoff, JitterZeroIgnoresTheRandomDraw)
{
    const BackoffPolicy p{250, 10000, 0.0};
    for (double u : {0.0, 0.3, 0.5, 0.999999})
        EXPECT_EQ(backoff_delay_ms(3, p, u), 2000);
}

TEST(QueueBackoff, JitterStaysWithinItsBand)
{
    const BackoffPolicy p{1000, 300000, 0.25};
    EXPECT_EQ(backoff_delay_ms(2, p, 0.0), 3000);   // 4000 * 0.75
    EXPECT_EQ(backoff_delay_ms(2, p, 0.5), 4000);   // centre
    for (int i = 0; i < 1000; i++) {
        const double u = i / 1000.0;
        const std::int64_t d = backoff_delay_ms(2, p, u);
        EXPECT_GE(d, 3000);
        EXPECT_LE(d, 5000);
    }
    // Jitter applies to the capped value too (the formula caps first).
    EXPECT_EQ(backoff_delay_ms(40, p, 0.0), 225000);
}

TEST(QueueBackoff, HugeExponentsSaturateInsteadOfOverflowing)
{
    const BackoffPolicy p{3, std::numeric_limits<std::int64_t>::max() / 2, 0.0};
    EXPECT_EQ(backoff_delay_ms(10, p, 0.0), 3072);
    EXPECT_EQ(backoff_delay_ms(61, p, 0.0), p.max_ms);
    EXPECT_EQ(backoff_delay_ms(1000, p, 0.0), p.max_ms);
    EXPECT_EQ(backoff_delay_ms(std::numeric_limits<int>::max(), BackoffPolicy{1000, 5000, 0.0}, 0.0),
              5000);
}

TEST(QueueBackoff, NegativeExponentCountsAsFirstRetry)
{
    EXPECT_EQ(backoff_delay_ms(-5, BackoffPolicy{700, 9000, 0.0}, 0.0), 700);
}

TEST(QueueBackoff, ZeroBaseMeansImmediateRetry)
{
    EXPECT_EQ(backoff_delay_ms(0, BackoffPolicy{0, 0, 0.5}, 0.9), 0);
    EXPECT_EQ(backoff_delay_ms(30, BackoffPolicy{0, 1000, 0.0}, 0.0), 0);
}

TEST(QueueBackoff, OutOfRangeDrawsAreClamped)
{
    const BackoffPolicy p{1000, 1000, 1.0};
    EXPECT_EQ(backoff_delay_ms(0, p, -3.0), 0);
    EXPECT_EQ(backoff_delay_ms(0, p, 7.0), 2000);
}

TEST(QueueBackoff, ValidatesPolicies)
{
    EXPECT_FALSE(invalid_backoff(BackoffPolicy{1000, 300000, 0.25}));
    EXPECT_FALSE(invalid_backoff(BackoffPolicy{0, 0, 0.0}));
    EXPECT_TRUE(invalid_backoff(BackoffPolicy{-1, 10, 0.0}));
    EXPECT_TRUE(invalid_backoff(BackoffPolicy{100, 99, 0.0}));
    EXPECT_TRUE(invalid_backoff(BackoffPolicy{100, 200, 1.5}));
    EXPECT_TRUE(invalid_backoff(BackoffPolicy{100, 200, -0.1}));
    EXPECT_TRUE(invalid_backoff(BackoffPolicy{100, 200, std::numeric_limits<double>::quiet_NaN()}));
}

} // namespace
