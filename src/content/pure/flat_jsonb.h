/*
 * flat_jsonb.h — recognising mail-header-shaped jsonb (an object whose values are strings
 * or arrays of strings: repeated headers such as Received) in PostgreSQL's on-disk jsonb
 * format, without PostgreSQL.
 *
 * Why: pm_content keeps headers inside its compressed frames.  Stored as JSON text, every
 * read parses them again with jsonb_in, which costs more than decompressing the whole
 * body.  Stored in jsonb's own binary form they can be handed back as they are — but the
 * bytes come out of a table that callers can write, so they are only used after this check
 * proves them well-formed: every offset and length inside the buffer, every entry a string
 * or an array of strings, keys in jsonb's order (shorter first, then bytewise) and unique.
 * Anything else (numbers, booleans, nested objects, deeper arrays) stays JSON text.
 *
 * The layout (PostgreSQL's src/include/utils/jsonb.h, stable since 9.4 because
 * pg_upgrade keeps jsonb values as they are): a 32-bit container header (count | kind
 * flag), then the JEntries (an object: the count keys, then the count values; an array:
 * count elements), then the entries' bytes in the same order.  A JEntry holds a type
 * (string 0, container 5) and either the entry's length or, when its high bit is set, its
 * end offset.  A nested container starts at the next 4-byte boundary of the data area;
 * the padding counts as part of its entry.  Integers are in the machine's byte order, like
 * every jsonb value on disk.
 */
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pm::flat_jsonb {

/* One member: a key and its string, or its array of strings. */
struct Member {
    std::string_view key;
    std::vector<std::string_view> values;
    bool is_array = false;
};

/* The members of such an object given its container bytes (a jsonb varlena without its
 * header), in storage order; false, with `why` saying what is wrong, for anything else.
 * Never reads outside `container`. */
bool parse(std::string_view container, std::vector<Member> &members, std::string &why);

/* Container bytes of such an object, laid out as PostgreSQL lays it out (for tests and
 * for building values without a server).  Members are sorted and de-duplicated the way
 * jsonb does (the last of a repeated key wins). */
std::string build(std::vector<Member> members);

} // namespace pm::flat_jsonb
