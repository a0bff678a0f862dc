/*
 * sink_filter.h — which sinks an event goes to.
 *
 * A sink's `events` filter lists event names and prefix patterns ending in '*'
 * ('job_*').  NULL accepts every event except the opt-in families — today `email_*`, one
 * event per email sent, opened, clicked...: a sink receives those only when its filter
 * names them (or 'email_*'), so turning on a logging sink never multiplies the outbox's
 * volume by the platform's email traffic.
 */
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pm::outbox {

constexpr std::size_t kMaxEventNameLength = 200;

/* True for events of an opt-in family. */
bool is_opt_in(std::string_view event);

/* Whether a sink with `filter` (nullopt = NULL) receives `event`. */
bool accepts(const std::optional<std::vector<std::string>> &filter, std::string_view event);

/* Empty when `name` may be an event name (1 to 200 characters, letters, digits and
 * _ . : - $), else why not. */
std::string event_name_problem(std::string_view name);

/* Empty when `entry` may be a filter entry: an event name, optionally ending in '*'. */
std::string filter_entry_problem(std::string_view entry);

/* Empty when `name` may be a sink name: 1 to 63 of a-z, 0-9, _ and -. */
std::string sink_name_problem(std::string_view name);

} // namespace pm::outbox
