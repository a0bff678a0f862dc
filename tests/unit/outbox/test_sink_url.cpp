// Unit tests for sink URLs (src/outbox/pure/sink_url.h): the endpoint a batch is posted to,
// the URLs refused, and what of a URL may appear in a message.  Sink URLs are shown in
// pm.outbox_sinks and in errors, so no refusal may echo credentials or a query string.
#include "outbox/pure/sink_url.h"

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace pm::outbox;

constexpr SinkKind kAllKinds[] = {SinkKind::posthog, SinkKind::loki, SinkKind::otlp,
                                  SinkKind::jsonl, SinkKind::http};

// The message of the SinkUrlError `url` raises; a test failure (and "") when it is accepted.
std::string refusal(std::string_view url, SinkKind kind = SinkKind::loki)
{
    try {
        const std::string endpoint = sink_endpoint(kind, url);
        ADD_FAILURE() << "accepted \"" << std::string(url) << "\" as " << endpoint;
    } catch (const SinkUrlError &e) {
        return e.what();
    }
    return {};
}

bool contains(const std::string &haystack, std::string_view needle)
{
    return haystack.find(needle) != std::string::npos;
}

// ---------------------------------------------------------------- endpoint defaulting

TEST(SinkUrl, StandardPathAppendedWhenThereIsNoPath)
{
    EXPECT_EQ(sink_endpoint(SinkKind::posthog, "https://eu.i.posthog.com"),
              "https://eu.i.posthog.com/batch/");
    EXPECT_EQ(sink_endpoint(SinkKind::loki, "http://loki:3100"),
              "http://loki:3100/loki/api/v1/push");
    EXPECT_EQ(sink_endpoint(SinkKind::otlp, "http://collector:4318"),
              "http://collector:4318/v1/logs");
    // jsonl and http have no standard path: the root.
    EXPECT_EQ(sink_endpoint(SinkKind::jsonl, "http://127.0.0.1:8080"), "http://127.0.0.1:8080/");
    EXPECT_EQ(sink_endpoint(SinkKind::http, "https://hooks.example.com"),
              "https://hooks.example.com/");
}

TEST(SinkUrl, ABareSlashCountsAsNoPath)
{
    EXPECT_EQ(sink_endpoint(SinkKind::posthog, "https://eu.i.posthog.com/"),
              "https://eu.i.posthog.com/batch/");
    EXPECT_EQ(sink_endpoint(SinkKind::loki, "http://loki:3100/"),
              "http://loki:3100/loki/api/v1/push");
    EXPECT_EQ(sink_endpoint(SinkKind::otlp, "http://collector:4318/"),
              "http://collector:4318/v1/logs");
    EXPECT_EQ(sink_endpoint(SinkKind::jsonl, "http://h/"), "http://h/");
    EXPECT_EQ(sink_endpoint(SinkKind::http, "http://h/"), "http://h/");
}

TEST(SinkUrl, AGivenPathIsKept)
{
    for (SinkKind kind : kAllKinds) {
        EXPECT_EQ(sink_endpoint(kind, "https://gw.example.com/ingest/v2"),
                  "https://gw.example.com/ingest/v2")
            << sink_kind_name(kind);
        EXPECT_EQ(sink_endpoint(kind, "http://h:9/a/"), "http://h:9/a/") << sink_kind_name(kind);
    }
    // A proxy in front of Loki, a PostHog capture path: never doubled up.
    EXPECT_EQ(sink_endpoint(SinkKind::loki, "https://logs.example.com/loki/api/v1/push"),
              "https://logs.example.com/loki/api/v1/push");
    EXPECT_EQ(sink_endpoint(SinkKind::posthog, "https://ph.example.com/batch/"),
              "https://ph.example.com/batch/");
}

TEST(SinkUrl, QueryStringIsPreservedAfterTheStandardPath)
{
    EXPECT_EQ(sink_endpoint(SinkKind::posthog, "https://ph.example.com?x=1&y=2"),
              "https://ph.example.com/batch/?x=1&y=2");
    EXPECT_EQ(sink_endpoint(SinkKind::loki, "http://loki:3100/?org=a"),
              "http://loki:3100/loki/api/v1/push?org=a");
    EXPECT_EQ(sink_endpoint(SinkKind::jsonl, "http://h?k=v"), "http://h/?k=v");
    EXPECT_EQ(sink_endpoint(SinkKind::otlp, "http://h/custom?k=v"), "http://h/custom?k=v");
}

TEST(SinkUrl, EndpointsAreFixedPoints)
{
    // The shipper may check an endpoint again: it must come back unchanged.
    for (SinkKind kind : kAllKinds)
        for (const char *url : {"http://h", "https://h:443/", "http://h?q=1", "http://[::1]:80"}) {
            const std::string endpoint = sink_endpoint(kind, url);
            EXPECT_EQ(sink_endpoint(kind, endpoint), endpoint) << sink_kind_name(kind) << " " << url;
        }
}

TEST(SinkUrl, HostForms)
{
    EXPECT_EQ(sink_endpoint(SinkKind::otlp, "http://10.0.0.7:4318"), "http://10.0.0.7:4318/v1/logs");
    EXPECT_EQ(sink_endpoint(SinkKind::otlp, "http://otel_collector"), "http://otel_collector/v1/logs");
    EXPECT_EQ(sink_endpoint(SinkKind::otlp, "http://a-b.c-d.example"), "http://a-b.c-d.example/v1/logs");
    EXPECT_EQ(sink_endpoint(SinkKind::http, "http://h:1"), "http://h:1/");
    EXPECT_EQ(sink_endpoint(SinkKind::http, "http://h:65535"), "http://h:65535/");
}

TEST(SinkUrl, Ipv6LiteralsWithAndWithoutPort)
{
    EXPECT_EQ(sink_endpoint(SinkKind::loki, "http://[::1]:8080"),
              "http://[::1]:8080/loki/api/v1/push");
    EXPECT_EQ(sink_endpoint(SinkKind::loki, "http://[::1]"), "http://[::1]/loki/api/v1/push");
    EXPECT_EQ(sink_endpoint(SinkKind::http, "https://[2001:db8::1]/in"), "https://[2001:db8::1]/in");
    EXPECT_EQ(sink_endpoint(SinkKind::http, "http://[::ffff:10.0.0.1]:9000"),
              "http://[::ffff:10.0.0.1]:9000/");
    (void) refusal("http://[::1");       // unclosed
    (void) refusal("http://[]:80");      // empty literal
    (void) refusal("http://[::g]:80");   // not hex
    (void) refusal("http://[::1]x");     // junk after the literal
    (void) refusal("http://[::1]:0");    // port checked after a literal too
    (void) refusal("http://[::1]:");
}

// ------------------------------------------------------------------------- refusals

TEST(SinkUrl, EmptyIsRefused)
{
    EXPECT_TRUE(contains(refusal(""), "empty"));
}

TEST(SinkUrl, OverlongIsRefusedAtTheLimit)
{
    const std::string prefix = "https://h/";
    const std::string at_limit = prefix + std::string(kMaxUrlLength - prefix.size(), 'a');
    ASSERT_EQ(at_limit.size(), 2000u);
    EXPECT_EQ(sink_endpoint(SinkKind::http, at_limit), at_limit);

    const std::string message = refusal(at_limit + "a");
    EXPECT_TRUE(contains(message, "2001")) << message;
    EXPECT_TRUE(contains(message, "2000")) << message;
    EXPECT_LT(message.size(), 200u) << "the URL itself is not repeated";
}

TEST(SinkUrl, OnlyHttpAndHttpsSchemes)
{
    for (const char *url : {"ftp://h/x", "file:///etc/passwd", "HTTP://h", "Https://h", "http:/h",
                            "//h/x", "h.example.com", "gopher://h", "ws://h"}) {
        const std::string message = refusal(url);
        EXPECT_TRUE(contains(message, "http:// or https://")) << url << ": " << message;
    }
}

TEST(SinkUrl, AHostIsRequired)
{
    for (const char *url : {"http://", "https://", "http:///path", "http://:8080", "http://?q=1",
                            "http://#f", "https://.example.com", "https://-h", "http://h%41",
                            "http://h!/", "http://h\\x"}) {
        const std::string message = refusal(url);
        EXPECT_TRUE(contains(message, "host")) << url << ": " << message;
    }
}

TEST(SinkUrl, BadPortsAreRefused)
{
    for (const char *url : {"http://h:0", "http://h:65536", "http://h:99999", "http://h:123456",
                            "http://h:", "http://h:abc", "http://h:80a", "http://h:-1",
                            "http://h:+80", "http://h:0x50/"}) {
        const std::string message = refusal(url);
        EXPECT_TRUE(contains(message, "port")) << url << ": " << message;
    }
    // Two ports: the last is taken as the port, which leaves "h:80" as a (bad) host.
    (void) refusal("http://h:80:80");
}

TEST(SinkUrl, SpacesAndControlCharactersAreRefused)
{
    for (std::string url : {std::string("https://h/a b"), std::string(" https://h"),
                            std::string("https://h/\tx"), std::string("https://h\n"),
                            std::string("https://h/\r\nX-Injected: 1"), std::string("https://h/\x7f"),
                            std::string("https://h/a\0b", 13)}) {
        const std::string message = refusal(url);
        EXPECT_TRUE(contains(message, "space or a control character")) << message;
        // The message shows the URL, but never the control characters themselves.
        for (unsigned char c : message)
            EXPECT_TRUE(c >= 0x20 && c != 0x7f) << "control byte " << int(c) << " in " << message;
    }
}

TEST(SinkUrl, CredentialsAreRefusedWithoutEchoingThem)
{
    const std::string message = refusal("https://user:s3cr3t@ph.example.com/");
    EXPECT_TRUE(contains(message, "credentials")) << message;
    EXPECT_TRUE(contains(message, "pm.set_sink_secret")) << message;
    EXPECT_FALSE(contains(message, "s3cr3t")) << message;
    EXPECT_FALSE(contains(refusal("https://s3cr3t@h"), "s3cr3t"));
    EXPECT_FALSE(contains(refusal("http://user:s3cr3t@h:8080/x"), "s3cr3t"));
}

TEST(SinkUrl, NoRefusalEchoesCredentials)
{
    // Whatever else is wrong with a URL, its user information stays out of the message:
    // a wrong scheme or a space is found before the '@' is.
    for (const char *url : {"ftp://user:s3cr3t@h/x", "https://user:s3cr3t@h/a b",
                            "user:s3cr3t@h", "HTTPS://user:s3cr3t@h", "https://u:s3cr3t@h\t",
                            "ldap://s3cr3t@h?x#y"}) {
        const std::string message = refusal(url);
        EXPECT_FALSE(contains(message, "s3cr3t")) << url << ": " << message;
    }
}

TEST(SinkUrl, RefusalsDoNotEchoTheQueryString)
{
    // Tokens are often passed as ?token=...; messages show the URL up to the query.
    const std::string message = refusal("ftp://h/x?token=t0k3n#frag");
    EXPECT_TRUE(contains(message, "ftp://h/x")) << message;
    EXPECT_FALSE(contains(message, "t0k3n")) << message;
    EXPECT_FALSE(contains(refusal("https://h/a b?token=t0k3n"), "t0k3n"));
}

TEST(SinkUrl, AnAtSignInThePathOrQueryIsNotUserInformation)
{
    EXPECT_EQ(sink_endpoint(SinkKind::http, "https://h/users/@me"), "https://h/users/@me");
    EXPECT_EQ(sink_endpoint(SinkKind::loki, "https://h?mail=a@b"),
              "https://h/loki/api/v1/push?mail=a@b");
}

// ------------------------------------------------------------------ url_for_messages

TEST(SinkUrl, UrlForMessagesStripsQueryAndFragment)
{
    EXPECT_EQ(url_for_messages("https://h/p?token=abc#frag"), "https://h/p");
    EXPECT_EQ(url_for_messages("https://h/p#frag?x"), "https://h/p");
    EXPECT_EQ(url_for_messages("https://h?x"), "https://h");
    EXPECT_EQ(url_for_messages("https://h/p"), "https://h/p");
    EXPECT_EQ(url_for_messages(""), "");
}

TEST(SinkUrl, UrlForMessagesHidesUserInformation)
{
    EXPECT_EQ(url_for_messages("https://user:s3cr3t@h/p?q"), "https://***@h/p");
    EXPECT_EQ(url_for_messages("ftp://s3cr3t@h"), "ftp://***@h");
    EXPECT_EQ(url_for_messages("user:s3cr3t@h/p"), "***@h/p");
    // The last '@' of the authority ends the user information ('@' unescaped in a password).
    EXPECT_EQ(url_for_messages("https://u:p@ss@h/x"), "https://***@h/x");
    // An '@' after the authority is just a character.
    EXPECT_EQ(url_for_messages("https://h/users/@me"), "https://h/users/@me");
    EXPECT_EQ(url_for_messages("https://h?u=a@b"), "https://h");
}

TEST(SinkUrl, UrlForMessagesIsBoundedAndPrintable)
{
    const std::string long_url = "https://h/" + std::string(500, 'x');
    const std::string shown = url_for_messages(long_url);
    EXPECT_EQ(shown, long_url.substr(0, 200) + "...");

    EXPECT_EQ(url_for_messages(std::string("https://h/\x01\n\x7f", 13)), "https://h/???");
}

TEST(SinkUrl, UrlForMessagesCutsAtACharacterBoundary)
{
    // A message cut in the middle of a UTF-8 sequence is not valid text: the server cannot
    // store it in a text column nor convert it to the client's encoding.
    const std::string e_acute = "\xC3\xA9";
    std::string url = "https://h/" + std::string(189, 'x'); // 199 bytes
    url += e_acute + e_acute;                                // 'é' spans bytes 199-200
    const std::string shown = url_for_messages(url);
    EXPECT_EQ(shown, url.substr(0, 199) + "...");
}

} // namespace
