#include "queue/pure/rate_admission.h"

#include <gtest/gtest.h>

using pm::queue::admit_in_claim_order;
using pm::queue::key_demand;

namespace {

using Keys = std::vector<std::optional<std::string>>;

TEST(KeyDemand, CountsEachKeyInOrderOfFirstAppearance)
{
    const Keys keys = {"mailbox:b", std::nullopt, "mailbox:a", "mailbox:b", std::nullopt, "mailbox:b"};
    const auto demand = key_demand(keys);
    ASSERT_EQ(demand.size(), 2u);
    EXPECT_EQ(demand[0], std::make_pair(std::string("mailbox:b"), 3));
    EXPECT_EQ(demand[1], std::make_pair(std::string("mailbox:a"), 1));
}

TEST(KeyDemand, NoKeysNoDemand)
{
    EXPECT_TRUE(key_demand(Keys{std::nullopt, std::nullopt}).empty());
    EXPECT_TRUE(key_demand(Keys{}).empty());
}

TEST(AdmitInClaimOrder, FirstGrantedCandidatesOfEachKeyRunTheRestWait)
{
    const Keys keys = {"k1", "k2", "k1", "k1", "k2"};
    const auto runs = admit_in_claim_order(keys, {{"k1", 2}, {"k2", 0}});
    EXPECT_EQ(runs, (std::vector<bool>{true, false, true, false, false}));
}

TEST(AdmitInClaimOrder, UnkeyedAndUnlimitedCandidatesAlwaysRun)
{
    const Keys keys = {std::nullopt, "unlimited", "limited", "unlimited", std::nullopt, "limited"};
    const auto runs = admit_in_claim_order(keys, {{"limited", 1}});
    EXPECT_EQ(runs, (std::vector<bool>{true, true, true, true, true, false}));
}

TEST(AdmitInClaimOrder, NeverAdmitsMoreThanGrantedPerKey)
{
    // Any mix of keys: per key, admitted == min(candidates, granted), and the admitted ones
    // are that key's first candidates.
    for (int granted = 0; granted <= 6; granted++) {
        Keys keys;
        for (int i = 0; i < 12; i++)
            keys.emplace_back(i % 3 == 0 ? std::optional<std::string>() : std::optional<std::string>(i % 3 == 1 ? "a" : "b"));
        const auto runs = admit_in_claim_order(keys, {{"a", granted}, {"b", granted}});
        int seen_a = 0, ran_a = 0, seen_b = 0, ran_b = 0;
        for (std::size_t i = 0; i < keys.size(); i++) {
            if (!keys[i]) {
                EXPECT_TRUE(runs[i]);
                continue;
            }
            int &seen = *keys[i] == "a" ? seen_a : seen_b;
            int &ran = *keys[i] == "a" ? ran_a : ran_b;
            EXPECT_EQ(runs[i], seen < granted) << "candidate " << i << " granted " << granted;
            seen++;
            ran += runs[i] ? 1 : 0;
        }
        EXPECT_EQ(ran_a, std::min(4, granted));
        EXPECT_EQ(ran_b, std::min(4, granted));
    }
}

} // namespace
