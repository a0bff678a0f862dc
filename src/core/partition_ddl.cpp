/* partition_ddl.cpp — see partition_ddl.h. */
#include "core/partition_ddl.h"

#include "shared/subtransaction.h"

extern "C" {
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "common/pg_prng.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "utils/guc.h"
#include "utils/wait_event.h"
}

namespace pm::partition {
namespace {

/* Rows per statement when draining the default: bounds the memory of one move. */
constexpr int kMoveBatchRows = 10000;
/* Advisory lock space of the partition manager: 'pmps' */
constexpr int kAdvisoryClass = 0x706d7073;

/* A step that cannot be done now (a lock the retries did not get, a name in use): it is
 * reported as skipped, not raised. */
class StepSkipped : public std::exception {
public:
    explicit StepSkipped(std::string what) : what_(std::move(what)) {}
    const char *what() const noexcept override { return what_.c_str(); }

private:
    std::string what_;
};

const char *mode_name(LOCKMODE mode)
{
    return mode == AccessExclusiveLock ? "ACCESS EXCLUSIVE" : "SHARE UPDATE EXCLUSIVE";
}

/* Sleeps between two tries, so the writers that queued behind a try get through first. */
void pause_between_tries(int wait_ms)
{
    pg_call([&] {
        const long ms = static_cast<long>(wait_ms / 2 + pg_prng_uint64_range(&pg_global_prng_state, 0,
                                                                            static_cast<uint64>(wait_ms)));
        (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, ms,
                         PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    });
}

/* Each try waits at most lock_timeout in the queue; a timed-out try leaves nothing held. */
void lock_with_retry(Oid rel, const std::string &rel_name, LOCKMODE mode, const LockPolicy &locks)
{
    for (int attempt = 1; attempt <= locks.attempts; attempt++) {
        try {
            Subtransaction sub;
            pg_call([&] { LockRelationOid(rel, mode); });
            sub.commit();
            return;
        } catch (const PgError &e) {
            if (sqlstate_of(e) != ERRCODE_LOCK_NOT_AVAILABLE)
                throw;
        }
        if (attempt < locks.attempts)
            pause_between_tries(locks.wait_ms);
    }
    throw StepSkipped(std::string("could not lock ") + rel_name + " " + mode_name(mode) + " in " +
                     std::to_string(locks.attempts) + " tries of " + std::to_string(locks.wait_ms) +
                     " ms");
}

/* Errors that mean "the table was busy or changed under us": the step is skipped and the
 * next run tries again.  Anything else is a real error and propagates. */
bool is_transient(int sqlstate)
{
    return sqlstate == ERRCODE_LOCK_NOT_AVAILABLE || sqlstate == ERRCODE_T_R_DEADLOCK_DETECTED ||
           sqlstate == ERRCODE_CHECK_VIOLATION || sqlstate == ERRCODE_OBJECT_IN_USE ||
           sqlstate == ERRCODE_T_R_SERIALIZATION_FAILURE;
}

/* Runs `body` in a subtransaction; a lock not had or a transient error rolls it back and
 * says why. */
template <typename Body>
StepOutcome as_step(Body &&body)
{
    StepOutcome out;
    try {
        Subtransaction sub;
        out.moved = body();
        sub.commit();
        out.done = true;
    } catch (const StepSkipped &e) {
        out = {false, e.what(), 0};
    } catch (const PgError &e) {
        if (!is_transient(sqlstate_of(e)))
            throw;
        out = {false, e.what(), 0};
    }
    return out;
}

constexpr const char *kColumnsQuery = R"SQL(
SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = $1::pg_catalog.oid AND a.attnum > 0 AND NOT a.attisdropped
  AND a.attgenerated = ''
)SQL";

/* GRANT statements that give the partition what the parent grants (the owner's own rights
 * come with ownership). */
constexpr const char *kGrantsQuery = R"SQL(
SELECT pg_catalog.format('GRANT %s ON %s TO %s%s', a.privilege_type, $2,
           CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(r.rolname) END,
           CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
FROM pg_catalog.pg_class c
CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) a
LEFT JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
WHERE c.oid = $1::pg_catalog.oid AND a.grantee <> c.relowner
)SQL";

/* CREATE POLICY statements repeating the parent's policies on the partition: the parent's
 * policies do not apply to a query that names a partition directly. */
constexpr const char *kPoliciesQuery = R"SQL(
SELECT pg_catalog.format('CREATE POLICY %I ON %s AS %s FOR %s TO %s%s%s', p.polname, $2,
           CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END,
           CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                         WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
           CASE WHEN p.polroles = '{0}' THEN 'PUBLIC'
                ELSE (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(r.rolname), ', ')
                      FROM pg_catalog.pg_roles r WHERE r.oid = ANY (p.polroles)) END,
           ' USING (' || pg_catalog.pg_get_expr(p.polqual, p.polrelid) || ')',
           ' WITH CHECK (' || pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) || ')')
FROM pg_catalog.pg_policy p
WHERE p.polrelid = $1::pg_catalog.oid
ORDER BY p.polname
)SQL";

std::vector<std::string> column_texts(SpiSession &spi, const std::string &sql,
                                      const std::vector<std::optional<std::string>> &params)
{
    std::vector<std::string> out;
    const uint64 n = spi.execute(sql, params);
    for (uint64 i = 0; i < n; i++)
        if (std::optional<std::string> v = spi.value(i, 1))
            out.push_back(std::move(*v));
    return out;
}

/* Owner, grants, RLS switches and policies of the parent, on a new (unattached) table. */
void copy_parent_properties(SpiSession &spi, const ParentFacts &parent, const std::string &child)
{
    const std::string parent_oid = std::to_string(parent.oid);
    spi.execute("ALTER TABLE " + child + " OWNER TO " + quote_ident(parent.owner));
    for (const std::string &grant : column_texts(spi, kGrantsQuery, {parent_oid, child}))
        spi.execute(grant);
    if (parent.row_security)
        spi.execute("ALTER TABLE " + child + " ENABLE ROW LEVEL SECURITY");
    if (parent.force_row_security)
        spi.execute("ALTER TABLE " + child + " FORCE ROW LEVEL SECURITY");
    for (const std::string &policy : column_texts(spi, kPoliciesQuery, {parent_oid, child}))
        spi.execute(policy);
}

/* The parent's indexes as statements for a new partition: constraint indexes as constraints
 * (ATTACH pairs a parent constraint only with a child constraint), the others as CREATE
 * INDEX with the definition after "ON ONLY <parent> USING"; names are left to PostgreSQL. */
constexpr const char *kIndexesQuery = R"SQL(
SELECT CASE WHEN con.oid IS NOT NULL
            THEN pg_catalog.format('ALTER TABLE %s ADD %s', $2,
                                   pg_catalog.pg_get_constraintdef(con.oid))
            ELSE pg_catalog.format('CREATE %sINDEX ON %s USING %s',
                                   CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END, $2,
                                   pg_catalog.substr(d.def, pg_catalog.strpos(d.def, d.anchor)
                                                            + pg_catalog.length(d.anchor)))
       END
FROM pg_catalog.pg_index i
CROSS JOIN LATERAL (SELECT pg_catalog.pg_get_indexdef(i.indexrelid) AS def,
                           ' ON ONLY ' || $3 || ' USING ' AS anchor) d
LEFT JOIN pg_catalog.pg_constraint con
  ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
WHERE i.indrelid = $1::pg_catalog.oid
ORDER BY i.indexrelid
)SQL";

/* A partition holds rows, so it is never a member of the extension whose script made its
 * set: pg_dump leaves an extension's members out, rows included, and a member cannot be
 * dropped by retention.  Only the table itself is recorded as a member; its indexes,
 * constraints, triggers and policies belong to it. */
void keep_out_of_extension(SpiSession &spi, const std::string &child)
{
    if (!creating_extension)
        return;
    spi.execute("SELECT $1::pg_catalog.regclass::pg_catalog.oid", {child});
    const Oid rel = static_cast<Oid>(std::stoul(spi.value(0, 1).value()));
    pg_call([&] {
        deleteDependencyRecordsForSpecific(RelationRelationId, rel, DEPENDENCY_EXTENSION,
                                           ExtensionRelationId, CurrentExtensionObject);
        CommandCounterIncrement();
    });
}

/* The new table: the parent's columns, defaults, CHECKs and properties; no indexes yet. */
void create_like_parent(SpiSession &spi, const ParentFacts &parent, const std::string &child)
{
    spi.execute("CREATE TABLE " + child + " (LIKE " + parent.qualified +
                " INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED"
                " INCLUDING STORAGE INCLUDING COMMENTS INCLUDING STATISTICS)");
    keep_out_of_extension(spi, child);
    copy_parent_properties(spi, parent, child);
}

/* The parent's indexes on the new table, built once its rows are in (one sorted build per
 * index instead of an entry per moved row) and before ATTACH, which then adopts them instead
 * of building them while it holds the default's lock. */
void create_parent_indexes(SpiSession &spi, const ParentFacts &parent, const std::string &child)
{
    for (const std::string &index :
         column_texts(spi, kIndexesQuery, {std::to_string(parent.oid), child, parent.qualified}))
        spi.execute(index);
}

std::int64_t move_rows_from_default(SpiSession &spi, const PartitionSet &set, const Range &range,
                                    const Partition &default_part, const std::string &child)
{
    const std::string columns =
        column_texts(spi, kColumnsQuery, {std::to_string(set.parent.oid)}).at(0);
    const std::string control = quote_ident(set.control);
    const std::string in_range = control + " >= " + bound_literal(set.spec, range.lower) + " AND " +
                                 control + " < " + bound_literal(set.spec, range.upper);
    const std::string move =
        "WITH moved AS (DELETE FROM ONLY " + default_part.qualified +
        " d WHERE d.ctid = ANY (ARRAY(SELECT ctid FROM ONLY " + default_part.qualified + " WHERE " +
        in_range + " LIMIT " + std::to_string(kMoveBatchRows) + ")) RETURNING " + columns +
        ") INSERT INTO " + child + " (" + columns + ") OVERRIDING SYSTEM VALUE SELECT " + columns +
        " FROM moved";
    std::int64_t moved = 0;
    for (;;) {
        const uint64 n = spi.execute(move);
        moved += static_cast<std::int64_t>(n);
        if (n < static_cast<uint64>(kMoveBatchRows))
            return moved;
    }
}

/* A name no other relation of the schema uses. */
void require_free_name(SpiSession &spi, const std::string &schema, const std::string &name)
{
    if (spi.execute("SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
                    {schema, name}) > 0)
        throw StepSkipped("the name is taken by another relation; rename that relation");
}

} // namespace

LockTimeoutScope::LockTimeoutScope(int wait_ms) : nest_level_(NewGUCNestLevel())
{
    const std::string value = std::to_string(wait_ms) + "ms";
    pg_call([&] {
        (void) set_config_option("lock_timeout", value.c_str(), PGC_USERSET, PGC_S_SESSION,
                                 GUC_ACTION_SAVE, true, 0, false);
    });
}

LockTimeoutScope::~LockTimeoutScope()
{
    AtEOXact_GUC(true, nest_level_);
}

StepOutcome create_partition(SpiSession &spi, const PartitionSet &set, const Range &range,
                             const Partition *default_part, const LockPolicy &locks)
{
    const std::string name = partition_name(set.parent.name, partition_suffix(set.spec, range));
    const std::string child = qualified_name(set.parent.schema, name);
    StepOutcome out = as_step([&]() -> std::int64_t {
        lock_with_retry(set.parent.oid, set.parent.qualified, ShareUpdateExclusiveLock, locks);
        require_free_name(spi, set.parent.schema, name);
        create_like_parent(spi, set.parent, child);
        const std::string control = quote_ident(set.control);
        spi.execute("ALTER TABLE " + child + " ADD CONSTRAINT pm_partition_bound CHECK (" + control +
                    " IS NOT NULL AND " + control + " >= " + bound_literal(set.spec, range.lower) +
                    " AND " + control + " < " + bound_literal(set.spec, range.upper) + ")");
        std::int64_t moved = 0;
        if (default_part != nullptr)
            moved = move_rows_from_default(spi, set, range, *default_part, child);
        create_parent_indexes(spi, set.parent, child);
        if (default_part != nullptr)
            lock_with_retry(default_part->oid, default_part->qualified, AccessExclusiveLock, locks);
        spi.execute("ALTER TABLE " + set.parent.qualified + " ATTACH PARTITION " + child +
                    " FOR VALUES FROM (" + bound_literal(set.spec, range.lower) + ") TO (" +
                    bound_literal(set.spec, range.upper) + ")");
        spi.execute("ALTER TABLE " + child + " DROP CONSTRAINT pm_partition_bound");
        return moved;
    });
    if (!out.done)
        out.why = "partition " + name + ": " + out.why;
    return out;
}

StepOutcome create_default_partition(SpiSession &spi, const PartitionSet &set,
                                     const LockPolicy &locks)
{
    const std::string name = default_partition_name(set.parent.name);
    const std::string child = qualified_name(set.parent.schema, name);
    StepOutcome out = as_step([&]() -> std::int64_t {
        lock_with_retry(set.parent.oid, set.parent.qualified, ShareUpdateExclusiveLock, locks);
        require_free_name(spi, set.parent.schema, name);
        create_like_parent(spi, set.parent, child);
        create_parent_indexes(spi, set.parent, child);
        spi.execute("ALTER TABLE " + set.parent.qualified + " ATTACH PARTITION " + child +
                    " DEFAULT");
        return 0;
    });
    if (!out.done)
        out.why = "default partition " + name + ": " + out.why;
    return out;
}

StepOutcome remove_partition(SpiSession &spi, const PartitionSet &set, const Partition &part,
                             const LockPolicy &locks)
{
    StepOutcome out = as_step([&]() -> std::int64_t {
        lock_with_retry(set.parent.oid, set.parent.qualified, AccessExclusiveLock, locks);
        lock_with_retry(part.oid, part.qualified, AccessExclusiveLock, locks);
        if (set.detach)
            spi.execute("ALTER TABLE " + set.parent.qualified + " DETACH PARTITION " +
                        part.qualified);
        else
            spi.execute("DROP TABLE " + part.qualified);
        return 0;
    });
    if (!out.done)
        out.why = "retention of " + part.name + ": " + out.why;
    return out;
}

StepOutcome lock_parent(const PartitionSet &set, const LockPolicy &locks)
{
    return as_step([&]() -> std::int64_t {
        lock_with_retry(set.parent.oid, set.parent.qualified, ShareUpdateExclusiveLock, locks);
        return 0;
    });
}

bool claim_set(SpiSession &spi, Oid parent)
{
    spi.execute("SELECT pg_catalog.pg_try_advisory_xact_lock($1::int4, $2::pg_catalog.oid::int4)",
                {std::to_string(kAdvisoryClass), std::to_string(parent)}, false);
    return is_true(spi.value(0, 1));
}

} // namespace pm::partition
