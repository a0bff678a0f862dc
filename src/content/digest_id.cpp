/*
 * digest_id.cpp — pm_content.digest_id(digest text) → bigint: the first 16 hex
 * digits of a content digest as a signed 64-bit number, what the content-hash
 * index of content_objects holds.  Digests are SHA-256 output, uniform, so 8 bytes
 * tell rows apart about as well as 32 in an index; the full digest is compared on
 * the row.  Anything not starting with 16 lowercase hex digits is NULL (a key's
 * digest always does; the row trigger sees to that).
 */
#include "content/glue.h"

extern "C" {
PG_FUNCTION_INFO_V1(pm_content_digest_id);
}

#include <cstdint>
#include <optional>
#include <string_view>

namespace {

std::optional<std::int64_t> digest_id(std::string_view digest)
{
    if (digest.size() < 16)
        return std::nullopt;
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 16; i++) {
        const char c = digest[i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else
            return std::nullopt;
        v = (v << 4) | static_cast<std::uint64_t>(d);
    }
    return static_cast<std::int64_t>(v);
}

} // namespace

extern "C" {

/* pm_content.digest_id(digest text) RETURNS bigint, IMMUTABLE STRICT */
Datum pm_content_digest_id(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        const std::optional<std::int64_t> id =
            digest_id(pm::content_glue::varlena_view(pm::content_glue::detoast_arg(fcinfo, 0)));
        if (!id) {
            fcinfo->isnull = true;
            return (Datum) 0;
        }
        return Int64GetDatum(*id);
    });
}

} // extern "C"
