/* fdw_options.cpp — see fdw_options.h. */
#include "fdw/common/fdw_options.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace pm::fdw {

namespace {

constexpr unsigned S = static_cast<unsigned>(Context::Server);
constexpr unsigned U = static_cast<unsigned>(Context::UserMapping);
constexpr unsigned T = static_cast<unsigned>(Context::Table);
constexpr unsigned C = static_cast<unsigned>(Context::Column);

/*
 * libpq keywords accepted, and where.  Not accepted anywhere: client_encoding (pm_fdw
 * sets the local one), replication, fallback_application_name (pm_fdw sets it),
 * krbsrvname/gsslib/requiressl (obsolete or server-file dependent), target_session_attrs
 * is fine.  `user` and `password` only in a user mapping.
 */
const std::vector<OptionSpec> kCatalogue = {
    /* where to connect: server only */
    {"host", S, true, ValueKind::Text, nullptr, false, false},
    {"hostaddr", S, true, ValueKind::Text, nullptr, false, false},
    {"port", S, true, ValueKind::PositiveInt, nullptr, false, false},
    {"dbname", S, true, ValueKind::Text, nullptr, false, false},
    {"service", S, true, ValueKind::Text, nullptr, true, true},
    {"connect_timeout", S, true, ValueKind::PositiveInt, nullptr, false, false},
    {"application_name", S, true, ValueKind::AnyText, nullptr, false, false},
    {"options", S, true, ValueKind::AnyText, nullptr, false, false},
    {"target_session_attrs", S, true, ValueKind::Enum,
     "any,read-write,read-only,primary,standby,prefer-standby", false, false},
    {"keepalives", S, true, ValueKind::Bool, nullptr, false, false},
    {"keepalives_idle", S, true, ValueKind::NonNegativeInt, nullptr, false, false},
    {"keepalives_interval", S, true, ValueKind::NonNegativeInt, nullptr, false, false},
    {"keepalives_count", S, true, ValueKind::NonNegativeInt, nullptr, false, false},
    {"tcp_user_timeout", S, true, ValueKind::NonNegativeInt, nullptr, false, false},
    {"sslmode", S, true, ValueKind::Enum, "disable,allow,prefer,require,verify-ca,verify-full",
     false, false},
    {"sslcompression", S, true, ValueKind::Bool, nullptr, false, false},
    {"sslsni", S, true, ValueKind::Bool, nullptr, false, false},
    {"ssl_min_protocol_version", S, true, ValueKind::Enum, "TLSv1,TLSv1.1,TLSv1.2,TLSv1.3",
     false, false},
    {"ssl_max_protocol_version", S, true, ValueKind::Enum, "TLSv1,TLSv1.1,TLSv1.2,TLSv1.3",
     false, false},
    {"gssencmode", S, true, ValueKind::Enum, "disable,prefer,require", false, false},
    {"requirepeer", S, true, ValueKind::Text, nullptr, false, false},
    /* files on the server's disk: superuser only */
    {"sslrootcert", S, true, ValueKind::Text, nullptr, true, true},
    {"sslcrl", S, true, ValueKind::Text, nullptr, true, true},
    {"sslcrldir", S, true, ValueKind::Text, nullptr, true, true},
    {"sslcert", S | U, true, ValueKind::Text, nullptr, true, true},
    {"sslkey", S | U, true, ValueKind::Text, nullptr, true, true},
    {"passfile", S | U, true, ValueKind::Text, nullptr, true, true},
    /* who connects: user mapping only */
    {"user", U, true, ValueKind::Text, nullptr, false, false},
    {"password", U, true, ValueKind::AnyText, nullptr, false, false},
    {"sslpassword", U, true, ValueKind::AnyText, nullptr, false, false},
    {"password_required", U, false, ValueKind::Bool, nullptr, true, false},
    /* pm_fdw's own */
    {"tier", S, false, ValueKind::Enum, "content,olap,notify,oltp,queue", false, false},
    {"fetch_size", S | T, false, ValueKind::PositiveInt, nullptr, false, false},
    {"batch_size", S | T, false, ValueKind::PositiveInt, nullptr, false, false},
    {"on_unavailable", S | T, false, ValueKind::Enum, "error,empty", false, false},
    {"retry_interval", S, false, ValueKind::Duration, nullptr, false, false},
    {"retry_max", S, false, ValueKind::Duration, nullptr, false, false},
    {"response_timeout", S, false, ValueKind::Duration, nullptr, false, false},
    {"updatable", S | T, false, ValueKind::Bool, nullptr, false, false},
    {"propagate_tenant", S, false, ValueKind::Bool, nullptr, false, false},
    {"schema_name", T, false, ValueKind::Text, nullptr, false, false},
    {"table_name", T, false, ValueKind::Text, nullptr, false, false},
    {"column_name", C, false, ValueKind::Text, nullptr, false, false},
};

std::string lower(std::string_view s)
{
    std::string out(s);
    for (char &c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string_view trim(std::string_view s)
{
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
        s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
        s.remove_suffix(1);
    return s;
}

std::string shown(std::string_view value)
{
    std::string out = "\"";
    if (value.size() > 64) {
        out.append(value.substr(0, 64));
        out.append("...");
    } else {
        out.append(value);
    }
    out.append("\"");
    return out;
}

bool enum_has(const char *choices, std::string_view value)
{
    std::string_view rest(choices);
    while (!rest.empty()) {
        auto comma = rest.find(',');
        std::string_view item = rest.substr(0, comma);
        if (item == value)
            return true;
        if (comma == std::string_view::npos)
            break;
        rest.remove_prefix(comma + 1);
    }
    return false;
}

std::string with_spaces(const char *choices)
{
    std::string out;
    for (const char *p = choices; *p; ++p) {
        out.push_back(*p);
        if (*p == ',')
            out.push_back(' ');
    }
    return out;
}

} // namespace

std::string_view context_name(Context context) noexcept
{
    switch (context) {
    case Context::Wrapper: return "foreign-data wrapper";
    case Context::Server: return "server";
    case Context::UserMapping: return "user mapping";
    case Context::Table: return "foreign table";
    case Context::Column: return "column";
    }
    return "object";
}

const std::vector<OptionSpec> &option_catalogue()
{
    return kCatalogue;
}

const OptionSpec *find_option(std::string_view name) noexcept
{
    for (const OptionSpec &spec : kCatalogue)
        if (name == spec.name)
            return &spec;
    return nullptr;
}

bool is_secret_option(std::string_view name) noexcept
{
    return name == "password" || name == "sslpassword";
}

std::optional<bool> parse_bool(std::string_view text) noexcept
{
    try {
        std::string v = lower(trim(text));
        if (v == "true" || v == "on" || v == "yes" || v == "1" || v == "t" || v == "y")
            return true;
        if (v == "false" || v == "off" || v == "no" || v == "0" || v == "f" || v == "n")
            return false;
    } catch (...) {
    }
    return std::nullopt;
}

std::optional<long long> parse_int(std::string_view text) noexcept
{
    text = trim(text);
    if (text.empty() || text.size() > 19)
        return std::nullopt;
    bool negative = false;
    std::size_t i = 0;
    if (text[0] == '-' || text[0] == '+') {
        negative = text[0] == '-';
        i = 1;
    }
    if (i == text.size())
        return std::nullopt;
    long long value = 0;
    for (; i < text.size(); ++i) {
        char c = text[i];
        if (c < '0' || c > '9')
            return std::nullopt;
        value = value * 10 + (c - '0');
    }
    return negative ? -value : value;
}

std::optional<double> parse_duration_ms(std::string_view text) noexcept
{
    text = trim(text);
    std::size_t i = 0;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
        ++i;
    std::string_view number = text.substr(0, i);
    std::string_view unit = trim(text.substr(i));
    if (number.empty() || number.size() > 15 || number.find('.') != number.rfind('.') ||
        number == ".")
        return std::nullopt;
    double value = std::strtod(std::string(number).c_str(), nullptr);
    double scale;
    if (unit.empty() || unit == "s" || unit == "sec" || unit == "seconds")
        scale = 1000.0;
    else if (unit == "ms")
        scale = 1.0;
    else if (unit == "min")
        scale = 60000.0;
    else if (unit == "h")
        scale = 3600000.0;
    else
        return std::nullopt;
    double ms = value * scale;
    if (!(ms > 0.0) || ms > 86400000.0)
        return std::nullopt;
    return ms;
}

std::string valid_options(Context context)
{
    std::string out;
    for (const OptionSpec &spec : kCatalogue) {
        if (!(spec.contexts & static_cast<unsigned>(context)))
            continue;
        if (!out.empty())
            out.append(", ");
        out.append(spec.name);
    }
    return out;
}

Check check_option(std::string_view name, std::string_view value, Context context,
                   bool is_superuser)
{
    Check check;
    const OptionSpec *spec = find_option(name);
    const std::string where(context_name(context));
    if (spec == nullptr) {
        check.verdict = Verdict::Unknown;
        check.message = "invalid option " + shown(name) + " for a pm_fdw " + where;
        std::string valid = valid_options(context);
        check.hint = valid.empty() ? "This object takes no options."
                                   : "Valid options here are: " + valid + ".";
        return check;
    }
    if (!(spec->contexts & static_cast<unsigned>(context))) {
        check.verdict = Verdict::WrongContext;
        check.message = "option " + shown(name) + " cannot be set on a pm_fdw " + where;
        std::string places;
        for (Context c : {Context::Server, Context::UserMapping, Context::Table, Context::Column}) {
            if (spec->contexts & static_cast<unsigned>(c)) {
                if (!places.empty())
                    places.append(" or ");
                places.append(context_name(c));
            }
        }
        check.hint = "Set it on the " + places + ".";
        return check;
    }
    if ((spec->superuser_only || spec->reads_files) && !is_superuser) {
        check.verdict = Verdict::NeedSuperuser;
        check.message = "only a superuser can set option " + shown(name) + " on a pm_fdw " + where;
        check.hint = spec->reads_files
                         ? "It names a file on the database server; a non-superuser may not make "
                           "the server read its files."
                         : "Ask a superuser to set it.";
        return check;
    }
    const bool secret = is_secret_option(name);
    auto bad = [&](const std::string &expected) {
        check.verdict = Verdict::BadValue;
        check.message = "invalid value for option " + shown(name) +
                        (secret ? std::string() : ": " + shown(value)) + "; expected " + expected;
        return check;
    };
    switch (spec->kind) {
    case ValueKind::AnyText:
        break;
    case ValueKind::Text:
        if (trim(value).empty())
            return bad("a non-empty value");
        break;
    case ValueKind::Bool:
        if (!parse_bool(value))
            return bad("a boolean (true or false)");
        break;
    case ValueKind::PositiveInt: {
        auto v = parse_int(value);
        if (!v || *v < 1 || *v > std::numeric_limits<int>::max())
            return bad("an integer between 1 and 2147483647");
        break;
    }
    case ValueKind::NonNegativeInt: {
        auto v = parse_int(value);
        if (!v || *v < 0 || *v > std::numeric_limits<int>::max())
            return bad("an integer between 0 and 2147483647");
        break;
    }
    case ValueKind::Duration:
        if (!parse_duration_ms(value))
            return bad("a positive duration up to 1 day such as 500ms, 5s or 1min");
        break;
    case ValueKind::Enum:
        if (!enum_has(spec->choices, value))
            return bad("one of " + with_spaces(spec->choices));
        break;
    }
    return check;
}

} // namespace pm::fdw
