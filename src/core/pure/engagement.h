/*
 * engagement.h — the maths of pm.engagement and pm.health_score (pure C++, unit-tested).
 *
 * Totals are plain sums of counter rows, so partial states of a parallel aggregate merge by
 * addition and serialise as eight little-endian 64-bit integers.  Rates divide by the
 * denominator the email industry uses (delivery and bounce over sent; the engagement rates
 * over delivered) and are absent, not a division error, when it is zero.
 */
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace pm::engagement {

enum Counter : std::size_t {
    kSent = 0,
    kDelivered,
    kOpened,
    kClicked,
    kReplied,
    kBounced,
    kUnsubscribed,
    kComplaints,
    kCounterCount
};

struct Totals {
    std::array<std::int64_t, kCounterCount> sums{};

    /* Adds one row; a missing (NULL) value counts as zero.  Throws std::overflow_error when
     * a sum would pass 2^63 - 1, std::invalid_argument for a negative counter. */
    void add(const std::array<std::optional<std::int64_t>, kCounterCount> &row);
    /* Merges another partial state (the combine function). */
    void merge(const Totals &other);
};

struct Rates {
    std::optional<double> delivery, bounce, open, click, reply, unsubscribe, complaint;
};

Rates rates(const Totals &t);

constexpr std::size_t kSerializedSize = kCounterCount * 8;
void serialize(const Totals &t, unsigned char out[kSerializedSize]);
/* Throws std::invalid_argument unless `bytes` is exactly kSerializedSize long. */
Totals deserialize(std::string_view bytes);

/*
 * Mailbox or domain health, 0–100 (docs/olap.md has the formula):
 *   80 − bounce penalty − complaint penalty + reply credit + warmup credit, clamped
 *   bounce penalty    = min(60, 1500 × (bounce_rate − 0.02))      past 2 % of sent
 *   complaint penalty = min(60, 20000 × (complaint_rate − 0.001)) past 0.1 % of delivered
 *   reply credit      = min(15, 150 × reply_rate)                 replies over delivered
 *   warmup credit     = 5 × warmup_progress / 100                 progress in [0, 100]
 * With nothing sent there is no evidence either way: 80 + warmup credit.
 */
struct HealthInputs {
    std::int64_t sent = 0, delivered = 0, bounced = 0, complaints = 0, replied = 0;
    double warmup_progress = 0; /* percent */
};
/* Throws std::invalid_argument for negative counts or a progress outside [0, 100]. */
int health_score(const HealthInputs &in);

} // namespace pm::engagement
