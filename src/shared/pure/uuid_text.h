/*
 * uuid_text.h — parsing UUID text without PostgreSQL, so the tenant-context
 * cache can validate settings cheaply and the parser can be unit tested.
 */
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pm {

using UuidBytes = std::array<std::uint8_t, 16>;

/*
 * Accepts what PostgreSQL's uuid input accepts: 32 hex digits, optionally in
 * braces, with an optional hyphen after any group of four digits (so both
 * "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11" and "a0eebc999c0b4ef8bb6d6bb9bd380a11").
 * Surrounding whitespace is not accepted.
 */
std::optional<UuidBytes> parse_uuid(std::string_view text);

/* Canonical lowercase 8-4-4-4-12 form. */
std::string format_uuid(const UuidBytes &uuid);

/* 32 lowercase hex digits, no hyphens (the storage-key form). */
std::string format_uuid_compact(const UuidBytes &uuid);

} // namespace pm
