// Unit tests for the outbox's sink request bodies (src/outbox/pure/event_format.h).
// Every body is parsed back with nlohmann::json and checked against the shape its receiver
// documents: PostHog's /batch/, Loki's push API, OTLP/HTTP JSON logs and JSON lines.
#include "outbox/pure/event_format.h"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using nlohmann::json;
using namespace pm::outbox;

const Origin kOrigin{"pm-test", "oltp"};
const char *const kTenant = "7d9f6a4e-0b1c-4e2d-9f3a-5b6c7d8e9f01";

// 2026-12-07T10:57:32.123456Z
constexpr std::int64_t kKnownUs = 1796641052LL * 1000000 + 123456;

Event make_event(std::string id, std::string level, std::string name, std::string tenant = {},
                 std::string distinct = {}, std::string properties = "{}",
                 std::int64_t created_us = kKnownUs)
{
    return Event{std::move(id),     created_us,         std::move(level),      std::move(name),
                 std::move(tenant), std::move(distinct), std::move(properties)};
}

json parse_body(const Body &body)
{
    EXPECT_EQ(body.content_type, "application/json");
    return json::parse(body.text); // throws, failing the test, if the body is not JSON
}

// JSON lines: one parsed object per line; the text must end with a newline.
std::vector<json> parse_lines(const std::string &text)
{
    std::vector<json> lines;
    if (text.empty())
        return lines;
    EXPECT_EQ(text.back(), '\n') << "JSON lines end with a newline";
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        lines.push_back(json::parse(line));
    return lines;
}

// The value of the OTLP attribute `key` in a [{key, value}] list; null when absent.
json attribute(const json &attributes, const std::string &key)
{
    for (const json &a : attributes)
        if (a.at("key") == key)
            return a.at("value");
    return nullptr;
}

std::string ns(std::int64_t us)
{
    return std::to_string(us) + "000";
}

// --------------------------------------------------------------- kinds, levels, time

TEST(EventFormat, SinkKindNamesRoundTrip)
{
    for (SinkKind k : {SinkKind::posthog, SinkKind::loki, SinkKind::otlp, SinkKind::jsonl,
                       SinkKind::http})
        EXPECT_EQ(parse_sink_kind(sink_kind_name(k)), k) << sink_kind_name(k);
    EXPECT_STREQ(sink_kind_name(SinkKind::loki), "loki");
    EXPECT_STREQ(sink_kind_name(SinkKind::http), "http");
}

TEST(EventFormat, ParseSinkKindErrorNamesTheBadKindAndTheChoices)
{
    // Kinds are matched exactly: no case folding, no trimming.
    for (const char *bad : {"kafka", "Loki", "otlp ", "", "jsonl\n"}) {
        try {
            (void) parse_sink_kind(bad);
            ADD_FAILURE() << "accepted \"" << bad << "\"";
        } catch (const std::invalid_argument &e) {
            const std::string what = e.what();
            EXPECT_NE(what.find('"' + std::string(bad) + '"'), std::string::npos) << what;
            EXPECT_NE(what.find("posthog"), std::string::npos) << what;
            EXPECT_NE(what.find("http"), std::string::npos) << what;
        }
    }
}

TEST(EventFormat, LevelsAndOtlpSeverityNumbers)
{
    EXPECT_TRUE(is_valid_level("debug"));
    EXPECT_TRUE(is_valid_level("critical"));
    EXPECT_FALSE(is_valid_level("INFO"));
    EXPECT_FALSE(is_valid_level("fatal"));
    EXPECT_FALSE(is_valid_level(""));
    // The OpenTelemetry log data model: DEBUG 5, INFO 9, WARN 13, ERROR 17, FATAL 21.
    EXPECT_EQ(otlp_severity_number("debug"), 5);
    EXPECT_EQ(otlp_severity_number("info"), 9);
    EXPECT_EQ(otlp_severity_number("warn"), 13);
    EXPECT_EQ(otlp_severity_number("error"), 17);
    EXPECT_EQ(otlp_severity_number("critical"), 21);
    EXPECT_EQ(otlp_severity_number("nope"), 0); // SEVERITY_NUMBER_UNSPECIFIED
}

TEST(EventFormat, Rfc3339UtcWithMicroseconds)
{
    EXPECT_EQ(rfc3339_utc(0), "1970-01-01T00:00:00.000000Z");
    EXPECT_EQ(rfc3339_utc(kKnownUs), "2026-12-07T10:57:32.123456Z");
    EXPECT_EQ(rfc3339_utc(946684800LL * 1000000 + 1), "2000-01-01T00:00:00.000001Z");
    EXPECT_EQ(rfc3339_utc(1709251199LL * 1000000 + 999999), "2024-02-29T23:59:59.999999Z");
}

TEST(EventFormat, Rfc3339BeforeTheEpochBorrowsASecond)
{
    // C++ division truncates towards zero: -1 µs must not print as 00:00:00.-00001.
    EXPECT_EQ(rfc3339_utc(-1), "1969-12-31T23:59:59.999999Z");
    EXPECT_EQ(rfc3339_utc(-1000000), "1969-12-31T23:59:59.000000Z");
    EXPECT_EQ(rfc3339_utc(-1500000), "1969-12-31T23:59:58.500000Z");
}

// --------------------------------------------------------------------------- PostHog

TEST(EventFormat, PostHogBatchShape)
{
    const std::vector<Event> events{
        make_event("00000000-0000-4000-8000-000000000001", "info", "job_done", kTenant, "user-42",
                   R"({"job": "import", "rows": 12})"),
        make_event("00000000-0000-4000-8000-000000000002", "error", "job_failed", kTenant, "",
                   "{}", kKnownUs + 1)};
    const json body = parse_body(format_batch(SinkKind::posthog, events, kOrigin, "phc_key"));

    EXPECT_EQ(body.at("api_key"), "phc_key");
    const json &batch = body.at("batch");
    ASSERT_TRUE(batch.is_array());
    ASSERT_EQ(batch.size(), 2u);

    const json &first = batch[0];
    EXPECT_EQ(first.at("event"), "job_done");
    EXPECT_EQ(first.at("uuid"), "00000000-0000-4000-8000-000000000001");
    EXPECT_EQ(first.at("distinct_id"), "user-42");
    EXPECT_EQ(first.at("timestamp"), "2026-12-07T10:57:32.123456Z");
    const json &props = first.at("properties");
    EXPECT_EQ(props.at("job"), "import"); // the event's own properties are kept
    EXPECT_EQ(props.at("rows"), 12);
    EXPECT_EQ(props.at("tenant_id"), kTenant);
    EXPECT_EQ(props.at("level"), "info");
    EXPECT_EQ(props.at("tier"), "oltp");

    EXPECT_EQ(batch[1].at("event"), "job_failed");
    EXPECT_EQ(batch[1].at("timestamp"), "2026-12-07T10:57:32.123457Z");
    EXPECT_EQ(batch[1].at("properties").at("level"), "error");
}

TEST(EventFormat, PostHogDistinctIdFallsBackToTenantThenService)
{
    // PostHog needs a person for every event.
    const std::vector<Event> events{make_event("e1", "info", "a", kTenant, "user-1"),
                                    make_event("e2", "info", "b", kTenant, ""),
                                    make_event("e3", "info", "c", "", "")};
    const json batch = parse_body(format_batch(SinkKind::posthog, events, kOrigin, "k")).at("batch");
    ASSERT_EQ(batch.size(), 3u);
    EXPECT_EQ(batch[0].at("distinct_id"), "user-1");
    EXPECT_EQ(batch[1].at("distinct_id"), kTenant);
    EXPECT_EQ(batch[2].at("distinct_id"), "pm-test");
    // An event of no tenant says so explicitly.
    EXPECT_TRUE(batch[2].at("properties").at("tenant_id").is_null());
}

TEST(EventFormat, PostHogEmptyBatchIsStillAValidBody)
{
    const json body = parse_body(format_batch(SinkKind::posthog, {}, kOrigin, "k"));
    EXPECT_EQ(body.at("api_key"), "k");
    EXPECT_TRUE(body.at("batch").is_array());
    EXPECT_TRUE(body.at("batch").empty());
}

// ------------------------------------------------------------------------------ Loki

TEST(EventFormat, LokiOneStreamPerLevelWithExactlyThreeLabels)
{
    const std::vector<Event> events{
        make_event("e1", "info", "a", kTenant, "", "{}", kKnownUs),
        make_event("e2", "error", "b", kTenant, "", "{}", kKnownUs + 1),
        make_event("e3", "info", "c", "", "", "{}", kKnownUs + 2),
        make_event("e4", "critical", "d", kTenant, "", "{}", kKnownUs + 3)};
    const json body = parse_body(format_batch(SinkKind::loki, events, kOrigin));
    const json &streams = body.at("streams");
    ASSERT_TRUE(streams.is_array());
    ASSERT_EQ(streams.size(), 3u) << "one stream per level: info, error, critical";

    std::set<std::string> levels;
    std::size_t values = 0;
    for (const json &s : streams) {
        const json &labels = s.at("stream");
        // Tenant ids as labels would make one stream per tenant (cardinality).
        ASSERT_EQ(labels.size(), 3u) << labels.dump();
        EXPECT_EQ(labels.at("service"), "pm-test");
        EXPECT_EQ(labels.at("tier"), "oltp");
        EXPECT_FALSE(labels.contains("tenant_id"));
        const std::string level = labels.at("level");
        EXPECT_TRUE(levels.insert(level).second) << "two streams for " << level;
        for (const json &v : s.at("values")) {
            values++;
            ASSERT_TRUE(v.is_array());
            ASSERT_EQ(v.size(), 2u);
            ASSERT_TRUE(v[0].is_string()) << "Loki timestamps are strings of nanoseconds";
            ASSERT_TRUE(v[1].is_string());
            const json line = json::parse(v[1].get<std::string>());
            EXPECT_EQ(line.at("level"), level) << "event filed under the wrong stream";
        }
    }
    EXPECT_EQ(levels, (std::set<std::string>{"critical", "error", "info"}));
    EXPECT_EQ(values, events.size());

    // The info stream holds e1 then e3, in order, with their own timestamps.
    for (const json &s : streams) {
        if (s.at("stream").at("level") != "info")
            continue;
        const json &v = s.at("values");
        ASSERT_EQ(v.size(), 2u);
        EXPECT_EQ(v[0][0], ns(kKnownUs));
        EXPECT_EQ(v[1][0], ns(kKnownUs + 2));
        const json l0 = json::parse(v[0][1].get<std::string>());
        const json l1 = json::parse(v[1][1].get<std::string>());
        EXPECT_EQ(l0.at("event_id"), "e1");
        EXPECT_EQ(l0.at("tenant_id"), kTenant); // the tenant travels in the line instead
        EXPECT_EQ(l1.at("event_id"), "e3");
        EXPECT_TRUE(l1.at("tenant_id").is_null());
    }
}

TEST(EventFormat, LokiTimestampIsUnixNanosecondsAsDecimalString)
{
    const json body = parse_body(format_batch(
        SinkKind::loki, {make_event("e1", "warn", "x", "", "", R"({"k": [1, 2]})")}, kOrigin));
    const json &value = body.at("streams").at(0).at("values").at(0);
    EXPECT_EQ(value[0], "1796641052123456000");
    const json line = json::parse(value[1].get<std::string>());
    EXPECT_EQ(line.at("event_id"), "e1");
    EXPECT_EQ(line.at("event"), "x");
    EXPECT_EQ(line.at("timestamp"), "2026-12-07T10:57:32.123456Z");
    EXPECT_EQ(line.at("properties"), json::parse(R"({"k": [1, 2]})"));
}

// ------------------------------------------------------------------------------ OTLP

TEST(EventFormat, OtlpLogsShape)
{
    const std::vector<Event> events{make_event("e1", "info", "job_done", kTenant, "user-9"),
                                    make_event("e2", "error", "job_failed", "", "", "{}",
                                               kKnownUs + 5),
                                    make_event("e3", "critical", "disk_full")};
    const json body = parse_body(format_batch(SinkKind::otlp, events, kOrigin));

    const json &resource_logs = body.at("resourceLogs");
    ASSERT_EQ(resource_logs.size(), 1u);
    const json service = attribute(resource_logs[0].at("resource").at("attributes"), "service.name");
    EXPECT_EQ(service, json({{"stringValue", "pm-test"}}));

    const json &scope_logs = resource_logs[0].at("scopeLogs");
    ASSERT_EQ(scope_logs.size(), 1u);
    const json &records = scope_logs[0].at("logRecords");
    ASSERT_EQ(records.size(), 3u);

    const int severities[] = {9, 17, 21};
    const char *texts[] = {"INFO", "ERROR", "CRITICAL"};
    const char *names[] = {"job_done", "job_failed", "disk_full"};
    const char *ids[] = {"e1", "e2", "e3"};
    for (std::size_t i = 0; i < 3; i++) {
        const json &r = records[i];
        // 64-bit integers are decimal strings in OTLP/HTTP JSON; the enum is a number.
        ASSERT_TRUE(r.at("timeUnixNano").is_string());
        ASSERT_TRUE(r.at("severityNumber").is_number_integer());
        EXPECT_EQ(r.at("severityNumber"), severities[i]);
        EXPECT_EQ(r.at("severityText"), texts[i]);
        EXPECT_EQ(r.at("body"), json({{"stringValue", names[i]}}));
        EXPECT_EQ(attribute(r.at("attributes"), "event_id"), json({{"stringValue", ids[i]}}));
    }
    EXPECT_EQ(records[0].at("timeUnixNano"), "1796641052123456000");
    EXPECT_EQ(records[1].at("timeUnixNano"), "1796641052123461000");
    EXPECT_EQ(attribute(records[0].at("attributes"), "tenant_id"),
              json({{"stringValue", kTenant}}));
    EXPECT_EQ(attribute(records[0].at("attributes"), "distinct_id"),
              json({{"stringValue", "user-9"}}));
    // Absent rather than empty when the event has none.
    EXPECT_TRUE(attribute(records[1].at("attributes"), "tenant_id").is_null());
    EXPECT_TRUE(attribute(records[1].at("attributes"), "distinct_id").is_null());
}

TEST(EventFormat, OtlpPropertiesBecomeTypedAnyValues)
{
    const std::string props = R"({
        "count": 42, "negative": -7, "ratio": 0.25, "ok": true, "name": "bob",
        "tags": ["a", 1, false], "nested": {"x": 1.5, "y": "z"}, "nothing": null})";
    const json body =
        parse_body(format_batch(SinkKind::otlp, {make_event("e1", "info", "p", "", "", props)},
                                kOrigin));
    const json &attrs = body.at("resourceLogs")[0].at("scopeLogs")[0].at("logRecords")[0].at(
        "attributes");

    // intValue is an int64, hence a decimal string; doubleValue is a JSON number.
    EXPECT_EQ(attribute(attrs, "properties.count"), json({{"intValue", "42"}}));
    EXPECT_EQ(attribute(attrs, "properties.negative"), json({{"intValue", "-7"}}));
    const json ratio = attribute(attrs, "properties.ratio");
    ASSERT_TRUE(ratio.at("doubleValue").is_number_float()) << ratio.dump();
    EXPECT_DOUBLE_EQ(ratio.at("doubleValue").get<double>(), 0.25);
    EXPECT_EQ(attribute(attrs, "properties.ok"), json({{"boolValue", true}}));
    EXPECT_EQ(attribute(attrs, "properties.name"), json({{"stringValue", "bob"}}));
    EXPECT_EQ(attribute(attrs, "properties.tags"),
              json::parse(R"({"arrayValue": {"values": [
                  {"stringValue": "a"}, {"intValue": "1"}, {"boolValue": false}]}})"));
    EXPECT_EQ(attribute(attrs, "properties.nested"),
              json::parse(R"({"kvlistValue": {"values": [
                  {"key": "x", "value": {"doubleValue": 1.5}},
                  {"key": "y", "value": {"stringValue": "z"}}]}})"));
    // JSON null has no AnyValue case: an empty AnyValue.
    EXPECT_EQ(attribute(attrs, "properties.nothing"), json::object());
}

TEST(EventFormat, OtlpIntValueStaysWithinInt64)
{
    // AnyValue.int_value is an int64: a receiver refuses the whole request (and the batch
    // would be dead-lettered) when a string does not fit.  Integers beyond it go as doubles.
    const std::string props = R"({"max": 9223372036854775807, "min": -9223372036854775808,
                                  "beyond": 18446744073709551615})";
    const json body =
        parse_body(format_batch(SinkKind::otlp, {make_event("e1", "info", "p", "", "", props)},
                                kOrigin));
    const json &attrs = body.at("resourceLogs")[0].at("scopeLogs")[0].at("logRecords")[0].at(
        "attributes");
    EXPECT_EQ(attribute(attrs, "properties.max"), json({{"intValue", "9223372036854775807"}}));
    EXPECT_EQ(attribute(attrs, "properties.min"), json({{"intValue", "-9223372036854775808"}}));
    const json beyond = attribute(attrs, "properties.beyond");
    ASSERT_TRUE(beyond.contains("doubleValue")) << beyond.dump();
    EXPECT_DOUBLE_EQ(beyond.at("doubleValue").get<double>(), 18446744073709551615.0);
}

// ------------------------------------------------------------------------ JSON lines

TEST(EventFormat, JsonLinesOneObjectPerLine)
{
    const std::vector<Event> events{
        make_event("e1", "info", "a", kTenant, "user-1", R"({"n": 1})"),
        make_event("e2", "debug", "b", "", "", "{}", kKnownUs + 1)};
    const Body body = format_batch(SinkKind::jsonl, events, kOrigin);
    EXPECT_EQ(body.content_type, "application/x-ndjson");
    const std::vector<json> lines = parse_lines(body.text);
    ASSERT_EQ(lines.size(), 2u);

    const std::set<std::string> expected_keys{"event_id", "timestamp", "event",     "level",
                                              "service",  "tier",      "tenant_id", "distinct_id",
                                              "properties"};
    for (const json &l : lines) {
        std::set<std::string> keys;
        for (auto it = l.begin(); it != l.end(); ++it)
            keys.insert(it.key());
        EXPECT_EQ(keys, expected_keys) << l.dump();
        EXPECT_EQ(l.at("service"), "pm-test");
        EXPECT_EQ(l.at("tier"), "oltp");
    }
    EXPECT_EQ(lines[0].at("event_id"), "e1");
    EXPECT_EQ(lines[0].at("timestamp"), "2026-12-07T10:57:32.123456Z");
    EXPECT_EQ(lines[0].at("event"), "a");
    EXPECT_EQ(lines[0].at("level"), "info");
    EXPECT_EQ(lines[0].at("tenant_id"), kTenant);
    EXPECT_EQ(lines[0].at("distinct_id"), "user-1");
    EXPECT_EQ(lines[0].at("properties"), json({{"n", 1}}));
    // No tenant, no person: null, not "".
    EXPECT_TRUE(lines[1].at("tenant_id").is_null());
    EXPECT_TRUE(lines[1].at("distinct_id").is_null());
    EXPECT_EQ(lines[1].at("properties"), json::object());
}

TEST(EventFormat, HttpKindPostsJsonLinesToo)
{
    const std::vector<Event> events{make_event("e1", "warn", "a", kTenant)};
    const Body http = format_batch(SinkKind::http, events, kOrigin);
    const Body jsonl = format_batch(SinkKind::jsonl, events, kOrigin);
    EXPECT_EQ(http.content_type, "application/x-ndjson");
    EXPECT_EQ(http.text, jsonl.text);
    EXPECT_EQ(format_batch(SinkKind::jsonl, {}, kOrigin).text, "");
}

// ------------------------------------------------------------- properties and escaping

TEST(EventFormat, PropertiesThatAreNotAnObjectAreRefusedNamingTheEvent)
{
    for (const char *bad : {"[1, 2]", "1", "\"text\"", "null", "true", "{", "{\"a\": }",
                            "{} trailing", "{\"a\": 1} {}", "not json"}) {
        for (SinkKind kind : {SinkKind::posthog, SinkKind::loki, SinkKind::otlp, SinkKind::jsonl,
                              SinkKind::http}) {
            const std::vector<Event> events{make_event("good", "info", "a"),
                                            make_event("evt-bad-1", "info", "b", "", "", bad)};
            try {
                (void) format_batch(kind, events, kOrigin, "k");
                ADD_FAILURE() << sink_kind_name(kind) << " accepted properties " << bad;
            } catch (const std::invalid_argument &e) {
                EXPECT_NE(std::string(e.what()).find("evt-bad-1"), std::string::npos)
                    << e.what();
            }
        }
    }
}

TEST(EventFormat, EmptyPropertiesTextMeansNoProperties)
{
    const Body body = format_batch(SinkKind::jsonl, {make_event("e1", "info", "a", "", "", "")},
                                   kOrigin);
    EXPECT_EQ(parse_lines(body.text).at(0).at("properties"), json::object());
}

TEST(EventFormat, AwkwardStringsRoundTripInEveryKind)
{
    // Quotes, backslashes, newlines, a control byte, U+2028 and astral characters.
    const std::string name = "say \"hi\"\\ now\nline2\ttab\x01";
    const std::string distinct = "us\u00e9r \xF0\x9F\x90\xA7 \u2028 </script>";
    const json props_in = {{"quote\"key", "va\"l\nue"}, {"emoji", "\xF0\x9F\x98\x80"},
                           {"esc", "\\u0041 is not A"}};
    const Event e = make_event("e1", "info", name, kTenant, distinct, props_in.dump());
    const Origin origin{"svc \"quoted\"", "tier\nnewline"};

    {
        const json b = parse_body(format_batch(SinkKind::posthog, {e}, origin, "key\"x"));
        EXPECT_EQ(b.at("api_key"), "key\"x");
        const json &ev = b.at("batch")[0];
        EXPECT_EQ(ev.at("event"), name);
        EXPECT_EQ(ev.at("distinct_id"), distinct);
        for (auto it = props_in.begin(); it != props_in.end(); ++it)
            EXPECT_EQ(ev.at("properties").at(it.key()), it.value());
        EXPECT_EQ(ev.at("properties").at("tier"), "tier\nnewline");
    }
    {
        const json b = parse_body(format_batch(SinkKind::loki, {e}, origin));
        const json &s = b.at("streams")[0];
        EXPECT_EQ(s.at("stream").at("service"), "svc \"quoted\"");
        EXPECT_EQ(s.at("stream").at("tier"), "tier\nnewline");
        const json line = json::parse(s.at("values")[0][1].get<std::string>());
        EXPECT_EQ(line.at("event"), name);
        EXPECT_EQ(line.at("distinct_id"), distinct);
        EXPECT_EQ(line.at("properties"), props_in);
    }
    {
        const json b = parse_body(format_batch(SinkKind::otlp, {e}, origin));
        const json &r = b.at("resourceLogs")[0].at("scopeLogs")[0].at("logRecords")[0];
        EXPECT_EQ(r.at("body").at("stringValue"), name);
        EXPECT_EQ(attribute(r.at("attributes"), "distinct_id").at("stringValue"), distinct);
        EXPECT_EQ(attribute(r.at("attributes"), "properties.quote\"key").at("stringValue"),
                  "va\"l\nue");
    }
    {
        const Body body = format_batch(SinkKind::jsonl, {e, e}, origin);
        // Newlines inside values are escaped: exactly one raw newline per event.
        EXPECT_EQ(std::count(body.text.begin(), body.text.end(), '\n'), 2);
        const std::vector<json> lines = parse_lines(body.text);
        ASSERT_EQ(lines.size(), 2u);
        EXPECT_EQ(lines[0].at("event"), name);
        EXPECT_EQ(lines[0].at("distinct_id"), distinct);
        EXPECT_EQ(lines[0].at("service"), "svc \"quoted\"");
        EXPECT_EQ(lines[0].at("properties"), props_in);
    }
}

TEST(EventFormat, JsonbPrintedPropertiesParse)
{
    // What jsonb's output function prints: spaces after ':' and ',', escaped unicode kept.
    const std::string printed =
        R"({"a": 1, "b": [true, null], "c": {"d": "\u00e9\n"}, "e": 1.50, "f": -0.0})";
    const Body body = format_batch(SinkKind::jsonl, {make_event("e1", "info", "a", "", "", printed)},
                                   kOrigin);
    const json props = parse_lines(body.text).at(0).at("properties");
    EXPECT_EQ(props.at("a"), 1);
    EXPECT_EQ(props.at("b"), json::parse("[true, null]"));
    EXPECT_EQ(props.at("c").at("d"), "\u00e9\n");
    EXPECT_DOUBLE_EQ(props.at("e").get<double>(), 1.5);
}

} // namespace
