/* partition_set.cpp — see partition_set.h. */
#include "core/partition_set.h"

extern "C" {
#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "utils/date.h"
#include "utils/timestamp.h"
}

#include <algorithm>
#include <cstdlib>

namespace pm::partition {
namespace {

constexpr const char *kParentQuery = R"SQL(
SELECT n.nspname, c.relname, pg_catalog.pg_get_userbyid(c.relowner), c.relkind,
       p.partstrat, p.partnatts, a.attname, a.atttypid, c.relrowsecurity, c.relforcerowsecurity
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_partitioned_table p ON p.partrelid = c.oid
LEFT JOIN pg_catalog.pg_attribute a
  ON a.attrelid = c.oid AND a.attnum = p.partattrs[0] AND a.attnum > 0
WHERE c.oid = $1::pg_catalog.oid
)SQL";

constexpr const char *kSetsQuery = R"SQL(
SELECT s.parent::pg_catalog.oid, s.control, s.grain, s.premake,
       pg_catalog.now() - s.retention, s.retention_mode, s.with_default, s.last_run,
       s.last_result
FROM pm.partition_sets s
WHERE $1::pg_catalog.oid IS NULL OR s.parent = $1::pg_catalog.oid
ORDER BY s.parent::pg_catalog.oid
)SQL";

/* TimeZone is UTC inside the partition functions (their SET clauses), so the bound text
 * pg_get_expr prints reads back to the same instant. */
constexpr const char *kPartitionsQuery = R"SQL(
SELECT c.oid, c.relname, n.nspname, pg_catalog.pg_get_expr(c.relpartbound, c.oid)
FROM pg_catalog.pg_inherits i
JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE i.inhparent = $1::pg_catalog.oid
)SQL";

Oid oid_value(const std::optional<std::string> &text)
{
    return text ? static_cast<Oid>(std::strtoul(text->c_str(), nullptr, 10)) : InvalidOid;
}

/* A bound literal as a control value; nullopt for MINVALUE / MAXVALUE. */
std::optional<std::int64_t> literal_value(ControlKind kind, const std::string &literal)
{
    if (literal == "MINVALUE" || literal == "MAXVALUE")
        return std::nullopt;
    if (kind == ControlKind::integer)
        return std::strtoll(literal.c_str(), nullptr, 10);
    const char *cstr = literal.c_str();
    std::int64_t out = 0;
    pg_call([&] {
        if (kind == ControlKind::timestamptz)
            out = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(cstr),
                                                          ObjectIdGetDatum(InvalidOid),
                                                          Int32GetDatum(-1)));
        else
            out = DatumGetDateADT(DirectFunctionCall1(date_in, CStringGetDatum(cstr)));
    });
    return out;
}

} // namespace

std::string qualified_name(const std::string &schema, const std::string &name)
{
    return quote_ident(schema) + "." + quote_ident(name);
}

ParentFacts read_parent(SpiSession &spi, Oid parent)
{
    if (spi.execute(kParentQuery, {std::to_string(parent)}) == 0)
        throw SqlError(ERRCODE_UNDEFINED_TABLE,
                       "relation with OID " + std::to_string(parent) + " does not exist");
    ParentFacts f;
    f.oid = parent;
    f.schema = spi.value(0, 1).value_or("");
    f.name = spi.value(0, 2).value_or("");
    f.qualified = qualified_name(f.schema, f.name);
    f.owner = spi.value(0, 3).value_or("");
    f.relkind = spi.value(0, 4).value_or("?")[0];
    f.strategy = spi.value(0, 5).value_or(std::string(1, '\0'))[0];
    f.key_columns = std::atoi(spi.value(0, 6).value_or("0").c_str());
    f.key_column = spi.value(0, 7);
    f.key_type = oid_value(spi.value(0, 8));
    f.row_security = is_true(spi.value(0, 9));
    f.force_row_security = is_true(spi.value(0, 10));
    return f;
}

std::optional<ControlKind> control_kind_of(Oid type)
{
    switch (type) {
    case TIMESTAMPTZOID: return ControlKind::timestamptz;
    case DATEOID: return ControlKind::date;
    case INT4OID:
    case INT8OID: return ControlKind::integer;
    default: return std::nullopt;
    }
}

std::vector<PartitionSet> read_sets(SpiSession &spi, std::optional<Oid> only)
{
    struct Row {
        Oid parent;
        std::string control, grain, mode;
        int premake;
        std::optional<std::int64_t> cutoff;
        bool with_default;
        std::optional<std::int64_t> last_run;
        std::optional<std::string> last_result;
    };
    std::vector<Row> rows;
    const std::optional<std::string> filter =
        only ? std::optional<std::string>(std::to_string(*only)) : std::nullopt;
    const uint64 n = spi.execute(kSetsQuery, {filter});
    for (uint64 i = 0; i < n; i++) {
        Row r;
        r.parent = oid_value(spi.value(i, 1));
        r.control = spi.value(i, 2).value_or("");
        r.grain = spi.value(i, 3).value_or("");
        r.premake = std::atoi(spi.value(i, 4).value_or("0").c_str());
        if (std::optional<Datum> cutoff = result_datum(i, 5))
            r.cutoff = DatumGetTimestampTz(*cutoff);
        r.mode = spi.value(i, 6).value_or("drop");
        r.with_default = is_true(spi.value(i, 7));
        if (std::optional<Datum> last_run = result_datum(i, 8))
            r.last_run = DatumGetTimestampTz(*last_run);
        r.last_result = spi.value(i, 9);
        rows.push_back(std::move(r));
    }

    std::vector<PartitionSet> sets;
    for (Row &r : rows) {
        PartitionSet s;
        s.parent = read_parent(spi, r.parent);
        const std::optional<ControlKind> kind = control_kind_of(s.parent.key_type);
        if (!kind)
            throw SqlError(ERRCODE_DATATYPE_MISMATCH,
                           "partition set " + s.parent.qualified +
                               " no longer has a timestamptz, date, integer or bigint range key",
                           {}, "Unregister it with pm.partition_undo().");
        s.spec = parse_grain(r.grain, *kind);
        s.control = r.control;
        s.premake = r.premake;
        s.retention_cutoff_us = r.cutoff;
        s.detach = r.mode == "detach";
        s.with_default = r.with_default;
        s.last_run = r.last_run;
        s.last_result = std::move(r.last_result);
        sets.push_back(std::move(s));
    }
    return sets;
}

std::vector<Partition> read_partitions(SpiSession &spi, const ParentFacts &parent,
                                       const GrainSpec &spec)
{
    std::vector<Partition> parts;
    const uint64 n = spi.execute(kPartitionsQuery, {std::to_string(parent.oid)});
    struct Raw {
        Oid oid;
        std::string name, schema, bound;
    };
    std::vector<Raw> raws;
    for (uint64 i = 0; i < n; i++)
        raws.push_back({oid_value(spi.value(i, 1)), spi.value(i, 2).value_or(""),
                        spi.value(i, 3).value_or(""), spi.value(i, 4).value_or("")});
    for (const Raw &raw : raws) {
        Partition p;
        p.oid = raw.oid;
        p.name = raw.name;
        p.qualified = qualified_name(raw.schema, raw.name);
        if (std::optional<BoundText> bound = parse_bound_text(raw.bound)) {
            p.is_default = bound->is_default;
            if (!p.is_default) {
                const std::optional<std::int64_t> lo = literal_value(spec.kind, bound->from);
                const std::optional<std::int64_t> hi = literal_value(spec.kind, bound->to);
                p.own_range = lo && hi;
                p.range = {lo.value_or(INT64_MIN), hi.value_or(INT64_MAX)};
            }
        }
        parts.push_back(std::move(p));
    }
    std::sort(parts.begin(), parts.end(), [](const Partition &a, const Partition &b) {
        return a.range.lower < b.range.lower;
    });
    return parts;
}

const Partition *find_default(const std::vector<Partition> &parts)
{
    for (const Partition &p : parts)
        if (p.is_default)
            return &p;
    return nullptr;
}

bool range_taken(const std::vector<Partition> &parts, const Range &r)
{
    for (const Partition &p : parts)
        if (!p.is_default && p.range.lower < r.upper && r.lower < p.range.upper)
            return true;
    return false;
}

std::int64_t current_position(SpiSession &spi, const PartitionSet &set)
{
    const TimestampTz now = GetCurrentTransactionStartTimestamp();
    switch (set.spec.kind) {
    case ControlKind::timestamptz:
        return now;
    case ControlKind::date:
        return utc_day_of(now);
    case ControlKind::integer:
        break;
    }
    spi.execute("SELECT pg_catalog.max(" + quote_ident(set.control) + ")::pg_catalog.int8 FROM " +
                    set.parent.qualified);
    const std::optional<Datum> max = result_datum(0, 1);
    return max ? DatumGetInt64(*max) : 0;
}

std::int64_t value_as_usec(ControlKind kind, std::int64_t value)
{
    if (kind != ControlKind::date)
        return value;
    if (value > INT64_MAX / USECS_PER_DAY)
        return INT64_MAX;
    if (value < INT64_MIN / USECS_PER_DAY)
        return INT64_MIN;
    return value * USECS_PER_DAY;
}

} // namespace pm::partition
