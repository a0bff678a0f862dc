/*
 * partition_set.h — what the partition manager knows about one set: the parent's catalog
 * facts, its registry row and its partitions with their bounds, read through SPI.
 * Values are the control's own representation (see core/pure/partition_bounds.h).
 *
 * Every query takes a fresh snapshot (SPI read_only = false): maintenance may have waited
 * for the parent's lock while the application's DDL committed, and the catalog it reads
 * must be the one the lock now protects, not the one of the calling statement's start.
 */
#pragma once

#include "core/pure/partition_bounds.h"
#include "shared/spi_session.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pm::partition {

/* The parent table as the catalog describes it. */
struct ParentFacts {
    Oid oid = InvalidOid;
    std::string schema;
    std::string name;
    std::string qualified; /* quoted schema.name */
    std::string owner;
    char relkind = 0;
    char strategy = 0;     /* pg_partitioned_table.partstrat, 0 when not partitioned */
    int key_columns = 0;
    std::optional<std::string> key_column; /* NULL for an expression key */
    Oid key_type = InvalidOid;
    bool row_security = false;       /* relrowsecurity: a new partition gets the same */
    bool force_row_security = false; /* relforcerowsecurity */
};

/* Reads the parent; SqlError 42P01 when the oid names no table. */
ParentFacts read_parent(SpiSession &spi, Oid parent);

/* The control kind of a column type; nullopt for types the manager does not partition. */
std::optional<ControlKind> control_kind_of(Oid type);

/* A registered set, joined with its parent's facts. */
struct PartitionSet {
    ParentFacts parent;
    GrainSpec spec;
    std::string control;
    int premake = 0;
    std::optional<std::int64_t> retention_cutoff_us; /* now() - retention, when set */
    bool detach = false;                             /* retention_mode 'detach' */
    bool with_default = true;
    std::optional<std::int64_t> last_run; /* timestamptz of the latest maintenance */
    std::optional<std::string> last_result;
};

/* Registered sets in oid order: all of them, or the one for `only` (empty if unregistered). */
std::vector<PartitionSet> read_sets(SpiSession &spi, std::optional<Oid> only);

struct Partition {
    Oid oid = InvalidOid;
    std::string name;   /* unquoted */
    std::string qualified;
    bool is_default = false;
    bool own_range = false; /* a single-column range the manager can reason about */
    Range range{0, 0};
};

/* The partitions attached to `parent` (one level), default included, in range order. */
std::vector<Partition> read_partitions(SpiSession &spi, const ParentFacts &parent,
                                       const GrainSpec &spec);

/* The default partition among `parts`, if any. */
const Partition *find_default(const std::vector<Partition> &parts);

/* True when some range partition overlaps `r`. */
bool range_taken(const std::vector<Partition> &parts, const Range &r);

/* "Now" as a control value: the transaction's timestamp (µs or UTC days); for integer sets
 * the largest control value in the table (0 when empty). */
std::int64_t current_position(SpiSession &spi, const PartitionSet &set);

/* A control value as microseconds since 2000, for comparing date bounds with a cutoff. */
std::int64_t value_as_usec(ControlKind kind, std::int64_t value);

/* quote_identifier(schema).quote_identifier(name) */
std::string qualified_name(const std::string &schema, const std::string &name);

} // namespace pm::partition
