/*
 * fdw_backoff.h — the circuit breaker's arithmetic, without PostgreSQL
 * (unit tested: tests/unit/fdw/test_fdw_backoff.cpp).
 *
 * After the n-th consecutive connection failure (n >= 1) a server is down for
 * retry_interval * 2^(n-1), capped at retry_max.  When that time has passed one caller
 * probes (state `probing`); the others keep failing fast until the probe resolves, or
 * until the probe itself is older than the probe lease (a prober that died).
 */
#pragma once

#include <cstdint>

namespace pm::fdw {

enum class HealthState : std::uint8_t { Up = 0, Down = 1, Probing = 2 };

const char *health_state_name(HealthState state) noexcept;

/* Milliseconds the server stays down after `failures` consecutive failures. */
double backoff_ms(int failures, double retry_interval_ms, double retry_max_ms) noexcept;

enum class Admission : std::uint8_t {
    Go,       /* up: connect normally */
    Probe,    /* down, retry time reached, no live probe: this caller probes */
    FailFast, /* down (or being probed by someone else): fail without connecting */
};

/* now/retry_at/probe_started in milliseconds on one clock. */
Admission admit(HealthState state, double now_ms, double retry_at_ms, double probe_started_ms,
                double probe_lease_ms) noexcept;

} // namespace pm::fdw
