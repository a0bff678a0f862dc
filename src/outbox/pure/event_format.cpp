/*
 * event_format.cpp — sink request bodies (see event_format.h).  The field names and types
 * follow each receiver's documented JSON: PostHog's batch endpoint, Loki's push API, the
 * OTLP/HTTP JSON encoding of LogsData (64-bit integers as decimal strings, AnyValue unions).
 */
#include "outbox/pure/event_format.h"

#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <ctime>
#include <map>

namespace pm::outbox {

namespace {

using nlohmann::json;

struct LevelInfo {
    const char *name;
    int otlp_severity;
};

constexpr std::array<LevelInfo, 5> kLevels{{
    {"debug", 5}, {"info", 9}, {"warn", 13}, {"error", 17}, {"critical", 21},
}};

json parse_properties(const Event &e)
{
    json props = json::parse(e.properties.empty() ? std::string("{}") : e.properties, nullptr,
                             false);
    if (!props.is_object())
        throw std::invalid_argument("properties of event " + e.event_id + " are not a JSON object that JSON parsers accept (a number beyond double range?)");
    return props;
}

json nullable(const std::string &text)
{
    return text.empty() ? json(nullptr) : json(text);
}

/* Everything the sink should know about an event, for the kinds that carry a whole object. */
json event_object(const Event &e, const Origin &origin, json props)
{
    return json{{"event_id", e.event_id},
                {"timestamp", rfc3339_utc(e.created_us)},
                {"event", e.event},
                {"level", e.level},
                {"service", origin.service},
                {"tier", origin.tier},
                {"tenant_id", nullable(e.tenant_id)},
                {"distinct_id", nullable(e.distinct_id)},
                {"properties", std::move(props)}};
}

std::string unix_nanos(std::int64_t unix_us)
{
    return std::to_string(unix_us) + "000";
}

Body posthog(const std::vector<Event> &events, const Origin &origin, const std::string &api_key)
{
    json batch = json::array();
    for (const Event &e : events) {
        json props = parse_properties(e);
        props["tenant_id"] = nullable(e.tenant_id);
        props["level"] = e.level;
        props["tier"] = origin.tier;
        props["$lib"] = origin.service;
        /* PostHog needs a person; events about no one are the tenant's, or the platform's. */
        std::string distinct = !e.distinct_id.empty() ? e.distinct_id
                               : !e.tenant_id.empty() ? e.tenant_id
                                                      : origin.service;
        batch.push_back(json{{"event", e.event},
                             {"uuid", e.event_id},
                             {"distinct_id", distinct},
                             {"timestamp", rfc3339_utc(e.created_us)},
                             {"properties", std::move(props)}});
    }
    json body{{"api_key", api_key}, {"historical_migration", false}, {"batch", std::move(batch)}};
    return {"application/json", body.dump()};
}

Body loki(const std::vector<Event> &events, const Origin &origin)
{
    /* Labels are {service, tier, level} only: tenant ids would make a stream per tenant. */
    std::map<std::string, json> values_by_level;
    for (const Event &e : events) {
        json line = event_object(e, origin, parse_properties(e));
        auto [it, inserted] = values_by_level.try_emplace(e.level, json::array());
        it->second.push_back(json::array({unix_nanos(e.created_us), line.dump()}));
    }
    json streams = json::array();
    for (auto &[level, values] : values_by_level)
        streams.push_back(json{
            {"stream", {{"service", origin.service}, {"tier", origin.tier}, {"level", level}}},
            {"values", std::move(values)}});
    return {"application/json", json{{"streams", std::move(streams)}}.dump()};
}

/* An OTLP AnyValue for a JSON value. */
json any_value(const json &v)
{
    switch (v.type()) {
    case json::value_t::string:
        return {{"stringValue", v.get<std::string>()}};
    case json::value_t::boolean:
        return {{"boolValue", v.get<bool>()}};
    case json::value_t::number_unsigned:
        /* intValue is an int64: beyond it a receiver refuses the whole request. */
        if (v.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
            return {{"doubleValue", v.get<double>()}};
        return {{"intValue", v.dump()}};
    case json::value_t::number_integer:
        return {{"intValue", v.dump()}};
    case json::value_t::number_float:
        return {{"doubleValue", v.get<double>()}};
    case json::value_t::array: {
        json values = json::array();
        for (const json &item : v)
            values.push_back(any_value(item));
        return {{"arrayValue", {{"values", std::move(values)}}}};
    }
    case json::value_t::object: {
        json values = json::array();
        for (auto it = v.begin(); it != v.end(); ++it)
            values.push_back({{"key", it.key()}, {"value", any_value(it.value())}});
        return {{"kvlistValue", {{"values", std::move(values)}}}};
    }
    default:
        return json::object(); /* null: an empty AnyValue */
    }
}

json attribute(const char *key, const std::string &value)
{
    return {{"key", key}, {"value", {{"stringValue", value}}}};
}

Body otlp(const std::vector<Event> &events, const Origin &origin)
{
    json records = json::array();
    for (const Event &e : events) {
        json attributes = json::array({attribute("event_id", e.event_id),
                                       attribute("event.name", e.event)});
        if (!e.tenant_id.empty())
            attributes.push_back(attribute("tenant_id", e.tenant_id));
        if (!e.distinct_id.empty())
            attributes.push_back(attribute("distinct_id", e.distinct_id));
        json props = parse_properties(e);
        for (auto it = props.begin(); it != props.end(); ++it)
            attributes.push_back({{"key", "properties." + it.key()}, {"value", any_value(it.value())}});
        std::string level_upper = e.level;
        for (char &c : level_upper)
            c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
        records.push_back(json{{"timeUnixNano", unix_nanos(e.created_us)},
                               {"observedTimeUnixNano", unix_nanos(e.created_us)},
                               {"severityNumber", otlp_severity_number(e.level)},
                               {"severityText", level_upper},
                               {"body", {{"stringValue", e.event}}},
                               {"attributes", std::move(attributes)}});
    }
    json resource{{"attributes", json::array({attribute("service.name", origin.service),
                                              attribute("penguinmails.tier", origin.tier)})}};
    json body{{"resourceLogs",
               json::array({json{{"resource", std::move(resource)},
                                 {"scopeLogs", json::array({json{
                                                   {"scope", {{"name", "penguinmails.outbox"}}},
                                                   {"logRecords", std::move(records)}}})}}})}};
    return {"application/json", body.dump()};
}

Body json_lines(const std::vector<Event> &events, const Origin &origin)
{
    std::string text;
    for (const Event &e : events) {
        text += event_object(e, origin, parse_properties(e)).dump();
        text += '\n';
    }
    return {"application/x-ndjson", std::move(text)};
}

} // namespace

SinkKind parse_sink_kind(std::string_view text)
{
    if (text == "posthog")
        return SinkKind::posthog;
    if (text == "loki")
        return SinkKind::loki;
    if (text == "otlp")
        return SinkKind::otlp;
    if (text == "jsonl")
        return SinkKind::jsonl;
    if (text == "http")
        return SinkKind::http;
    throw std::invalid_argument("unknown sink kind \"" + std::string(text) +
                                "\"; expected posthog, loki, otlp, jsonl or http");
}

const char *sink_kind_name(SinkKind kind)
{
    switch (kind) {
    case SinkKind::posthog: return "posthog";
    case SinkKind::loki: return "loki";
    case SinkKind::otlp: return "otlp";
    case SinkKind::jsonl: return "jsonl";
    case SinkKind::http: return "http";
    }
    return "?";
}

bool is_valid_level(std::string_view level)
{
    for (const LevelInfo &l : kLevels)
        if (level == l.name)
            return true;
    return false;
}

int otlp_severity_number(std::string_view level)
{
    for (const LevelInfo &l : kLevels)
        if (level == l.name)
            return l.otlp_severity;
    return 0; /* SEVERITY_NUMBER_UNSPECIFIED */
}

Body format_batch(SinkKind kind, const std::vector<Event> &events, const Origin &origin,
                  const std::string &api_key)
{
    switch (kind) {
    case SinkKind::posthog: return posthog(events, origin, api_key);
    case SinkKind::loki: return loki(events, origin);
    case SinkKind::otlp: return otlp(events, origin);
    case SinkKind::jsonl:
    case SinkKind::http: return json_lines(events, origin);
    }
    throw std::invalid_argument("unknown sink kind");
}

std::string rfc3339_utc(std::int64_t unix_us)
{
    std::int64_t seconds = unix_us / 1000000;
    std::int64_t micros = unix_us % 1000000;
    if (micros < 0) {
        micros += 1000000;
        seconds -= 1;
    }
    std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[96]; /* room for every field at full int width: -Wformat-truncation */
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(micros));
    return buf;
}

} // namespace pm::outbox
