// pm_fdw SQL text helpers and password scrubbing.
#include "fdw/common/fdw_text.h"

#include <gtest/gtest.h>

using namespace pm::fdw;

TEST(FdwText, QuoteLiteral)
{
    EXPECT_EQ(quote_literal("abc"), "'abc'");
    EXPECT_EQ(quote_literal("it's"), "'it''s'");
    EXPECT_EQ(quote_literal("a\\b"), "E'a\\\\b'");
    EXPECT_EQ(quote_literal(""), "''");
}

TEST(FdwText, BuildInsert)
{
    EXPECT_EQ(build_insert_sql("s.t", {"a", "b"}, 1), "INSERT INTO s.t (a, b) VALUES ($1, $2)");
    EXPECT_EQ(build_insert_sql("s.t", {"a", "b"}, 3),
              "INSERT INTO s.t (a, b) VALUES ($1, $2), ($3, $4), ($5, $6)");
    EXPECT_EQ(build_insert_sql("s.t", {}, 1), "INSERT INTO s.t DEFAULT VALUES");
}

TEST(FdwText, ScrubsKnownSecretsAndConninfoPasswords)
{
    EXPECT_EQ(scrub_secrets("auth failed for pw s3cret!", {"s3cret!"}),
              "auth failed for pw ********");
    EXPECT_EQ(scrub_secrets("host=a password=abc port=1", {}), "host=a password=******** port=1");
    EXPECT_EQ(scrub_secrets("password = 'a b\\'c' x", {}), "password = ******** x");
    EXPECT_EQ(scrub_secrets("sslpassword=zz", {}), "sslpassword=********");
    // Not a keyword: left alone.
    EXPECT_EQ(scrub_secrets("the password is required", {}), "the password is required");
    EXPECT_EQ(scrub_secrets("mypassword=1", {}), "mypassword=1");
    EXPECT_EQ(scrub_secrets("x", {""}), "x");
}

TEST(FdwText, TrimMessage)
{
    EXPECT_EQ(trim_message("connection refused\n\n"), "connection refused");
}
