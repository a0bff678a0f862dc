/*
 * job_id.h — time-ordered job ids (UUID version 7, RFC 9562), without PostgreSQL.
 *
 * Random (v4) ids scatter every insert across the whole primary-key index; a queue
 * inserts and then touches its newest rows, so ids that grow with time keep those
 * inserts on the right-hand edge of the index, in pages that are already cached.
 */
#pragma once

#include "shared/pure/uuid_text.h"

#include <array>
#include <cstdint>

namespace pm::queue {

/* 48-bit big-endian Unix milliseconds, version 7, 74 random bits, RFC 4122 variant. */
UuidBytes uuid_v7(std::uint64_t unix_ms, const std::array<std::uint8_t, 10> &random);

/* The Unix milliseconds a v7 id carries. */
std::uint64_t uuid_v7_millis(const UuidBytes &id);

} // namespace pm::queue
