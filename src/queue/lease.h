/*
 * queue_lease.h — leases jobs a claim has locked, without a planned statement.
 */
#pragma once

extern "C" {
#include "postgres.h"
#include "storage/itemptr.h"
#include "utils/tuplestore.h"
}

#include <vector>

namespace pm::queue_lease {

/*
 * Leases the jobs at `tids` — rows of pm_queue.jobs this transaction has locked FOR UPDATE
 * (lock_plan) — for `worker` (a text Datum) for `timeout_seconds`, and appends each leased
 * row to `out`.  Returns how many.  Must run inside guarded().
 */
int lease_locked(const std::vector<ItemPointerData> &tids, Datum worker, int32 timeout_seconds,
                 Tuplestorestate *out);

} // namespace pm::queue_lease
