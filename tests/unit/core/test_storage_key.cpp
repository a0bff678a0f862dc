// Unit tests for storage keys (spec/core.md §3): format, parser and its error
// messages, canonical body encoding, shard function.
#include "core/pure/storage_key.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <vector>

namespace sk = pm::storage_key;

namespace {

const std::string kTenantHex = "a0eebc999c0b4ef8bb6d6bb9bd380a11";
// SHA-256("abc"), FIPS 180-2 test vector.
const std::string kAbcDigestHex =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

sk::TenantId tenant()
{
    sk::TenantId t{};
    EXPECT_TRUE(sk::from_hex(kTenantHex, t.data(), t.size()));
    return t;
}

sk::Digest abc_digest()
{
    sk::Digest d{};
    EXPECT_TRUE(sk::from_hex(kAbcDigestHex, d.data(), d.size()));
    return d;
}

std::string valid_key(const std::string &kind = "body")
{
    return "pmk1." + kind + "." + kTenantHex + "." + kAbcDigestHex;
}

// ------------------------------------------------------------------ format

TEST(StorageKeyFormat, MatchesTheDocumentedLayout)
{
    EXPECT_EQ(sk::format(sk::Kind::att, tenant(), abc_digest()),
              "pmk1.att.a0eebc999c0b4ef8bb6d6bb9bd380a11."
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sk::format(sk::Kind::body, tenant(), abc_digest()).size(), 107u);
    EXPECT_EQ(sk::format(sk::Kind::arc, tenant(), abc_digest()).size(), 106u);
}

TEST(StorageKeyFormat, EveryKindRoundTrips)
{
    for (sk::Kind kind : {sk::Kind::body, sk::Kind::att, sk::Kind::raw, sk::Kind::arc}) {
        const std::string key = sk::format(kind, tenant(), abc_digest());
        EXPECT_EQ(key.substr(5, sk::kind_name(kind).size()), sk::kind_name(kind));
        const sk::Key parsed = sk::parse(key);
        EXPECT_EQ(parsed.version, 1);
        EXPECT_EQ(parsed.kind, kind);
        EXPECT_EQ(parsed.tenant, tenant());
        EXPECT_EQ(parsed.digest, abc_digest());
        EXPECT_EQ(sk::format(parsed), key);
        EXPECT_TRUE(sk::is_valid(key));
    }
}

TEST(StorageKeyFormat, FormatIsDeterministicAndSensitiveToEveryField)
{
    const std::string base = sk::format(sk::Kind::raw, tenant(), abc_digest());
    EXPECT_EQ(base, sk::format(sk::Kind::raw, tenant(), abc_digest()));

    sk::TenantId other_tenant = tenant();
    other_tenant[15] ^= 1;
    sk::Digest other_digest = abc_digest();
    other_digest[31] ^= 1;
    EXPECT_NE(base, sk::format(sk::Kind::raw, other_tenant, abc_digest()));
    EXPECT_NE(base, sk::format(sk::Kind::raw, tenant(), other_digest));
    EXPECT_NE(base, sk::format(sk::Kind::arc, tenant(), abc_digest()));
}

TEST(StorageKeyKinds, NamesAreExactAndCaseSensitive)
{
    EXPECT_EQ(sk::kind_from_name("body"), sk::Kind::body);
    EXPECT_EQ(sk::kind_from_name("att"), sk::Kind::att);
    EXPECT_EQ(sk::kind_from_name("raw"), sk::Kind::raw);
    EXPECT_EQ(sk::kind_from_name("arc"), sk::Kind::arc);
    for (const char *bad : {"", "BODY", "Body", "bod", "bodyy", "attachment", " att", "att "})
        EXPECT_FALSE(sk::kind_from_name(bad).has_value()) << bad;

    EXPECT_EQ(sk::unknown_kind_message("blob"),
              "unknown storage key kind \"blob\"; expected one of body, att, raw, arc");
    EXPECT_EQ(sk::unknown_kind_message("ATT"),
              "unknown storage key kind \"ATT\"; expected one of body, att, raw, arc "
              "(kinds are lowercase)");
}

// ------------------------------------------------------------------ helpers

TEST(StorageKeyHex, EncodesLowercaseAndDecodesOnlyLowercase)
{
    const std::uint8_t bytes[] = {0x00, 0x0f, 0xa5, 0xff};
    EXPECT_EQ(sk::to_hex(bytes, sizeof bytes), "000fa5ff");

    std::uint8_t out[4] = {};
    ASSERT_TRUE(sk::from_hex("000fa5ff", out, 4));
    EXPECT_EQ(0, std::memcmp(out, bytes, 4));
    EXPECT_FALSE(sk::from_hex("000FA5FF", out, 4));  // uppercase is not the key alphabet
    EXPECT_FALSE(sk::from_hex("000fa5f", out, 4));   // odd length
    EXPECT_FALSE(sk::from_hex("000fa5ff00", out, 4)); // too long for the buffer
    EXPECT_FALSE(sk::from_hex("000fa5fg", out, 4));  // not hex
}

TEST(StorageKeyMessages, QuoteEscapesAndTruncates)
{
    EXPECT_EQ(sk::quote_for_message("abc"), "\"abc\"");
    EXPECT_EQ(sk::quote_for_message(std::string("a\0b", 3)), "\"a\\x00b\"");
    EXPECT_EQ(sk::quote_for_message("tab\there\n"), "\"tab\\x09here\\x0a\"");
    EXPECT_EQ(sk::quote_for_message("q\"b\\"), "\"q\\\"b\\\\\"");
    EXPECT_EQ(sk::quote_for_message("\xc3\xa9\x7f"), "\"\\xc3\\xa9\\x7f\"");
    EXPECT_EQ(sk::quote_for_message(std::string(41, 'x')),
              "\"" + std::string(40, 'x') + "...\" (41 bytes)");
    EXPECT_EQ(sk::quote_for_message(std::string(40, 'x')), "\"" + std::string(40, 'x') + "\"");
    EXPECT_EQ(sk::quote_for_message("abcdef", 3), "\"abc...\" (6 bytes)");
}

// ---------------------------------------------------------- malformed keys

struct Malformed {
    const char *label;
    std::string input;
    sk::Problem problem;
    std::string message;
};

std::vector<Malformed> malformed_cases()
{
    const std::string t = kTenantHex;
    const std::string d = kAbcDigestHex;
    const std::string msg = "invalid storage key: ";
    std::string upper_tenant = t;
    upper_tenant[4] = 'B'; // "a0eeBc99..."
    std::string upper_digest = d;
    upper_digest[0] = 'B';
    std::string bad_tenant = t;
    bad_tenant[31] = 'g';
    std::string bad_digest = d;
    bad_digest[10] = '-';

    return {
        {"empty", "", sk::Problem::empty,
         msg + "empty string; expected pmk1.<kind>.<tenant>.<digest>"},
        {"trailing newline", valid_key() + "\n", sk::Problem::bad_byte,
         msg + "byte 0x0a at position 108 is not allowed; keys are printable ASCII without spaces"},
        {"leading space", " " + valid_key(), sk::Problem::bad_byte,
         msg + "byte 0x20 at position 1 is not allowed; keys are printable ASCII without spaces"},
        {"embedded NUL", "pmk1.body." + t.substr(0, 5) + std::string(1, '\0') + t.substr(6) +
                             "." + d,
         sk::Problem::bad_byte,
         msg + "byte 0x00 at position 16 is not allowed; keys are printable ASCII without spaces"},
        {"DEL", "pmk1.\x7f", sk::Problem::bad_byte,
         msg + "byte 0x7f at position 6 is not allowed; keys are printable ASCII without spaces"},
        {"non-ASCII", "pmk1.b\xc3\xb6" "dy." + t + "." + d, sk::Problem::bad_byte,
         msg + "byte 0xc3 at position 7 is not allowed; keys are printable ASCII without spaces"},
        {"uppercase prefix", "PMK1.body." + t + "." + d, sk::Problem::bad_prefix,
         msg + "must start with \"pmk1.\", found \"PMK1\""},
        {"no version", "pmk.body." + t + "." + d, sk::Problem::bad_prefix,
         msg + "must start with \"pmk1.\", found \"pmk\""},
        {"no dots at all", "hello", sk::Problem::bad_prefix,
         msg + "must start with \"pmk1.\", found \"hello\""},
        {"prefix glued to kind", "pmk1body." + t + "." + d, sk::Problem::bad_prefix,
         msg + "must start with \"pmk1.\", found \"pmk1body\""},
        {"long garbage", std::string(5000, 'z'), sk::Problem::bad_prefix,
         msg + "must start with \"pmk1.\", found \"zzzzzzzzzzzzzzzz...\" (5000 bytes)"},
        {"version 2", "pmk2.body." + t + "." + d, sk::Problem::unsupported_version,
         msg + "unsupported version \"pmk2\"; only version 1 (\"pmk1.\") is supported"},
        {"version 10", "pmk10.body." + t + "." + d, sk::Problem::unsupported_version,
         msg + "unsupported version \"pmk10\"; only version 1 (\"pmk1.\") is supported"},
        {"prefix only", "pmk1", sk::Problem::missing_parts,
         msg + "expected 4 dot-separated parts pmk1.<kind>.<tenant>.<digest>, found 1 "
               "(missing kind, tenant and digest)"},
        {"kind only", "pmk1.body", sk::Problem::missing_parts,
         msg + "expected 4 dot-separated parts pmk1.<kind>.<tenant>.<digest>, found 2 "
               "(missing tenant and digest)"},
        {"no digest", "pmk1.body." + t, sk::Problem::missing_parts,
         msg + "expected 4 dot-separated parts pmk1.<kind>.<tenant>.<digest>, found 3 "
               "(missing digest)"},
        {"unknown kind", "pmk1.blob." + t + "." + d, sk::Problem::bad_kind,
         msg + "unknown kind \"blob\"; expected one of body, att, raw, arc"},
        {"uppercase kind", "pmk1.BODY." + t + "." + d, sk::Problem::bad_kind,
         msg + "unknown kind \"BODY\"; expected one of body, att, raw, arc (kinds are lowercase)"},
        {"empty kind", "pmk1.." + t + "." + d, sk::Problem::bad_kind,
         msg + "unknown kind \"\"; expected one of body, att, raw, arc"},
        {"tenant with dashes", "pmk1.att.a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11." + d,
         sk::Problem::tenant_length,
         msg + "tenant part \"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\" has 36 characters; "
               "expected 32 lowercase hex digits (the tenant uuid without dashes)"},
        {"tenant short", "pmk1.att." + t.substr(1) + "." + d, sk::Problem::tenant_length,
         msg + "tenant part \"" + t.substr(1) + "\" has 31 characters; "
               "expected 32 lowercase hex digits (the tenant uuid without dashes)"},
        {"tenant empty", "pmk1.att.." + d, sk::Problem::tenant_length,
         msg + "tenant part \"\" has 0 characters; "
               "expected 32 lowercase hex digits (the tenant uuid without dashes)"},
        {"tenant uppercase", "pmk1.att." + upper_tenant + "." + d, sk::Problem::tenant_uppercase,
         msg + "tenant part \"" + upper_tenant +
             "\" has uppercase hex digit \"B\" at position 14; keys use lowercase hex"},
        {"tenant not hex", "pmk1.att." + bad_tenant + "." + d, sk::Problem::tenant_not_hex,
         msg + "tenant part \"" + bad_tenant + "\" has non-hex character \"g\" at position 41"},
        {"digest short", "pmk1.raw." + t + "." + d.substr(0, 63), sk::Problem::digest_length,
         msg + "digest part \"" + d.substr(0, 63) +
             "\" has 63 characters; expected 64 lowercase hex digits (SHA-256)"},
        {"digest empty", "pmk1.raw." + t + ".", sk::Problem::digest_length,
         msg + "digest part \"\" has 0 characters; expected 64 lowercase hex digits (SHA-256)"},
        {"digest long and bad", "pmk1.raw." + t + ".Z" + d, sk::Problem::digest_length,
         msg + "digest part \"Z" + d +
             "\" has 65 characters; expected 64 lowercase hex digits (SHA-256)"},
        {"trailing bytes", valid_key("raw") + "xyz", sk::Problem::digest_trailing,
         msg + "trailing bytes \"xyz\" after the 64-digit digest"},
        {"digest uppercase", "pmk1.arc." + t + "." + upper_digest, sk::Problem::digest_uppercase,
         msg + "digest part \"" + upper_digest +
             "\" has uppercase hex digit \"B\" at position 43; keys use lowercase hex"},
        {"digest not hex", "pmk1.arc." + t + "." + bad_digest, sk::Problem::digest_not_hex,
         msg + "digest part \"" + bad_digest + "\" has non-hex character \"-\" at position 53"},
        {"extra part", valid_key("arc") + ".v2", sk::Problem::extra_parts,
         msg + "extra part \".v2\" after the digest; expected exactly 4 dot-separated parts"},
        {"trailing dot", valid_key("arc") + ".", sk::Problem::extra_parts,
         msg + "extra part \".\" after the digest; expected exactly 4 dot-separated parts"},
    };
}

TEST(StorageKeyParse, EveryMalformedClassIsRejectedWithItsMessage)
{
    std::set<sk::Problem> covered;
    for (const Malformed &c : malformed_cases()) {
        SCOPED_TRACE(c.label);
        const sk::ParseResult r = sk::try_parse(c.input);
        EXPECT_FALSE(r.ok());
        EXPECT_EQ(static_cast<int>(r.problem), static_cast<int>(c.problem));
        EXPECT_EQ(sk::describe(r, c.input), c.message);
        EXPECT_FALSE(sk::is_valid(c.input));
        try {
            sk::parse(c.input);
            ADD_FAILURE() << "parse() accepted a malformed key";
        } catch (const sk::ParseError &e) {
            EXPECT_EQ(e.what(), c.message);
            EXPECT_EQ(static_cast<int>(e.problem()), static_cast<int>(c.problem));
        }
        covered.insert(c.problem);
    }
    // Every Problem except `none` has at least one case above.
    EXPECT_EQ(covered.size(), static_cast<std::size_t>(sk::Problem::digest_not_hex));
}

TEST(StorageKeyParse, ValidKeyNearMissesAreStillValid)
{
    // Not every odd-looking key is malformed: all-zero and all-f fields are fine.
    const std::string zeros = "pmk1.att." + std::string(32, '0') + "." + std::string(64, '0');
    const std::string effs = "pmk1.arc." + std::string(32, 'f') + "." + std::string(64, 'f');
    EXPECT_TRUE(sk::is_valid(zeros));
    EXPECT_TRUE(sk::is_valid(effs));
    EXPECT_EQ(sk::format(sk::parse(zeros)), zeros);
    EXPECT_EQ(sk::format(sk::parse(effs)), effs);
    sk::Digest all_ff;
    all_ff.fill(0xff);
    EXPECT_EQ(sk::parse(effs).digest, all_ff);
}

TEST(StorageKeyParse, MessagesStayPrintableAndBoundedForHugeInput)
{
    // A megabyte of binary must produce a short, printable message.
    std::string huge = "pmk1.body." + kTenantHex + "." + kAbcDigestHex;
    huge += std::string(1 << 20, 'a');
    const sk::ParseResult r = sk::try_parse(huge);
    ASSERT_EQ(r.problem, sk::Problem::digest_trailing);
    const std::string message = sk::describe(r, huge);
    EXPECT_LT(message.size(), 200u);
    EXPECT_NE(message.find("(1048576 bytes)"), std::string::npos) << message;
}

// ----------------------------------------------------------- body encoding

std::string encode(std::optional<std::string_view> text, std::optional<std::string_view> html,
                   std::optional<std::string_view> headers)
{
    sk::BodyParts parts;
    parts.text = text;
    parts.html = html;
    parts.headers = headers;
    return sk::BodyEncoding(parts).bytes();
}

// An independent decoder of the documented layout: if every encoding decodes
// back to the parts it came from, the encoding is injective (no two different
// bodies can share a digest input).
bool decode(const std::string &bytes, std::optional<std::string> out[3])
{
    if (bytes.compare(0, sk::kBodyDomain.size(), sk::kBodyDomain) != 0)
        return false;
    std::size_t at = sk::kBodyDomain.size();
    for (int f = 0; f < 3; f++) {
        if (bytes.size() < at + 9)
            return false;
        const auto presence = static_cast<unsigned char>(bytes[at]);
        std::uint64_t len = 0;
        for (int b = 0; b < 8; b++)
            len = len << 8 | static_cast<unsigned char>(bytes[at + 1 + b]);
        at += 9;
        if (presence > 1 || bytes.size() - at < len || (presence == 0 && len != 0))
            return false;
        out[f] = presence ? std::optional<std::string>(bytes.substr(at, len)) : std::nullopt;
        at += len;
    }
    return at == bytes.size();
}

TEST(BodyEncoding, MatchesTheDocumentedBytes)
{
    const std::string expected = std::string("pm.storage_key.body.v1\0", 23) +
                                 std::string("\x01\0\0\0\0\0\0\0\x02", 9) + "hi" +
                                 std::string("\0\0\0\0\0\0\0\0\0", 9) +
                                 std::string("\x01\0\0\0\0\0\0\0\0", 9);
    EXPECT_EQ(encode("hi", std::nullopt, ""), expected);
}

TEST(BodyEncoding, LengthIsBigEndian)
{
    const std::string text(300, 't');
    const std::string bytes = encode(text, std::nullopt, std::nullopt);
    // 300 = 0x012c, in the last two of the eight length bytes.
    EXPECT_EQ(bytes.substr(23, 9), std::string("\x01\0\0\0\0\0\0\x01\x2c", 9));
}

TEST(BodyEncoding, NullDiffersFromEmpty)
{
    EXPECT_NE(encode(std::nullopt, "h", "{}"), encode("", "h", "{}"));
    EXPECT_NE(encode("t", std::nullopt, "{}"), encode("t", "", "{}"));
    EXPECT_NE(encode("t", "h", std::nullopt), encode("t", "h", ""));
    EXPECT_NE(encode(std::nullopt, std::nullopt, std::nullopt), encode("", "", ""));
}

TEST(BodyEncoding, PartBoundariesAreUnambiguous)
{
    EXPECT_NE(encode("ab", "c", std::nullopt), encode("a", "bc", std::nullopt));
    EXPECT_NE(encode("abc", "", std::nullopt), encode("", "abc", std::nullopt));
    EXPECT_NE(encode("x", std::nullopt, std::nullopt), encode(std::nullopt, "x", std::nullopt));
    EXPECT_NE(encode(std::nullopt, std::nullopt, "x"), encode(std::nullopt, "x", std::nullopt));
    // Bytes that look like a frame inside a part do not fake a boundary.
    const std::string fake_frame("\x01\0\0\0\0\0\0\0\x01" "c", 10);
    EXPECT_NE(encode("ab" + fake_frame, std::nullopt, std::nullopt),
              encode("ab", "c", std::nullopt));
}

TEST(BodyEncoding, IsDeterministicAndPointsIntoTheCallersBuffers)
{
    const std::string text = "Hello", html = "<p>Hello</p>", headers = R"({"a": 1})";
    sk::BodyParts parts;
    parts.text = text;
    parts.html = html;
    parts.headers = headers;
    const sk::BodyEncoding one(parts);
    const sk::BodyEncoding two(parts);
    EXPECT_EQ(one.bytes(), two.bytes());
    ASSERT_EQ(one.chunk_count(), 7u);
    // Body bytes are hashed in place, not copied.
    EXPECT_EQ(one.chunks()[2].data, reinterpret_cast<const std::uint8_t *>(text.data()));
    EXPECT_EQ(one.chunks()[4].data, reinterpret_cast<const std::uint8_t *>(html.data()));
    EXPECT_EQ(one.chunks()[6].data, reinterpret_cast<const std::uint8_t *>(headers.data()));

    sk::BodyParts empty_parts;
    EXPECT_EQ(sk::BodyEncoding(empty_parts).chunk_count(), 4u); // prefix + three frames
}

TEST(BodyEncoding, RandomBodiesDecodeBackToTheirParts)
{
    std::mt19937_64 rng(20240601);
    const std::string alphabet("ab\0\x01.{}\"\xff", 10);
    for (int i = 0; i < 5000; i++) {
        std::optional<std::string> parts[3];
        for (auto &p : parts) {
            if (rng() % 4 == 0)
                continue; // NULL
            std::string s;
            const std::size_t len = rng() % 12;
            for (std::size_t k = 0; k < len; k++)
                s += alphabet[rng() % alphabet.size()];
            p = s;
        }
        auto view = [](const std::optional<std::string> &s) {
            return s ? std::optional<std::string_view>(*s) : std::nullopt;
        };
        const std::string bytes = encode(view(parts[0]), view(parts[1]), view(parts[2]));
        std::optional<std::string> back[3];
        ASSERT_TRUE(decode(bytes, back)) << i;
        for (int f = 0; f < 3; f++)
            ASSERT_EQ(back[f], parts[f]) << "iteration " << i << " field " << f;
    }
}

// ------------------------------------------------------------------ shards

TEST(Shard, SeedIsTheFirstEightDigestBytesBigEndian)
{
    EXPECT_EQ(sk::shard_seed(abc_digest()), 0xba7816bf8f01cfeaULL);
}

TEST(Shard, PinnedValuesNeverChange)
{
    // Placement of stored content depends on these: a change here moves data.
    // Values computed by an independent Python implementation of the same walk.
    struct Pin {
        std::uint64_t seed;
        std::int32_t buckets[6];
        std::int32_t expected[6];
    };
    const Pin pins[] = {
        {0x0ULL, {1, 2, 3, 10, 1000, 65536}, {0, 1, 1, 4, 195, 41998}},
        {0x1ULL, {1, 2, 3, 10, 1000, 65536}, {0, 1, 2, 9, 754, 11874}},
        {0x0123456789abcdefULL, {1, 2, 3, 10, 1000, 65536}, {0, 0, 0, 0, 127, 26189}},
        {0xba7816bf8f01cfeaULL, {1, 2, 3, 10, 1000, 65536}, {0, 1, 1, 1, 549, 14214}},
        {0xffffffffffffffffULL, {1, 2, 3, 10, 1000, 65536}, {0, 1, 2, 2, 315, 25941}},
    };
    for (const Pin &pin : pins)
        for (int i = 0; i < 6; i++)
            EXPECT_EQ(sk::jump_hash(pin.seed, pin.buckets[i]), pin.expected[i])
                << "seed " << pin.seed << " buckets " << pin.buckets[i];
    EXPECT_EQ(sk::shard_of(abc_digest(), 1000), 549);
}

std::vector<std::uint64_t> random_seeds(std::size_t n)
{
    std::mt19937_64 rng(7);
    std::vector<std::uint64_t> seeds(n);
    for (auto &s : seeds)
        s = rng();
    return seeds;
}

TEST(Shard, AlwaysInRange)
{
    const auto seeds = random_seeds(2000);
    for (std::int32_t n : {1, 2, 3, 7, 64, 1000, 65535, 65536}) {
        for (std::uint64_t s : seeds) {
            const std::int32_t b = sk::jump_hash(s, n);
            ASSERT_GE(b, 0);
            ASSERT_LT(b, n) << "seed " << s;
        }
    }
    EXPECT_EQ(sk::jump_hash(0xffffffffffffffffULL, 1), 0);
}

TEST(Shard, GrowingByOneOnlyMovesKeysIntoTheNewShard)
{
    const auto seeds = random_seeds(20000);
    for (std::int32_t n = 1; n <= 64; n++) {
        std::size_t moved = 0;
        for (std::uint64_t s : seeds) {
            const std::int32_t before = sk::jump_hash(s, n);
            const std::int32_t after = sk::jump_hash(s, n + 1);
            if (before != after) {
                ASSERT_EQ(after, n) << "a key moved between old shards, seed " << s;
                moved++;
            }
        }
        // Expected share 1/(n+1); binomial sd <= 0.0036 here, allow ~5 sd.
        const double share = static_cast<double>(moved) / seeds.size();
        EXPECT_NEAR(share, 1.0 / (n + 1), 0.018) << "n = " << n;
    }
}

TEST(Shard, SpreadsKeysEvenly)
{
    const auto seeds = random_seeds(100000);
    for (std::int32_t n : {2, 10, 37}) {
        std::vector<int> counts(n);
        for (std::uint64_t s : seeds)
            counts[sk::jump_hash(s, n)]++;
        const double expected = static_cast<double>(seeds.size()) / n;
        const double five_sd = 5 * std::sqrt(expected * (1 - 1.0 / n));
        for (std::int32_t b = 0; b < n; b++)
            EXPECT_NEAR(counts[b], expected, five_sd) << "n " << n << " bucket " << b;
    }
}

TEST(Shard, IsStableAcrossCalls)
{
    for (std::uint64_t s : random_seeds(1000))
        EXPECT_EQ(sk::jump_hash(s, 977), sk::jump_hash(s, 977));
}

} // namespace
