/*
 * partition_bounds.h — grain arithmetic of pm's range partition sets, without PostgreSQL.
 *
 * Values are PostgreSQL's own representations, so the glue passes Datums through unchanged:
 *   timestamptz  microseconds since 2000-01-01 00:00:00 UTC
 *   date         days since 2000-01-01
 *   int/bigint   the integer itself
 * Every time bound is computed in UTC: a day partition is [00:00 UTC, next 00:00 UTC), 24 h
 * long on DST days too; weeks are ISO weeks (Monday to Monday, named by ISO year and week);
 * months and years start on the 1st at 00:00 UTC.  Integer sets cut at multiples of a step.
 */
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pm::partition {

enum class ControlKind { timestamptz, date, integer };
enum class Grain { hour, day, week, month, year, step };

struct GrainSpec {
    ControlKind kind = ControlKind::timestamptz;
    Grain grain = Grain::day;
    std::int64_t step = 0; /* Grain::step only: the width of an integer partition */
};

/* A grain or step the caller gave that cannot be used; the message names it. */
class BadGrain : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

/* `hour`, `day`, `week`, `month`, `year` for time controls (no `hour` for date); a positive
 * decimal step such as `1000000` for integer controls.  Throws BadGrain. */
GrainSpec parse_grain(std::string_view text, ControlKind kind);

/* The grain as the registry stores it: the keyword, or the step in decimal. */
std::string grain_text(const GrainSpec &spec);

/* The shortest interval one partition spans, as PostgreSQL interval text ('1 day', '28 days'
 * for a month): retention shorter than this would drop a partition still being written. */
std::string grain_min_interval(const GrainSpec &spec);

struct Range {
    std::int64_t lower; /* inclusive */
    std::int64_t upper; /* exclusive */
    bool operator==(const Range &o) const { return lower == o.lower && upper == o.upper; }
};

/* The partition range holding `value`.  Throws std::out_of_range past the representable
 * span (year 294276 for timestamptz, the int64 limits for steps). */
Range range_of(const GrainSpec &spec, std::int64_t value);

/* The range right after `r` (its lower is r.upper). */
Range next_range(const GrainSpec &spec, const Range &r);

/* Suffix of the partition holding `r`: _p2026120614 (hour), _p20261206 (day), _p2026w49 (ISO
 * week), _p202612 (month), _p2026 (year), _p1000000 or _pm1000000 (step; m for minus). */
std::string partition_suffix(const GrainSpec &spec, const Range &r);

/* `<parent>_<suffix>` within PostgreSQL's 63-byte identifier limit.  A parent name too long to
 * keep whole is cut at a UTF-8 character boundary and tagged with a hash of the whole name, so
 * two long parents that share a prefix still get distinct partition names. */
std::string partition_name(std::string_view parent, std::string_view suffix);
/* The default partition's name, under the same rule. */
std::string default_partition_name(std::string_view parent);

/* A SQL literal of the value (quoted for time kinds), for FOR VALUES and CHECK clauses:
 * '2026-12-06 00:00:00+00', '2026-12-06', 1000000. */
std::string bound_literal(const GrainSpec &spec, std::int64_t value);

/* A partition bound as pg_get_expr() prints it, split into its two literals (quotes removed). */
struct BoundText {
    bool is_default = false;
    std::string from; /* MINVALUE / MAXVALUE come back as those words */
    std::string to;
};
/* Parses "FOR VALUES FROM ('x') TO ('y')" or "DEFAULT"; nullopt for anything else (a list or
 * hash bound, a multi-column range). */
std::optional<BoundText> parse_bound_text(std::string_view expr);

/* The UTC day (days since 2000-01-01) holding a timestamptz value. */
std::int64_t utc_day_of(std::int64_t usec_since_2000);

/* Civil dates in UTC, exposed for the tests. */
struct CivilDate {
    int year;
    int month; /* 1..12 */
    int day;   /* 1..31 */
};
CivilDate civil_from_days(std::int64_t days_since_2000);
std::int64_t days_from_civil(int year, int month, int day);

} // namespace pm::partition
