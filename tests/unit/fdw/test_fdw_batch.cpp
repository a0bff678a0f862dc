// pm_fdw batched join: the key array sent remotely and the matching of remote rows.
#include "fdw/common/fdw_batch.h"

#include <gtest/gtest.h>

using namespace pm::fdw;

TEST(FdwBatch, ArrayLiteralDeduplicatesAndSkipsNulls)
{
    const char *keys[] = {"b", "a", nullptr, "b", "c", "a"};
    std::size_t count = 0;
    EXPECT_EQ(distinct_array_literal(keys, 6, &count), "{\"b\",\"a\",\"c\"}");
    EXPECT_EQ(count, 3u);
}

TEST(FdwBatch, ArrayLiteralQuotesEverything)
{
    const char *keys[] = {"", "NULL", "a,b", "{x}", "say \"hi\"", "back\\slash", " sp "};
    std::size_t count = 0;
    EXPECT_EQ(distinct_array_literal(keys, 7, &count),
              "{\"\",\"NULL\",\"a,b\",\"{x}\",\"say \\\"hi\\\"\",\"back\\\\slash\",\" sp \"}");
    EXPECT_EQ(count, 7u);
}

TEST(FdwBatch, ArrayLiteralOfNothing)
{
    const char *keys[] = {nullptr, nullptr};
    std::size_t count = 9;
    EXPECT_EQ(distinct_array_literal(keys, 2, &count), "{}");
    EXPECT_EQ(count, 0u);
    EXPECT_EQ(distinct_array_literal(nullptr, 0, &count), "{}");
}

TEST(FdwBatch, IndexFindsEveryRowOfAKeyInRemoteOrder)
{
    const char *remote[] = {"k1", "k2", nullptr, "k1", "k3"};
    KeyIndex index(remote, 5);
    EXPECT_EQ(index.find("k1"), (std::vector<int>{0, 3}));
    EXPECT_EQ(index.find("k2"), (std::vector<int>{1}));
    EXPECT_TRUE(index.find("k4").empty());
    EXPECT_TRUE(index.find(nullptr).empty());
    EXPECT_TRUE(index.find("").empty());
}

TEST(FdwBatch, IndexIsExactNotPrefixOrCaseInsensitive)
{
    const char *remote[] = {"abc", "ABC", "ab"};
    KeyIndex index(remote, 3);
    EXPECT_EQ(index.find("abc"), (std::vector<int>{0}));
    EXPECT_EQ(index.find("ABC"), (std::vector<int>{1}));
    EXPECT_EQ(index.find("ab"), (std::vector<int>{2}));
    EXPECT_TRUE(index.find("abcd").empty());
}
