/*
 * sink_filter.cpp — see sink_filter.h.
 */
#include "outbox/pure/sink_filter.h"

#include <cctype>

namespace pm::outbox {

namespace {

constexpr std::string_view kOptInPrefixes[] = {"email_"};

bool matches(std::string_view entry, std::string_view event)
{
    if (!entry.empty() && entry.back() == '*')
        return event.substr(0, entry.size() - 1) == entry.substr(0, entry.size() - 1);
    return entry == event;
}

/* An entry names an opt-in event explicitly: an exact name, or a pattern no shorter than
 * the family's prefix ('email_*', 'email_open*'), never a catch-all such as '*' or 'e*'. */
bool names_explicitly(std::string_view entry, std::string_view event)
{
    if (!matches(entry, event))
        return false;
    if (entry.back() != '*')
        return true;
    for (std::string_view prefix : kOptInPrefixes)
        if (event.substr(0, prefix.size()) == prefix)
            return entry.size() - 1 >= prefix.size();
    return true;
}

} // namespace

bool is_opt_in(std::string_view event)
{
    for (std::string_view prefix : kOptInPrefixes)
        if (event.substr(0, prefix.size()) == prefix)
            return true;
    return false;
}

bool accepts(const std::optional<std::vector<std::string>> &filter, std::string_view event)
{
    bool opt_in = is_opt_in(event);
    if (!filter)
        return !opt_in;
    for (const std::string &entry : *filter)
        if (opt_in ? names_explicitly(entry, event) : matches(entry, event))
            return true;
    return false;
}

std::string event_name_problem(std::string_view name)
{
    if (name.empty())
        return "an event name must not be empty";
    if (name.size() > kMaxEventNameLength)
        return "an event name has at most " + std::to_string(kMaxEventNameLength) + " characters";
    for (char c : name)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != ':' &&
            c != '-' && c != '$')
            return "an event name has only letters, digits and _ . : - $";
    return {};
}

std::string filter_entry_problem(std::string_view entry)
{
    if (entry == "*")
        return {};
    if (!entry.empty() && entry.back() == '*')
        entry.remove_suffix(1);
    return event_name_problem(entry);
}

std::string sink_name_problem(std::string_view name)
{
    if (name.empty() || name.size() > 63)
        return "a sink name has 1 to 63 characters";
    for (char c : name)
        if (!(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && c != '_' && c != '-')
            return "a sink name has only a-z, 0-9, _ and -";
    return {};
}

} // namespace pm::outbox
