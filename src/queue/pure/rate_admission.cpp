/*
 * rate_admission.cpp — see rate_admission.h.
 */
#include "queue/pure/rate_admission.h"

namespace pm::queue {

std::vector<std::pair<std::string, int>> key_demand(const std::vector<std::optional<std::string>> &keys)
{
    std::vector<std::pair<std::string, int>> demand;
    std::unordered_map<std::string, std::size_t> position;
    for (const auto &key : keys) {
        if (!key)
            continue;
        const auto [it, inserted] = position.emplace(*key, demand.size());
        if (inserted)
            demand.emplace_back(*key, 0);
        demand[it->second].second++;
    }
    return demand;
}

std::vector<bool> admit_in_claim_order(const std::vector<std::optional<std::string>> &keys,
                                       const std::unordered_map<std::string, int> &granted)
{
    std::vector<bool> runs(keys.size(), true);
    std::unordered_map<std::string, int> left;
    for (std::size_t i = 0; i < keys.size(); i++) {
        if (!keys[i])
            continue;
        const auto budget = granted.find(*keys[i]);
        if (budget == granted.end())
            continue;
        const auto [it, first] = left.emplace(*keys[i], budget->second);
        (void) first;
        if (it->second > 0)
            it->second--;
        else
            runs[i] = false;
    }
    return runs;
}

} // namespace pm::queue
