/* storage_key.cpp — see storage_key.h.  No PostgreSQL headers here. */
#include "core/pure/storage_key.h"

#include <cmath>
#include <cstring>

namespace pm::storage_key {

namespace {

constexpr std::array<std::string_view, 4> kKindNames = {"body", "att", "raw", "arc"};

constexpr char kHexDigits[] = "0123456789abcdef";

int lower_hex_value(char c) noexcept
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

bool is_upper_hex(char c) noexcept
{
    return c >= 'A' && c <= 'F';
}

/* Control bytes, space, DEL and non-ASCII: nothing a key ever contains, and
 * the likeliest sign of a key pasted with whitespace or mangled in transit. */
bool is_forbidden_byte(unsigned char c) noexcept
{
    return c <= 0x20 || c >= 0x7f;
}

bool all_lower_hex(std::string_view s) noexcept
{
    for (char c : s)
        if (lower_hex_value(c) < 0)
            return false;
    return true;
}

/* The first byte of a fixed-length hex field that is not lowercase hex. */
ParseResult check_hex_field(std::string_view field, std::size_t field_offset,
                            Problem uppercase, Problem not_hex) noexcept
{
    ParseResult r;
    for (std::size_t i = 0; i < field.size(); i++) {
        if (lower_hex_value(field[i]) >= 0)
            continue;
        r.problem = is_upper_hex(field[i]) ? uppercase : not_hex;
        r.offset = field_offset + i;
        r.part = field;
        return r;
    }
    return r;
}

bool is_version_prefix(std::string_view first) noexcept
{
    if (first.size() < 4 || first.size() > 12 || first.substr(0, 3) != "pmk")
        return false;
    for (char c : first.substr(3))
        if (c < '0' || c > '9')
            return false;
    return true;
}

std::string position_text(std::size_t offset)
{
    return std::to_string(offset + 1);
}

/* `kind "X"; expected one of ...`, shared by the format and parse errors. */
std::string kind_problem(std::string_view name)
{
    std::string msg = "kind " + quote_for_message(name) + "; expected one of " +
                      std::string(kind_list());
    std::string lowered(name);
    for (char &c : lowered)
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    if (lowered != name && kind_from_name(lowered))
        msg += " (kinds are lowercase)";
    return msg;
}

constexpr std::size_t kPartQuoteBytes = 72; /* a whole digest plus a few bytes */

} // namespace

std::string_view kind_name(Kind kind) noexcept
{
    return kKindNames[static_cast<std::size_t>(kind)];
}

std::optional<Kind> kind_from_name(std::string_view name) noexcept
{
    for (std::size_t i = 0; i < kKindNames.size(); i++)
        if (kKindNames[i] == name)
            return static_cast<Kind>(i);
    return std::nullopt;
}

std::string_view kind_list() noexcept
{
    return "body, att, raw, arc";
}

std::string unknown_kind_message(std::string_view name)
{
    return "unknown storage key " + kind_problem(name);
}

std::string to_hex(const std::uint8_t *bytes, std::size_t size)
{
    std::string out(size * 2, '\0');
    for (std::size_t i = 0; i < size; i++) {
        out[2 * i] = kHexDigits[bytes[i] >> 4];
        out[2 * i + 1] = kHexDigits[bytes[i] & 0x0f];
    }
    return out;
}

bool from_hex(std::string_view hex, std::uint8_t *out, std::size_t size) noexcept
{
    if (hex.size() != size * 2)
        return false;
    for (std::size_t i = 0; i < size; i++) {
        int hi = lower_hex_value(hex[2 * i]);
        int lo = lower_hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    return true;
}

std::string quote_for_message(std::string_view value, std::size_t max_bytes)
{
    const bool cut = value.size() > max_bytes;
    const std::string_view shown = cut ? value.substr(0, max_bytes) : value;
    std::string out = "\"";
    for (unsigned char c : shown) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20 || c >= 0x7f) {
            out += "\\x";
            out += kHexDigits[c >> 4];
            out += kHexDigits[c & 0x0f];
        } else {
            out += static_cast<char>(c);
        }
    }
    if (cut)
        out += "...\" (" + std::to_string(value.size()) + " bytes)";
    else
        out += '"';
    return out;
}

std::string format(Kind kind, const TenantId &tenant, const Digest &digest)
{
    std::string out;
    out.reserve(kPrefix.size() + 5 + kTenantHexDigits + 1 + kDigestHexDigits);
    out += kPrefix;
    out += kind_name(kind);
    out += '.';
    out += to_hex(tenant);
    out += '.';
    out += to_hex(digest);
    return out;
}

std::string format(const Key &key)
{
    return format(key.kind, key.tenant, key.digest);
}

ParseResult try_parse(std::string_view text) noexcept
{
    ParseResult r;
    if (text.empty()) {
        r.problem = Problem::empty;
        return r;
    }
    for (std::size_t i = 0; i < text.size(); i++) {
        if (is_forbidden_byte(static_cast<unsigned char>(text[i]))) {
            r.problem = Problem::bad_byte;
            r.offset = i;
            r.part = text.substr(i, 1);
            return r;
        }
    }

    /* Split at the first four dots; whatever follows a fourth dot is extra. */
    std::array<std::string_view, 4> parts;
    std::array<std::size_t, 4> offsets{};
    std::size_t found = 0;
    std::size_t start = 0;
    std::size_t extra_at = std::string_view::npos;
    while (found < 4) {
        std::size_t dot = text.find('.', start);
        offsets[found] = start;
        parts[found] = text.substr(start, dot == std::string_view::npos ? dot : dot - start);
        found++;
        if (dot == std::string_view::npos)
            break;
        if (found == 4) {
            extra_at = dot;
            break;
        }
        start = dot + 1;
    }
    r.parts_found = found;

    if (parts[0] != kPrefix.substr(0, kPrefix.size() - 1)) {
        r.problem = is_version_prefix(parts[0]) ? Problem::unsupported_version
                                                : Problem::bad_prefix;
        r.part = parts[0];
        return r;
    }
    if (found < 4) {
        r.problem = Problem::missing_parts;
        r.offset = text.size();
        return r;
    }

    std::optional<Kind> kind = kind_from_name(parts[1]);
    if (!kind) {
        r.problem = Problem::bad_kind;
        r.offset = offsets[1];
        r.part = parts[1];
        return r;
    }

    const std::string_view tenant = parts[2];
    if (tenant.size() != kTenantHexDigits) {
        r.problem = Problem::tenant_length;
        r.offset = offsets[2];
        r.part = tenant;
        return r;
    }
    ParseResult bad = check_hex_field(tenant, offsets[2], Problem::tenant_uppercase,
                                      Problem::tenant_not_hex);
    if (!bad.ok()) {
        bad.parts_found = found;
        return bad;
    }

    const std::string_view digest = parts[3];
    if (digest.size() > kDigestHexDigits && all_lower_hex(digest.substr(0, kDigestHexDigits))) {
        r.problem = Problem::digest_trailing;
        r.offset = offsets[3] + kDigestHexDigits;
        r.part = text.substr(r.offset);
        return r;
    }
    if (digest.size() != kDigestHexDigits) {
        r.problem = Problem::digest_length;
        r.offset = offsets[3];
        r.part = digest;
        return r;
    }
    bad = check_hex_field(digest, offsets[3], Problem::digest_uppercase, Problem::digest_not_hex);
    if (!bad.ok()) {
        bad.parts_found = found;
        return bad;
    }

    if (extra_at != std::string_view::npos) {
        r.problem = Problem::extra_parts;
        r.offset = extra_at;
        r.part = text.substr(extra_at);
        return r;
    }

    r.key.version = kVersion;
    r.key.kind = *kind;
    from_hex(tenant, r.key.tenant.data(), r.key.tenant.size());
    from_hex(digest, r.key.digest.data(), r.key.digest.size());
    return r;
}

std::string describe(const ParseResult &r, std::string_view text)
{
    std::string what;
    switch (r.problem) {
    case Problem::none:
        return {};
    case Problem::empty:
        what = "empty string; expected pmk1.<kind>.<tenant>.<digest>";
        break;
    case Problem::bad_byte: {
        const auto byte = static_cast<unsigned char>(text[r.offset]);
        what = std::string("byte 0x") + kHexDigits[byte >> 4] + kHexDigits[byte & 0x0f] +
               " at position " + position_text(r.offset) +
               " is not allowed; keys are printable ASCII without spaces";
        break;
    }
    case Problem::bad_prefix:
        what = "must start with \"pmk1.\", found " + quote_for_message(r.part, 16);
        break;
    case Problem::unsupported_version:
        what = "unsupported version " + quote_for_message(r.part, 16) +
               "; only version 1 (\"pmk1.\") is supported";
        break;
    case Problem::missing_parts: {
        static constexpr std::array<std::string_view, 4> kMissing = {
            "", "kind, tenant and digest", "tenant and digest", "digest"};
        what = "expected 4 dot-separated parts pmk1.<kind>.<tenant>.<digest>, found " +
               std::to_string(r.parts_found) + " (missing " +
               std::string(kMissing[r.parts_found < 4 ? r.parts_found : 0]) + ")";
        break;
    }
    case Problem::extra_parts:
        what = "extra part " + quote_for_message(r.part) +
               " after the digest; expected exactly 4 dot-separated parts";
        break;
    case Problem::bad_kind:
        what = "unknown " + kind_problem(r.part);
        break;
    case Problem::tenant_length:
        what = "tenant part " + quote_for_message(r.part, kPartQuoteBytes) + " has " +
               std::to_string(r.part.size()) +
               " characters; expected 32 lowercase hex digits (the tenant uuid without dashes)";
        break;
    case Problem::digest_length:
        what = "digest part " + quote_for_message(r.part, kPartQuoteBytes) + " has " +
               std::to_string(r.part.size()) +
               " characters; expected 64 lowercase hex digits (SHA-256)";
        break;
    case Problem::digest_trailing:
        what = "trailing bytes " + quote_for_message(r.part) + " after the 64-digit digest";
        break;
    case Problem::tenant_uppercase:
    case Problem::digest_uppercase:
        what = std::string(r.problem == Problem::tenant_uppercase ? "tenant" : "digest") +
               " part " + quote_for_message(r.part, kPartQuoteBytes) +
               " has uppercase hex digit " + quote_for_message(text.substr(r.offset, 1)) +
               " at position " + position_text(r.offset) + "; keys use lowercase hex";
        break;
    case Problem::tenant_not_hex:
    case Problem::digest_not_hex:
        what = std::string(r.problem == Problem::tenant_not_hex ? "tenant" : "digest") +
               " part " + quote_for_message(r.part, kPartQuoteBytes) +
               " has non-hex character " + quote_for_message(text.substr(r.offset, 1)) +
               " at position " + position_text(r.offset);
        break;
    }
    return "invalid storage key: " + what;
}

Key parse(std::string_view text)
{
    ParseResult r = try_parse(text);
    if (!r.ok())
        throw ParseError(r.problem, describe(r, text));
    return r.key;
}

BodyEncoding::BodyEncoding(const BodyParts &parts) noexcept
{
    chunks_[count_++] = {reinterpret_cast<const std::uint8_t *>(kBodyDomain.data()),
                         kBodyDomain.size()};
    const std::optional<std::string_view> *fields[3] = {&parts.text, &parts.html, &parts.headers};
    for (std::size_t f = 0; f < 3; f++) {
        std::uint8_t *frame = frames_.data() + f * kFrameBytes;
        const std::optional<std::string_view> &field = *fields[f];
        const std::uint64_t length = field ? field->size() : 0;
        frame[0] = field ? 1 : 0;
        for (int b = 0; b < 8; b++)
            frame[1 + b] = static_cast<std::uint8_t>(length >> (56 - 8 * b));
        chunks_[count_++] = {frame, kFrameBytes};
        if (length > 0)
            chunks_[count_++] = {reinterpret_cast<const std::uint8_t *>(field->data()),
                                 field->size()};
    }
}

std::string BodyEncoding::bytes() const
{
    std::string out;
    for (std::size_t i = 0; i < count_; i++)
        out.append(reinterpret_cast<const char *>(chunks_[i].data), chunks_[i].size);
    return out;
}

std::uint64_t shard_seed(const Digest &digest) noexcept
{
    std::uint64_t seed = 0;
    for (std::size_t i = 0; i < 8; i++)
        seed = seed << 8 | digest[i];
    return seed;
}

std::int32_t jump_hash(std::uint64_t seed, std::int32_t buckets) noexcept
{
    /*
     * A key sits in bucket `b` for bucket counts b+1 .. j, then jumps to j;
     * with u uniform in (0, 1] the next jump is floor((b+1)/u), which gives
     * each new bucket exactly its 1/n share.  The stream of u comes from a
     * SplitMix64 generator seeded with the key, so the walk is a pure
     * function of the seed; it takes O(log buckets) steps.
     */
    if (buckets <= 1)
        return 0;
    std::uint64_t state = seed;
    std::int64_t bucket = 0;
    for (;;) {
        state += 0x9e3779b97f4a7c15ULL;
        std::uint64_t z = state;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        const double u = static_cast<double>((z >> 11) + 1) * 0x1.0p-53; /* (0, 1] */
        const double next = std::floor(static_cast<double>(bucket + 1) / u);
        if (next >= static_cast<double>(buckets))
            return static_cast<std::int32_t>(bucket);
        bucket = static_cast<std::int64_t>(next);
    }
}

} // namespace pm::storage_key
