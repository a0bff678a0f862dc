/*
 * storage_key.h — content storage keys (spec/core.md §3), without PostgreSQL.
 *
 *     pmk1.<kind>.<tenant: 32 lowercase hex>.<sha-256: 64 lowercase hex>
 *
 * Everything here is plain C++17 so that the parser, the canonical body
 * encoding and the shard function can be unit-tested and fuzzed without a
 * server.  Hashing is not here on purpose: the extension must use PostgreSQL's
 * own SHA-256 (src/core/storage_key.cpp), so this file only frames the bytes.
 *
 * Everything that decides where content lives or what its key is (format,
 * body encoding, shard function) is part of the on-disk contract: changing
 * any of it changes keys or moves content between shards.  Such a change
 * needs a new key version, not an edit.
 */
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace pm::storage_key {

constexpr int kVersion = 1;
constexpr std::string_view kPrefix = "pmk1.";
constexpr std::size_t kTenantHexDigits = 32;
constexpr std::size_t kDigestHexDigits = 64;

/* Bound of storage_key_shard(): far beyond any sane number of content
 * clusters, so a larger value is a caller bug (e.g. a row count passed as
 * the shard count), not a deployment. */
constexpr std::int32_t kMaxShards = 65536;

enum class Kind : std::uint8_t { body, att, raw, arc };

using TenantId = std::array<std::uint8_t, 16>;
using Digest = std::array<std::uint8_t, 32>;

struct Key {
    int version = kVersion;
    Kind kind = Kind::body;
    TenantId tenant{};
    Digest digest{};

    bool operator==(const Key &other) const
    {
        return version == other.version && kind == other.kind && tenant == other.tenant &&
               digest == other.digest;
    }
};

std::string_view kind_name(Kind kind) noexcept;
/* Exact, case-sensitive: keys are compared as strings, so "BODY" is not a kind. */
std::optional<Kind> kind_from_name(std::string_view name) noexcept;
/* "body, att, raw, arc", for error messages. */
std::string_view kind_list() noexcept;
/* `unknown storage key kind "X"; expected one of body, att, raw, arc` */
std::string unknown_kind_message(std::string_view name);

std::string format(Kind kind, const TenantId &tenant, const Digest &digest);
std::string format(const Key &key);

/* ------------------------------------------------------------------ parse */

/* Every way a key can be malformed; the first problem found is reported. */
enum class Problem : std::uint8_t {
    none,
    empty,
    bad_byte,             /* control byte, space, DEL or non-ASCII anywhere */
    bad_prefix,           /* first part is not pmk<N> */
    unsupported_version,  /* pmk<N> with N != 1 */
    missing_parts,        /* fewer than four dot-separated parts */
    extra_parts,          /* a dot after the digest */
    bad_kind,
    tenant_length,
    tenant_uppercase,
    tenant_not_hex,
    digest_length,
    digest_trailing,      /* 64 good digits followed by more bytes */
    digest_uppercase,
    digest_not_hex,
};

struct ParseResult {
    Problem problem = Problem::none;
    /* Byte offset (0-based) of the offending byte or part in the input. */
    std::size_t offset = 0;
    /* The offending part, pointing into the parsed input. */
    std::string_view part;
    /* Number of dot-separated parts found (for missing_parts). */
    std::size_t parts_found = 0;
    Key key;

    bool ok() const noexcept { return problem == Problem::none; }
};

/* Never throws and never allocates: cheap enough for is_valid() on every row. */
ParseResult try_parse(std::string_view text) noexcept;

inline bool is_valid(std::string_view text) noexcept
{
    return try_parse(text).ok();
}

/* "invalid storage key: <what is wrong, naming the bad value>" for a failed parse. */
std::string describe(const ParseResult &result, std::string_view text);

class ParseError : public std::invalid_argument {
public:
    ParseError(Problem problem, const std::string &message)
        : std::invalid_argument(message), problem_(problem)
    {}
    Problem problem() const noexcept { return problem_; }

private:
    Problem problem_;
};

/* try_parse() + describe(), throwing ParseError for a malformed key. */
Key parse(std::string_view text);

/* --------------------------------------------------------------- helpers */

std::string to_hex(const std::uint8_t *bytes, std::size_t size);
template <std::size_t N>
std::string to_hex(const std::array<std::uint8_t, N> &bytes)
{
    return to_hex(bytes.data(), N);
}

/* Lowercase hex only (the key alphabet); false on odd length, bad digit or
 * when `hex` does not describe exactly `size` bytes. */
bool from_hex(std::string_view hex, std::uint8_t *out, std::size_t size) noexcept;

/*
 * `"value"` for messages: bytes outside printable ASCII and `"`/`\` escaped as
 * \xNN / \" / \\, cut after `max_bytes` input bytes with `..." (N bytes)`, so
 * a megabyte of garbage or a control byte never ends up raw in a log line.
 */
std::string quote_for_message(std::string_view value, std::size_t max_bytes = 40);

/* ------------------------------------------------------- body encoding */

/*
 * The bytes whose SHA-256 is a body's digest:
 *
 *     "pm.storage_key.body.v1" 0x00
 *     then for content_text, content_html, headers in that order:
 *         presence  1 byte   0x00 = SQL NULL, 0x01 = present
 *         length    8 bytes  big-endian byte count (0 when NULL)
 *         bytes     `length` bytes
 *
 * The prefix separates this hash domain from raw attachment bytes, the
 * presence byte keeps NULL apart from '', and the fixed-width lengths make the
 * part boundaries unambiguous ('ab','c' vs 'a','bc').  headers are the jsonb's
 * text output, which jsonb normalises (key order, duplicate keys, whitespace).
 * Text parts are the bytes as stored, i.e. in the database encoding: UTF-8 in
 * every PenguinMails database, so the same body has the same key in every tier.
 */
constexpr std::string_view kBodyDomain{"pm.storage_key.body.v1\0", 23};

struct BodyParts {
    std::optional<std::string_view> text;
    std::optional<std::string_view> html;
    std::optional<std::string_view> headers;
};

struct Chunk {
    const std::uint8_t *data;
    std::size_t size;
};

/*
 * The encoding as a few chunks pointing into the caller's strings, so a large
 * body is hashed in place instead of copied.  Not copyable: the chunks also
 * point into this object's own framing bytes.
 */
class BodyEncoding {
public:
    explicit BodyEncoding(const BodyParts &parts) noexcept;
    BodyEncoding(const BodyEncoding &) = delete;
    BodyEncoding &operator=(const BodyEncoding &) = delete;

    static constexpr std::size_t kMaxChunks = 7;
    std::size_t chunk_count() const noexcept { return count_; }
    const Chunk *chunks() const noexcept { return chunks_.data(); }

    /* The concatenated bytes (tests, debugging). */
    std::string bytes() const;

private:
    static constexpr std::size_t kFrameBytes = 9;
    std::array<std::uint8_t, 3 * kFrameBytes> frames_{};
    std::array<Chunk, kMaxChunks> chunks_{};
    std::size_t count_ = 0;
};

/* ---------------------------------------------------------------- shards */

/*
 * Jump consistent hash (Lamping & Veach, 2014): maps `seed` to a bucket in
 * [0, buckets) such that growing buckets from N to N+1 moves a key only into
 * the new bucket N, and only ~1/(N+1) of the keys.  buckets must be >= 1.
 */
std::int32_t jump_hash(std::uint64_t seed, std::int32_t buckets) noexcept;

/* The first 8 digest bytes, big-endian: the digest is uniform already. */
std::uint64_t shard_seed(const Digest &digest) noexcept;

/* Shard of a key's digest; shards in [1, kMaxShards] (caller validates). */
inline std::int32_t shard_of(const Digest &digest, std::int32_t shards) noexcept
{
    return jump_hash(shard_seed(digest), shards);
}

} // namespace pm::storage_key
