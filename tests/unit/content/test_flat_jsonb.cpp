// flat_jsonb: recognising flat string objects in jsonb's on-disk form (common/flat_jsonb.h).
// The reference bytes were read off PostgreSQL 15 heap pages (pageinspect) holding
//   '{"To": "a@b.c", "From": "d@e.f", "Subject": "Hi", "To": "z@y.x"}'::jsonb
//   '{"Received": ["a", "bc"], "To": "x"}'::jsonb
// so the layout written by build() and accepted by parse() is PostgreSQL's own.
#include "content/pure/content_codec.h"
#include "content/pure/flat_jsonb.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace fj = pm::flat_jsonb;
namespace cc = pm::content;

namespace {

std::string unhex(const std::string &hex)
{
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    return out;
}

// Little-endian machines only (the bytes are a little-endian server's).
const std::string kPostgresHeaders =
    unhex("03000020020000800400000007000000050000000500000002000000"
          "546f46726f6d5375626a6563747a40792e786440652e664869");

const std::string kPostgresRepeatedHeader =
    unhex("0200002002000080080000000100000010000050546f5265636569766564780002000040"
          "0100008002000000616263");

fj::Member member(std::string_view key, std::string_view value)
{
    fj::Member m;
    m.key = key;
    m.values = {value};
    return m;
}

fj::Member array_member(std::string_view key, std::vector<std::string_view> values)
{
    fj::Member m;
    m.key = key;
    m.values = std::move(values);
    m.is_array = true;
    return m;
}

std::vector<fj::Member> parsed(const std::string &container)
{
    std::vector<fj::Member> pairs;
    std::string why;
    EXPECT_TRUE(fj::parse(container, pairs, why)) << why;
    return pairs;
}

bool rejected(const std::string &container, const std::string &expected_reason)
{
    std::vector<fj::Member> pairs;
    std::string why;
    if (fj::parse(container, pairs, why))
        return false;
    EXPECT_NE(why.find(expected_reason), std::string::npos) << why;
    return true;
}

void put32(std::string &s, std::size_t at, std::uint32_t v)
{
    for (int i = 0; i < 4; i++)
        s[at + static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

} // namespace

TEST(FlatJsonb, ParsesWhatPostgresWrote)
{
    const auto pairs = parsed(kPostgresHeaders);
    ASSERT_EQ(pairs.size(), 3u);
    EXPECT_EQ(pairs[0].key, "To");
    EXPECT_EQ(pairs[0].values, std::vector<std::string_view>{"z@y.x"});
    EXPECT_EQ(pairs[1].key, "From");
    EXPECT_EQ(pairs[1].values, std::vector<std::string_view>{"d@e.f"});
    EXPECT_EQ(pairs[2].key, "Subject");
    EXPECT_EQ(pairs[2].values, std::vector<std::string_view>{"Hi"});
    EXPECT_FALSE(pairs[2].is_array);

    const auto repeated = parsed(kPostgresRepeatedHeader);
    ASSERT_EQ(repeated.size(), 2u);
    EXPECT_EQ(repeated[1].key, "Received");
    EXPECT_TRUE(repeated[1].is_array);
    EXPECT_EQ(repeated[1].values, (std::vector<std::string_view>{"a", "bc"}));
}

TEST(FlatJsonb, BuildsWhatPostgresWrites)
{
    // Input order and the repeated key as the JSON text had them: jsonb sorts by length
    // then bytes and keeps the last value of a repeated key.
    EXPECT_EQ(fj::build({member("To", "a@b.c"), member("From", "d@e.f"), member("Subject", "Hi"),
                         member("To", "z@y.x")}),
              kPostgresHeaders);
    // A nested array starts on a 4-byte boundary; the padding belongs to its entry.
    EXPECT_EQ(fj::build({array_member("Received", {"a", "bc"}), member("To", "x")}),
              kPostgresRepeatedHeader);
}

TEST(FlatJsonb, RoundTripsManyPairsAcrossOffsetStrides)
{
    // More than 32 entries: every 32nd JEntry holds an end offset instead of a length.
    std::vector<std::string> storage;
    for (int i = 0; i < 100; i++) {
        storage.push_back("X-Header-" + std::to_string(i));
        storage.push_back(std::string(static_cast<std::size_t>(i % 7), 'v') + "é" + std::to_string(i));
    }
    std::vector<fj::Member> in;
    for (std::size_t i = 0; i < storage.size(); i += 2) {
        if (i % 6 == 0)
            in.push_back(array_member(storage[i], {storage[i + 1], "", storage[i]}));
        else
            in.push_back(member(storage[i], storage[i + 1]));
    }
    const std::string container = fj::build(in);
    const auto out = parsed(container);
    ASSERT_EQ(out.size(), in.size());
    for (const auto &p : in) {
        bool found = false;
        for (const auto &q : out)
            found = found || (q.key == p.key && q.values == p.values && q.is_array == p.is_array);
        EXPECT_TRUE(found) << p.key;
    }
}

TEST(FlatJsonb, EmptyObjectAndEmptyStrings)
{
    EXPECT_TRUE(parsed(fj::build({})).empty());
    const auto pairs = parsed(fj::build({member("", ""), member("a", ""), array_member("bb", {})}));
    ASSERT_EQ(pairs.size(), 3u);
    EXPECT_EQ(pairs[0].key, "");
    EXPECT_EQ(pairs[1].values, std::vector<std::string_view>{""});
    EXPECT_TRUE(pairs[2].is_array);
    EXPECT_TRUE(pairs[2].values.empty());
}

TEST(FlatJsonb, RejectsWhatIsNotHeaderShaped)
{
    EXPECT_TRUE(rejected("", "shorter than"));
    EXPECT_TRUE(rejected(std::string("\x01\x00\x00\x40", 4), "not a jsonb object"));  // array
    EXPECT_TRUE(rejected(std::string("\x01\x00\x00\x50", 4), "not a jsonb object"));  // scalar

    std::string s = kPostgresHeaders;
    put32(s, 0, 0x20000000 | 1000);  // claims 1000 pairs
    EXPECT_TRUE(rejected(s, "does not fit"));

    s = kPostgresHeaders;
    put32(s, 4 + 4 * 3, 0x10000005);  // first value typed as a number
    EXPECT_TRUE(rejected(s, "is not a string"));

    s = kPostgresRepeatedHeader;
    put32(s, 4 + 4 * 4 + 12, 0x20000002);  // the array turned into an object
    EXPECT_TRUE(rejected(s, "not a jsonb array"));

    s = kPostgresRepeatedHeader;
    put32(s, 4 + 4 * 4 + 12 + 4, 0x50000001);  // an array inside the array
    EXPECT_TRUE(rejected(s, "is not a string"));

    s = kPostgresRepeatedHeader;
    put32(s, 4 + 4 * 1, 0x50000008);  // the second key typed as a container
    EXPECT_TRUE(rejected(s, "key 2 is not a string"));

    s = kPostgresHeaders;
    put32(s, 4 + 4 * 5, 0x00000FFF);  // last length runs past the end
    EXPECT_TRUE(rejected(s, "outside the value"));

    s = kPostgresHeaders;
    put32(s, 4, 0x80000000 | 0x0FFFFFFF);  // an end offset far outside
    EXPECT_TRUE(rejected(s, "outside the value"));

    s = kPostgresHeaders + "xx";
    EXPECT_TRUE(rejected(s, "follow the last"));

    // Keys out of jsonb order ("From" before "To"), and a repeated key.
    EXPECT_TRUE(rejected(unhex("0200002004000080020000000100000001000000"
                               "46726f6d546f6162"),
                         "not in jsonb order"));
    EXPECT_TRUE(rejected(unhex("0200002002000080020000000100000001000000"
                               "546f546f6162"),
                         "not in jsonb order"));
}

// Mutated containers: parse either refuses or returns pairs that lie inside the buffer
// and obey every rule it promises (run under valgrind/ASan for out-of-bounds reads).
TEST(FlatJsonb, FuzzedContainersNeverEscapeTheBuffer)
{
    std::mt19937_64 rng(20261124);
    std::vector<std::string> seeds = {kPostgresHeaders, kPostgresRepeatedHeader};
    for (int n : {1, 5, 40}) {
        std::vector<std::string> storage;
        std::vector<fj::Member> pairs;
        for (int i = 0; i < n; i++) {
            storage.push_back("K" + std::to_string(i));
            storage.push_back("value " + std::to_string(i * 7919));
        }
        for (std::size_t i = 0; i < storage.size(); i += 2) {
            if (i % 4 == 0)
                pairs.push_back(array_member(storage[i], {storage[i + 1], storage[i]}));
            else
                pairs.push_back(member(storage[i], storage[i + 1]));
        }
        seeds.push_back(fj::build(pairs));
    }
    int accepted = 0;
    for (int round = 0; round < 60000; round++) {
        std::string s = seeds[static_cast<std::size_t>(round) % seeds.size()];
        const int edits = 1 + static_cast<int>(rng() % 4);
        for (int e = 0; e < edits && !s.empty(); e++) {
            const std::size_t at = rng() % s.size();
            switch (rng() % 4) {
            case 0: s[at] = static_cast<char>(s[at] ^ (1 << (rng() % 8))); break;
            case 1: s[at] = static_cast<char>(rng()); break;
            case 2: s.erase(at, 1 + rng() % 4); break;
            default: s.insert(at, 1, static_cast<char>(rng())); break;
            }
        }
        std::vector<fj::Member> pairs;
        std::string why;
        if (!fj::parse(s, pairs, why)) {
            EXPECT_FALSE(why.empty());
            continue;
        }
        accepted++;
        const char *begin = s.data(), *end = s.data() + s.size();
        for (std::size_t i = 0; i < pairs.size(); i++) {
            ASSERT_TRUE(pairs[i].key.data() >= begin && pairs[i].key.data() + pairs[i].key.size() <= end);
            for (std::string_view v : pairs[i].values) {
                ASSERT_TRUE(v.data() >= begin && v.data() + v.size() <= end);
            }
            if (i > 0) {
                ASSERT_TRUE(pairs[i - 1].key.size() < pairs[i].key.size() ||
                            (pairs[i - 1].key.size() == pairs[i].key.size() &&
                             pairs[i - 1].key < pairs[i].key));
            }
        }
    }
    // Some mutations (a changed string byte) keep the layout valid: the check must not
    // refuse everything.
    EXPECT_GT(accepted, 100);
}

// The body payload keeps jsonb headers apart from JSON text ones, with the text size
// that logical_size (raw_size_bytes) counts.
TEST(FlatJsonb, BodyPayloadCarriesJsonbHeaders)
{
    cc::BodyParts in;
    in.text = std::string_view("Hi");
    in.headers = kPostgresHeaders;
    in.headers_text_size = 49;  // {"To": "z@y.x", "From": "d@e.f", "Subject": "Hi"}
    const std::string payload = cc::pack_body(in);
    EXPECT_EQ(static_cast<unsigned char>(payload[0]), 0x01 | 0x04 | 0x08);
    const cc::BodyParts out = cc::unpack_body(payload);
    ASSERT_TRUE(out.headers && out.headers_text_size);
    EXPECT_EQ(*out.headers, kPostgresHeaders);
    EXPECT_EQ(*out.headers_text_size, 49u);
    EXPECT_EQ(cc::logical_size(out), 2u + 49u);

    cc::BodyParts text_only;
    text_only.headers = std::string_view("{}");
    const cc::BodyParts back = cc::unpack_body(cc::pack_body(text_only));
    EXPECT_FALSE(back.headers_text_size);

    // The jsonb bit without headers is a damaged payload.
    std::string bad = cc::pack_body(text_only);
    bad[0] = static_cast<char>(0x08);
    EXPECT_THROW(cc::unpack_body(bad), cc::CodecError);
}
