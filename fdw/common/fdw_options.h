/*
 * fdw_options.h — the catalogue of pm_fdw options and their one-by-one validation,
 * without PostgreSQL (unit tested and fuzzed: tests/unit/fdw/test_fdw_options.cpp).
 *
 * Every option has the objects it may be set on (wrapper, server, user mapping, foreign
 * table, column), a value syntax, and two security flags: `superuser_only` (only a
 * superuser may set it, e.g. password_required) and `reads_files` (a libpq option that
 * makes the server process open a local file: only a superuser may set it, else a user
 * could read the server's files through the connection attempt).  Options that say where
 * to connect (host, hostaddr, port, dbname, service) are server-only: a user mapping, which
 * a non-owner may create, can never redirect the link to a host the server does not name.
 */
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pm::fdw {

enum class Context : unsigned {
    Wrapper = 1u,
    Server = 2u,
    UserMapping = 4u,
    Table = 8u,
    Column = 16u,
};

std::string_view context_name(Context context) noexcept;

enum class ValueKind : std::uint8_t {
    Text,        /* any non-empty text */
    AnyText,     /* any text, empty allowed */
    Bool,        /* true/false/on/off/yes/no/1/0 */
    PositiveInt, /* 1 .. 2^31-1 */
    NonNegativeInt,
    Duration,    /* "500ms", "2s", "1min", plain number = seconds; > 0 */
    Enum,        /* one of `choices` (comma separated) */
};

struct OptionSpec {
    const char *name;
    unsigned contexts;   /* bitmask of Context */
    bool libpq;          /* passed to libpq as a connection keyword */
    ValueKind kind;
    const char *choices; /* for Enum */
    bool superuser_only;
    bool reads_files;
};

/* The catalogue; nullptr-terminated for C callers, also usable as a range. */
const std::vector<OptionSpec> &option_catalogue();
const OptionSpec *find_option(std::string_view name) noexcept;

enum class Verdict : std::uint8_t {
    Ok,
    Unknown,       /* no such option: 42704-like, hint lists the valid ones */
    WrongContext,  /* exists, but not on this kind of object */
    BadValue,      /* value does not parse */
    NeedSuperuser, /* only a superuser may set it */
};

struct Check {
    Verdict verdict = Verdict::Ok;
    std::string message; /* names the option and the bad value, says what was expected */
    std::string hint;
    bool ok() const noexcept { return verdict == Verdict::Ok; }
};

/*
 * Validates one option.  Values of secret options (password, sslpassword) are never
 * repeated in the message.
 */
Check check_option(std::string_view name, std::string_view value, Context context,
                   bool is_superuser);

/* Valid option names for a context, comma separated (for hints). */
std::string valid_options(Context context);

/* Value parsers (also used when reading options at run time). */
std::optional<bool> parse_bool(std::string_view text) noexcept;
std::optional<long long> parse_int(std::string_view text) noexcept;
/* Milliseconds; plain number = seconds; units ms, s, min, h. */
std::optional<double> parse_duration_ms(std::string_view text) noexcept;

bool is_secret_option(std::string_view name) noexcept;

} // namespace pm::fdw
