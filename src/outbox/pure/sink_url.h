/*
 * sink_url.h — checking a sink's URL and finding the endpoint a batch is posted to.
 * Credentials never go in the URL (it is shown in pm.outbox_sinks and in errors): they live
 * in pm.outbox_sink_secrets, so a URL with user:password@ is refused.
 */
#pragma once

#include "outbox/pure/event_format.h"

#include <stdexcept>
#include <string>
#include <string_view>

namespace pm::outbox {

/* A URL that cannot be used; the message names what is wrong and what is expected. */
class SinkUrlError : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

constexpr std::size_t kMaxUrlLength = 2000;

/* The URL batches of `kind` are posted to: `url` itself when it has a path, else `url` with
 * the kind's standard path (/batch/, /loki/api/v1/push, /v1/logs; none for jsonl and http).
 * SinkUrlError for anything but http:// or https:// with a host, an optional port and no
 * user information, spaces or control characters. */
std::string sink_endpoint(SinkKind kind, std::string_view url);

/* The URL for messages: without query string, fragment and user information (shown as ***). */
std::string url_for_messages(std::string_view url);

} // namespace pm::outbox
