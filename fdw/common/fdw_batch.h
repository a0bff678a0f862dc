/*
 * fdw_batch.h — the pure C++ half of the batched join (fdw/batch_join.cpp), without
 * PostgreSQL (unit tested: tests/unit/fdw/test_fdw_batch.cpp).
 *
 * A batch of outer rows becomes one remote `key = ANY($1)`; the remote rows come back in
 * any order and are matched to the outer rows by the key's text form.  Only key types whose
 * equality is equality of their text form are batched (text, integers, uuid, ...), so the
 * text is a faithful hash key; the join clause is still evaluated on every pair.
 */
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pm::fdw {

/*
 * Text of a PostgreSQL array literal holding each distinct non-null key once, in first-seen
 * order ({"a","b"}: every element double-quoted, '"' and '\' escaped).  keys[i] == nullptr is
 * a NULL key: it matches nothing, so it is not sent.  `count` gets the number of elements.
 */
std::string distinct_array_literal(const char *const *keys, std::size_t n, std::size_t *count);

/* Remote rows of one batch by key text. */
class KeyIndex {
public:
    /* keys[i]: key of remote row i (nullptr: NULL, never found).  The strings must outlive
     * the index (they are not copied). */
    KeyIndex(const char *const *keys, std::size_t n);

    /* Rows whose key is `key`, in remote order; nullptr key or no match: empty. */
    const std::vector<int> &find(const char *key) const noexcept;

private:
    std::unordered_map<std::string_view, std::vector<int>> rows_;
    std::vector<int> none_;
};

} // namespace pm::fdw
