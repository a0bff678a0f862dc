// The content codec without a server: body payload layout, frames with and
// without dictionaries, exact errors for every way a frame can be wrong, and
// dictionary training.  A regression in any of these breaks stored data, so
// the layouts are also pinned byte for byte.
#include "content/pure/content_codec.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace cc = pm::content;

namespace {

std::string random_bytes(std::mt19937_64 &rng, std::size_t n)
{
    std::string s(n, '\0');
    for (char &c : s)
        c = static_cast<char>(rng() & 0xff);
    return s;
}

// A personalised mail body: a fixed template with per-recipient fields.
std::string personalised(int recipient)
{
    std::string html = "<html><head><style>body{font-family:Helvetica,Arial,sans-serif;color:#333}"
                       ".button{background:#2199e8;padding:8px 16px;border-radius:3px}</style></head>"
                       "<body><table class=\"container\"><tr><td><h1>Hi, ";
    html += "Recipient " + std::to_string(recipient * 7919 % 10007);
    html += "</h1><p>We built a new dashboard for teams like Company " +
            std::to_string(recipient % 97) +
            ". It takes five minutes to set up and saves hours every week.</p>"
            "<a class=\"button\" href=\"https://go.example.com/c/42?r=" +
            std::to_string(recipient * 104729) +
            "\">See it</a><p>Unsubscribe: https://go.example.com/u/" +
            std::to_string(recipient * 15485863) + "</p></td></tr></table></body></html>";
    return html;
}

cc::Dictionary *no_dictionary(std::uint32_t)
{
    return nullptr;
}

cc::CodecErrorKind error_kind(const std::function<void()> &fn)
{
    try {
        fn();
    } catch (const cc::CodecError &e) {
        EXPECT_NE(std::string(e.what()), "");
        return e.kind();
    }
    ADD_FAILURE() << "no CodecError";
    return cc::CodecErrorKind::compress_failed;
}

} // namespace

// ------------------------------------------------------------------ varints

TEST(ContentVarint, RoundTripsAndRejectsOverlongAndOversized)
{
    for (std::uint32_t v : {0u, 1u, 127u, 128u, 300u, 16383u, 16384u, 0xffffffffu}) {
        std::string s;
        cc::append_varint(s, v);
        std::size_t pos = 0;
        std::uint32_t back = 0;
        ASSERT_TRUE(cc::read_varint(s, pos, back)) << v;
        EXPECT_EQ(back, v);
        EXPECT_EQ(pos, s.size());
    }
    std::size_t pos = 0;
    std::uint32_t v = 0;
    EXPECT_FALSE(cc::read_varint(std::string("\x80\x00", 2), pos, v)) << "overlong zero";
    pos = 0;
    EXPECT_FALSE(cc::read_varint("\xff\xff\xff\xff\x1f", pos, v)) << "above 2^32";
    pos = 0;
    EXPECT_FALSE(cc::read_varint("\x80\x80", pos, v)) << "truncated";
    pos = 0;
    EXPECT_FALSE(cc::read_varint("\xff\xff\xff\xff\xff\x01", pos, v)) << "six bytes";
}

// ------------------------------------------------------------- body payload

TEST(ContentBody, LayoutIsPinned)
{
    cc::BodyParts parts;
    parts.text = "ab";
    parts.headers = "{}";
    EXPECT_EQ(cc::pack_body(parts), std::string("\x05\x02\x02" "ab{}", 7));
    EXPECT_EQ(cc::pack_body(cc::BodyParts{}), std::string("\x00", 1));
}

TEST(ContentBody, RoundTripKeepsNullApartFromEmpty)
{
    const std::string big(300000, 'x');
    const std::vector<cc::BodyParts> cases = {
        {std::nullopt, std::nullopt, std::nullopt, std::nullopt},
        {std::string_view(""), std::nullopt, std::nullopt, std::nullopt},
        {std::nullopt, std::string_view(""), std::nullopt, std::nullopt},
        {std::string_view(""), std::string_view(""), std::string_view(""), std::nullopt},
        {std::string_view("h\xc3\xa9llo \xe2\x9c\x89"), std::string_view("<p>\0</p>", 8),
         std::string_view("{\"a\": 1}"), std::nullopt},
        {std::string_view(big), std::nullopt, std::string_view("{}"), std::nullopt},
    };
    for (const cc::BodyParts &p : cases) {
        const std::string packed = cc::pack_body(p);
        EXPECT_LE(packed.size(), cc::logical_size(p) + cc::max_payload_overhead);
        const cc::BodyParts back = cc::unpack_body(packed);
        EXPECT_EQ(back.text, p.text);
        EXPECT_EQ(back.html, p.html);
        EXPECT_EQ(back.headers, p.headers);
    }
}

TEST(ContentBody, RejectsInconsistentLayouts)
{
    EXPECT_EQ(error_kind([] { cc::unpack_body(""); }), cc::CodecErrorKind::truncated);
    EXPECT_EQ(error_kind([] { cc::unpack_body("\x08"); }), cc::CodecErrorKind::bad_layout);
    EXPECT_EQ(error_kind([] { cc::unpack_body("\x01\x03" "ab"); }), cc::CodecErrorKind::bad_layout);
    EXPECT_EQ(error_kind([] { cc::unpack_body("\x01\x01" "ab"); }), cc::CodecErrorKind::bad_layout);
    EXPECT_EQ(error_kind([] { cc::unpack_body("\x03\x01"); }), cc::CodecErrorKind::bad_varint);
    EXPECT_EQ(error_kind([] { cc::unpack_body(std::string("\x00x", 2)); }),
              cc::CodecErrorKind::bad_layout);
}

// ------------------------------------------------------------------- frames

TEST(ContentFrame, RoundTripWithoutDictionary)
{
    cc::Codec codec;
    std::mt19937_64 rng(7);
    for (const std::string &input :
         {std::string(), std::string("x"), personalised(1), std::string(1 << 20, 'a'),
          random_bytes(rng, 100000)}) {
        const std::string frame = codec.compress(input, 3);
        ASSERT_EQ(frame[0], cc::kCodecZstd);
        const cc::FrameInfo info = cc::inspect_frame(frame);
        EXPECT_FALSE(info.has_dictionary);
        EXPECT_EQ(info.content_size, input.size());
        EXPECT_EQ(codec.decompress(frame, input.size()), input);
    }
}

TEST(ContentFrame, DictionaryShrinksSmallBodiesAndIsRequiredToDecode)
{
    std::vector<std::string> samples;
    for (int i = 0; i < 400; i++)
        samples.push_back(personalised(i));
    const cc::TrainedDictionary trained = cc::train_dictionary(samples, 16384, 3);
    EXPECT_NE(trained.method, "raw") << "400 samples are enough for zstd's trainers";
    EXPECT_LE(trained.bytes.size(), 16384u);

    cc::Dictionary dict(42, trained.bytes);
    cc::Codec codec;
    const std::string body = personalised(100000); // not among the samples
    const std::string plain = codec.compress(body, 3);
    const std::string framed = codec.compress(body, 3, &dict);
    ASSERT_EQ(framed[0], cc::kCodecZstdDict);
    EXPECT_EQ(cc::inspect_frame(framed).dictionary_id, 42u);
    // What the tier exists for: a templated body is a fraction of its plain frame.
    EXPECT_LT(framed.size() * 3, plain.size()) << framed.size() << " vs " << plain.size();

    EXPECT_EQ(codec.decompress(framed, body.size(),
                               [&](std::uint32_t id) { return id == 42 ? &dict : nullptr; }),
              body);
    EXPECT_EQ(error_kind([&] { codec.decompress(framed, body.size(), no_dictionary); }),
              cc::CodecErrorKind::missing_dictionary);
    EXPECT_EQ(error_kind([&] { codec.decompress(framed, body.size()); }),
              cc::CodecErrorKind::missing_dictionary);

    // Another dictionary under the right id: the checksum catches it, no garbage.
    std::vector<std::string> other_samples;
    for (int i = 0; i < 400; i++)
        other_samples.push_back("Completely different text number " + std::to_string(i) +
                                " about gardening, tomatoes and the weather in spring.");
    cc::Dictionary impostor(42, cc::train_dictionary(other_samples, 4096, 3).bytes);
    EXPECT_EQ(error_kind([&] {
                  codec.decompress(framed, body.size(), [&](std::uint32_t) { return &impostor; });
              }),
              cc::CodecErrorKind::zstd);
}

TEST(ContentFrame, ContextsAreReusableAcrossDictionariesAndLevels)
{
    std::vector<std::string> samples;
    for (int i = 0; i < 64; i++)
        samples.push_back(personalised(i));
    cc::Dictionary a(1, cc::train_dictionary(samples, 8192, 3).bytes);
    cc::Dictionary b(2, cc::train_dictionary(samples, 4096, 9).bytes);
    cc::Codec codec;
    auto lookup = [&](std::uint32_t id) { return id == 1 ? &a : id == 2 ? &b : nullptr; };
    for (int round = 0; round < 3; round++) {
        for (cc::Dictionary *d : {&a, &b, static_cast<cc::Dictionary *>(nullptr)}) {
            for (int level : {1, 3, 9, -1}) {
                const std::string body = personalised(round * 1000 + level);
                const std::string frame = codec.compress(body, level, d);
                EXPECT_EQ(codec.decompress(frame, body.size(), lookup), body);
            }
        }
    }
}

TEST(ContentFrame, ExactErrors)
{
    cc::Codec codec;
    const std::string body = personalised(3);
    const std::string frame = codec.compress(body, 3);

    EXPECT_EQ(error_kind([&] { cc::inspect_frame(""); }), cc::CodecErrorKind::truncated);
    EXPECT_EQ(error_kind([&] { cc::inspect_frame("Q" + frame.substr(1)); }),
              cc::CodecErrorKind::unknown_codec);
    EXPECT_EQ(error_kind([&] { cc::inspect_frame("D\x80"); }), cc::CodecErrorKind::bad_varint);
    EXPECT_EQ(error_kind([&] { cc::inspect_frame(frame.substr(0, 2)); }),
              cc::CodecErrorKind::truncated);
    // Declared size above what the caller allows: refused before allocating.
    EXPECT_EQ(error_kind([&] { codec.decompress(frame, body.size() - 1); }),
              cc::CodecErrorKind::size_limit);
    // Cut short inside the compressed data.
    EXPECT_EQ(error_kind([&] { codec.decompress(frame.substr(0, frame.size() - 5), body.size()); }),
              cc::CodecErrorKind::zstd);
    // Trailing bytes after the frame are not silently ignored.
    EXPECT_NE(error_kind([&] { codec.decompress(frame + "garbage", body.size()); }),
              cc::CodecErrorKind::compress_failed);
    // A second, valid frame appended: more output than declared.
    EXPECT_NE(error_kind([&] { codec.decompress(frame + frame.substr(1), body.size()); }),
              cc::CodecErrorKind::compress_failed);
    // Flipping a bit in the checksum.
    std::string bad = frame;
    bad.back() = static_cast<char>(bad.back() ^ 0x01);
    EXPECT_EQ(error_kind([&] { codec.decompress(bad, body.size()); }), cc::CodecErrorKind::zstd);
}

TEST(ContentFrame, FrameLayoutIsPinned)
{
    cc::Codec codec;
    // Codec byte, magicless zstd frame header with content size and checksum, no dict id.
    const std::string empty = codec.compress("", 3);
    ASSERT_GE(empty.size(), 2u);
    EXPECT_EQ(empty[0], 'Z');
    const auto descriptor = static_cast<unsigned char>(empty[1]);
    EXPECT_TRUE(descriptor & 0x04) << "checksum flag";
    EXPECT_EQ(descriptor & 0x03, 0) << "no zstd dictionary id";
    EXPECT_TRUE(descriptor & 0x20) << "single segment: content size present";

    cc::Dictionary dict(300, std::string(2000, 'q') + "raw content dictionary");
    const std::string with_dict = codec.compress("qqqq", 3, &dict);
    EXPECT_EQ(with_dict.substr(0, 3), std::string("D\xac\x02", 3)) << "varint 300";
}

// ----------------------------------------------------------------- training

TEST(ContentTrain, FewSamplesBecomeARawDictionaryNewestLast)
{
    const std::vector<std::string> samples = {"newest sample body text", "older sample body text",
                                              "newest sample body text"};
    const cc::TrainedDictionary t = cc::train_dictionary(samples, 1000, 3);
    EXPECT_EQ(t.method, "raw");
    EXPECT_EQ(t.bytes, "older sample body textnewest sample body text");

    EXPECT_EQ(error_kind([] { cc::train_dictionary({}, 1000, 3); }),
              cc::CodecErrorKind::train_failed);
    EXPECT_EQ(error_kind([] { cc::train_dictionary({"", "abc"}, 1000, 3); }),
              cc::CodecErrorKind::train_failed);

    // A raw dictionary never starts like a zstd dictionary (zstd would parse it as one).
    const cc::TrainedDictionary magic =
        cc::train_dictionary({std::string("\x37\xA4\x30\xEC", 4) + "rest of it"}, 1000, 3);
    EXPECT_NE(magic.bytes.substr(0, 4), std::string("\x37\xA4\x30\xEC", 4));
    cc::Dictionary d(1, magic.bytes);
    cc::Codec codec;
    const std::string frame = codec.compress("rest of it, again", 3, &d);
    EXPECT_EQ(codec.decompress(frame, 100, [&](std::uint32_t) { return &d; }), "rest of it, again");
}

TEST(ContentTrain, IdenticalSamplesCountOnce)
{
    const std::vector<std::string> samples(500, personalised(1));
    const cc::TrainedDictionary t = cc::train_dictionary(samples, 100000, 3);
    EXPECT_EQ(t.method, "raw");
    EXPECT_EQ(t.bytes, personalised(1));
}
