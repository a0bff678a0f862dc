/*
 * rate_admission.h — which of a claim's locked candidates run now under their rate budgets,
 * without PostgreSQL.
 *
 * A claim locks candidates in claim order (priority, then run_at), asks the budget store
 * for as many grants per key as it has candidates of that key (one upsert per key, see
 * queue_claim.cpp), and then admits, per key, the first `granted` candidates in claim order;
 * the others of that key wait for the end of the key's window.  Candidates without a key,
 * and keys without a finite budget, always run.
 */
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace pm::queue {

/* Distinct keys of `keys` (candidates in claim order; nullopt: no key), each with how many
 * candidates carry it, in order of first appearance. */
std::vector<std::pair<std::string, int>> key_demand(const std::vector<std::optional<std::string>> &keys);

/* For each candidate, true when it runs now.  `granted`: keys with a finite budget -> how
 * many grants the budget store gave (keys absent from it are unlimited). */
std::vector<bool> admit_in_claim_order(const std::vector<std::optional<std::string>> &keys,
                                       const std::unordered_map<std::string, int> &granted);

} // namespace pm::queue
