/*
 * rate_window.h — fixed-window rate limiting maths for pm_queue, without PostgreSQL.
 *
 * A budget of N per window allows N claims whose claim time falls in one window.
 * Windows are aligned on whole multiples of their length counted from the Unix epoch
 * (1970-01-01 00:00 UTC), so a '1 day' window is a UTC calendar day and a '1 hour'
 * window starts on the hour: every claimer computes the same window for the same
 * instant without coordination, and counters can be keyed by (key, window start).
 *
 * Times are microseconds since the PostgreSQL epoch (2000-01-01 UTC), as in a
 * TimestampTz; lengths are microseconds.
 */
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace pm::queue {

/* Microseconds between the Unix epoch and the PostgreSQL epoch. */
constexpr std::int64_t kUnixToPostgresEpochUs = INT64_C(946684800) * 1000000;

/* Shortest and longest window accepted (1 second .. 366 days). */
constexpr std::int64_t kMinWindowUs = INT64_C(1000000);
constexpr std::int64_t kMaxWindowUs = INT64_C(366) * 86400 * 1000000;

/* Why a window length is unusable, or nullopt. */
std::optional<std::string> invalid_window_length(std::int64_t length_us);

/* Start of the window containing `at` (floor, also for times before either epoch). */
std::int64_t window_start(std::int64_t at, std::int64_t length_us);

/* First instant after the window containing `at`: when its budget returns. */
std::int64_t window_end(std::int64_t at, std::int64_t length_us);

} // namespace pm::queue
