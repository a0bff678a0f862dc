/*
 * partition_bounds.cpp — see partition_bounds.h.  All arithmetic is on int64 with floor
 * division, so values before 2000 (negative) fall into the right range too.
 */
#include "core/pure/partition_bounds.h"

#include <cstdio>

namespace pm::partition {
namespace {

constexpr std::int64_t kUsecPerHour = 3600LL * 1000000LL;
constexpr std::int64_t kUsecPerDay = 24 * kUsecPerHour;
constexpr std::size_t kMaxIdentifierBytes = 63; /* NAMEDATALEN - 1 */

std::int64_t floor_div(std::int64_t a, std::int64_t b)
{
    std::int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

std::int64_t floor_mod(std::int64_t a, std::int64_t b)
{
    return a - floor_div(a, b) * b;
}

std::int64_t checked_add(std::int64_t a, std::int64_t b)
{
    std::int64_t out;
    if (__builtin_add_overflow(a, b, &out))
        throw std::out_of_range("partition bound out of range");
    return out;
}

std::int64_t checked_mul(std::int64_t a, std::int64_t b)
{
    std::int64_t out;
    if (__builtin_mul_overflow(a, b, &out))
        throw std::out_of_range("partition bound out of range");
    return out;
}

/* Day number (since 2000-01-01) of the Monday starting the ISO week holding `days`;
 * 2000-01-01 was a Saturday, five days after a Monday. */
std::int64_t iso_week_monday(std::int64_t days)
{
    return days - floor_mod(days + 5, 7);
}

struct IsoWeek {
    int year;
    int week;
};

IsoWeek iso_week_of_monday(std::int64_t monday)
{
    /* The ISO year is the year of the week's Thursday. */
    const CivilDate thursday = civil_from_days(monday + 3);
    const std::int64_t jan1 = days_from_civil(thursday.year, 1, 1);
    return {thursday.year, static_cast<int>((monday + 3 - jan1) / 7) + 1};
}

/* Start of the calendar unit (day, week, month, year) holding day number `days`, and the
 * start of the next one. */
Range day_range(Grain grain, std::int64_t days)
{
    switch (grain) {
    case Grain::day:
        return {days, days + 1};
    case Grain::week: {
        const std::int64_t monday = iso_week_monday(days);
        return {monday, monday + 7};
    }
    case Grain::month: {
        const CivilDate d = civil_from_days(days);
        const std::int64_t lower = days_from_civil(d.year, d.month, 1);
        const std::int64_t upper = d.month == 12 ? days_from_civil(d.year + 1, 1, 1)
                                                 : days_from_civil(d.year, d.month + 1, 1);
        return {lower, upper};
    }
    case Grain::year: {
        const CivilDate d = civil_from_days(days);
        return {days_from_civil(d.year, 1, 1), days_from_civil(d.year + 1, 1, 1)};
    }
    default:
        throw std::logic_error("day_range: not a calendar grain");
    }
}

bool parse_positive_int64(std::string_view text, std::int64_t &out)
{
    if (text.empty() || text.size() > 19)
        return false;
    std::int64_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9')
            return false;
        if (__builtin_mul_overflow(value, 10, &value) || __builtin_add_overflow(value, c - '0', &value))
            return false;
    }
    out = value;
    return value > 0;
}

std::string two_digits(int v)
{
    char buf[16];
    std::snprintf(buf, sizeof buf, "%02d", v);
    return buf;
}

std::string year_digits(int year)
{
    if (year < 1)
        throw std::out_of_range("partition bound before year 1");
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d", year);
    return buf;
}

std::string date_text(std::int64_t days)
{
    const CivilDate d = civil_from_days(days);
    return year_digits(d.year) + "-" + two_digits(d.month) + "-" + two_digits(d.day);
}

std::uint32_t fnv1a(std::string_view bytes)
{
    std::uint32_t h = 2166136261u;
    for (unsigned char c : bytes) {
        h ^= c;
        h *= 16777619u;
    }
    return h;
}

/* Reads one bound literal at `pos`: 'quoted' (with '' for a quote) or a bare word. */
std::optional<std::string> read_literal(std::string_view s, std::size_t &pos)
{
    std::string out;
    if (pos < s.size() && s[pos] == '\'') {
        for (pos++; pos < s.size(); pos++) {
            if (s[pos] == '\'') {
                if (pos + 1 < s.size() && s[pos + 1] == '\'') {
                    out += '\'';
                    pos++;
                    continue;
                }
                pos++;
                return out;
            }
            out += s[pos];
        }
        return std::nullopt; /* unterminated */
    }
    while (pos < s.size() && s[pos] != ')' && s[pos] != ',' && s[pos] != ' ')
        out += s[pos++];
    if (out.empty())
        return std::nullopt;
    return out;
}

bool expect(std::string_view s, std::size_t &pos, std::string_view word)
{
    if (s.substr(pos, word.size()) != word)
        return false;
    pos += word.size();
    return true;
}

} // namespace

std::int64_t utc_day_of(std::int64_t usec_since_2000)
{
    return floor_div(usec_since_2000, kUsecPerDay);
}

CivilDate civil_from_days(std::int64_t days_since_2000)
{
    /* Count in 400-year eras starting on 0000-03-01, so leap days end each era's years. */
    const std::int64_t z = days_since_2000 + 10957 + 719468; /* days since 0000-03-01 */
    const std::int64_t era = floor_div(z, 146097);
    const std::int64_t doe = z - era * 146097;
    const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const std::int64_t mp = (5 * doy + 2) / 153;
    const int day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
    const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
    const std::int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
    return {static_cast<int>(year), month, day};
}

std::int64_t days_from_civil(int year, int month, int day)
{
    const std::int64_t y = static_cast<std::int64_t>(year) - (month <= 2 ? 1 : 0);
    const std::int64_t era = floor_div(y, 400);
    const std::int64_t yoe = y - era * 400;
    const std::int64_t mp = month > 2 ? month - 3 : month + 9;
    const std::int64_t doy = (153 * mp + 2) / 5 + day - 1;
    const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468 - 10957;
}

GrainSpec parse_grain(std::string_view text, ControlKind kind)
{
    GrainSpec spec;
    spec.kind = kind;
    if (kind == ControlKind::integer) {
        if (!parse_positive_int64(text, spec.step))
            throw BadGrain("invalid step \"" + std::string(text) +
                           "\" for an integer control: expected a positive whole number such as "
                           "'1000000'");
        spec.grain = Grain::step;
        return spec;
    }
    if (text == "hour" && kind == ControlKind::timestamptz)
        spec.grain = Grain::hour;
    else if (text == "day")
        spec.grain = Grain::day;
    else if (text == "week")
        spec.grain = Grain::week;
    else if (text == "month")
        spec.grain = Grain::month;
    else if (text == "year")
        spec.grain = Grain::year;
    else
        throw BadGrain("invalid grain \"" + std::string(text) + "\" for a " +
                       (kind == ControlKind::date ? "date control: expected day, week, month or year"
                                                  : "timestamptz control: expected hour, day, week, "
                                                    "month or year"));
    return spec;
}

std::string grain_text(const GrainSpec &spec)
{
    switch (spec.grain) {
    case Grain::hour: return "hour";
    case Grain::day: return "day";
    case Grain::week: return "week";
    case Grain::month: return "month";
    case Grain::year: return "year";
    case Grain::step: return std::to_string(spec.step);
    }
    return {};
}

std::string grain_min_interval(const GrainSpec &spec)
{
    switch (spec.grain) {
    case Grain::hour: return "1 hour";
    case Grain::day: return "1 day";
    case Grain::week: return "7 days";
    case Grain::month: return "28 days";
    case Grain::year: return "365 days";
    case Grain::step: break;
    }
    throw std::logic_error("grain_min_interval: integer sets have no time span");
}

Range range_of(const GrainSpec &spec, std::int64_t value)
{
    if (spec.grain == Grain::step) {
        const std::int64_t lower = checked_mul(floor_div(value, spec.step), spec.step);
        return {lower, checked_add(lower, spec.step)};
    }
    if (spec.kind == ControlKind::date)
        return day_range(spec.grain, value);
    if (spec.grain == Grain::hour) {
        const std::int64_t lower = floor_div(value, kUsecPerHour) * kUsecPerHour;
        return {lower, checked_add(lower, kUsecPerHour)};
    }
    const Range days = day_range(spec.grain, floor_div(value, kUsecPerDay));
    return {checked_mul(days.lower, kUsecPerDay), checked_mul(days.upper, kUsecPerDay)};
}

Range next_range(const GrainSpec &spec, const Range &r)
{
    return range_of(spec, r.upper);
}

std::string partition_suffix(const GrainSpec &spec, const Range &r)
{
    if (spec.grain == Grain::step)
        return r.lower < 0 ? "_pm" + std::to_string(r.lower).substr(1) : "_p" + std::to_string(r.lower);

    std::int64_t days = r.lower;
    int hour = 0;
    if (spec.kind == ControlKind::timestamptz) {
        days = floor_div(r.lower, kUsecPerDay);
        hour = static_cast<int>(floor_mod(r.lower, kUsecPerDay) / kUsecPerHour);
    }
    const CivilDate d = civil_from_days(days);
    switch (spec.grain) {
    case Grain::hour:
        return "_p" + year_digits(d.year) + two_digits(d.month) + two_digits(d.day) + two_digits(hour);
    case Grain::day:
        return "_p" + year_digits(d.year) + two_digits(d.month) + two_digits(d.day);
    case Grain::week: {
        const IsoWeek w = iso_week_of_monday(iso_week_monday(days));
        return "_p" + year_digits(w.year) + "w" + two_digits(w.week);
    }
    case Grain::month:
        return "_p" + year_digits(d.year) + two_digits(d.month);
    case Grain::year:
        return "_p" + year_digits(d.year);
    case Grain::step:
        break;
    }
    return {};
}

std::string partition_name(std::string_view parent, std::string_view suffix)
{
    if (parent.size() + suffix.size() <= kMaxIdentifierBytes)
        return std::string(parent) + std::string(suffix);
    char tag[16];
    std::snprintf(tag, sizeof tag, "_%08x", fnv1a(parent));
    std::size_t keep = kMaxIdentifierBytes - suffix.size() - 9;
    while (keep > 0 && (static_cast<unsigned char>(parent[keep]) & 0xC0) == 0x80)
        keep--; /* never end inside a multi-byte character */
    return std::string(parent.substr(0, keep)) + tag + std::string(suffix);
}

std::string default_partition_name(std::string_view parent)
{
    return partition_name(parent, "_default");
}

std::string bound_literal(const GrainSpec &spec, std::int64_t value)
{
    switch (spec.kind) {
    case ControlKind::integer:
        return std::to_string(value);
    case ControlKind::date:
        return "'" + date_text(value) + "'";
    case ControlKind::timestamptz: {
        const std::int64_t days = floor_div(value, kUsecPerDay);
        std::int64_t usec = floor_mod(value, kUsecPerDay);
        const int hh = static_cast<int>(usec / kUsecPerHour);
        usec %= kUsecPerHour;
        const int mm = static_cast<int>(usec / 60000000);
        usec %= 60000000;
        const int ss = static_cast<int>(usec / 1000000);
        usec %= 1000000;
        std::string out = "'" + date_text(days) + " " + two_digits(hh) + ":" + two_digits(mm) + ":" +
                          two_digits(ss);
        if (usec != 0) {
            char frac[16];
            std::snprintf(frac, sizeof frac, ".%06lld", static_cast<long long>(usec));
            out += frac;
        }
        return out + "+00'";
    }
    }
    return {};
}

std::optional<BoundText> parse_bound_text(std::string_view expr)
{
    if (expr == "DEFAULT")
        return BoundText{true, {}, {}};
    std::size_t pos = 0;
    BoundText out;
    if (!expect(expr, pos, "FOR VALUES FROM ("))
        return std::nullopt;
    std::optional<std::string> from = read_literal(expr, pos);
    if (!from || !expect(expr, pos, ") TO ("))
        return std::nullopt;
    std::optional<std::string> to = read_literal(expr, pos);
    if (!to || !expect(expr, pos, ")") || pos != expr.size())
        return std::nullopt;
    out.from = std::move(*from);
    out.to = std::move(*to);
    return out;
}

} // namespace pm::partition
