// Unit tests for the uuid parser behind the tenant-context cache.
#include "shared/pure/uuid_text.h"

#include <gtest/gtest.h>

namespace {

const char *kCanonical = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";

TEST(UuidText, AcceptsEveryFormPostgresAccepts)
{
    for (const char *form : {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                             "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
                             "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
                             "a0eebc999c0b4ef8bb6d6bb9bd380a11",
                             "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
                             "{a0eebc999c0b4ef8bb6d6bb9bd380a11}"}) {
        auto parsed = pm::parse_uuid(form);
        ASSERT_TRUE(parsed.has_value()) << form;
        EXPECT_EQ(pm::format_uuid(*parsed), kCanonical) << form;
    }
}

TEST(UuidText, RejectsMalformedText)
{
    for (const char *bad : {"", "nope", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1",
                            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a111", "a0eebc99--9c0b-4ef8-bb6d-6bb9bd380a11",
                            "-a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-",
                            "a0e-ebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", " a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                            "g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "{}", "{"}) {
        EXPECT_FALSE(pm::parse_uuid(bad).has_value()) << '"' << bad << '"';
    }
}

TEST(UuidText, EmbeddedNulIsRejected)
{
    std::string with_nul(kCanonical);
    with_nul[10] = '\0';
    EXPECT_FALSE(pm::parse_uuid(with_nul).has_value());
}

TEST(UuidText, CompactFormIsThirtyTwoLowercaseHex)
{
    auto parsed = pm::parse_uuid("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11");
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(pm::format_uuid_compact(*parsed), "a0eebc999c0b4ef8bb6d6bb9bd380a11");
}

TEST(UuidText, RoundTripsEveryByteValue)
{
    pm::UuidBytes bytes{};
    for (int start = 0; start < 256; start += 16) {
        for (int i = 0; i < 16; i++)
            bytes[i] = static_cast<std::uint8_t>(start + i);
        auto parsed = pm::parse_uuid(pm::format_uuid(bytes));
        ASSERT_TRUE(parsed.has_value());
        EXPECT_EQ(*parsed, bytes);
    }
}

} // namespace
