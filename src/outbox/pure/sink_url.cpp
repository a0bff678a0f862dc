/*
 * sink_url.cpp — see sink_url.h.  A deliberately small grammar: scheme, authority, path;
 * libcurl is given only URLs that passed it.
 */
#include "outbox/pure/sink_url.h"

#include <cctype>

namespace pm::outbox {

namespace {

const char *standard_path(SinkKind kind)
{
    switch (kind) {
    case SinkKind::posthog: return "/batch/";
    case SinkKind::loki: return "/loki/api/v1/push";
    case SinkKind::otlp: return "/v1/logs";
    case SinkKind::jsonl:
    case SinkKind::http: return "";
    }
    return "";
}

bool valid_port(std::string_view port)
{
    if (port.empty() || port.size() > 5)
        return false;
    unsigned value = 0;
    for (char c : port) {
        if (!std::isdigit(static_cast<unsigned char>(c)))
            return false;
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    return value >= 1 && value <= 65535;
}

bool valid_host(std::string_view host)
{
    if (host.empty() || host.size() > 253)
        return false;
    if (host.front() == '[') /* IPv6 literal */
        return host.size() > 2 && host.back() == ']' &&
               host.substr(1, host.size() - 2).find_first_not_of("0123456789abcdefABCDEF:.") ==
                   std::string_view::npos;
    for (char c : host)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_')
            return false;
    return host.front() != '.' && host.front() != '-';
}

} // namespace

std::string sink_endpoint(SinkKind kind, std::string_view url)
{
    if (url.empty())
        throw SinkUrlError("sink URL is empty; expected http://host[:port][/path] or https://...");
    if (url.size() > kMaxUrlLength)
        throw SinkUrlError("sink URL is " + std::to_string(url.size()) + " characters; at most " +
                           std::to_string(kMaxUrlLength) + " are allowed");
    for (char c : url)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
            throw SinkUrlError("sink URL \"" + url_for_messages(url) +
                               "\" contains a space or a control character");

    std::string_view rest;
    if (url.substr(0, 7) == "http://")
        rest = url.substr(7);
    else if (url.substr(0, 8) == "https://")
        rest = url.substr(8);
    else
        throw SinkUrlError("sink URL \"" + url_for_messages(url) +
                           "\" must start with http:// or https://");

    std::size_t authority_end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, authority_end);
    std::string_view path = authority_end == std::string_view::npos ? std::string_view()
                                                                    : rest.substr(authority_end);
    if (authority.find('@') != std::string_view::npos)
        throw SinkUrlError("sink URL must not carry credentials (user:password@host); store them "
                           "with pm.set_sink_secret()");

    std::string_view host = authority;
    std::size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
        host = authority.substr(0, colon);
        if (!valid_port(authority.substr(colon + 1)))
            throw SinkUrlError("sink URL \"" + url_for_messages(url) +
                               "\" has an invalid port; expected 1 to 65535");
    }
    if (!valid_host(host))
        throw SinkUrlError("sink URL \"" + url_for_messages(url) + "\" has no valid host name");

    std::string_view path_only = path.substr(0, path.find_first_of("?#"));
    if (path_only.empty() || path_only == "/") {
        std::string endpoint(url.substr(0, url.size() - path.size()));
        endpoint += *standard_path(kind) ? standard_path(kind) : "/";
        endpoint += path.substr(path_only.size());
        return endpoint;
    }
    return std::string(url);
}

std::string url_for_messages(std::string_view url)
{
    std::string shown(url.substr(0, url.find_first_of("?#")));
    /* User information is hidden: URLs are refused for a bad scheme or a space before the
     * '@' is looked at.  The authority starts after "scheme://" (no '/' before it), else
     * at the start, and ends at the first '/'; its last '@' ends the user information. */
    std::size_t scheme = shown.find("://");
    std::size_t start = scheme != std::string::npos && scheme + 1 == shown.find('/') ? scheme + 3 : 0;
    std::size_t at = shown.substr(0, shown.find('/', start)).rfind('@');
    if (at != std::string::npos && at >= start)
        shown.replace(start, at - start, "***");
    if (shown.size() > 200) {
        std::size_t cut = 200; /* not inside a UTF-8 sequence */
        while (cut > 0 && (static_cast<unsigned char>(shown[cut]) & 0xC0) == 0x80)
            cut--;
        shown = shown.substr(0, cut) + "...";
    }
    for (char &c : shown)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            c = '?';
    return shown;
}

} // namespace pm::outbox
