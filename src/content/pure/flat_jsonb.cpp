/* flat_jsonb.cpp — see flat_jsonb.h. */
#include "content/pure/flat_jsonb.h"

#include <algorithm>
#include <cstring>

namespace pm::flat_jsonb {

namespace {

/* From PostgreSQL's jsonb.h; part of the on-disk format. */
constexpr std::uint32_t kCountMask = 0x0FFFFFFF;
constexpr std::uint32_t kKindMask = 0x70000000; /* scalar / object / array flags */
constexpr std::uint32_t kObject = 0x20000000;
constexpr std::uint32_t kArray = 0x40000000;
constexpr std::uint32_t kEntryOffLenMask = 0x0FFFFFFF;
constexpr std::uint32_t kEntryTypeMask = 0x70000000;
constexpr std::uint32_t kEntryString = 0x00000000;
constexpr std::uint32_t kEntryContainer = 0x50000000;
constexpr std::uint32_t kEntryHasOffset = 0x80000000;
constexpr std::uint32_t kOffsetStride = 32;

std::uint32_t load32(const char *p)
{
    std::uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

void store32(std::string &out, std::uint32_t v)
{
    char b[sizeof v];
    std::memcpy(b, &v, sizeof v);
    out.append(b, sizeof v);
}

/* jsonb's key order: shorter keys first, equal lengths bytewise. */
bool key_less(std::string_view a, std::string_view b)
{
    if (a.size() != b.size())
        return a.size() < b.size();
    return std::memcmp(a.data(), b.data(), a.size()) < 0;
}

bool fail(std::string &why, std::string message)
{
    why = std::move(message);
    return false;
}

std::size_t int_align(std::size_t n)
{
    return (n + 3) & ~static_cast<std::size_t>(3);
}

/* One entry of a container: where its bytes are, and whether they are a container. */
struct Entry {
    std::string_view bytes;
    bool container;
};

/* The header and entries of a container of `kind`, every entry inside `container`, its
 * last entry ending exactly at the end; strings and (when allowed) containers only. */
bool read_entries(std::string_view container, std::uint32_t kind, bool containers_allowed,
                  std::vector<Entry> &entries, std::uint64_t &count, std::string &why)
{
    entries.clear();
    if (container.size() < 4)
        return fail(why, "shorter than a jsonb container header");
    const std::uint32_t header = load32(container.data());
    if ((header & kKindMask) != kind)
        return fail(why, kind == kObject ? "not a jsonb object" : "not a jsonb array");
    count = header & kCountMask;
    const std::uint64_t n = kind == kObject ? 2 * count : count;
    if (4 + 4 * n > container.size())
        return fail(why, "jsonb container of " + std::to_string(count) +
                             " members does not fit in " + std::to_string(container.size()) +
                             " bytes");

    const char *entry_base = container.data() + 4;
    const std::size_t data_start = static_cast<std::size_t>(4 + 4 * n);
    const std::size_t data_len = container.size() - data_start;
    entries.reserve(static_cast<std::size_t>(n));
    std::uint64_t end = 0;
    for (std::uint64_t i = 0; i < n; i++) {
        const std::uint32_t entry = load32(entry_base + 4 * i);
        const std::uint32_t type = entry & kEntryTypeMask;
        const bool is_container = type == kEntryContainer;
        if (type != kEntryString && !(is_container && containers_allowed))
            return fail(why, "jsonb entry " + std::to_string(i) + " is not a string" +
                                 (containers_allowed ? " or an array of strings" : ""));
        const std::uint64_t start = end;
        const std::uint64_t field = entry & kEntryOffLenMask;
        end = (entry & kEntryHasOffset) ? field : start + field;
        if (end < start || end > data_len)
            return fail(why, "jsonb entry " + std::to_string(i) + " lies outside the value");
        std::uint64_t first = start;
        if (is_container) {
            first = int_align(static_cast<std::size_t>(start));
            if (first > end)
                return fail(why, "jsonb entry " + std::to_string(i) + " is shorter than its padding");
        }
        entries.push_back({container.substr(static_cast<std::size_t>(data_start + first),
                                            static_cast<std::size_t>(end - first)),
                           is_container});
    }
    if (end != data_len)
        return fail(why, std::to_string(data_len - end) + " bytes follow the last jsonb entry");
    return true;
}

} // namespace

bool parse(std::string_view container, std::vector<Member> &members, std::string &why)
{
    members.clear();
    std::vector<Entry> entries;
    std::uint64_t count = 0;
    if (!read_entries(container, kObject, true, entries, count, why))
        return false;

    members.reserve(static_cast<std::size_t>(count));
    std::vector<Entry> elements;
    std::uint64_t element_count = 0;
    for (std::size_t i = 0; i < count; i++) {
        const Entry &key = entries[i];
        const Entry &value = entries[count + i];
        if (key.container)
            return fail(why, "jsonb key " + std::to_string(i + 1) + " is not a string");
        if (i > 0 && !key_less(entries[i - 1].bytes, key.bytes))
            return fail(why, "jsonb keys are not in jsonb order or repeat");
        Member m;
        m.key = key.bytes;
        if (!value.container) {
            m.values.push_back(value.bytes);
        } else {
            if (!read_entries(value.bytes, kArray, false, elements, element_count, why))
                return fail(why, "value of jsonb key " + std::to_string(i + 1) + ": " + why);
            m.is_array = true;
            for (const Entry &e : elements)
                m.values.push_back(e.bytes);
        }
        members.push_back(std::move(m));
    }
    return true;
}

namespace {

/* Appends a container of `kind` holding `items` (in storage order; `nested` marks the
 * ones that are containers themselves, which start on a 4-byte boundary of the data). */
void append_container(std::string &out, std::uint32_t kind, const std::vector<std::string> &items,
                      const std::vector<bool> &nested, std::size_t count)
{
    store32(out, static_cast<std::uint32_t>(count) | kind);
    std::string data;
    for (std::size_t i = 0; i < items.size(); i++) {
        const std::size_t start = data.size();
        if (nested[i])
            data.append(int_align(start) - start, '\0');
        data.append(items[i]);
        const bool with_offset = i % kOffsetStride == 0;
        const auto field = static_cast<std::uint32_t>(with_offset ? data.size() : data.size() - start);
        store32(out, (nested[i] ? kEntryContainer : kEntryString) | field |
                         (with_offset ? kEntryHasOffset : 0));
    }
    out.append(data);
}

} // namespace

std::string build(std::vector<Member> members)
{
    /* Stable sort, then keep the last of equal keys: jsonb_in's rule for repeated keys. */
    std::stable_sort(members.begin(), members.end(),
                     [](const Member &a, const Member &b) { return key_less(a.key, b.key); });
    std::vector<Member> unique;
    for (const Member &m : members) {
        if (!unique.empty() && unique.back().key == m.key)
            unique.back() = m;
        else
            unique.push_back(m);
    }

    std::vector<std::string> items;
    std::vector<bool> nested;
    for (const Member &m : unique) {
        items.emplace_back(m.key);
        nested.push_back(false);
    }
    for (const Member &m : unique) {
        if (m.is_array) {
            std::vector<std::string> elements(m.values.begin(), m.values.end());
            std::string array;
            append_container(array, kArray, elements, std::vector<bool>(elements.size(), false),
                             elements.size());
            items.push_back(array);
            nested.push_back(true);
        } else {
            items.emplace_back(m.values.empty() ? std::string_view() : m.values.front());
            nested.push_back(false);
        }
    }
    std::string out;
    append_container(out, kObject, items, nested, unique.size());
    return out;
}

} // namespace pm::flat_jsonb
