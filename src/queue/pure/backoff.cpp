/* backoff.cpp — see backoff.h. */
#include "queue/pure/backoff.h"

#include <algorithm>
#include <cmath>

namespace pm::queue {

std::optional<std::string> invalid_backoff(const BackoffPolicy &policy)
{
    if (policy.base_ms < 0)
        return "backoff base must be >= 0 ms, got " + std::to_string(policy.base_ms);
    if (policy.max_ms < policy.base_ms)
        return "backoff max (" + std::to_string(policy.max_ms) + " ms) is below its base (" +
               std::to_string(policy.base_ms) + " ms)";
    /* Written so that NaN fails too. */
    if (!(policy.jitter >= 0.0 && policy.jitter <= 1.0))
        return "backoff jitter must be between 0 and 1, got " + std::to_string(policy.jitter);
    return std::nullopt;
}

std::int64_t backoff_delay_ms(int exponent, const BackoffPolicy &policy, double unit_random)
{
    const std::int64_t base = std::max<std::int64_t>(policy.base_ms, 0);
    const std::int64_t cap = std::max<std::int64_t>(policy.max_ms, base);
    const int e = std::max(exponent, 0);

    /* base << e overflows once e reaches the number of free high bits: saturate. */
    std::int64_t raw = cap;
    if (base == 0) {
        raw = 0;
    } else if (e < 62 && base <= (cap >> e)) {
        raw = base << e;
    }

    double jitter = policy.jitter;
    if (!(jitter > 0.0))
        return raw;
    jitter = std::min(jitter, 1.0);
    const double u = std::clamp(unit_random, 0.0, 1.0);
    const double scaled = static_cast<double>(raw) * (1.0 + jitter * (2.0 * u - 1.0));
    return std::max<std::int64_t>(0, std::llround(scaled));
}

} // namespace pm::queue
