/*
 * partition_ddl.h — the changes the partition manager makes to a set, each one all or
 * nothing (a subtransaction) and each lock taken without queueing in front of the
 * application for longer than lock_timeout:
 *
 *   create   lock the parent SHARE UPDATE EXCLUSIVE (does not block reads or writes);
 *            CREATE TABLE (LIKE parent) with the parent's indexes, owner, grants, RLS and
 *            policies; a CHECK of the range (validated while the table is empty); rows of the
 *            range moved out of the default in batches; the default locked; ATTACH, which
 *            needs no scan of the new table thanks to the CHECK; the CHECK dropped again.
 *   remove   lock the parent, then the partition, ACCESS EXCLUSIVE; DROP or DETACH.
 *
 * Parent before partition, always: the order the application's own DDL takes them in.
 */
#pragma once

#include "core/partition_set.h"

#include <cstdint>
#include <string>

namespace pm::partition {

struct LockPolicy {
    int wait_ms = 50;  /* lock_timeout of each try */
    int attempts = 20; /* tries before giving up */
};

/* Sets lock_timeout for the scope (restored on exit, like a function's SET clause). */
class LockTimeoutScope {
public:
    explicit LockTimeoutScope(int wait_ms);
    ~LockTimeoutScope();
    LockTimeoutScope(const LockTimeoutScope &) = delete;
    LockTimeoutScope &operator=(const LockTimeoutScope &) = delete;

private:
    int nest_level_;
};

/* What one change did: done, or why not (a lock not had, rows that arrived meanwhile). */
struct StepOutcome {
    bool done = false;
    std::string why;
    std::int64_t moved = 0; /* rows taken out of the default */
};

/* Creates and attaches the partition for `range` (or, with `as_default`, the default
 * partition), moving the default's rows of that range into it first. */
StepOutcome create_partition(SpiSession &spi, const PartitionSet &set, const Range &range,
                             const Partition *default_part, const LockPolicy &locks);
StepOutcome create_default_partition(SpiSession &spi, const PartitionSet &set,
                                     const LockPolicy &locks);

/* Drops the partition, or detaches it (it stays as a plain table) when the set says so. */
StepOutcome remove_partition(SpiSession &spi, const PartitionSet &set, const Partition &part,
                             const LockPolicy &locks);

/* SHARE UPDATE EXCLUSIVE on the parent until commit, taken before any partition is read or
 * locked: it does not block the application's reads and writes, only its DDL on the parent. */
StepOutcome lock_parent(const PartitionSet &set, const LockPolicy &locks);

/* Tries to acquire the transaction-scoped advisory lock that makes one maintenance run the
 * only one working on a set; false when another session has it. */
bool claim_set(SpiSession &spi, Oid parent);

} // namespace pm::partition
