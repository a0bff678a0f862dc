/* rate_window.cpp — see rate_window.h. */
#include "queue/pure/rate_window.h"

namespace pm::queue {

std::optional<std::string> invalid_window_length(std::int64_t length_us)
{
    if (length_us < kMinWindowUs)
        return "rate window must be at least 1 second";
    if (length_us > kMaxWindowUs)
        return "rate window must be at most 366 days";
    return std::nullopt;
}

std::int64_t window_start(std::int64_t at, std::int64_t length_us)
{
    /* Shift to the Unix epoch and floor-divide; C++ division truncates toward zero. */
    const std::int64_t unix_us = at + kUnixToPostgresEpochUs;
    std::int64_t offset = unix_us % length_us;
    if (offset < 0)
        offset += length_us;
    return at - offset;
}

std::int64_t window_end(std::int64_t at, std::int64_t length_us)
{
    return window_start(at, length_us) + length_us;
}

} // namespace pm::queue
