/*
 * content_store.cpp — bodies: pm_content.put_body, get, get_many and unpack
 * (the decoder behind the decoded_objects view).
 *
 * put_body in the common cases:
 *   new content       1 INSERT (the dictionary to use is looked up once per
 *                     transaction and tenant)
 *   repeated content  the INSERT finds the key, 1 lookup, and an UPDATE only when
 *                     last_accessed_at is older than the touch interval or the
 *                     expiry must be extended
 * Mail is mostly new content (every personalised message differs), so the insert
 * goes first; a repeat pays a compression it did not need.  The INSERT is
 * ON CONFLICT DO NOTHING, so two sessions putting the same content at once store
 * one row and neither fails.
 */
#include "content/glue.h"
#include "content/settings.h"

extern "C" {
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(pm_content_put_body);
PG_FUNCTION_INFO_V1(pm_content_get);
PG_FUNCTION_INFO_V1(pm_content_get_many);
PG_FUNCTION_INFO_V1(pm_content_unpack);
PG_FUNCTION_INFO_V1(pm_content_check_object);
}

#include <cstring>

namespace sk = pm::storage_key;
namespace cc = pm::content;
using namespace pm::content_glue;

namespace {

/* ---------------------------------------------------------------- put_body */

/* A repeated put: is the row there, and does it need a refresh? */
Statement lookup_existing(R"SQL(
SELECT coalesce(o.last_accessed_at, o.created_at), o.expires_at
FROM pm_content.content_objects o WHERE o.storage_key = $1
)SQL",
                          {TEXTOID});

/* A later expiry wins and NULL (never) wins over any date: whoever put the
 * content last must be able to read it until the expiry it asked for. */
Statement refresh_existing(R"SQL(
UPDATE pm_content.content_objects
   SET last_accessed_at = now(),
       expires_at = CASE WHEN expires_at IS NULL OR $2::timestamptz IS NULL THEN NULL
                         ELSE greatest(expires_at, $2) END
 WHERE storage_key = $1
)SQL",
                           {TEXTOID, TIMESTAMPTZOID});

/* last_accessed_at stays NULL until a read or a put refreshes it: until then it is
 * created_at, and 8 bytes less per row (0.2). */
Statement insert_object(R"SQL(
INSERT INTO pm_content.content_objects
    (storage_key, tenant_id, content_text, content_html, headers, raw_size_bytes, created_at,
     expires_at, last_accessed_at, content_hash, compression_algorithm, compressed_size_bytes,
     packed, dictionary_id, template_hint)
VALUES ($1, $2, $3, $4, $5, $6, now(), $7, NULL, $8, $9, $10, $11, $12, $13)
ON CONFLICT (storage_key) DO NOTHING
)SQL",
                        {TEXTOID, UUIDOID, TEXTOID, TEXTOID, JSONBOID, INT4OID, TIMESTAMPTZOID,
                         TEXTOID, TEXTOID, INT4OID, BYTEAOID, INT4OID, TEXTOID});

constexpr int kMaxHintBytes = 200;

[[noreturn]] void null_argument(const char *message, const char *hint)
{
    throw pm::SqlError(ERRCODE_NULL_VALUE_NOT_ALLOWED, message, {}, hint);
}

Datum put_body(FunctionCallInfo fcinfo)
{
    if (PG_ARGISNULL(0))
        null_argument("tenant_id must not be NULL", "Every body belongs to a tenant.");
    if (PG_ARGISNULL(1) && PG_ARGISNULL(2))
        null_argument("content_text and content_html are both NULL",
                      "A body needs at least one of them (an empty string is content).");

    const Datum tenant_datum = PG_GETARG_DATUM(0);
    const sk::TenantId tenant = tenant_from_datum(tenant_datum);
    require_context_allows(tenant, "the body");

    const TimestampTz now = GetCurrentTransactionStartTimestamp();
    std::optional<TimestampTz> expires;
    if (!PG_ARGISNULL(4)) {
        expires = PG_GETARG_TIMESTAMPTZ(4);
        if (*expires <= now)
            throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                               std::string("expires_at ") + timestamptz_to_str(*expires) +
                                   " is not in the future",
                               {}, "Pass NULL for content that never expires.");
    }
    std::optional<std::string_view> hint;
    if (!PG_ARGISNULL(5)) {
        hint = varlena_view(detoast_arg(fcinfo, 5));
        if (hint->empty() || hint->size() > kMaxHintBytes)
            throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                               "template_hint must be 1 to " + std::to_string(kMaxHintBytes) +
                                   " bytes, got " + std::to_string(hint->size()));
    }

    /* Detoasted once: the key, the frame and a plain row all use these. */
    Datum body[4] = {tenant_datum, (Datum) 0, (Datum) 0, (Datum) 0};
    cc::BodyParts parts;
    if (!PG_ARGISNULL(1)) {
        struct varlena *v = detoast_arg(fcinfo, 1);
        body[1] = PointerGetDatum(v);
        parts.text = varlena_view(v);
    }
    if (!PG_ARGISNULL(2)) {
        struct varlena *v = detoast_arg(fcinfo, 2);
        body[2] = PointerGetDatum(v);
        parts.html = varlena_view(v);
    }
    std::string headers_text;
    if (!PG_ARGISNULL(3)) {
        body[3] = PointerGetDatum(detoast_arg(fcinfo, 3));
        headers_text = jsonb_text(body[3]);
        parts.headers = headers_text;
        /* Header-shaped jsonb goes into the frame in jsonb's own form, so reads need not
         * parse it again (the key still hashes the text). */
        const std::optional<std::string_view> container = flat_jsonb_container(body[3]);
        if (container && container->size() <= headers_text.size() + cc::kMaxJsonbGrowth) {
            parts.headers = *container;
            parts.headers_text_size = static_cast<std::uint32_t>(headers_text.size());
        }
    }

    const std::size_t raw_size = cc::logical_size(parts);
    if (raw_size > static_cast<std::size_t>(pm::content_settings::max_object_bytes))
        throw pm::SqlError(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                           "body of " + std::to_string(raw_size) +
                               " bytes exceeds pm_content.max_object_bytes (" +
                               std::to_string(pm::content_settings::max_object_bytes) + ")",
                           "text " + std::to_string(parts.text ? parts.text->size() : 0) +
                               " bytes, html " +
                               std::to_string(parts.html ? parts.html->size() : 0) +
                               " bytes, headers " + std::to_string(headers_text.size()) + " bytes",
                           "Nothing was stored.");

    sk::BodyParts key_parts;
    key_parts.text = parts.text;
    key_parts.html = parts.html;
    if (parts.headers)
        key_parts.headers = std::string_view(headers_text);
    const std::string key = body_key(tenant, key_parts);
    const Datum key_datum = text_datum_of(key);
    const Datum hint_datum = hint ? text_datum_of(*hint) : (Datum) 0;

    validate_dictionary_cache();
    pm::SpiSession spi;
    const std::optional<std::uint32_t> dict_id = newest_dictionary(tenant_datum, hint);
    cc::Dictionary *dict = dict_id ? dictionary(*dict_id) : nullptr;
    /* (A dictionary this session cannot see any more: compress without one.) */

    const std::string payload = cc::pack_body(parts);
    std::string frame;
    try {
        frame = codec().compress(payload, pm::content_settings::compression_level, dict);
    } catch (const cc::CodecError &e) {
        throw pm::SqlError(ERRCODE_INTERNAL_ERROR,
                           "could not compress content object \"" + key + "\": " + e.what());
    }
    /* Stored as is when compression does not pay (tiny or incompressible bodies). */
    const bool plain = frame.size() >= payload.size();
    const Datum insert_args[] = {
        key_datum,
        tenant_datum,
        plain && parts.text ? body[1] : (Datum) 0,
        plain && parts.html ? body[2] : (Datum) 0,
        plain && parts.headers ? body[3] : (Datum) 0,
        Int32GetDatum(static_cast<int32>(raw_size)),
        expires ? TimestampTzGetDatum(*expires) : (Datum) 0,
        (Datum) 0, /* content_hash: the key's digest, not repeated in the row (0.2) */
        text_datum_of(plain ? "none" : algorithm_name(dict)),
        Int32GetDatum(static_cast<int32>(plain ? raw_size : frame.size())),
        plain ? (Datum) 0 : bytea_datum(frame),
        dict && !plain ? Int32GetDatum(static_cast<int32>(dict->id())) : (Datum) 0,
        hint_datum,
    };
    const bool insert_nulls[] = {
        false, false, !(plain && parts.text), !(plain && parts.html),
        !(plain && parts.headers), false, !expires, true, false, false, plain,
        !(dict && !plain), !hint,
    };

    for (int attempt = 0; attempt < 4; attempt++) {
        /* 0 rows: the key exists (ON CONFLICT waited for a concurrent put of the
         * same content to commit). */
        if (insert_object.run(insert_args, insert_nulls, false) > 0)
            return key_datum;
        const bool key_not_null = false;
        if (lookup_existing.run(&key_datum, &key_not_null, false) == 0)
            continue; /* deleted in between (collected, expired): insert again */
        const TimestampTz touched = DatumGetTimestampTz(column(0, 1).value_or(0));
        const std::optional<Datum> stored_expiry = column(0, 2);
        const bool extend =
            stored_expiry && (!expires || *expires > DatumGetTimestampTz(*stored_expiry));
        if (!extend && touched >= now - kTouchIntervalUsec)
            return key_datum;
        const Datum args[] = {key_datum, expires ? TimestampTzGetDatum(*expires) : (Datum) 0};
        const bool nulls[] = {false, !expires};
        if (refresh_existing.run(args, nulls, false) > 0)
            return key_datum;
    }
    throw pm::SqlError(ERRCODE_T_R_SERIALIZATION_FAILURE,
                       "content object \"" + key + "\" keeps disappearing while it is put", {},
                       "Retry the transaction.");
}

/* ---------------------------------------------------------------- get */

constexpr const char *kSelectColumns = R"SQL(
SELECT o.storage_key::text, o.tenant_id, o.content_text, o.content_html, o.headers,
       o.raw_size_bytes, o.created_at, o.expires_at, o.packed, o.compression_algorithm::text,
       coalesce(o.last_accessed_at, o.created_at) < now() - interval '10 minutes'
FROM pm_content.content_objects o
)SQL";

Statement select_many(std::string(kSelectColumns) +
                          "WHERE o.storage_key = ANY ($1) "
                          "AND (o.expires_at IS NULL OR o.expires_at > now())",
                      {TEXTARRAYOID});

/* Never waits: a row another session holds (a put refreshing it, a collector
 * deleting it) is simply not touched this time. */
Statement touch_many(R"SQL(
UPDATE pm_content.content_objects SET last_accessed_at = now()
 WHERE storage_key IN (
       SELECT storage_key FROM pm_content.content_objects
        WHERE storage_key = ANY ($1)
          AND coalesce(last_accessed_at, created_at) < now() - interval '10 minutes'
          FOR UPDATE SKIP LOCKED)
)SQL",
                     {TEXTARRAYOID});

/* Columns of kSelectColumns (1-based). */
enum Col { cKey = 1, cTenant, cText, cHtml, cHeaders, cRawSize, cCreated, cExpires, cPacked,
           cAlgorithm, cStale };

std::string_view text_column(Datum d)
{
    struct varlena *v = nullptr;
    pm::pg_call([&] { v = PG_DETOAST_DATUM_PACKED(d); });
    return varlena_view(v);
}

/* Whether this call may write last_accessed_at: not in a read-only transaction
 * (or on a standby), and only for a role that may update the table. */
bool may_touch()
{
    if (XactReadOnly || RecoveryInProgress())
        return false;
    bool allowed = false;
    pm::pg_call([&] {
        const Oid nsp = get_namespace_oid("pm_content", true);
        const Oid rel = OidIsValid(nsp) ? get_relname_relid("content_objects", nsp) : InvalidOid;
        allowed = OidIsValid(rel) && pg_class_aclcheck(rel, GetUserId(), ACL_UPDATE) == ACLCHECK_OK;
    });
    return allowed;
}

/* Decodes the rows of the latest select into the SRF's tuplestore. */
void emit_rows(ReturnSetInfo *rsinfo, uint64 rows, std::vector<Datum> &stale_keys)
{
    MemoryContext row_context = nullptr;
    pm::pg_call([&] {
        row_context = AllocSetContextCreate(CurrentMemoryContext, "pm_content row",
                                            ALLOCSET_DEFAULT_SIZES);
    });
    for (uint64 r = 0; r < rows; r++) {
        const std::optional<Datum> algorithm = column(r, cAlgorithm);
        const std::string_view alg = algorithm ? text_column(*algorithm) : std::string_view();
        Datum values[8];
        bool nulls[8];
        for (int c = 0; c < 8; c++) {
            const std::optional<Datum> v = column(r, c + 1);
            values[c] = v.value_or((Datum) 0);
            nulls[c] = !v.has_value();
        }
        if (DatumGetBool(column(r, cStale).value_or(BoolGetDatum(false))))
            stale_keys.push_back(values[0]);

        MemoryContext old = MemoryContextSwitchTo(row_context);
        /* The tuplestore keeps what it is given: values, not TOAST pointers. */
        for (int c : {cKey, cText, cHtml, cHeaders})
            if (!nulls[c - 1])
                pm::pg_call([&] { values[c - 1] = PointerGetDatum(PG_DETOAST_DATUM_PACKED(values[c - 1])); });
        if (alg != "none") {
            const std::optional<Datum> packed = column(r, cPacked);
            StoredBody stored;
            stored.key = text_column(values[0]);
            stored.algorithm = alg;
            stored.frame = packed ? text_column(*packed) : std::string_view();
            stored.raw_size = nulls[cRawSize - 1] ? -1 : DatumGetInt32(values[cRawSize - 1]);
            const std::string_view payload = decode_body_payload(stored);
            const cc::BodyParts parts = cc::unpack_body(payload);
            values[cText - 1] = parts.text ? text_datum_of(*parts.text) : (Datum) 0;
            nulls[cText - 1] = !parts.text;
            values[cHtml - 1] = parts.html ? text_datum_of(*parts.html) : (Datum) 0;
            nulls[cHtml - 1] = !parts.html;
            values[cHeaders - 1] = parts.headers ? headers_datum(parts, stored.key) : (Datum) 0;
            nulls[cHeaders - 1] = !parts.headers;
        }
        pm::pg_call([&] { tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls); });
        MemoryContextSwitchTo(old);
        pm::pg_call([&] { MemoryContextReset(row_context); });
    }
}

/* Shared by get and get_many: `keys` is a text[] of valid keys of the
 * context's tenant (or of any tenant when no context is set). */
void fetch(FunctionCallInfo fcinfo, Datum keys, bool any_keys)
{
    ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    pm::pg_call([&] { InitMaterializedSRF(fcinfo, 0); });
    if (!any_keys)
        return;

    validate_dictionary_cache();
    pm::SpiSession spi;
    const bool null = false;
    const uint64 rows = select_many.run(&keys, &null, false);
    std::vector<Datum> stale;
    emit_rows(rsinfo, rows, stale);

    if (!stale.empty() && may_touch()) {
        Datum array = (Datum) 0;
        pm::pg_call([&] {
            array = PointerGetDatum(construct_array(stale.data(), static_cast<int>(stale.size()),
                                                    TEXTOID, -1, false, TYPALIGN_INT));
        });
        touch_many.run(&array, &null, false);
    }
}

/* A text[] of the keys worth looking up: malformed ones raise 22023, other
 * tenants' keys (with a context set) and NULLs are dropped. */
Datum filter_keys(Datum input, bool &any)
{
    ArrayType *array = nullptr;
    Datum *elems = nullptr;
    bool *elem_nulls = nullptr;
    int n = 0;
    pm::pg_call([&] {
        array = DatumGetArrayTypeP(input);
        if (ARR_NDIM(array) > 1)
            ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
                            errmsg("storage_keys must be a one-dimensional array")));
        deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &elem_nulls, &n);
    });
    const std::optional<sk::TenantId> ctx = context_tenant();
    std::vector<Datum> kept;
    kept.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; i++) {
        if (elem_nulls[i])
            continue;
        const std::string_view key = text_column(elems[i]);
        sk::ParseResult r = sk::try_parse(key);
        if (!r.ok())
            throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                               "storage_keys[" + std::to_string(i + 1) + "]: " + sk::describe(r, key),
                               "key: " + sk::quote_for_message(key, 120));
        if (ctx && r.key.tenant != *ctx)
            continue;
        kept.push_back(elems[i]);
    }
    any = !kept.empty();
    if (static_cast<int>(kept.size()) == n)
        return input;
    Datum out = (Datum) 0;
    pm::pg_call([&] {
        out = PointerGetDatum(construct_array(kept.data(), static_cast<int>(kept.size()), TEXTOID,
                                              -1, false, TYPALIGN_INT));
    });
    return out;
}

/* ------------------------------------------------------------- invariants */

/* What is wrong with a content_objects row, or "" (a row trigger rather than a
 * CHECK: a CHECK expression is re-read and planned at every INSERT statement,
 * and put_body inserts one row per statement). */
std::string object_row_problem(TupleDesc desc, HeapTuple row)
{
    struct Field {
        bool null = true;
        Datum value = (Datum) 0;
    };
    auto field = [&](const char *name) {
        Field f;
        pm::pg_call([&] {
            const int attnum = SPI_fnumber(desc, name);
            if (attnum <= 0)
                elog(ERROR, "content_objects has no column \"%s\"", name);
            f.value = heap_getattr(row, attnum, desc, &f.null);
        });
        return f;
    };
    const Field key = field("storage_key"), tenant = field("tenant_id"),
                hash = field("content_hash"), alg = field("compression_algorithm"),
                dict = field("dictionary_id"), packed = field("packed"),
                text = field("content_text"), html = field("content_html"),
                headers = field("headers");
    if (key.null || tenant.null)
        return "storage_key and tenant_id are required";
    const std::string_view key_text = text_column(key.value);
    const sk::ParseResult parsed = sk::try_parse(key_text);
    if (!parsed.ok() || parsed.key.kind != sk::Kind::body)
        return "storage_key " + sk::quote_for_message(key_text, 120) + " is not a body key";
    if (parsed.key.tenant != tenant_from_datum(tenant.value))
        return "storage_key names tenant " + tenant_text(parsed.key.tenant) + ", tenant_id is " +
               tenant_text(tenant_from_datum(tenant.value));
    /* NULL: the key says it (what put_body writes since 0.2); a value must agree. */
    if (!hash.null && text_column(hash.value) != sk::to_hex(parsed.key.digest))
        return "content_hash is not the digest of storage_key";
    if (alg.null)
        return "compression_algorithm is required";
    const std::string_view algorithm = text_column(alg.value);
    const bool plain_parts = !text.null || !html.null || !headers.null;
    if (algorithm == "none")
        return packed.null && dict.null ? "" : "a 'none' row keeps no frame and no dictionary_id";
    if (packed.null || plain_parts)
        return "a compressed row keeps its body in packed only";
    const std::string expected =
        dict.null ? "zstd" : "zstd-dict:" + std::to_string(DatumGetInt32(dict.value));
    if (algorithm != expected)
        return "compression_algorithm " + sk::quote_for_message(algorithm) + " does not match (" +
               expected + " expected)";
    return {};
}

} // namespace

extern "C" {

/* pm_content.put_body(tenant_id, content_text, content_html, headers, expires_at, template_hint) */
Datum pm_content_put_body(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum { return put_body(fcinfo); });
}

/* pm_content.get(storage_key text): zero or one row. */
Datum pm_content_get(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        const Datum key_datum = PG_GETARG_DATUM(0);
        const std::string_view key = text_column(key_datum);
        const sk::Key parsed = parse_key(key);
        const std::optional<sk::TenantId> ctx = context_tenant();
        /* The key names its tenant: another tenant's key is absent without a lookup. */
        const bool visible = !ctx || *ctx == parsed.tenant;
        Datum keys = (Datum) 0;
        if (visible)
            pm::pg_call([&] {
                Datum elem = key_datum;
                keys = PointerGetDatum(construct_array(&elem, 1, TEXTOID, -1, false, TYPALIGN_INT));
            });
        fetch(fcinfo, keys, visible);
        return (Datum) 0;
    });
}

/* pm_content.get_many(storage_keys text[]) */
Datum pm_content_get_many(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        bool any = false;
        const Datum keys = filter_keys(PG_GETARG_DATUM(0), any);
        fetch(fcinfo, keys, any);
        return (Datum) 0;
    });
}

/* pm_content.unpack(storage_key, compression_algorithm, packed, raw_size_bytes,
 *                   content_text, content_html, headers) -> (content_text, content_html, headers) */
Datum pm_content_unpack(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        Datum values[3] = {PG_GETARG_DATUM(4), PG_GETARG_DATUM(5), PG_GETARG_DATUM(6)};
        bool nulls[3] = {PG_ARGISNULL(4), PG_ARGISNULL(5), PG_ARGISNULL(6)};

        const std::string_view alg =
            PG_ARGISNULL(1) ? std::string_view() : varlena_view(detoast_arg(fcinfo, 1));
        std::string_view payload;
        StoredBody stored;
        if (alg != "none") {
            stored.key = PG_ARGISNULL(0) ? std::string_view() : varlena_view(detoast_arg(fcinfo, 0));
            stored.algorithm = alg;
            stored.frame = PG_ARGISNULL(2) ? std::string_view() : varlena_view(detoast_arg(fcinfo, 2));
            stored.raw_size = PG_ARGISNULL(3) ? -1 : PG_GETARG_INT32(3);
            validate_dictionary_cache();
            pm::SpiSession spi; /* a dictionary may have to be loaded */
            payload = decode_body_payload(stored);
        }
        if (alg != "none") {
            const cc::BodyParts parts = cc::unpack_body(payload);
            values[0] = parts.text ? text_datum_of(*parts.text) : (Datum) 0;
            nulls[0] = !parts.text;
            values[1] = parts.html ? text_datum_of(*parts.html) : (Datum) 0;
            nulls[1] = !parts.html;
            values[2] = parts.headers ? headers_datum(parts, stored.key) : (Datum) 0;
            nulls[2] = !parts.headers;
        }
        Datum result = (Datum) 0;
        pm::pg_call([&] {
            TupleDesc desc;
            if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
                elog(ERROR, "pm_content.unpack must return a row type");
            desc = BlessTupleDesc(desc);
            result = HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
        });
        return result;
    });
}

/* pm_content.check_object(): BEFORE INSERT OR UPDATE row trigger of content_objects
 * keeping the row consistent with its key and its codec (also for direct writes). */
Datum pm_content_check_object(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        if (!CALLED_AS_TRIGGER(fcinfo))
            throw pm::SqlError(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
                               "pm_content.check_object() must be called as a trigger");
        auto *trigger = reinterpret_cast<TriggerData *>(fcinfo->context);
        HeapTuple row = TRIGGER_FIRED_BY_UPDATE(trigger->tg_event) ? trigger->tg_newtuple
                                                                  : trigger->tg_trigtuple;
        const std::string problem = object_row_problem(trigger->tg_relation->rd_att, row);
        if (!problem.empty())
            throw pm::SqlError(ERRCODE_CHECK_VIOLATION,
                               "content object row is inconsistent: " + problem, {},
                               "Store bodies with pm_content.put_body().");
        return PointerGetDatum(row);
    });
}

} // extern "C"
