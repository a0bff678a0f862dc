#include "fdw/common/fdw_batch.h"

#include <unordered_set>

namespace pm::fdw {

std::string distinct_array_literal(const char *const *keys, std::size_t n, std::size_t *count)
{
    std::unordered_set<std::string_view> seen;
    seen.reserve(n);
    std::string out = "{";
    std::size_t elements = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (keys[i] == nullptr)
            continue;
        std::string_view key(keys[i]);
        if (!seen.insert(key).second)
            continue;
        if (elements++ > 0)
            out += ',';
        /* Quoted: a key may be empty, contain commas, braces, spaces or the word NULL. */
        out += '"';
        for (char c : key) {
            if (c == '"' || c == '\\')
                out += '\\';
            out += c;
        }
        out += '"';
    }
    out += '}';
    if (count)
        *count = elements;
    return out;
}

KeyIndex::KeyIndex(const char *const *keys, std::size_t n)
{
    rows_.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
        if (keys[i] != nullptr)
            rows_[std::string_view(keys[i])].push_back(static_cast<int>(i));
}

const std::vector<int> &KeyIndex::find(const char *key) const noexcept
{
    if (key == nullptr)
        return none_;
    auto it = rows_.find(std::string_view(key));
    return it == rows_.end() ? none_ : it->second;
}

} // namespace pm::fdw
