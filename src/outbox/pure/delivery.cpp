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
    /* 3xx too: redirects are not followed (a POST would become a GET), and a sink URL that
     * moved is a configuration to fix, not a batch to throw away. */
    if (status == 0 || status == 408 || status == 425 || status == 429 || status >= 500 ||
        status < 200 || (status >= 300 && status < 400))
        return Outcome::retry;
    return Outcome::dead_letter;
}

double retry_delay_ms(int failures, double base_ms, double cap_ms, double jitter, double random01)
{
    int exponent = failures <= 1 ? 0 : std::min(failures - 1, 60);
    double delay = std::min(cap_ms, base_ms * std::ldexp(1.0, exponent));
    jitter = std::clamp(jitter, 0.0, 1.0);
    random01 = std::clamp(random01, 0.0, 1.0);
    delay *= 1.0 - jitter + 2.0 * jitter * random01;
    return std::max(1.0, delay);
}

std::string redact(std::string text, const std::vector<std::string> &secrets, std::size_t max_bytes)
{
    /* Longest first: a secret inside a longer one ("pw" in "pw-and-more") must not leave
     * the rest of the longer one in clear. */
    std::vector<const std::string *> longest_first;
    for (const std::string &secret : secrets)
        longest_first.push_back(&secret);
    std::stable_sort(longest_first.begin(), longest_first.end(),
                     [](const std::string *a, const std::string *b) { return a->size() > b->size(); });
    for (const std::string *secret_ptr : longest_first) {
        const std::string &secret = *secret_ptr;
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
