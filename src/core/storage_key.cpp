/*
 * storage_key.cpp — SQL glue for storage keys (spec/core.md §3).
 *
 * The format, parser, body encoding and shard function live in
 * common/storage_key.cpp (pure C++, unit-tested); this file only moves values
 * between PostgreSQL and that code and computes SHA-256 with PostgreSQL's own
 * pg_cryptohash, so keys match the built-in sha256() byte for byte.
 *
 * NULL handling (the declarations in pm_core--0.1.sql decide who sees NULLs):
 *   storage_key         NULL tenant / kind / content -> 22004 if called at all
 *                       (a STRICT declaration returns NULL before we run)
 *   body_storage_key    NULL tenant -> 22004; NULL parts are encoded
 *   storage_key_is_valid NULL -> false: a NULL is not a valid key
 */
#include "shared/boundary.h"
#include "core/pure/storage_key.h"
#include "core/storage_key_sha256.h"

extern "C" {
#include "access/htup_details.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"
}

#include <cstring>

namespace sk = pm::storage_key;

namespace {

static_assert(sizeof(pg_uuid_t) == std::tuple_size<sk::TenantId>::value,
              "a uuid is the 16 tenant bytes");
static_assert(PG_SHA256_DIGEST_LENGTH == std::tuple_size<sk::Digest>::value,
              "the digest is a SHA-256");

[[noreturn]] void throw_null_argument(const char *name)
{
    throw pm::SqlError(ERRCODE_NULL_VALUE_NOT_ALLOWED,
                       std::string("storage key argument \"") + name + "\" must not be NULL",
                       std::strcmp(name, "tenant_id") == 0
                           ? "A storage key carries its tenant; there is no tenant-less key."
                           : std::string());
}

sk::Key parse_or_raise(std::string_view text)
{
    sk::ParseResult r = sk::try_parse(text);
    if (!r.ok())
        throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE, sk::describe(r, text),
                           "key: " + sk::quote_for_message(text, 120));
    return r.key;
}

/* Detoasting may raise (corrupt or missing toast data), so it goes through pg_call. */
text *text_arg(FunctionCallInfo fcinfo, int n)
{
    text *value = nullptr;
    pm::pg_call([&] { value = PG_GETARG_TEXT_PP(n); });
    return value;
}

sk::TenantId tenant_arg(FunctionCallInfo fcinfo, int n)
{
    const pg_uuid_t *uuid = PG_GETARG_UUID_P(n);
    sk::TenantId tenant;
    std::memcpy(tenant.data(), uuid->data, tenant.size());
    return tenant;
}


Datum key_datum(sk::Kind kind, const sk::TenantId &tenant, const sk::Digest &digest)
{
    const std::string key = sk::format(kind, tenant, digest);
    Datum result = (Datum) 0;
    pm::pg_call([&] { result = PointerGetDatum(cstring_to_text_with_len(key.data(), key.size())); });
    return result;
}

} // namespace

extern "C" {

PG_FUNCTION_INFO_V1(pm_storage_key);
PG_FUNCTION_INFO_V1(pm_body_storage_key);
PG_FUNCTION_INFO_V1(pm_storage_key_parse);
PG_FUNCTION_INFO_V1(pm_storage_key_is_valid);
PG_FUNCTION_INFO_V1(pm_storage_key_shard);

/* pm.storage_key(tenant_id uuid, kind text, content bytea) RETURNS text */
Datum pm_storage_key(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        if (PG_ARGISNULL(0))
            throw_null_argument("tenant_id");
        if (PG_ARGISNULL(1))
            throw_null_argument("kind");
        if (PG_ARGISNULL(2))
            throw_null_argument("content");

        const sk::TenantId tenant = tenant_arg(fcinfo, 0);
        const std::string_view kind_text = pm::to_string_view(text_arg(fcinfo, 1));
        const std::optional<sk::Kind> kind = sk::kind_from_name(kind_text);
        if (!kind)
            throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                               sk::unknown_kind_message(kind_text));

        bytea *content = nullptr;
        pm::pg_call([&] { content = PG_GETARG_BYTEA_PP(2); });
        const sk::Chunk chunk = {reinterpret_cast<const std::uint8_t *>(VARDATA_ANY(content)),
                                 VARSIZE_ANY_EXHDR(content)};
        return key_datum(*kind, tenant, pm::storage_key_sha256(&chunk, 1));
    });
}

/* pm.body_storage_key(tenant_id uuid, content_text text, content_html text, headers jsonb) */
Datum pm_body_storage_key(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        if (PG_ARGISNULL(0))
            throw_null_argument("tenant_id");
        const sk::TenantId tenant = tenant_arg(fcinfo, 0);

        sk::BodyParts parts;
        if (!PG_ARGISNULL(1))
            parts.text = pm::to_string_view(text_arg(fcinfo, 1));
        if (!PG_ARGISNULL(2))
            parts.html = pm::to_string_view(text_arg(fcinfo, 2));
        if (!PG_ARGISNULL(3)) {
            /* jsonb's output is canonical for its value: keys sorted, duplicates
             * resolved, fixed spacing; so equal jsonb gives an equal key. */
            const char *json = nullptr;
            int json_len = 0;
            pm::pg_call([&] {
                Jsonb *headers = PG_GETARG_JSONB_P(3);
                StringInfoData buf;
                initStringInfo(&buf);
                JsonbToCString(&buf, &headers->root, VARSIZE(headers));
                json = buf.data;
                json_len = buf.len;
            });
            parts.headers = std::string_view(json, static_cast<std::size_t>(json_len));
        }

        const sk::BodyEncoding encoding(parts);
        return key_datum(sk::Kind::body, tenant,
                         pm::storage_key_sha256(encoding.chunks(), encoding.chunk_count()));
    });
}

/* pm.storage_key_parse(key text) RETURNS TABLE(version int, kind text, tenant_id uuid, digest text) */
Datum pm_storage_key_parse(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        if (PG_ARGISNULL(0))
            throw_null_argument("key");
        const sk::Key key = parse_or_raise(pm::to_string_view(text_arg(fcinfo, 0)));
        const std::string_view kind = sk::kind_name(key.kind);
        const std::string digest = sk::to_hex(key.digest);

        /* Exactly one row: a value-per-call set function that leaves isDone at
         * ExprSingleResult returns this one tuple. */
        Datum result = (Datum) 0;
        pm::pg_call([&] {
            TupleDesc tupdesc;
            if (get_call_result_type(fcinfo, nullptr, &tupdesc) != TYPEFUNC_COMPOSITE)
                elog(ERROR, "pm.storage_key_parse must be declared to return a row type");
            tupdesc = BlessTupleDesc(tupdesc);

            pg_uuid_t *tenant = static_cast<pg_uuid_t *>(palloc(sizeof(pg_uuid_t)));
            std::memcpy(tenant->data, key.tenant.data(), key.tenant.size());
            Datum values[4] = {
                Int32GetDatum(key.version),
                PointerGetDatum(cstring_to_text_with_len(kind.data(), kind.size())),
                UUIDPGetDatum(tenant),
                PointerGetDatum(cstring_to_text_with_len(digest.data(), digest.size())),
            };
            bool nulls[4] = {false, false, false, false};
            result = HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
        });
        return result;
    });
}

/* pm.storage_key_is_valid(key text) RETURNS boolean — false for NULL, never raises
 * for any key text. */
Datum pm_storage_key_is_valid(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        if (PG_ARGISNULL(0))
            return BoolGetDatum(false);
        return BoolGetDatum(sk::is_valid(pm::to_string_view(text_arg(fcinfo, 0))));
    });
}

/* pm.storage_key_shard(key text, shards int) RETURNS int */
Datum pm_storage_key_shard(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        if (PG_ARGISNULL(0))
            throw_null_argument("key");
        if (PG_ARGISNULL(1))
            throw_null_argument("shards");
        const int32 shards = PG_GETARG_INT32(1);
        if (shards < 1 || shards > sk::kMaxShards)
            throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                               "shard count must be between 1 and " +
                                   std::to_string(sk::kMaxShards) + ", got " +
                                   std::to_string(shards));
        const sk::Key key = parse_or_raise(pm::to_string_view(text_arg(fcinfo, 0)));
        return Int32GetDatum(sk::shard_of(key.digest, shards));
    });
}

} // extern "C"

sk::Digest pm::storage_key_sha256(const sk::Chunk *chunks, std::size_t count)
{
    sk::Digest digest{};
    pm::pg_call([&] {
        pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
        if (ctx == nullptr)
            ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
                            errmsg("out of memory while creating a SHA-256 context")));
        bool ok = pg_cryptohash_init(ctx) == 0;
        for (std::size_t i = 0; ok && i < count; i++)
            if (chunks[i].size > 0)
                ok = pg_cryptohash_update(ctx, chunks[i].data, chunks[i].size) == 0;
        ok = ok && pg_cryptohash_final(ctx, digest.data(), digest.size()) == 0;
        if (!ok) {
            char *why = pstrdup(pg_cryptohash_error(ctx));
            pg_cryptohash_free(ctx);
            ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                            errmsg("could not compute SHA-256 for a storage key: %s", why)));
        }
        pg_cryptohash_free(ctx);
    });
    return digest;
}
