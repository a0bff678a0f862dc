/*
 * event_format.h — the request bodies of the outbox's sink kinds, built with nlohmann_json.
 * No PostgreSQL here: the shipper fills Events from the outbox and posts what this returns.
 *
 *   posthog  POST /batch/            {"api_key", "batch": [{event, uuid, distinct_id, timestamp, properties}]}
 *   loki     POST /loki/api/v1/push  {"streams": [{"stream": {service, tier, level}, "values": [[ns, line]]}]}
 *   otlp     POST /v1/logs           OTLP/HTTP JSON: resourceLogs → scopeLogs → logRecords
 *   jsonl, http                      one JSON object per line (application/x-ndjson)
 */
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pm::outbox {

enum class SinkKind { posthog, loki, otlp, jsonl, http };

/* The kind named `text`, or std::invalid_argument naming it and the kinds there are. */
SinkKind parse_sink_kind(std::string_view text);
const char *sink_kind_name(SinkKind kind);

/* Levels an event may have, least to most severe. */
bool is_valid_level(std::string_view level);
/* OTLP severityNumber of a level (INFO = 9, ...). */
int otlp_severity_number(std::string_view level);

struct Event {
    std::string event_id;     /* uuid text */
    std::int64_t created_us;  /* microseconds since the Unix epoch */
    std::string level;
    std::string event;
    std::string tenant_id;    /* uuid text or empty */
    std::string distinct_id;  /* empty: none given */
    std::string properties;   /* a JSON object, as jsonb prints it */
};

/* Where the events come from: Loki labels and resource attributes. */
struct Origin {
    std::string service;  /* pm.outbox_service */
    std::string tier;     /* the database */
};

struct Body {
    std::string content_type;
    std::string text;
};

/* The request body of one batch for `kind`.  `api_key` goes into PostHog's body (the other
 * kinds carry credentials in headers).  Properties that are not a JSON object raise
 * std::invalid_argument naming the event. */
Body format_batch(SinkKind kind, const std::vector<Event> &events, const Origin &origin,
                  const std::string &api_key = {});

/* RFC 3339 UTC with microseconds: 2026-12-07T10:57:32.123456Z. */
std::string rfc3339_utc(std::int64_t unix_us);

} // namespace pm::outbox
