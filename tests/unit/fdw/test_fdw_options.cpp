// pm_fdw option catalogue: one-by-one validation, security flags, value parsers.
#include "fdw/common/fdw_options.h"

#include <gtest/gtest.h>

using namespace pm::fdw;

TEST(FdwOptions, AcceptsKnownOptionsInTheirPlace)
{
    EXPECT_TRUE(check_option("host", "10.0.0.5", Context::Server, false).ok());
    EXPECT_TRUE(check_option("port", "5433", Context::Server, false).ok());
    EXPECT_TRUE(check_option("user", "app", Context::UserMapping, false).ok());
    EXPECT_TRUE(check_option("password", "", Context::UserMapping, false).ok());
    EXPECT_TRUE(check_option("fetch_size", "500", Context::Table, false).ok());
    EXPECT_TRUE(check_option("on_unavailable", "empty", Context::Server, false).ok());
    EXPECT_TRUE(check_option("retry_interval", "250ms", Context::Server, false).ok());
    EXPECT_TRUE(check_option("response_timeout", "30s", Context::Server, false).ok());
    EXPECT_TRUE(check_option("column_name", "x", Context::Column, false).ok());
}

TEST(FdwOptions, UnknownOptionNamesItAndListsValidOnes)
{
    Check c = check_option("hots", "x", Context::Server, true);
    EXPECT_EQ(c.verdict, Verdict::Unknown);
    EXPECT_NE(c.message.find("\"hots\""), std::string::npos);
    EXPECT_NE(c.hint.find("host"), std::string::npos);
}

TEST(FdwOptions, WhereToConnectIsServerOnly)
{
    for (const char *name : {"host", "hostaddr", "port", "dbname", "service"}) {
        Check c = check_option(name, "x", Context::UserMapping, true);
        EXPECT_EQ(c.verdict, Verdict::WrongContext) << name;
        EXPECT_NE(c.hint.find("server"), std::string::npos) << name;
    }
    EXPECT_EQ(check_option("password", "x", Context::Server, true).verdict, Verdict::WrongContext);
    EXPECT_EQ(check_option("user", "x", Context::Server, true).verdict, Verdict::WrongContext);
}

TEST(FdwOptions, FileOptionsNeedSuperuser)
{
    for (const char *name : {"sslkey", "sslcert", "passfile"}) {
        EXPECT_EQ(check_option(name, "/etc/passwd", Context::UserMapping, false).verdict,
                  Verdict::NeedSuperuser)
            << name;
        EXPECT_TRUE(check_option(name, "/tmp/k", Context::UserMapping, true).ok()) << name;
    }
    for (const char *name : {"sslrootcert", "sslcrl", "sslcrldir", "service"})
        EXPECT_EQ(check_option(name, "x", Context::Server, false).verdict, Verdict::NeedSuperuser)
            << name;
    EXPECT_EQ(check_option("password_required", "false", Context::UserMapping, false).verdict,
              Verdict::NeedSuperuser);
}

TEST(FdwOptions, BadValuesSayWhatWasExpected)
{
    Check c = check_option("fetch_size", "0", Context::Server, true);
    EXPECT_EQ(c.verdict, Verdict::BadValue);
    EXPECT_NE(c.message.find("\"0\""), std::string::npos);
    EXPECT_NE(c.message.find("integer"), std::string::npos);
    c = check_option("on_unavailable", "ignore", Context::Server, true);
    EXPECT_EQ(c.verdict, Verdict::BadValue);
    EXPECT_NE(c.message.find("error, empty"), std::string::npos);
    EXPECT_EQ(check_option("port", "54x", Context::Server, true).verdict, Verdict::BadValue);
    EXPECT_EQ(check_option("retry_interval", "soon", Context::Server, true).verdict,
              Verdict::BadValue);
    /* Zero would mean "a hung tier hangs every caller": not a value, say so. */
    EXPECT_EQ(check_option("response_timeout", "0", Context::Server, true).verdict,
              Verdict::BadValue);
    EXPECT_EQ(check_option("response_timeout", "1s", Context::Table, true).verdict,
              Verdict::WrongContext);
    EXPECT_EQ(check_option("updatable", "maybe", Context::Table, true).verdict, Verdict::BadValue);
    EXPECT_EQ(check_option("host", "  ", Context::Server, true).verdict, Verdict::BadValue);
}

TEST(FdwOptions, SecretValuesAreNeverEchoed)
{
    // password accepts anything; sslpassword too: but a message about them must not echo.
    Check c = check_option("password", "hunter2", Context::Server, true);
    EXPECT_EQ(c.message.find("hunter2"), std::string::npos);
    EXPECT_TRUE(is_secret_option("password"));
    EXPECT_TRUE(is_secret_option("sslpassword"));
    EXPECT_FALSE(is_secret_option("user"));
}

TEST(FdwOptions, Parsers)
{
    EXPECT_EQ(parse_bool("On"), true);
    EXPECT_EQ(parse_bool("no"), false);
    EXPECT_FALSE(parse_bool("2"));
    EXPECT_EQ(parse_int(" 42 "), 42);
    EXPECT_EQ(parse_int("-3"), -3);
    EXPECT_FALSE(parse_int("4.2"));
    EXPECT_FALSE(parse_int("99999999999999999999"));
    EXPECT_DOUBLE_EQ(*parse_duration_ms("5"), 5000.0);
    EXPECT_DOUBLE_EQ(*parse_duration_ms("250ms"), 250.0);
    EXPECT_DOUBLE_EQ(*parse_duration_ms("1.5s"), 1500.0);
    EXPECT_DOUBLE_EQ(*parse_duration_ms("2min"), 120000.0);
    EXPECT_FALSE(parse_duration_ms("0"));
    EXPECT_FALSE(parse_duration_ms("2d"));
    EXPECT_FALSE(parse_duration_ms("1..2s"));
    EXPECT_FALSE(parse_duration_ms(""));
}

// Deterministic fuzz: arbitrary names and values never crash and always give a verdict
// with a message when not ok.
TEST(FdwOptions, FuzzNeverCrashes)
{
    std::uint64_t state = 0x9E3779B97F4A7C15ull;
    auto next = [&] {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    };
    const auto &catalogue = option_catalogue();
    for (int i = 0; i < 20000; ++i) {
        std::string name;
        if (next() % 2)
            name = catalogue[next() % catalogue.size()].name;
        else
            for (int k = next() % 12; k > 0; --k)
                name.push_back(static_cast<char>(next() % 256));
        std::string value;
        for (int k = next() % 24; k > 0; --k)
            value.push_back(static_cast<char>(next() % 256));
        Context ctx = static_cast<Context>(1u << (next() % 5));
        Check c = check_option(name, value, ctx, next() % 2);
        if (!c.ok()) {
            EXPECT_FALSE(c.message.empty());
        }
        parse_duration_ms(value);
        parse_int(value);
    }
}
