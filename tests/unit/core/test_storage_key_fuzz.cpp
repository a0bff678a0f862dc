// Deterministic fuzzing of the storage-key parser: ~100k random and mutated
// keys.  For every input the parser must either accept a key that formats
// back to the identical string, or reject it with a printable, bounded
// message; is_valid(), try_parse() and parse() must agree.  A crash, an
// out-of-bounds read (run under ASan to see those) or a disagreement fails.
#include "core/pure/storage_key.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <random>
#include <string>

namespace sk = pm::storage_key;

namespace {

class Fuzzer {
public:
    explicit Fuzzer(std::uint64_t seed) : rng_(seed) {}

    std::size_t below(std::size_t n) { return static_cast<std::size_t>(rng_() % n); }

    std::string hex(std::size_t digits)
    {
        static const char kHex[] = "0123456789abcdef";
        std::string s;
        for (std::size_t i = 0; i < digits; i++)
            s += kHex[below(16)];
        return s;
    }

    std::string valid_key()
    {
        static const char *kKinds[] = {"body", "att", "raw", "arc"};
        return std::string("pmk1.") + kKinds[below(4)] + "." + hex(32) + "." + hex(64);
    }

    // Bytes weighted towards what matters to the parser: hex in both cases,
    // dots, near-miss letters, separators people paste, control and 8-bit bytes.
    char interesting_byte()
    {
        static const char kPoolBytes[] = "0123456789abcdefABCDEFgGzZ..--_pmkPMK1 \t\n\r\0\x7f\x80\xc3\xff";
        static const std::string kPool(kPoolBytes, sizeof kPoolBytes - 1);
        return below(8) == 0 ? static_cast<char>(below(256)) : kPool[below(kPool.size())];
    }

    std::string random_string()
    {
        // Mostly short, sometimes around the real key length, rarely long.
        const std::size_t len = below(10) == 0 ? below(400) : below(120);
        std::string s;
        if (below(3) == 0)
            s = below(2) ? "pmk1." : "pmk";
        while (s.size() < len)
            s += interesting_byte();
        return s;
    }

    std::string mutate(std::string key)
    {
        const std::size_t rounds = 1 + below(3);
        for (std::size_t r = 0; r < rounds; r++) {
            const std::size_t at = key.empty() ? 0 : below(key.size());
            switch (below(9)) {
            case 0: // overwrite one byte
                if (!key.empty())
                    key[at] = interesting_byte();
                break;
            case 1: // replace a hex digit with another lowercase one (often still valid)
                if (!key.empty() && std::isxdigit(static_cast<unsigned char>(key[at])) &&
                    at > 9)
                    key[at] = hex(1)[0];
                break;
            case 2: // insert
                key.insert(key.begin() + static_cast<std::ptrdiff_t>(at), interesting_byte());
                break;
            case 3: // delete
                if (!key.empty())
                    key.erase(at, 1);
                break;
            case 4: // flip case
                if (!key.empty())
                    key[at] = static_cast<char>(key[at] ^ 0x20);
                break;
            case 5: // truncate
                key.resize(at);
                break;
            case 6: // append a suffix
                key += below(2) ? "." + hex(below(5)) : hex(1 + below(3));
                break;
            case 7: // swap the kind
                key = "pmk1." + std::string(below(2) ? "BODY" : "blob") +
                      key.substr(std::min(key.size(), key.find('.', 5)));
                break;
            case 8: // duplicate a slice
                key.insert(at, key.substr(at, below(40)));
                break;
            }
        }
        return key;
    }

private:
    std::mt19937_64 rng_;
};

struct Tally {
    std::map<sk::Problem, int> problems;
    int accepted = 0;
    int rejected = 0;
};

void check_one(const std::string &input, Tally &tally)
{
    const sk::ParseResult r = sk::try_parse(input);
    ASSERT_EQ(sk::is_valid(input), r.ok()) << sk::quote_for_message(input, 200);
    if (r.ok()) {
        tally.accepted++;
        ASSERT_EQ(sk::format(r.key), input) << "accepted but does not round-trip";
        ASSERT_EQ(sk::parse(input), r.key);
        return;
    }
    tally.rejected++;
    tally.problems[r.problem]++;
    const std::string message = sk::describe(r, input);
    ASSERT_EQ(message.rfind("invalid storage key: ", 0), 0u) << message;
    ASSERT_LT(message.size(), 400u) << message;
    for (unsigned char c : message)
        ASSERT_TRUE(c >= 0x20 && c < 0x7f) << "unprintable byte in: " << message;
    try {
        (void) sk::parse(input);
        FAIL() << "parse() accepted what try_parse() rejected: " << message;
    } catch (const sk::ParseError &e) {
        ASSERT_EQ(e.what(), message);
    }
}

TEST(StorageKeyFuzz, RandomStrings)
{
    Fuzzer fuzz(0x5eed0001);
    Tally tally;
    for (int i = 0; i < 50000; i++) {
        check_one(fuzz.random_string(), tally);
        if (HasFatalFailure())
            return;
    }
    EXPECT_EQ(tally.accepted + tally.rejected, 50000);
    EXPECT_GT(tally.rejected, 49000);
}

TEST(StorageKeyFuzz, MutatedValidKeys)
{
    Fuzzer fuzz(0x5eed0002);
    Tally tally;
    for (int i = 0; i < 50000; i++) {
        check_one(fuzz.mutate(fuzz.valid_key()), tally);
        if (HasFatalFailure())
            return;
    }
    // The mutations must reach both outcomes and every way of being malformed,
    // or this test proves less than it claims.
    EXPECT_GT(tally.accepted, 1000);
    EXPECT_GT(tally.rejected, 25000);
    for (int p = static_cast<int>(sk::Problem::bad_byte);
         p <= static_cast<int>(sk::Problem::digest_not_hex); p++) {
        EXPECT_GT(tally.problems[static_cast<sk::Problem>(p)], 0) << "problem " << p;
    }
}

TEST(StorageKeyFuzz, ValidKeysAlwaysRoundTrip)
{
    Fuzzer fuzz(0x5eed0003);
    Tally tally;
    for (int i = 0; i < 10000; i++) {
        const std::string key = fuzz.valid_key();
        check_one(key, tally);
        if (HasFatalFailure())
            return;
        const sk::Key parsed = sk::parse(key);
        ASSERT_GE(sk::shard_of(parsed.digest, 1 + static_cast<std::int32_t>(i % 100)), 0);
        ASSERT_LT(sk::shard_of(parsed.digest, 1 + static_cast<std::int32_t>(i % 100)),
                  1 + i % 100);
    }
    EXPECT_EQ(tally.accepted, 10000);
}

} // namespace
