/*
 * queue_budget.h — pm_queue.claim()'s budget step without a planned statement.
 */
#pragma once

extern "C" {
#include "postgres.h"
#include "datatype/timestamp.h"
}

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace pm::queue_budget {

struct Grant {
    int granted;             /* claims the key may make now */
    TimestampTz window_end;  /* when its budget returns */
};

/*
 * Consumes rate budget for `demand` (distinct keys, each with how many candidates carry it;
 * this transaction holds each key's advisory lock) and fills `granted` for the keys with a
 * finite budget.  Returns false, having done nothing, when row-level security applies to
 * the caller on a table involved: grant_plan must then run under the caller's policies.
 */
bool grant(const std::vector<std::pair<std::string, int>> &demand, bool oltp_mailboxes,
           std::unordered_map<std::string, Grant> &granted);

} // namespace pm::queue_budget
