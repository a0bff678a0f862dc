#include "core/pure/engagement.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace pm::engagement {
namespace {

const char *const kNames[kCounterCount] = {"sent",    "delivered", "opened",       "clicked",
                                           "replied", "bounced",   "unsubscribed", "complaints"};

std::int64_t checked_add(std::int64_t a, std::int64_t b, std::size_t which)
{
    std::int64_t out;
    if (__builtin_add_overflow(a, b, &out))
        throw std::overflow_error(std::string("engagement: the sum of ") + kNames[which] +
                                  " passes the bigint range");
    return out;
}

std::optional<double> ratio(std::int64_t num, std::int64_t den)
{
    if (den == 0)
        return std::nullopt;
    return static_cast<double>(num) / static_cast<double>(den);
}

} // namespace

/* Both build the new sums aside: a row that fails leaves the state as it was. */
void Totals::add(const std::array<std::optional<std::int64_t>, kCounterCount> &row)
{
    auto next = sums;
    for (std::size_t i = 0; i < kCounterCount; ++i) {
        if (!row[i])
            continue;
        if (*row[i] < 0)
            throw std::invalid_argument(std::string("engagement: ") + kNames[i] + " is " +
                                        std::to_string(*row[i]) +
                                        "; counters must not be negative");
        next[i] = checked_add(next[i], *row[i], i);
    }
    sums = next;
}

void Totals::merge(const Totals &other)
{
    auto next = sums;
    for (std::size_t i = 0; i < kCounterCount; ++i)
        next[i] = checked_add(next[i], other.sums[i], i);
    sums = next;
}

Rates rates(const Totals &t)
{
    const auto &s = t.sums;
    Rates r;
    r.delivery = ratio(s[kDelivered], s[kSent]);
    r.bounce = ratio(s[kBounced], s[kSent]);
    r.open = ratio(s[kOpened], s[kDelivered]);
    r.click = ratio(s[kClicked], s[kDelivered]);
    r.reply = ratio(s[kReplied], s[kDelivered]);
    r.unsubscribe = ratio(s[kUnsubscribed], s[kDelivered]);
    r.complaint = ratio(s[kComplaints], s[kDelivered]);
    return r;
}

void serialize(const Totals &t, unsigned char out[kSerializedSize])
{
    for (std::size_t i = 0; i < kCounterCount; ++i) {
        auto v = static_cast<std::uint64_t>(t.sums[i]);
        for (int b = 0; b < 8; ++b)
            out[i * 8 + b] = static_cast<unsigned char>(v >> (8 * b));
    }
}

Totals deserialize(std::string_view bytes)
{
    if (bytes.size() != kSerializedSize)
        throw std::invalid_argument("engagement: a serialized state is " +
                                    std::to_string(kSerializedSize) + " bytes, got " +
                                    std::to_string(bytes.size()));
    Totals t;
    for (std::size_t i = 0; i < kCounterCount; ++i) {
        std::uint64_t v = 0;
        for (int b = 7; b >= 0; --b)
            v = (v << 8) | static_cast<unsigned char>(bytes[i * 8 + b]);
        t.sums[i] = static_cast<std::int64_t>(v);
    }
    return t;
}

int health_score(const HealthInputs &in)
{
    if (in.sent < 0 || in.delivered < 0 || in.bounced < 0 || in.complaints < 0 || in.replied < 0)
        throw std::invalid_argument("health_score: counts must not be negative");
    if (!(in.warmup_progress >= 0 && in.warmup_progress <= 100))
        throw std::invalid_argument("health_score: warmup progress is " +
                                    std::to_string(in.warmup_progress) +
                                    "; expected a percentage between 0 and 100");
    double score = 80.0 + 5.0 * in.warmup_progress / 100.0;
    if (in.sent > 0) {
        double bounce_rate = static_cast<double>(in.bounced) / static_cast<double>(in.sent);
        score -= std::min(60.0, std::max(0.0, 1500.0 * (bounce_rate - 0.02)));
    }
    if (in.delivered > 0) {
        double delivered = static_cast<double>(in.delivered);
        double complaint_rate = static_cast<double>(in.complaints) / delivered;
        score -= std::min(60.0, std::max(0.0, 20000.0 * (complaint_rate - 0.001)));
        score += std::min(15.0, 150.0 * static_cast<double>(in.replied) / delivered);
    }
    return static_cast<int>(std::lround(std::clamp(score, 0.0, 100.0)));
}

} // namespace pm::engagement
