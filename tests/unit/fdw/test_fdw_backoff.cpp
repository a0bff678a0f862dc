// pm_fdw circuit breaker arithmetic.
#include "fdw/common/fdw_backoff.h"

#include <gtest/gtest.h>

using namespace pm::fdw;

TEST(FdwBackoff, DoublesUpToTheCap)
{
    EXPECT_DOUBLE_EQ(backoff_ms(0, 1000, 60000), 0.0);
    EXPECT_DOUBLE_EQ(backoff_ms(1, 1000, 60000), 1000.0);
    EXPECT_DOUBLE_EQ(backoff_ms(2, 1000, 60000), 2000.0);
    EXPECT_DOUBLE_EQ(backoff_ms(3, 1000, 60000), 4000.0);
    EXPECT_DOUBLE_EQ(backoff_ms(10, 1000, 60000), 60000.0);
    EXPECT_DOUBLE_EQ(backoff_ms(1000000, 1000, 60000), 60000.0);
    // A cap below the interval is the interval.
    EXPECT_DOUBLE_EQ(backoff_ms(5, 1000, 10), 1000.0);
}

TEST(FdwBackoff, Admission)
{
    EXPECT_EQ(admit(HealthState::Up, 0, 0, 0, 100), Admission::Go);
    EXPECT_EQ(admit(HealthState::Down, 50, 100, 0, 100), Admission::FailFast);
    EXPECT_EQ(admit(HealthState::Down, 100, 100, 0, 100), Admission::Probe);
    // Someone probes: others fail fast until the lease runs out.
    EXPECT_EQ(admit(HealthState::Probing, 150, 100, 100, 1000), Admission::FailFast);
    EXPECT_EQ(admit(HealthState::Probing, 1200, 100, 100, 1000), Admission::Probe);
    EXPECT_STREQ(health_state_name(HealthState::Probing), "probing");
}
