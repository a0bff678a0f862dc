/*
 * delivery.h — what the shipper does with a sink's answer, and when it tries again.
 *
 *   2xx                                   delivered: the batch leaves the outbox
 *   3xx, 408, 425, 429, 5xx, no answer     retried after a capped, jittered backoff
 *   any other 4xx (400, 401, 404, ...)     dead letter: the batch and the answer are kept
 */
#pragma once

#include <string>
#include <vector>

namespace pm::outbox {

enum class Outcome { delivered, retry, dead_letter };

/* `status` 0 means no HTTP answer (connection refused, reset, timeout). */
Outcome classify(long status);

/* Milliseconds before attempt `failures` + 1: base·2^(failures−1), at most cap_ms, times a
 * factor in [1 − jitter, 1 + jitter) from `random01` in [0, 1); never below 1 ms. */
double retry_delay_ms(int failures, double base_ms, double cap_ms, double jitter, double random01);

/* `text` with every occurrence of every non-empty secret replaced by "***", then cut to
 * `max_bytes` (at a UTF-8 boundary) — what may be stored in status and dead letters. */
std::string redact(std::string text, const std::vector<std::string> &secrets,
                   std::size_t max_bytes = 1000);

} // namespace pm::outbox
