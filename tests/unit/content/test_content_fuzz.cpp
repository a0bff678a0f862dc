// Deterministic fuzzing of the content decoder: ~100k mutated frames (bit
// flips, byte changes, insertions, deletions, truncations, splices) of real
// frames with and without a dictionary.  For every input the decoder must
// either return exactly the original bytes or throw CodecError; anything else
// (another result, another exception, a crash; run under ASan/valgrind for
// out-of-bounds reads) fails.  The body payload parser gets the same treatment.
#include "content/pure/content_codec.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace cc = pm::content;

namespace {

std::string body_payload(int i)
{
    cc::BodyParts parts;
    const std::string text = "Hi Recipient " + std::to_string(i) +
                             ",\nthanks for your order #" + std::to_string(i * 31) + ".\n";
    const std::string html = "<html><body><h1>Hi Recipient " + std::to_string(i) +
                             "</h1><p>Thanks for your order.</p><p>" + std::string(i % 50, '.') +
                             "</p></body></html>";
    const std::string headers = "{\"To\": \"r" + std::to_string(i) + "@example.com\"}";
    parts.text = text;
    parts.html = html;
    parts.headers = headers;
    return cc::pack_body(parts);
}

class Mutator {
public:
    explicit Mutator(std::uint64_t seed) : rng_(seed) {}
    std::size_t below(std::size_t n) { return n ? static_cast<std::size_t>(rng_() % n) : 0; }

    std::string mutate(std::string s, const std::string &other)
    {
        const std::size_t edits = 1 + below(4);
        for (std::size_t e = 0; e < edits; e++) {
            switch (below(7)) {
            case 0: // flip one bit
                if (!s.empty())
                    s[below(s.size())] ^= static_cast<char>(1u << below(8));
                break;
            case 1: // replace a byte
                if (!s.empty())
                    s[below(s.size())] = static_cast<char>(below(256));
                break;
            case 2: // insert bytes
                s.insert(below(s.size() + 1), std::string(1 + below(4), static_cast<char>(below(256))));
                break;
            case 3: // delete a range
                if (!s.empty()) {
                    const std::size_t at = below(s.size());
                    s.erase(at, 1 + below(8));
                }
                break;
            case 4: // truncate
                s.resize(below(s.size() + 1));
                break;
            case 5: // splice with another frame
                s = s.substr(0, below(s.size() + 1)) + other.substr(below(other.size() + 1));
                break;
            default: // header bytes are where the parsers live
                if (!s.empty())
                    s[below(std::min<std::size_t>(s.size(), 8))] = static_cast<char>(below(256));
                break;
            }
        }
        return s;
    }

private:
    std::mt19937_64 rng_;
};

} // namespace

TEST(ContentFuzz, MutatedFramesDecodeExactlyOrFailCleanly)
{
    std::vector<std::string> samples;
    for (int i = 0; i < 300; i++)
        samples.push_back(body_payload(i));
    cc::Dictionary dict(7, cc::train_dictionary(samples, 8192, 3).bytes);
    cc::Dictionary other(8, cc::train_dictionary({"unrelated raw content for id 8"}, 100, 3).bytes);
    auto lookup = [&](std::uint32_t id) -> cc::Dictionary * {
        return id == 7 ? &dict : id == 8 ? &other : nullptr;
    };

    cc::Codec codec;
    struct Original {
        std::string input;
        std::string frame;
    };
    std::vector<Original> originals;
    for (int i = 0; i < 40; i++) {
        const std::string input = body_payload(1000 + i);
        originals.push_back({input, codec.compress(input, 3, i % 2 ? &dict : nullptr)});
    }

    Mutator m(20261124);
    std::size_t decoded_exactly = 0, rejected = 0;
    for (int round = 0; round < 100000; round++) {
        const Original &o = originals[m.below(originals.size())];
        const Original &p = originals[m.below(originals.size())];
        const std::string mutated = m.mutate(o.frame, p.frame);
        try {
            const std::string out = codec.decompress(mutated, o.input.size() + 64, lookup);
            // Accepting a mutated frame is fine only when it still means the same
            // bytes (e.g. a splice that rebuilt the frame) or another original's.
            bool known = out == o.input || out == p.input;
            ASSERT_TRUE(known) << "round " << round << ": decoded " << out.size()
                               << " bytes that are not an original";
            decoded_exactly++;
        } catch (const cc::CodecError &) {
            rejected++;
        }
    }
    EXPECT_GT(rejected, 90000u);
    // The codec must still work after 100k failures (contexts reset per call).
    for (const Original &o : originals)
        ASSERT_EQ(codec.decompress(o.frame, o.input.size(), lookup), o.input);
    RecordProperty("decoded_exactly", std::to_string(decoded_exactly));
}

TEST(ContentFuzz, MutatedPayloadsParseConsistentlyOrFailCleanly)
{
    Mutator m(42);
    for (int round = 0; round < 50000; round++) {
        const std::string a = body_payload(static_cast<int>(m.below(100)));
        const std::string b = body_payload(static_cast<int>(m.below(100)));
        const std::string mutated = m.mutate(a, b);
        try {
            const cc::BodyParts parts = cc::unpack_body(mutated);
            // Whatever parses must re-pack to the very same bytes (one encoding per body).
            ASSERT_EQ(cc::pack_body(parts), mutated) << "round " << round;
        } catch (const cc::CodecError &) {
        }
    }
}
