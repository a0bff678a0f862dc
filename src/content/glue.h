/*
 * content_glue.h — what the pm_content SQL functions share: prepared SPI
 * statements with binary parameters, the per-backend codec and dictionary
 * cache, tenant-context checks and the errors that name a storage key.
 *
 * Everything here runs inside pm::guarded() bodies; PostgreSQL calls go through
 * pm::pg_call().
 */
#pragma once

#include "shared/boundary.h"
#include "content/pure/content_codec.h"
#include "core/pure/storage_key.h"
#include "shared/spi_session.h"

extern "C" {
#include "datatype/timestamp.h"
}

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pm::content_glue {

/* ------------------------------------------------------------ statements */

/*
 * One SQL statement, planned on first use and kept for the backend's life
 * (PostgreSQL replans it by itself after DDL, and per role when RLS applies).
 * Parameters are Datums of the given types: no text round trip for bytea or
 * jsonb.  Run only inside an SpiSession.
 */
/* pm_content's statements are kept per backend like every hot path's. */
using Statement = pm::KeptStatement;

/* Column `col` (1-based) of result row `row`; nullopt for NULL.  Detoasts nothing. */
inline std::optional<Datum> column(uint64 row, int col)
{
    return pm::result_datum(row, col);
}

/* ---------------------------------------------------------- settings etc. */

/* The tenant of the current context (app.current_tenant_id), if one is set;
 * SqlError 22P02 when the setting is not a uuid. */
std::optional<storage_key::TenantId> context_tenant();

/* 42501 when a context is set and names another tenant than `tenant`. */
void require_context_allows(const storage_key::TenantId &tenant, std::string_view what);

/* Parses a key or raises 22023 naming it (as pm.storage_key_parse does). */
storage_key::Key parse_key(std::string_view key);

std::string tenant_text(const storage_key::TenantId &tenant);
storage_key::TenantId tenant_from_datum(Datum uuid);
Datum uuid_datum(const storage_key::TenantId &tenant);

/* How stale last_accessed_at / last_referenced_at may get before a read or a
 * repeated put writes it again: reads stay read-only under load, and the orphan
 * guard (at least kMinOrphanAge) stays far above it. */
constexpr int64 kTouchIntervalUsec = 10 * 60 * USECS_PER_SEC;

/* ------------------------------------------------------------------ codec */

content::Codec &codec();

/*
 * Dictionaries by id, loaded from pm_content.dictionaries on first use and kept
 * (they are immutable) within pm_content.dictionary_cache_size, least recently
 * used dropped first.  nullptr when the row does not exist (or is invisible to
 * the caller).  Needs an SpiSession.
 */
content::Dictionary *dictionary(std::uint32_t id);

/* A DictionaryLookup over dictionary(). */
content::DictionaryLookup dictionary_lookup();

/* Forgets the cache when pm_content.dictionaries is not the table it was
 * filled from (extension dropped and created again: ids start over). */
void validate_dictionary_cache();

/*
 * The dictionary new objects of (tenant, hint) use: the newest trained for the
 * hint, else the newest for the tenant, else none.  Remembered until the end of
 * the transaction (a bulk put looks it up once), and forgotten at any
 * (sub)transaction abort and whenever this backend trains one: an id must never
 * outlive the row it names.  Needs an SpiSession.
 */
std::optional<std::uint32_t> newest_dictionary(Datum tenant, std::optional<std::string_view> hint);
void forget_newest_dictionaries();

/* "zstd", "zstd-dict:<id>" or "none" — the compression_algorithm column. */
std::string algorithm_name(const content::FrameInfo &info);
std::string algorithm_name(const content::Dictionary *dict);

/* ------------------------------------------------------------ decoding */

struct StoredBody {
    std::string_view key;
    std::string_view algorithm;
    std::string_view frame;     /* packed, when algorithm is not "none" */
    std::int64_t raw_size = 0;  /* raw_size_bytes */
};

/* The body payload a stored frame holds, or XX001 naming the key.  The view is
 * into a buffer reused by the next call (reads of 100 bodies allocate once). */
std::string_view decode_body_payload(const StoredBody &stored);

/* Raises XX001 "content object <key> cannot be decoded: <why>". */
[[noreturn]] void raise_undecodable(std::string_view what, std::string_view key,
                                    const content::CodecError &error, std::string_view detail);

/* -------------------------------------------------------------- values */

/* A bytea/text argument, detoasted (may raise: through pg_call). */
struct varlena *detoast_arg(FunctionCallInfo fcinfo, int n);
std::string_view varlena_view(const struct varlena *v);
Datum bytea_datum(std::string_view bytes);
Datum text_datum_of(std::string_view s);
/* jsonb from its text form (what pm_content packed). */
Datum jsonb_from_text(std::string_view json);
/* The jsonb's canonical text (what pm.body_storage_key hashes). */
std::string jsonb_text(Datum jsonb);
/* The container bytes of a detoasted jsonb when it is shaped like mail headers (strings
 * and arrays of strings: stored as is, common/flat_jsonb.h), else nullopt. */
std::optional<std::string_view> flat_jsonb_container(Datum jsonb);
/* The headers of decoded parts as a jsonb Datum: parsed from JSON text, or checked and
 * copied from a stored container (XX001 naming `key` when it is not well-formed). */
Datum headers_datum(const content::BodyParts &parts, std::string_view key);

/* pm.body_storage_key of parts whose headers are already jsonb's text: the
 * shared encoding (common/storage_key.h) hashed with PostgreSQL's SHA-256, as
 * src/core/storage_key.cpp does (the regression tests compare the two on every path). */
std::string body_key(const storage_key::TenantId &tenant, const storage_key::BodyParts &parts);
/* pm.storage_key(tenant, 'att', content), by the SQL function itself. */
std::string attachment_key(Datum tenant, Datum content);

} // namespace pm::content_glue
