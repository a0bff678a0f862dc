/*
 * backoff.h — retry delays for pm_queue.fail(), without PostgreSQL.
 *
 *   delay = min(base * 2^exponent, max) * (1 + jitter * (2u - 1)),  u in [0, 1)
 *
 * `exponent` is the number of retries already scheduled for the job, i.e. the failed
 * attempt's number minus one: the first retry waits `base`, the second 2 * base, ...
 * Jitter spreads retries of jobs that failed together (a mailbox outage fails hundreds
 * at once) so they do not come back as one burst; jitter 0 makes the schedule exact.
 */
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace pm::queue {

struct BackoffPolicy {
    std::int64_t base_ms = 1000;
    std::int64_t max_ms = 300000;
    double jitter = 0.25; /* fraction, 0..1 */
};

/* Why a policy is unusable, or nullopt when it is fine. */
std::optional<std::string> invalid_backoff(const BackoffPolicy &policy);

/*
 * Delay in milliseconds (never negative).  `unit_random` is a uniform draw from [0, 1);
 * it only matters when jitter > 0.  Exponents below 0 count as 0; huge exponents
 * saturate at max instead of overflowing.
 */
std::int64_t backoff_delay_ms(int exponent, const BackoffPolicy &policy, double unit_random);

} // namespace pm::queue
