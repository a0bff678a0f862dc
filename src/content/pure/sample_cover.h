/* sample_cover.h — the samples a raw dictionary is made of: enough of them to
 * cover every kind of mail a tenant sends, not the newest kind many times over.
 * Pure C++, no server headers. */
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace pm::content {

/* A sample counts as covered when this share of its 16-byte strings is in the
 * samples chosen before it (covering_samples). */
constexpr double kCoveredEnough = 0.8;

/*
 * Which samples (indexes into `samples`, newest first) make the content of a raw
 * dictionary of at most `capacity` bytes, in the order given: samples that fit and
 * of whose 16-byte strings less than a quarter, then less than half, then less
 * than `covered_enough` occur in the samples chosen before them (the first that
 * fits always).  One message per template of a tenant's campaigns,
 * instead of the newest template many times over.
 */
std::vector<std::size_t> covering_samples(const std::vector<std::string_view> &samples,
                                          std::size_t capacity, double covered_enough);

} // namespace pm::content
