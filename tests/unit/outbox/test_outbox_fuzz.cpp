// Deterministic fuzzing of the outbox's pure code: ~100k random and mutated inputs.
//
//   sink_endpoint()   either an http(s) endpoint with no credentials and no control
//                     characters, or a SinkUrlError with a bounded, printable message that
//                     never shows the URL's user information — nothing else
//   format_batch()    for every sink kind, either a body that parses back (properties
//                     intact) or std::invalid_argument, exactly when the properties text is
//                     not a JSON object
//   *_problem()       agree with the documented character sets and lengths, and accepts()
//                     with the documented filter rule
//
// Fixed seeds: a failure reproduces.  Run under ASan/UBSan to see out-of-bounds reads.
#include "outbox/pure/event_format.h"
#include "outbox/pure/sink_filter.h"
#include "outbox/pure/sink_url.h"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

using nlohmann::json;
using namespace pm::outbox;

constexpr SinkKind kAllKinds[] = {SinkKind::posthog, SinkKind::loki, SinkKind::otlp,
                                  SinkKind::jsonl, SinkKind::http};

// Planted in the user information of generated URLs; no refusal may show it.
const std::string kSecret = "Zq9secretZq9";

bool valid_utf8(std::string_view s)
{
    for (std::size_t i = 0; i < s.size();) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        std::size_t n;
        std::uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 2, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 4, cp = c & 0x07;
        } else {
            return false;
        }
        if (i + n > s.size())
            return false;
        for (std::size_t k = 1; k < n; k++) {
            const unsigned char cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        const std::uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n;
    }
    return true;
}

std::size_t count_of(const std::string &haystack, const std::string &needle)
{
    std::size_t n = 0;
    for (std::size_t at = haystack.find(needle); at != std::string::npos;
         at = haystack.find(needle, at + 1))
        n++;
    return n;
}

class Fuzzer {
public:
    explicit Fuzzer(std::uint64_t seed) : rng_(seed) {}

    std::size_t below(std::size_t n) { return static_cast<std::size_t>(rng_() % n); }
    bool one_in(std::size_t n) { return below(n) == 0; }

    template <std::size_t N>
    const char *pick(const char *const (&options)[N])
    {
        return options[below(N)];
    }

    // ------------------------------------------------------------------------- URLs

    // Bytes that matter to the URL grammar, near-misses, and what people paste by mistake.
    char url_byte()
    {
        static const char kPoolBytes[] =
            "htpsHTPSf:/:/[]@@?#&=.-_0123456789abcdefxyz% \t\n\r\0\x7f\x80\xc3\xa9\xff\\*+~";
        static const std::string kPool(kPoolBytes, sizeof kPoolBytes - 1);
        return one_in(10) ? static_cast<char>(below(256)) : kPool[below(kPool.size())];
    }

    std::string host()
    {
        switch (below(7)) {
        case 0: return "localhost";
        case 1: return std::to_string(below(256)) + "." + std::to_string(below(300)) + ".0." +
                       std::to_string(below(256));
        case 2: return pick({"[::1]", "[2001:db8::5]", "[::ffff:10.0.0.1]", "[fe80::1%25eth0]",
                             "[::1", "[]"});
        case 3: return "otel_collector";
        case 4: return "";
        default: {
            std::string h;
            for (std::size_t labels = 1 + below(3); labels > 0; labels--) {
                if (!h.empty())
                    h += '.';
                for (std::size_t n = 1 + below(8); n > 0; n--)
                    h += "abcxyz09-"[below(9)];
            }
            return h;
        }
        }
    }

    std::string path()
    {
        switch (below(8)) {
        case 0:
        case 1: return "";
        case 2: return "/";
        case 3: return pick({"/batch/", "/loki/api/v1/push", "/v1/logs", "/i/v0/e/"});
        case 4: {
            // Long, with multibyte characters: crosses the 200-byte message cut and,
            // sometimes, the 2000-byte limit.
            std::string p = "/";
            const std::size_t len = one_in(3) ? 1900 + below(200) : 150 + below(100);
            while (p.size() < len)
                p += one_in(3) ? "\xC3\xA9" : (one_in(5) ? "\xF0\x9F\x90\xA7" : "x");
            return p;
        }
        default: {
            std::string p;
            for (std::size_t n = 1 + below(3); n > 0; n--)
                p += "/" + std::string(pick({"a", "ingest", "v2", "@me", "x.y", "%20"}));
            return p;
        }
        }
    }

    std::string valid_url()
    {
        std::string url = one_in(12) ? pick({"ftp://", "HTTP://", "", "http:/", "//"})
                                     : pick({"http://", "https://"});
        if (one_in(6))
            url += pick({"user:", "", "u:p@"}) + kSecret + "@";
        url += host();
        if (one_in(2))
            url += ":" + (one_in(4) ? std::string(pick({"", "0", "65536", "80a", "99999"}))
                                    : std::to_string(1 + below(65535)));
        url += path();
        if (one_in(4))
            url += pick({"?token=t0k3n&x=1", "?", "?a=@b", "?q=/x"});
        if (one_in(8))
            url += pick({"#frag", "#", "#a?b"});
        return url;
    }

    std::string random_url()
    {
        std::string s = one_in(2) ? std::string(pick({"http://", "https://", "http://[", ""})) : "";
        for (std::size_t len = s.size() + (one_in(10) ? below(300) : below(60)); s.size() < len;)
            s += url_byte();
        return s;
    }

    std::string mutate(std::string s)
    {
        for (std::size_t rounds = 1 + below(3); rounds > 0; rounds--) {
            const std::size_t at = s.empty() ? 0 : below(s.size());
            switch (below(7)) {
            case 0: // overwrite
                if (!s.empty())
                    s[at] = url_byte();
                break;
            case 1: // insert
                s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), url_byte());
                break;
            case 2: // delete
                if (!s.empty())
                    s.erase(at, 1);
                break;
            case 3: // truncate
                s.resize(at);
                break;
            case 4: // flip case
                if (!s.empty())
                    s[at] = static_cast<char>(s[at] ^ 0x20);
                break;
            case 5: // duplicate a slice
                s.insert(at, s.substr(at, below(20)));
                break;
            case 6: // splice in a grammar piece
                s.insert(at, pick({"@", ":", "[", "]", "/", "?", "#", "://", ":8080", "%00"}));
                break;
            }
        }
        return s;
    }

    // ------------------------------------------------------------- JSON-ish properties

    std::string json_string()
    {
        std::string s = "\"";
        for (std::size_t n = below(8); n > 0; n--) {
            if (one_in(25)) // invalid in JSON: a lone surrogate, a bad escape, a raw control
                            // byte, bytes that are not UTF-8
                s += pick({"\\ud800", "\\x", "\n", "\x01", "\xff", "\xC3"});
            else
                s += pick({"a", "key", " ", "\\\"", "\\\\", "\\n", "\\t", "\\u00e9", "\\u0000",
                           "\\ud83d\\ude00", "\xC3\xA9", "\xF0\x9F\x90\xA7", "\\u2028", "/",
                           "\\/"});
        }
        return s + "\"";
    }

    std::string json_number()
    {
        switch (one_in(15) ? 5 : below(5)) {
        case 0: return std::to_string(static_cast<std::int64_t>(rng_()));
        case 1: return std::to_string(below(1000));
        case 2: return pick({"9223372036854775807", "-9223372036854775808", "18446744073709551615",
                             "18446744073709551616", "123456789012345678901234567890"});
        case 3: return pick({"0.5", "-0.0", "1.0E+2", "2.5e-3", "1e308", "1e-400", "-0"});
        case 4: // finite in jsonb, not in a double; rarely, they spoil the whole object
            return one_in(5) ? pick({"1e400", "-1e999"}) : std::to_string(below(10)) + ".25";
        default: return pick({"01", "1.", ".5", "+1", "0x10", "NaN", "Infinity"}); // not JSON
        }
    }

    std::string json_value(int depth)
    {
        switch (below(depth >= 3 ? 4 : 7)) {
        case 0: return json_number();
        case 1: return json_string();
        case 2: return pick({"true", "false", "null"});
        case 3: return one_in(2) ? json_number() : json_string();
        case 4: {
            std::string s = "[";
            for (std::size_t n = below(4); n > 0; n--)
                s += json_value(depth + 1) + (n > 1 ? ", " : "");
            return s + "]";
        }
        default: return json_object(depth + 1);
        }
    }

    std::string json_object(int depth)
    {
        std::string s = "{";
        for (std::size_t n = below(5); n > 0; n--)
            s += json_string() + ": " + json_value(depth) + (n > 1 ? ", " : "");
        return s + "}";
    }

    std::string properties()
    {
        std::string s = one_in(5) ? json_value(0) : json_object(0);
        if (one_in(4)) { // break it, or not
            for (std::size_t rounds = 1 + below(2); rounds > 0; rounds--) {
                const std::size_t at = s.empty() ? 0 : below(s.size());
                switch (below(4)) {
                case 0: s.resize(at); break;
                case 1: if (!s.empty()) s.erase(at, 1); break;
                case 2: s.insert(at, pick({"{", "}", "[", "]", ",", ":", "\"", " ", "\\"})); break;
                case 3: s += pick({" ", "\n", " {}", "x"}); break;
                }
            }
        }
        return s;
    }

    // ----------------------------------------------------------------------- names

    std::string name()
    {
        static const char kGood[] = "abcxyzABXZ0189_.:-$";
        static const char kBad[] = " *,;/\"'\t\n\x7f@#%()\xC3\xA9\xff";
        const std::size_t len = one_in(4) ? 190 + below(20) : (one_in(5) ? 55 + below(15) : below(12));
        std::string s;
        const bool lower = one_in(3); // sink-name-like
        while (s.size() < len) {
            if (one_in(12))
                s += one_in(4) ? '\0' : kBad[below(sizeof kBad - 1)];
            else if (lower)
                s += "abz09_-"[below(7)];
            else
                s += kGood[below(sizeof kGood - 1)];
        }
        if (one_in(4))
            s += '*';
        return s;
    }

    // Event names and filter entries around the email_ family and a plain one.
    std::string event_like()
    {
        std::string s = pick({"email_", "email", "e", "em", "emails_", "job_", "job", "", "x.",
                              "email_open"});
        if (!one_in(3))
            s += pick({"sent", "opened", "done", "", "_", "x"});
        return s;
    }

private:
    std::mt19937_64 rng_;
};

// ------------------------------------------------------------------------ sink_endpoint

struct UrlTally {
    int accepted = 0;
    int refused = 0;
    int secrets_planted = 0;
};

void check_refusal(const std::string &message, const std::string &input, UrlTally &tally)
{
    ASSERT_FALSE(message.empty());
    ASSERT_EQ(message.rfind("sink URL", 0), 0u) << message;
    ASSERT_LT(message.size(), 400u) << message;
    for (unsigned char c : message)
        ASSERT_TRUE(c >= 0x20 && c != 0x7f) << "control byte " << int(c) << " in: " << message;
    if (valid_utf8(input)) {
        ASSERT_TRUE(valid_utf8(message)) << "cut inside a character: " << message;
    }
    // The planted secret, when it is in the input once (so nowhere but where it was put)
    // and still ends with the '@' of user information, must not appear.
    if (count_of(input, kSecret) == 1 && input.find(kSecret + "@") != std::string::npos &&
        input.find(kSecret + "@") < input.find_first_of("?#")) {
        const std::size_t secret_at = input.find(kSecret);
        const std::size_t scheme = input.find("://");
        const std::size_t start = scheme != std::string::npos && scheme + 1 == input.find('/')
                                      ? scheme + 3
                                      : 0;
        // Only when no '/' separates it from the start of the authority.
        if (input.find('/', start) > secret_at && secret_at >= start) {
            tally.secrets_planted++;
            ASSERT_EQ(message.find(kSecret), std::string::npos)
                << "credentials in: " << message << "\ninput: " << input;
        }
    }
}

void check_endpoint(SinkKind kind, const std::string &endpoint, const std::string &input)
{
    std::size_t scheme_len = 0;
    if (endpoint.rfind("http://", 0) == 0)
        scheme_len = 7;
    else if (endpoint.rfind("https://", 0) == 0)
        scheme_len = 8;
    ASSERT_NE(scheme_len, 0u) << endpoint;
    const std::size_t authority_end = endpoint.find_first_of("/?#", scheme_len);
    ASSERT_NE(authority_end, std::string::npos) << "an endpoint always has a path: " << endpoint;
    ASSERT_EQ(endpoint[authority_end], '/') << endpoint;
    const std::string authority = endpoint.substr(scheme_len, authority_end - scheme_len);
    ASSERT_FALSE(authority.empty()) << endpoint;
    ASSERT_EQ(authority.find('@'), std::string::npos) << endpoint;
    for (unsigned char c : endpoint)
        ASSERT_TRUE(c > 0x20 && c != 0x7f) << "control byte " << int(c) << " in: " << endpoint;
    ASSERT_LE(endpoint.size(), input.size() + std::strlen("/loki/api/v1/push"));
    // A path given is kept; the endpoint is accepted again unchanged.
    const std::size_t in_path = input.find_first_of("/?#", scheme_len);
    const std::string given = in_path == std::string::npos
                                  ? std::string()
                                  : input.substr(in_path, input.find_first_of("?#", in_path) - in_path);
    if (!given.empty() && given != "/") {
        ASSERT_EQ(endpoint, input);
    }
    ASSERT_EQ(sink_endpoint(kind, endpoint), endpoint);
}

void check_url(SinkKind kind, const std::string &input, UrlTally &tally)
{
    std::string endpoint;
    try {
        endpoint = sink_endpoint(kind, input);
    } catch (const SinkUrlError &e) {
        tally.refused++;
        check_refusal(e.what(), input, tally);
        return;
    } catch (const std::exception &e) {
        FAIL() << "not a SinkUrlError: " << e.what() << "\ninput: " << input;
    } catch (...) {
        FAIL() << "not an exception\ninput: " << input;
    }
    tally.accepted++;
    check_endpoint(kind, endpoint, input);
}

TEST(OutboxFuzz, RandomUrls)
{
    Fuzzer fuzz(0x0b0e0001);
    UrlTally tally;
    for (int i = 0; i < 20000; i++) {
        check_url(kAllKinds[i % 5], fuzz.random_url(), tally);
        if (HasFatalFailure())
            return;
    }
    EXPECT_GT(tally.refused, 18000);
}

TEST(OutboxFuzz, GeneratedAndMutatedUrls)
{
    Fuzzer fuzz(0x0b0e0002);
    UrlTally tally;
    for (int i = 0; i < 30000; i++) {
        const std::string url = fuzz.one_in(2) ? fuzz.valid_url() : fuzz.mutate(fuzz.valid_url());
        check_url(kAllKinds[i % 5], url, tally);
        if (HasFatalFailure())
            return;
    }
    // Both outcomes, and refusals of URLs with credentials, or this proves less than it says.
    EXPECT_GT(tally.accepted, 5000);
    EXPECT_GT(tally.refused, 5000);
    EXPECT_GT(tally.secrets_planted, 1000);
}

// ------------------------------------------------------------------------- format_batch

// The value an OTLP AnyValue stands for.
json from_any_value(const json &v)
{
    if (v.contains("stringValue"))
        return v.at("stringValue");
    if (v.contains("boolValue"))
        return v.at("boolValue");
    if (v.contains("doubleValue"))
        return v.at("doubleValue");
    if (v.contains("intValue")) {
        // An int64 as a decimal string, or the receiver refuses the request.
        const std::string text = v.at("intValue");
        std::int64_t n = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
        EXPECT_TRUE(ec == std::errc() && end == text.data() + text.size()) << "intValue " << text;
        return n;
    }
    if (v.contains("arrayValue")) {
        json out = json::array();
        for (const json &item : v.at("arrayValue").at("values"))
            out.push_back(from_any_value(item));
        return out;
    }
    if (v.contains("kvlistValue")) {
        json out = json::object();
        for (const json &kv : v.at("kvlistValue").at("values"))
            out[kv.at("key").get<std::string>()] = from_any_value(kv.at("value"));
        return out;
    }
    EXPECT_TRUE(v.is_object() && v.empty()) << v.dump();
    return nullptr;
}

// Equal as JSON, except that numbers compare by value (an integer may become a double).
bool same_value(const json &a, const json &b)
{
    if (a.is_number() && b.is_number()) {
        if (a.is_number_float() || b.is_number_float())
            return a.get<double>() == b.get<double>();
        return a == b;
    }
    if (a.type() != b.type())
        return false;
    if (a.is_array()) {
        if (a.size() != b.size())
            return false;
        for (std::size_t i = 0; i < a.size(); i++)
            if (!same_value(a[i], b[i]))
                return false;
        return true;
    }
    if (a.is_object()) {
        if (a.size() != b.size())
            return false;
        for (auto it = a.begin(); it != a.end(); ++it)
            if (!b.contains(it.key()) || !same_value(it.value(), b.at(it.key())))
                return false;
        return true;
    }
    return a == b;
}

void check_body(SinkKind kind, const Body &body, const json &props)
{
    if (kind == SinkKind::jsonl || kind == SinkKind::http) {
        ASSERT_FALSE(body.text.empty());
        ASSERT_EQ(body.text.back(), '\n');
        ASSERT_EQ(body.text.find('\n'), body.text.size() - 1) << "one event, one line";
        const json line = json::parse(body.text);
        ASSERT_EQ(line.at("properties"), props);
        return;
    }
    const json parsed = json::parse(body.text);
    switch (kind) {
    case SinkKind::posthog: {
        const json &p = parsed.at("batch").at(0).at("properties");
        for (auto it = props.begin(); it != props.end(); ++it) {
            // These four are PostHog's own properties and win over the event's.
            if (it.key() != "tenant_id" && it.key() != "level" && it.key() != "tier" &&
                it.key() != "$lib") {
                ASSERT_EQ(p.at(it.key()), it.value()) << it.key();
            }
        }
        break;
    }
    case SinkKind::loki: {
        const json line =
            json::parse(parsed.at("streams").at(0).at("values").at(0).at(1).get<std::string>());
        ASSERT_EQ(line.at("properties"), props);
        break;
    }
    case SinkKind::otlp: {
        json decoded = json::object();
        for (const json &a : parsed.at("resourceLogs")[0].at("scopeLogs")[0].at("logRecords")[0].at(
                 "attributes")) {
            const std::string key = a.at("key");
            if (key.rfind("properties.", 0) == 0)
                decoded[key.substr(11)] = from_any_value(a.at("value"));
        }
        ASSERT_TRUE(same_value(decoded, props)) << decoded.dump() << "\n" << props.dump();
        break;
    }
    default: break;
    }
}

TEST(OutboxFuzz, PropertiesIntoEveryKind)
{
    Fuzzer fuzz(0x0b0e0003);
    const Origin origin{"pm-fuzz", "oltp"};
    int formatted = 0;
    int refused = 0;
    for (int i = 0; i < 8000; i++) {
        const std::string text = fuzz.properties();
        // What the outcome must be: a JSON object (or no text at all) formats.
        const json props = json::parse(text.empty() ? "{}" : text, nullptr, false);
        const Event e{"ev-" + std::to_string(i), 1700000000000000 + i, "info", "fuzz_event",
                      fuzz.one_in(2) ? "7d9f6a4e-0b1c-4e2d-9f3a-5b6c7d8e9f01" : "", "", text};
        for (SinkKind kind : kAllKinds) {
            try {
                const Body body = format_batch(kind, {e}, origin, "key");
                ASSERT_TRUE(props.is_object()) << "formatted non-object properties: " << text;
                formatted++;
                check_body(kind, body, props);
            } catch (const std::invalid_argument &err) {
                ASSERT_FALSE(props.is_object()) << "refused an object: " << text << "\n" << err.what();
                ASSERT_NE(std::string(err.what()).find(e.event_id), std::string::npos);
                refused++;
            } catch (const std::exception &err) {
                FAIL() << sink_kind_name(kind) << ": " << err.what() << "\nproperties: " << text;
            }
            if (HasFatalFailure())
                return;
        }
    }
    EXPECT_GT(formatted, 10000);
    EXPECT_GT(refused, 5000);
}

// ------------------------------------------------------------------------------ names

bool name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::strchr("_.:-$", c) != nullptr;
}

bool is_event_name(const std::string &s)
{
    if (s.empty() || s.size() > kMaxEventNameLength)
        return false;
    for (char c : s)
        if (c == '\0' || !name_char(static_cast<unsigned char>(c)))
            return false;
    return true;
}

bool is_sink_name(const std::string &s)
{
    if (s.empty() || s.size() > 63)
        return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    return true;
}

void check_problem(const std::string &problem, bool expect_ok, const std::string &input,
                   const char *what)
{
    ASSERT_EQ(problem.empty(), expect_ok) << what << " \"" << input << "\": " << problem;
    ASSERT_LT(problem.size(), 200u);
    for (unsigned char c : problem)
        ASSERT_TRUE(c >= 0x20 && c < 0x7f) << problem;
}

TEST(OutboxFuzz, NameChecksMatchTheDocumentedCharsets)
{
    Fuzzer fuzz(0x0b0e0004);
    int events_ok = 0, entries_ok = 0, sinks_ok = 0;
    for (int i = 0; i < 30000; i++) {
        const std::string s = fuzz.name();
        const bool event_ok = is_event_name(s);
        check_problem(event_name_problem(s), event_ok, s, "event name");
        const bool entry_ok =
            s == "*" || (!s.empty() && s.back() == '*' ? is_event_name(s.substr(0, s.size() - 1))
                                                        : event_ok);
        check_problem(filter_entry_problem(s), entry_ok, s, "filter entry");
        check_problem(sink_name_problem(s), is_sink_name(s), s, "sink name");
        if (HasFatalFailure())
            return;
        events_ok += event_ok;
        entries_ok += entry_ok;
        sinks_ok += is_sink_name(s);
    }
    // Both sides of every check were reached.
    EXPECT_GT(events_ok, 3000);
    EXPECT_LT(events_ok, 27000);
    EXPECT_GT(entries_ok, events_ok);
    EXPECT_GT(sinks_ok, 1000);
}

// The filter rule as the header states it, written independently of the code.
bool documented_accepts(const std::optional<std::vector<std::string>> &filter,
                        const std::string &event)
{
    const bool opt_in = event.rfind("email_", 0) == 0;
    if (!filter)
        return !opt_in;
    for (const std::string &entry : *filter) {
        if (entry == event)
            return true;
        if (!entry.empty() && entry.back() == '*') {
            const std::string prefix = entry.substr(0, entry.size() - 1);
            // An opt-in event needs a pattern that spells out at least "email_".
            if (event.rfind(prefix, 0) == 0 && (!opt_in || prefix.size() >= 6))
                return true;
        }
    }
    return false;
}

TEST(OutboxFuzz, FilterAcceptsAsDocumented)
{
    Fuzzer fuzz(0x0b0e0005);
    int accepted = 0, opt_in_accepted = 0;
    for (int i = 0; i < 20000; i++) {
        std::optional<std::vector<std::string>> filter;
        if (!fuzz.one_in(6)) {
            filter.emplace();
            for (std::size_t n = fuzz.below(4); n > 0; n--)
                filter->push_back(fuzz.event_like() + (fuzz.one_in(2) ? "*" : ""));
        }
        const std::string event = fuzz.event_like();
        const bool got = accepts(filter, event);
        ASSERT_EQ(got, documented_accepts(filter, event))
            << "event " << event << ", filter "
            << (filter ? json(*filter).dump() : std::string("NULL"));
        ASSERT_EQ(is_opt_in(event), event.rfind("email_", 0) == 0) << event;
        accepted += got;
        opt_in_accepted += got && is_opt_in(event);
    }
    EXPECT_GT(accepted, 2000);
    EXPECT_GT(opt_in_accepted, 200);
}

} // namespace
