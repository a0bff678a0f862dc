/*
 * delivery.cpp — see delivery.h.
 */
#include "outbox/pure/delivery.h"

#include <algorithm>
#include <cmath>

namespace pm::outbox {

Outcome classify(long status)
{
    if (status >= 200 && status < 300)
        return Outcome::delivered;
    if (status == 0 || status == 408 || status == 425 || status == 429 || status >= 500 ||
        status < 200)
        return Outcome::retry;
    return Outcome::dead_letter;
}

double retry_delay_ms(int failures, double base_ms, double cap_ms, double jitter, double random01)
{
    int exponent = std::clamp(failures - 1, 0, 60);
    double delay = std::min(cap_ms, base_ms * std::ldexp(1.0, exponent));
    jitter = std::clamp(jitter, 0.0, 1.0);
    random01 = std::clamp(random01, 0.0, 1.0);
    delay *= 1.0 - jitter + 2.0 * jitter * random01;
    return std::max(1.0, delay);
}

std::string redact(std::string text, const std::vector<std::string> &secrets, std::size_t max_bytes)
{
    for (const std::string &secret : secrets) {
        if (secret.empty())
            continue;
        for (std::size_t at = text.find(secret); at != std::string::npos;
             at = text.find(secret, at + 3))
            text.replace(at, secret.size(), "***");
    }
    if (text.size() > max_bytes) {
        std::size_t cut = max_bytes;
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
            cut--;
        text.resize(cut);
    }
    return text;
}

} // namespace pm::outbox
