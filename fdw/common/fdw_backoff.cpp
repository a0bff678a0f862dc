/* fdw_backoff.cpp — see fdw_backoff.h. */
#include "fdw/common/fdw_backoff.h"

#include <algorithm>
#include <cmath>

namespace pm::fdw {

const char *health_state_name(HealthState state) noexcept
{
    switch (state) {
    case HealthState::Up: return "up";
    case HealthState::Down: return "down";
    case HealthState::Probing: return "probing";
    }
    return "unknown";
}

double backoff_ms(int failures, double retry_interval_ms, double retry_max_ms) noexcept
{
    if (failures < 1)
        return 0.0;
    if (!(retry_interval_ms > 0.0))
        retry_interval_ms = 1.0;
    if (retry_max_ms < retry_interval_ms)
        retry_max_ms = retry_interval_ms;
    const int doublings = std::min(failures - 1, 40);
    const double delay = retry_interval_ms * std::ldexp(1.0, doublings);
    return std::min(delay, retry_max_ms);
}

Admission admit(HealthState state, double now_ms, double retry_at_ms, double probe_started_ms,
                double probe_lease_ms) noexcept
{
    switch (state) {
    case HealthState::Up:
        return Admission::Go;
    case HealthState::Down:
        return now_ms >= retry_at_ms ? Admission::Probe : Admission::FailFast;
    case HealthState::Probing:
        return now_ms - probe_started_ms >= probe_lease_ms ? Admission::Probe
                                                           : Admission::FailFast;
    }
    return Admission::Go;
}

} // namespace pm::fdw
