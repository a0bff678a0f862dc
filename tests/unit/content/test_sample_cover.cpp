// Which samples a raw dictionary is made of (src/content/pure/sample_cover.h), and
// what that means for a tenant's campaigns: every template it sends must be in the
// dictionary, not the newest template many times over.
#include "content/pure/content_codec.h"
#include "content/pure/sample_cover.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace cc = pm::content;

namespace {

// A template: a few hundred words of its own vocabulary, with links (templates share
// only their markup).
std::string make_template(int t)
{
    std::mt19937_64 rng(1000 + t);
    std::vector<std::string> words;
    for (int w = 0; w < 24; w++) {
        std::string word;
        for (int c = 0; c < 4 + static_cast<int>(rng() % 6); c++)
            word += static_cast<char>('a' + rng() % 26);
        words.push_back(word);
    }
    std::string s = "<html><body><p>Hi {name},</p><p>";
    for (int w = 0; w < 350; w++) {
        s += words[rng() % words.size()];
        s += (w % 40 == 39) ? " <a href=\"https://go.example/c/{token}\">more</a></p><p>" : " ";
    }
    return s + "</p><p><a href=\"https://go.example/u/{token}\">Unsubscribe</a></p></body></html>";
}

std::string replace_all(std::string s, std::string_view from, const std::string &to)
{
    for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
        s.replace(at, from.size(), to);
    return s;
}

// One recipient's copy: name and a 32-hex-digit token in every link.
std::string fill(const std::string &tpl, int recipient)
{
    std::mt19937_64 rng(recipient);
    static const char hex[] = "0123456789abcdef";
    std::string token;
    for (int i = 0; i < 32; i++)
        token += hex[rng() % 16];
    const char *const names[] = {"Ava", "Noah", "Mia", "Liam", "Zoe"};
    return replace_all(replace_all(tpl, "{name}", names[recipient % 5]), "{token}", token);
}

std::vector<std::string_view> views(const std::vector<std::string> &v)
{
    return {v.begin(), v.end()};
}

} // namespace

TEST(SampleCover, OneCopyOfEachTemplateWhenSentTemplateByTemplate)
{
    // A campaign sends template after template: the samples come grouped.
    std::vector<std::string> samples;
    for (int t = 0; t < 6; t++)
        for (int r = 0; r < 30; r++)
            samples.push_back(fill(make_template(t), t * 100 + r));
    const std::vector<std::size_t> chosen = cc::covering_samples(views(samples), 1 << 20, 0.8);
    ASSERT_GE(chosen.size(), 6u);
    std::vector<int> per_template(6, 0);
    for (std::size_t i : chosen)
        per_template[i / 30]++;
    for (int t = 0; t < 6; t++)
        EXPECT_GE(per_template[t], 1) << "template " << t << " has no sample in the dictionary";
    // The first pass takes the first (newest) copy of each template.
    for (int t = 0; t < 6; t++)
        EXPECT_NE(std::find(chosen.begin(), chosen.end(), std::size_t(t * 30)), chosen.end());
    EXPECT_TRUE(std::is_sorted(chosen.begin(), chosen.end())) << "in the order given";
}

TEST(SampleCover, CapacityHoldsAndSmallerSamplesStillFit)
{
    std::vector<std::string> samples = {std::string(600, 'a') + make_template(1),
                                        make_template(2).substr(0, 900),
                                        make_template(3).substr(0, 900)};
    const std::size_t capacity = 2000;
    const std::vector<std::size_t> chosen = cc::covering_samples(views(samples), capacity, 0.8);
    std::size_t used = 0;
    for (std::size_t i : chosen)
        used += samples[i].size();
    EXPECT_LE(used, capacity);
    // The first sample is too large; the two after it are taken anyway.
    EXPECT_EQ(chosen, (std::vector<std::size_t>{1, 2}));
}

TEST(SampleCover, VariedMailIsTakenWhole)
{
    // Mail with nothing in common: every sample is new, each joins while there is room.
    std::mt19937_64 rng(5);
    std::vector<std::string> samples;
    for (int i = 0; i < 20; i++) {
        std::string s;
        for (int c = 0; c < 500; c++)
            s += static_cast<char>('a' + rng() % 26);
        samples.push_back(s);
    }
    EXPECT_EQ(cc::covering_samples(views(samples), 1 << 20, 0.8).size(), 20u);
    EXPECT_EQ(cc::covering_samples(views(samples), 5 * 500, 0.8).size(), 5u);
    EXPECT_TRUE(cc::covering_samples({}, 1000, 0.8).empty());
}

TEST(SampleCover, TrainedDictionaryCoversEveryTemplateOfACampaign)
{
    // 12 templates x 40 recipients, grouped; the dictionary has room for about one
    // copy of each.  Filled with the newest samples it would hold the first template
    // a dozen times and leave the others to compress on their own.
    std::vector<std::string> samples;
    for (int t = 0; t < 12; t++)
        for (int r = 0; r < 40; r++)
            samples.push_back(fill(make_template(t), t * 1000 + r));
    std::size_t one_each = 0;
    for (int t = 0; t < 12; t++)
        one_each += samples[t * 40].size();
    const cc::TrainedDictionary trained =
        cc::train_dictionary(samples, one_each + one_each / 10, 3);
    cc::Dictionary dict(9, trained.bytes);
    cc::Codec codec;
    for (int t = 0; t < 12; t++) {
        const std::string body = fill(make_template(t), 999999 - t); // not among the samples
        const std::string frame = codec.compress(body, 3, &dict);
        EXPECT_LT(frame.size() * 10, body.size())
            << "template " << t << " (" << trained.method << "): " << frame.size() << " of "
            << body.size() << " bytes";
        EXPECT_EQ(codec.decompress(frame, body.size(), [&](std::uint32_t) { return &dict; }), body);
    }
}
