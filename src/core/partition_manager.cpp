/*
 * partition_manager.cpp — pm.partition_create_parent(), pm.run_maintenance() and
 * pm.partition_status(): argument checks, the plan of which partitions a set needs, and the
 * result rows.  The catalog reading is in partition_set.cpp, the DDL in partition_ddl.cpp.
 */
#include "core/partition_ddl.h"
#include "core/partition_set.h"
#include "shared/boundary.h"
#include "shared/spi_session.h"

extern "C" {
#include "access/xact.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "datatype/timestamp.h"
#include "funcapi.h"
#include "utils/date.h"
#include "utils/guc.h"
#include "utils/rls.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(pm_partition_create_parent);
PG_FUNCTION_INFO_V1(pm_run_maintenance);
PG_FUNCTION_INFO_V1(pm_partition_status);
}

#include <string>
#include <vector>

namespace pm::partition {
namespace {

/* More partitions than this in one call is a typo in `start`, not a plan. */
constexpr int kMaxPartitionsPerCall = 10000;

std::string interval_text(Datum interval)
{
    char *text = nullptr;
    pg_call([&] { text = DatumGetCString(DirectFunctionCall1(interval_out, interval)); });
    return text;
}

std::int64_t interval_usec(const Interval *i)
{
    return i->time + static_cast<std::int64_t>(i->day) * USECS_PER_DAY +
           static_cast<std::int64_t>(i->month) * DAYS_PER_MONTH * USECS_PER_DAY;
}

[[noreturn]] void bad_argument(const std::string &message, const std::string &hint = {})
{
    throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE, message, {}, hint);
}

/* The parent must be PARTITION BY RANGE (control) on a type the manager handles. */
ControlKind check_parent(SpiSession &spi, const ParentFacts &parent, const std::string &control)
{
    if (parent.relkind != 'p' && parent.relkind != 'r')
        throw SqlError(ERRCODE_WRONG_OBJECT_TYPE, "\"" + parent.qualified + "\" is not a table");
    if (parent.relkind == 'r')
        throw SqlError(ERRCODE_WRONG_OBJECT_TYPE,
                       "table " + parent.qualified + " is not partitioned",
                       {}, "Create it with PARTITION BY RANGE (" + quote_ident(control) + ").");
    if (parent.strategy != 'r')
        throw SqlError(ERRCODE_WRONG_OBJECT_TYPE,
                       "table " + parent.qualified + " is partitioned by " +
                           (parent.strategy == 'l' ? "list" : "hash") + ", not by range",
                       {}, "Only PARTITION BY RANGE tables can be partition sets.");
    if (parent.key_columns != 1 || !parent.key_column)
        throw SqlError(ERRCODE_FEATURE_NOT_SUPPORTED,
                       "table " + parent.qualified +
                           " has a multi-column or expression range key",
                       {}, "Partition sets need PARTITION BY RANGE (one column).");
    if (*parent.key_column != control) {
        const bool exists =
            spi.execute("SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = $1::pg_catalog.oid "
                        "AND attname = $2 AND attnum > 0 AND NOT attisdropped",
                        {std::to_string(parent.oid), control}) > 0;
        if (!exists)
            throw SqlError(ERRCODE_UNDEFINED_COLUMN, "column \"" + control + "\" of relation " +
                                                         parent.qualified + " does not exist");
        throw SqlError(ERRCODE_INVALID_COLUMN_REFERENCE,
                       "table " + parent.qualified + " is partitioned by column \"" +
                           *parent.key_column + "\", not by \"" + control + "\"");
    }
    const std::optional<ControlKind> kind = control_kind_of(parent.key_type);
    if (!kind) {
        spi.execute("SELECT pg_catalog.format_type($1::pg_catalog.oid, NULL)",
                    {std::to_string(parent.key_type)});
        throw SqlError(ERRCODE_DATATYPE_MISMATCH,
                       "control column \"" + control + "\" of " + parent.qualified + " has type " +
                           spi.value(0, 1).value_or("?") +
                           "; expected timestamptz, date, integer or bigint",
                       {}, "A timestamp without time zone column has no single UTC bound; use "
                           "timestamptz.");
    }
    return *kind;
}

GrainSpec grain_or_error(const std::string &grain, ControlKind kind)
{
    try {
        return parse_grain(grain, kind);
    } catch (const BadGrain &e) {
        bad_argument(e.what());
    }
}

/* Retention must be positive and at least one partition long (for time sets only). */
void check_retention(SpiSession &spi, const GrainSpec &spec, Datum retention)
{
    const std::string text = interval_text(retention);
    if (spec.kind == ControlKind::integer)
        bad_argument("retention " + text + " given for an integer control",
                     "Retention by age applies to timestamptz and date sets; pass NULL.");
    if (interval_usec(DatumGetIntervalP(retention)) <= 0)
        bad_argument("retention must be a positive interval, got " + text);
    const std::string shortest = grain_min_interval(spec);
    spi.execute("SELECT $1::pg_catalog.interval < $2::pg_catalog.interval", {text, shortest});
    if (is_true(spi.value(0, 1)))
        bad_argument("retention " + text + " is shorter than one " + grain_text(spec) +
                         " partition (" + shortest + ")",
                     "A partition would be dropped while rows are still written to it.");
}

/* The ranges a set should have: from `from` up to `premake` ranges past the one holding now. */
std::vector<Range> wanted_ranges(const GrainSpec &spec, std::int64_t from, std::int64_t now,
                                 int premake)
{
    Range last = range_of(spec, now);
    const Range first = range_of(spec, from);
    if (first.lower > last.lower)
        last = first;
    for (int i = 0; i < premake; i++)
        last = next_range(spec, last);
    std::vector<Range> out;
    for (Range r = first;; r = next_range(spec, r)) {
        out.push_back(r);
        if (r.lower >= last.lower)
            break;
        if (out.size() > static_cast<std::size_t>(kMaxPartitionsPerCall))
            throw SqlError(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                           "more than " + std::to_string(kMaxPartitionsPerCall) +
                               " partitions from start to now + premake",
                           {}, "Pass a later start or a coarser grain.");
    }
    return out;
}

std::int64_t start_position(const GrainSpec &spec, std::optional<TimestampTz> start, std::int64_t now)
{
    if (!start)
        return now;
    return spec.kind == ControlKind::date ? utc_day_of(*start) : *start;
}

/* An extension's script registering its own set while a dump is restored (pg_restore runs
 * CREATE EXTENSION first): the dump brings the set's registry row and its partitions with
 * their rows, so the script makes neither.  Restore mode is session_replication_role =
 * replica, which a restore needs anyway so that the extension's triggers (created with the
 * extension, before the rows) do not rewrite the rows they meet.  A session that looks like
 * pg_restore's (check_function_bodies and row_security off) without it is refused: the
 * partitions made here would collide with the dumped ones and their rows be lost. */
bool restoring_extension(const ParentFacts &parent)
{
    if (!creating_extension)
        return false;
    if (SessionReplicationRole == SESSION_REPLICATION_ROLE_REPLICA)
        return true;
    if (!check_function_bodies && !row_security)
        throw SqlError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                       "restoring " + parent.qualified +
                           " needs session_replication_role = replica",
                       "This session looks like pg_restore's (check_function_bodies and "
                       "row_security off), and the dump carries the partitions of the set.",
                       "Before pg_restore: ALTER DATABASE <db> SET session_replication_role = "
                       "replica; after it: ALTER DATABASE <db> RESET session_replication_role "
                       "and SELECT pm.run_maintenance().");
    return false;
}

struct CreateArgs {
    Oid parent;
    std::string control;
    std::string grain;
    int premake;
    std::optional<Datum> retention;
    std::string retention_mode;
    bool with_default;
    std::optional<TimestampTz> start;
};

int create_parent(const CreateArgs &args)
{
    if (args.premake < 0 || args.premake > 1000)
        bad_argument("premake must be between 0 and 1000, got " + std::to_string(args.premake));
    if (args.retention_mode != "drop" && args.retention_mode != "detach")
        bad_argument("invalid retention_mode \"" + args.retention_mode +
                     "\": expected drop or detach");

    SpiSession spi;
    const ParentFacts parent = read_parent(spi, args.parent);
    const ControlKind kind = check_parent(spi, parent, args.control);
    const GrainSpec spec = grain_or_error(args.grain, kind);
    if (args.retention)
        check_retention(spi, spec, *args.retention);
    if (args.start && kind == ControlKind::integer)
        bad_argument("start given for an integer control",
                     "Integer sets start at the range holding 0 (or the largest value); pass NULL.");
    if (restoring_extension(parent))
        return 0;
    if (spi.execute("SELECT 1 FROM pm.partition_sets WHERE parent = $1::pg_catalog.oid",
                    {std::to_string(parent.oid)}) > 0)
        throw SqlError(ERRCODE_DUPLICATE_OBJECT,
                       "table " + parent.qualified + " is already a registered partition set",
                       {}, "pm.partition_undo() unregisters it.");
    if (spi.execute("SELECT 1 FROM pg_catalog.pg_inherits WHERE inhparent = $1::pg_catalog.oid",
                    {std::to_string(parent.oid)}) > 0)
        throw SqlError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                       "table " + parent.qualified + " already has partitions",
                       {}, "A new set starts from an empty partitioned table.");

    spi.execute("INSERT INTO pm.partition_sets (parent, control, control_type, grain, premake, "
                "retention, retention_mode, with_default) VALUES ($1::pg_catalog.oid::pg_catalog.regclass, "
                "$2, $3::pg_catalog.oid::pg_catalog.regtype, $4, $5::int4, $6::pg_catalog.interval, $7, "
                "$8::bool)",
                {std::to_string(parent.oid), args.control, std::to_string(parent.key_type),
                 grain_text(spec), std::to_string(args.premake),
                 args.retention ? std::optional<std::string>(interval_text(*args.retention))
                                : std::nullopt,
                 args.retention_mode, bool_text(args.with_default)});

    PartitionSet set;
    set.parent = parent;
    set.spec = spec;
    set.control = args.control;
    set.premake = args.premake;
    set.with_default = args.with_default;

    const LockPolicy locks;
    LockTimeoutScope lock_timeout(locks.wait_ms);
    const std::int64_t now = current_position(spi, set);
    int created = 0;
    for (const Range &r : wanted_ranges(spec, start_position(spec, args.start, now), now, args.premake)) {
        const StepOutcome step = create_partition(spi, set, r, nullptr, locks);
        if (!step.done)
            throw SqlError(ERRCODE_LOCK_NOT_AVAILABLE, step.why);
        created++;
    }
    if (args.with_default) {
        const StepOutcome step = create_default_partition(spi, set, locks);
        if (!step.done)
            throw SqlError(ERRCODE_LOCK_NOT_AVAILABLE, step.why);
    }
    return created;
}

struct MaintenanceRow {
    Oid parent;
    int created = 0, dropped = 0, detached = 0;
    std::int64_t moved = 0;
    std::vector<std::string> skipped;
    bool claimed = false;       /* this run holds the set's advisory lock */
    bool parent_locked = false; /* ... and the parent */
    /* An ATTACH next to the default left it ACCESS EXCLUSIVE until commit: a writer routed
     * to the default waits for us then, so waiting for the parent ourselves could close a
     * cycle.  Retention then waits for the next transaction. */
    bool holds_default_lock = false;
};

/* What run_maintenance_proc looks for to run a set's retention in a second transaction. */
constexpr const char *kRetentionDeferred = "retention deferred to the next run";

std::string joined(const std::vector<std::string> &parts)
{
    std::string out;
    for (const std::string &p : parts)
        out += (out.empty() ? "" : "; ") + p;
    return out;
}

/* Premake and default drain for one set. */
void keep_ahead(SpiSession &spi, const PartitionSet &set, MaintenanceRow &row,
                const LockPolicy &locks)
{
    std::vector<Partition> parts = read_partitions(spi, set.parent, set.spec);
    const Partition *found = find_default(parts);
    const std::optional<Partition> default_part =
        found ? std::optional<Partition>(*found) : std::nullopt;
    const Partition *drain_from = default_part ? &*default_part : nullptr;

    auto create = [&](const Range &r) {
        const StepOutcome step = create_partition(spi, set, r, drain_from, locks);
        if (!step.done) {
            row.skipped.push_back(step.why);
            return false;
        }
        row.created++;
        row.moved += step.moved;
        row.holds_default_lock = row.holds_default_lock || drain_from != nullptr;
        Partition p;
        p.range = r;
        p.own_range = true;
        parts.push_back(p);
        return true;
    };

    const std::int64_t now = current_position(spi, set);
    for (const Range &r : wanted_ranges(set.spec, now, now, set.premake))
        if (!range_taken(parts, r) && !create(r))
            return; /* the next range would meet the same lock */

    if (!default_part)
        return;
    /* Rows in the default belong to ranges no partition covers yet: walk them in order,
     * one range per step (NULL controls stay: no range holds them). */
    const std::string control = quote_ident(set.control);
    const std::string first_misplaced = "SELECT pg_catalog.min(" + control + ")" +
                                        (set.spec.kind == ControlKind::integer ? "::pg_catalog.int8" : "") +
                                        " FROM ONLY " + default_part->qualified;
    std::string query = first_misplaced;
    for (int i = 0; i < kMaxPartitionsPerCall; i++) {
        spi.execute(query);
        const std::optional<Datum> min = result_datum(0, 1);
        if (!min)
            return;
        const std::int64_t value = set.spec.kind == ControlKind::date
                                       ? static_cast<std::int64_t>(DatumGetDateADT(*min))
                                       : DatumGetInt64(*min);
        const Range r = range_of(set.spec, value);
        if (range_taken(parts, r)) {
            row.skipped.push_back("rows in the default overlap partition ranges made by hand");
            return;
        }
        if (!create(r))
            return;
        query = first_misplaced + " WHERE " + control + " >= " + bound_literal(set.spec, r.upper);
    }
}

/* Retention: partitions whose whole range is older than now - retention, oldest first. */
void apply_retention(SpiSession &spi, const PartitionSet &set, MaintenanceRow &row,
                     const LockPolicy &locks)
{
    if (!set.retention_cutoff_us)
        return;
    for (const Partition &p : read_partitions(spi, set.parent, set.spec)) {
        if (p.is_default || !p.own_range ||
            value_as_usec(set.spec.kind, p.range.upper) > *set.retention_cutoff_us)
            continue;
        if (row.holds_default_lock) {
            row.skipped.push_back(std::string(kRetentionDeferred) +
                                  " (this run holds the default partition's lock)");
            return;
        }
        const StepOutcome step = remove_partition(spi, set, p, locks);
        if (!step.done) {
            row.skipped.push_back(step.why);
            return; /* newer partitions wait for the same lock */
        }
        (set.detach ? row.detached : row.dropped)++;
    }
}

std::string result_text(const MaintenanceRow &row)
{
    std::string out = "created " + std::to_string(row.created) + ", dropped " +
                      std::to_string(row.dropped) + ", detached " + std::to_string(row.detached) +
                      ", moved " + std::to_string(row.moved);
    if (!row.skipped.empty())
        out += "; skipped: " + joined(row.skipped);
    return out;
}

std::vector<MaintenanceRow> run_maintenance(std::optional<Oid> only, const LockPolicy &locks)
{
    SpiSession spi;
    std::vector<PartitionSet> sets = read_sets(spi, only);
    if (only && sets.empty())
        throw SqlError(ERRCODE_UNDEFINED_OBJECT,
                       "table " + read_parent(spi, *only).qualified +
                           " is not a registered partition set",
                       {}, "pm.partition_create_parent() registers one.");

    LockTimeoutScope lock_timeout(locks.wait_ms);
    std::vector<MaintenanceRow> rows;
    for (PartitionSet &set : sets) {
        MaintenanceRow row;
        row.parent = set.parent.oid;
        row.claimed = claim_set(spi, set.parent.oid);
        if (!row.claimed) {
            row.skipped.push_back("another pm.run_maintenance() is working on this set");
        } else if (StepOutcome parent_lock = lock_parent(set, locks); !parent_lock.done) {
            /* Parent first, always: nothing of the set is touched before its parent is held. */
            row.skipped.push_back(parent_lock.why);
        } else {
            row.parent_locked = true;
            /* Read before the lock; what the lock now protects (owner, RLS) is read again. */
            set.parent = read_parent(spi, set.parent.oid);
            keep_ahead(spi, set, row, locks);
        }
        rows.push_back(std::move(row));
    }
    /* Retention last: its ACCESS EXCLUSIVE locks on parents are then held for the shortest
     * time before the caller's commit. */
    for (std::size_t i = 0; i < sets.size(); i++)
        if (rows[i].parent_locked)
            apply_retention(spi, sets[i], rows[i], locks);

    for (const MaintenanceRow &row : rows)
        if (row.claimed)
            spi.execute("UPDATE pm.partition_sets SET last_run = pg_catalog.now(), last_result = $2 "
                        "WHERE parent = $1::pg_catalog.oid",
                        {std::to_string(row.parent), result_text(row)});
    return rows;
}

struct StatusRow {
    Oid parent;
    std::string grain;
    int partitions = 0;
    std::optional<TimestampTz> newest_upper, oldest_lower;
    int ahead = 0;
    std::optional<std::int64_t> rows_in_default;
    std::optional<TimestampTz> last_run;
    std::optional<std::string> last_result;
};

std::vector<StatusRow> partition_status()
{
    SpiSession spi;
    std::vector<StatusRow> out;
    for (const PartitionSet &set : read_sets(spi, std::nullopt)) {
        StatusRow row;
        row.parent = set.parent.oid;
        row.grain = grain_text(set.spec);
        const std::vector<Partition> parts = read_partitions(spi, set.parent, set.spec);
        const Range current = range_of(set.spec, current_position(spi, set));
        for (const Partition &p : parts) {
            if (p.is_default) {
                spi.execute("SELECT pg_catalog.count(*) FROM ONLY " + p.qualified);
                row.rows_in_default = std::stoll(spi.value(0, 1).value_or("0"));
                continue;
            }
            row.partitions++;
            if (!p.own_range)
                continue;
            if (p.range.lower >= current.upper)
                row.ahead++;
            if (set.spec.kind == ControlKind::integer)
                continue;
            const TimestampTz lower = value_as_usec(set.spec.kind, p.range.lower);
            const TimestampTz upper = value_as_usec(set.spec.kind, p.range.upper);
            if (!row.oldest_lower || lower < *row.oldest_lower)
                row.oldest_lower = lower;
            if (!row.newest_upper || upper > *row.newest_upper)
                row.newest_upper = upper;
        }
        row.last_run = set.last_run;
        row.last_result = set.last_result;
        out.push_back(std::move(row));
    }
    return out;
}

} // namespace
} // namespace pm::partition

namespace {

template <typename T>
T required_arg(FunctionCallInfo fcinfo, int n, const char *name, T (*get)(Datum))
{
    if (PG_ARGISNULL(n))
        throw pm::SqlError(ERRCODE_NULL_VALUE_NOT_ALLOWED,
                           std::string("argument ") + name + " must not be NULL");
    return get(PG_GETARG_DATUM(n));
}

Oid datum_oid(Datum d) { return DatumGetObjectId(d); }
int datum_int(Datum d) { return DatumGetInt32(d); }
bool datum_bool(Datum d) { return DatumGetBool(d); }
std::string datum_text(Datum d) { return pm::to_string(DatumGetTextPP(d)); }
std::string datum_name(Datum d) { return NameStr(*DatumGetName(d)); }

/* The lock_wait and attempts arguments of run_maintenance. */
pm::partition::LockPolicy lock_policy(FunctionCallInfo fcinfo)
{
    const Interval *wait = DatumGetIntervalP(required_arg(fcinfo, 1, "lock_wait", +[](Datum d) { return d; }));
    const std::int64_t wait_us = pm::partition::interval_usec(wait);
    if (wait_us < 1000 || wait_us > 60 * USECS_PER_SEC)
        throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                           "lock_wait must be between 1 ms and 1 minute, got " +
                               pm::partition::interval_text(PG_GETARG_DATUM(1)));
    const int attempts = required_arg(fcinfo, 2, "attempts", datum_int);
    if (attempts < 1 || attempts > 1000)
        throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                           "attempts must be between 1 and 1000, got " + std::to_string(attempts));
    return {static_cast<int>(wait_us / 1000), attempts};
}

void put_row(FunctionCallInfo fcinfo, Datum *values, bool *nulls)
{
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

} // namespace

extern "C" Datum pm_partition_create_parent(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        pm::partition::CreateArgs args;
        args.parent = required_arg(fcinfo, 0, "parent", datum_oid);
        args.control = required_arg(fcinfo, 1, "control", datum_name);
        args.grain = required_arg(fcinfo, 2, "grain", datum_text);
        args.premake = required_arg(fcinfo, 3, "premake", datum_int);
        if (!PG_ARGISNULL(4))
            args.retention = PG_GETARG_DATUM(4);
        args.retention_mode = required_arg(fcinfo, 5, "retention_mode", datum_text);
        args.with_default = required_arg(fcinfo, 6, "with_default", datum_bool);
        if (!PG_ARGISNULL(7))
            args.start = PG_GETARG_TIMESTAMPTZ(7);
        return Int32GetDatum(pm::partition::create_parent(args));
    });
}

extern "C" Datum pm_run_maintenance(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        const std::optional<Oid> only =
            PG_ARGISNULL(0) ? std::nullopt : std::optional<Oid>(PG_GETARG_OID(0));
        const std::vector<pm::partition::MaintenanceRow> rows =
            pm::partition::run_maintenance(only, lock_policy(fcinfo));
        pm::pg_call([&] {
            InitMaterializedSRF(fcinfo, 0);
            for (const pm::partition::MaintenanceRow &row : rows) {
                const std::string skipped = pm::partition::joined(row.skipped);
                Datum values[6] = {ObjectIdGetDatum(row.parent), Int32GetDatum(row.created),
                                   Int32GetDatum(row.dropped), Int32GetDatum(row.detached),
                                   Int64GetDatum(row.moved), CStringGetTextDatum(skipped.c_str())};
                bool nulls[6] = {false, false, false, false, false, skipped.empty()};
                put_row(fcinfo, values, nulls);
            }
        });
        return (Datum) 0;
    });
}

extern "C" Datum pm_partition_status(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        const std::vector<pm::partition::StatusRow> rows = pm::partition::partition_status();
        pm::pg_call([&] {
            InitMaterializedSRF(fcinfo, 0);
            for (const pm::partition::StatusRow &row : rows) {
                Datum values[9] = {
                    ObjectIdGetDatum(row.parent),
                    CStringGetTextDatum(row.grain.c_str()),
                    Int32GetDatum(row.partitions),
                    TimestampTzGetDatum(row.newest_upper.value_or(0)),
                    Int32GetDatum(row.ahead),
                    TimestampTzGetDatum(row.oldest_lower.value_or(0)),
                    Int64GetDatum(row.rows_in_default.value_or(0)),
                    TimestampTzGetDatum(row.last_run.value_or(0)),
                    CStringGetTextDatum(row.last_result.value_or("").c_str()),
                };
                bool nulls[9] = {false, false, false, !row.newest_upper, false, !row.oldest_lower,
                                 !row.rows_in_default, !row.last_run, !row.last_result};
                put_row(fcinfo, values, nulls);
            }
        });
        return (Datum) 0;
    });
}
