/* sample_cover.cpp — which samples a raw dictionary is made of (sample_cover.h). */
#include "content/pure/sample_cover.h"

#include <algorithm>
#include <cstdint>
#include <unordered_set>

namespace pm::content {

namespace {

/* Fingerprints of the 16-byte strings of some content: what a dictionary made of it
 * lets zstd match.  Only positions whose fingerprint is 0 mod 4 are kept (the same
 * strings pick the same positions in any text), a quarter of the work and memory. */
class Shingles {
public:
    static constexpr std::size_t kWidth = 16;

    void add(std::string_view content)
    {
        for_each(content, [&](std::uint64_t h) { seen_.insert(h); });
    }
    /* The share of `content`'s fingerprints already seen, in [0, 1]. */
    double covered(std::string_view content) const
    {
        std::size_t total = 0, hit = 0;
        for_each(content, [&](std::uint64_t h) {
            total++;
            hit += seen_.count(h);
        });
        return total == 0 ? 1.0 : static_cast<double>(hit) / static_cast<double>(total);
    }

private:
    template <typename F> static void for_each(std::string_view content, F &&f)
    {
        if (content.size() < kWidth)
            return;
        /* Polynomial rolling hash over a window of kWidth bytes. */
        constexpr std::uint64_t kBase = 0x100000001b3ULL;
        std::uint64_t top = 1;
        for (std::size_t i = 1; i < kWidth; i++)
            top *= kBase;
        std::uint64_t h = 0;
        for (std::size_t i = 0; i < content.size(); i++) {
            if (i >= kWidth)
                h -= top * static_cast<unsigned char>(content[i - kWidth]);
            h = h * kBase + static_cast<unsigned char>(content[i]);
            if (i + 1 >= kWidth) {
                const std::uint64_t mixed = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ULL;
                if ((mixed >> 60) % 4 == 0)
                    f(mixed);
            }
        }
    }
    std::unordered_set<std::uint64_t> seen_;
};

} // namespace

std::vector<std::size_t> covering_samples(const std::vector<std::string_view> &samples,
                                          std::size_t capacity, double covered_enough)
{
    /* Passes of rising thresholds, newest first in each: a sample joins when what is
     * chosen so far matches less than the pass's share of it.  The first pass takes
     * one message of each template (copies of a template match it far above a
     * quarter), later passes what is partly new, while there is room: a second copy
     * of a template whose tracked links make every copy a little different comes
     * after the first copy of every other template. */
    std::vector<std::size_t> chosen;
    std::vector<bool> taken(samples.size(), false);
    Shingles shingles;
    std::size_t used = 0;
    for (const double threshold : {0.25, 0.5, covered_enough}) {
        for (std::size_t i = 0; i < samples.size(); i++) {
            const std::string_view s = samples[i];
            if (taken[i] || s.empty() || used + s.size() > capacity)
                continue;
            if (!chosen.empty() && shingles.covered(s) >= threshold)
                continue;
            taken[i] = true;
            chosen.push_back(i);
            shingles.add(s);
            used += s.size();
        }
        if (threshold >= covered_enough)
            break;
    }
    /* Newest first, as the samples came: raw_content() puts the newest last. */
    std::sort(chosen.begin(), chosen.end());
    return chosen;
}

} // namespace pm::content
