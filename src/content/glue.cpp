/* content_glue.cpp — see content_glue.h. */
#include "content/glue.h"

#include "content/pure/flat_jsonb.h"
#include "shared/pure/uuid_text.h"
#include "content/settings.h"
#include "core/storage_key_sha256.h"
#include "core/tenant_context.h"

extern "C" {
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/uuid.h"

/* The SQL function pm.storage_key (src/core/storage_key.cpp). */
Datum pm_storage_key(PG_FUNCTION_ARGS);
}

#include <cstring>
#include <list>
#include <memory>
#include <unordered_map>

namespace sk = pm::storage_key;

namespace pm::content_glue {

/* ---------------------------------------------------------- settings etc. */

std::optional<sk::TenantId> context_tenant()
{
    const char *raw = nullptr;
    pg_call([&] { raw = GetConfigOption(pm::kTenantSetting, true, false); });
    if (raw == nullptr || raw[0] == '\0')
        return std::nullopt;
    std::optional<pm::UuidBytes> parsed = pm::parse_uuid(raw);
    if (!parsed)
        throw SqlError(ERRCODE_INVALID_TEXT_REPRESENTATION,
                       std::string("invalid value for setting \"") + pm::kTenantSetting +
                           "\": " + sk::quote_for_message(raw, 64) + " is not a uuid");
    sk::TenantId tenant;
    std::memcpy(tenant.data(), parsed->data(), tenant.size());
    return tenant;
}

std::string tenant_text(const sk::TenantId &tenant)
{
    pm::UuidBytes bytes;
    std::memcpy(bytes.data(), tenant.data(), bytes.size());
    return pm::format_uuid(bytes);
}

void require_context_allows(const sk::TenantId &tenant, std::string_view what)
{
    const std::optional<sk::TenantId> ctx = context_tenant();
    if (ctx && *ctx != tenant)
        throw SqlError(ERRCODE_INSUFFICIENT_PRIVILEGE,
                       std::string(what) + " belongs to tenant " + tenant_text(tenant) +
                           "; the current tenant is " + tenant_text(*ctx),
                       {}, "A tenant can only store content under its own tenant id.");
}

sk::Key parse_key(std::string_view key)
{
    sk::ParseResult r = sk::try_parse(key);
    if (!r.ok())
        throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE, sk::describe(r, key),
                       "key: " + sk::quote_for_message(key, 120));
    return r.key;
}

sk::TenantId tenant_from_datum(Datum uuid)
{
    sk::TenantId tenant;
    std::memcpy(tenant.data(), DatumGetUUIDP(uuid)->data, tenant.size());
    return tenant;
}

Datum uuid_datum(const sk::TenantId &tenant)
{
    auto *out = static_cast<pg_uuid_t *>(palloc(sizeof(pg_uuid_t)));
    std::memcpy(out->data, tenant.data(), tenant.size());
    return UUIDPGetDatum(out);
}

/* ------------------------------------------------------------------ codec */

content::Codec &codec()
{
    /* Never destroyed: backends exit without running C++ static destructors in
     * any useful order, and the contexts live as long as the process anyway. */
    static content::Codec *instance = new content::Codec();
    return *instance;
}

namespace {

struct CacheEntry {
    std::unique_ptr<content::Dictionary> dict;
    std::list<std::uint32_t>::iterator lru; /* position in Cache::order */
};

struct Cache {
    Oid table = InvalidOid; /* pm_content.dictionaries the entries came from */
    std::unordered_map<std::uint32_t, CacheEntry> entries;
    std::list<std::uint32_t> order; /* most recently used first */

    void clear()
    {
        entries.clear();
        order.clear();
    }

    std::size_t memory() const
    {
        std::size_t n = 0;
        for (const auto &[id, e] : entries)
            n += e.dict->memory_bytes();
        return n;
    }

    /* Keeps `keep` (in use by the caller right now) whatever the budget says. */
    void shrink(std::uint32_t keep)
    {
        const std::size_t budget =
            static_cast<std::size_t>(content_settings::dictionary_cache_kb) * 1024;
        std::size_t used = memory();
        while (used > budget && order.size() > 1) {
            const std::uint32_t victim = order.back();
            if (victim == keep)
                break;
            used -= entries.at(victim).dict->memory_bytes();
            entries.erase(victim);
            order.pop_back();
        }
    }
};

Cache &cache()
{
    static Cache *instance = new Cache();
    return *instance;
}

Statement load_dictionary("SELECT bytes FROM pm_content.dictionaries WHERE id = $1", {INT4OID});

} // namespace

void validate_dictionary_cache()
{
    Oid table = InvalidOid;
    pg_call([&] {
        const Oid nsp = get_namespace_oid("pm_content", true);
        table = OidIsValid(nsp) ? get_relname_relid("dictionaries", nsp) : InvalidOid;
    });
    Cache &c = cache();
    if (c.table != table) {
        c.clear();
        c.table = table;
    }
}

content::Dictionary *dictionary(std::uint32_t id)
{
    Cache &c = cache();
    auto it = c.entries.find(id);
    if (it != c.entries.end()) {
        c.order.splice(c.order.begin(), c.order, it->second.lru);
        return it->second.dict.get();
    }
    if (id > static_cast<std::uint32_t>(INT32_MAX))
        return nullptr;

    /* Callers decode row after row of a result set while dictionaries load:
     * put that result set back (SPI keeps every result until SPI_finish). */
    struct KeepResult {
        SPITupleTable *table = SPI_tuptable;
        uint64 processed = SPI_processed;
        ~KeepResult()
        {
            SPI_tuptable = table;
            SPI_processed = processed;
        }
    } keep;

    const Datum arg = Int32GetDatum(static_cast<int32>(id));
    const bool null = false;
    if (load_dictionary.run(&arg, &null, true) == 0)
        return nullptr;
    const std::optional<Datum> bytes = column(0, 1);
    if (!bytes)
        return nullptr;
    bytea *b = nullptr;
    pg_call([&] { b = DatumGetByteaPP(*bytes); });
    std::string copy(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));

    c.order.push_front(id);
    CacheEntry entry{std::make_unique<content::Dictionary>(id, std::move(copy)), c.order.begin()};
    content::Dictionary *result = entry.dict.get();
    c.entries.emplace(id, std::move(entry));
    c.shrink(id);
    return result;
}

namespace {

Statement newest_for_put(R"SQL(
SELECT coalesce(
    (SELECT d.id FROM pm_content.dictionaries d
      WHERE d.tenant_id = $1 AND d.template_hint = $2
      ORDER BY d.version DESC LIMIT 1),
    (SELECT d.id FROM pm_content.dictionaries d
      WHERE d.tenant_id = $1 AND d.template_hint IS NULL
      ORDER BY d.version DESC LIMIT 1))
)SQL",
                         {UUIDOID, TEXTOID});

struct NewestCache {
    bool callbacks = false;
    /* (tenant bytes + '\0' + hint, or tenant bytes alone) -> id or none */
    std::unordered_map<std::string, std::optional<std::uint32_t>> ids;
};

NewestCache &newest_cache()
{
    static NewestCache *instance = new NewestCache();
    return *instance;
}

void forget_at_xact_end(XactEvent event, void *)
{
    if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
        event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
        event == XACT_EVENT_PREPARE)
        newest_cache().ids.clear();
}

void forget_at_subxact_abort(SubXactEvent event, SubTransactionId, SubTransactionId, void *)
{
    if (event == SUBXACT_EVENT_ABORT_SUB)
        newest_cache().ids.clear();
}

} // namespace

void forget_newest_dictionaries()
{
    newest_cache().ids.clear();
}

std::optional<std::uint32_t> newest_dictionary(Datum tenant, std::optional<std::string_view> hint)
{
    NewestCache &c = newest_cache();
    if (!c.callbacks) {
        pg_call([] {
            RegisterXactCallback(forget_at_xact_end, nullptr);
            RegisterSubXactCallback(forget_at_subxact_abort, nullptr);
        });
        c.callbacks = true;
    }
    std::string cache_key(reinterpret_cast<const char *>(DatumGetUUIDP(tenant)->data), UUID_LEN);
    if (hint) {
        cache_key.push_back('\0');
        cache_key.append(hint->data(), hint->size());
    }
    if (auto it = c.ids.find(cache_key); it != c.ids.end())
        return it->second;

    const Datum args[] = {tenant, hint ? text_datum_of(*hint) : (Datum) 0};
    const bool nulls[] = {false, !hint};
    newest_for_put.run(args, nulls, true);
    std::optional<std::uint32_t> id;
    if (std::optional<Datum> d = column(0, 1))
        id = static_cast<std::uint32_t>(DatumGetInt32(*d));
    c.ids.emplace(std::move(cache_key), id);
    return id;
}

content::DictionaryLookup dictionary_lookup()
{
    return [](std::uint32_t id) { return dictionary(id); };
}

std::string algorithm_name(const content::FrameInfo &info)
{
    return info.has_dictionary ? "zstd-dict:" + std::to_string(info.dictionary_id) : "zstd";
}

std::string algorithm_name(const content::Dictionary *dict)
{
    return dict ? "zstd-dict:" + std::to_string(dict->id()) : "zstd";
}

/* ------------------------------------------------------------ decoding */

void raise_undecodable(std::string_view what, std::string_view key,
                       const content::CodecError &error, std::string_view detail)
{
    const bool missing = error.kind() == content::CodecErrorKind::missing_dictionary;
    throw SqlError(
        ERRCODE_DATA_CORRUPTED,
        std::string(what) + " \"" + std::string(key) + "\" cannot be decoded: " + error.what(),
        std::string(detail),
        missing ? "The dictionary rows of pm_content.dictionaries are never to be deleted while "
                  "objects use them; restore it from a backup."
                : "The stored bytes are damaged; restore the row from a backup, or delete it "
                  "and put the content again.");
}

std::string_view decode_body_payload(const StoredBody &stored)
{
    static std::string *buffer = new std::string();
    try {
        const content::FrameInfo info = content::inspect_frame(stored.frame);
        /* The row says which codec wrote it; a frame that disagrees is damaged
         * (decoding it with another dictionary could only fail later, less clearly). */
        if (algorithm_name(info) != stored.algorithm)
            throw content::CodecError(content::CodecErrorKind::frame_header,
                                      "frame is " + algorithm_name(info) + " but the row says " +
                                          std::string(stored.algorithm));
        const std::size_t bound =
            stored.raw_size < 0 ? 0
                                : static_cast<std::size_t>(stored.raw_size) +
                                      content::max_payload_overhead;
        /* One huge body must not pin its size in the backend for good. */
        if (buffer->size() > (8u << 20) && bound < (1u << 20))
            std::string().swap(*buffer);
        const std::size_t n =
            codec().decompress_into(stored.frame, bound, dictionary_lookup(), *buffer);
        const std::string_view payload(buffer->data(), n);
        const content::BodyParts parts = content::unpack_body(payload);
        if (static_cast<std::int64_t>(content::logical_size(parts)) != stored.raw_size)
            throw content::CodecError(content::CodecErrorKind::size_mismatch,
                                      "decoded body has " +
                                          std::to_string(content::logical_size(parts)) +
                                          " bytes, raw_size_bytes says " +
                                          std::to_string(stored.raw_size));
        return payload;
    } catch (const content::CodecError &e) {
        /* Built only here: a read of a hundred rows must not format a hundred messages. */
        raise_undecodable("content object", stored.key, e,
                          "compression_algorithm " + std::string(stored.algorithm) + ", " +
                              std::to_string(stored.frame.size()) +
                              " stored bytes, raw_size_bytes " + std::to_string(stored.raw_size));
    }
}

/* -------------------------------------------------------------- values */

struct varlena *detoast_arg(FunctionCallInfo fcinfo, int n)
{
    struct varlena *v = nullptr;
    pg_call([&] { v = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(n)); });
    return v;
}

std::string_view varlena_view(const struct varlena *v)
{
    return std::string_view(VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
}

Datum bytea_datum(std::string_view bytes)
{
    Datum d = (Datum) 0;
    pg_call([&] {
        bytea *b = static_cast<bytea *>(palloc(VARHDRSZ + bytes.size()));
        SET_VARSIZE(b, VARHDRSZ + bytes.size());
        if (!bytes.empty())
            std::memcpy(VARDATA(b), bytes.data(), bytes.size());
        d = PointerGetDatum(b);
    });
    return d;
}

Datum text_datum_of(std::string_view s)
{
    Datum d = (Datum) 0;
    pg_call([&] { d = PointerGetDatum(cstring_to_text_with_len(s.data(), static_cast<int>(s.size()))); });
    return d;
}

Datum jsonb_from_text(std::string_view json)
{
    Datum d = (Datum) 0;
    pg_call([&] {
        char *cstr = pnstrdup(json.data(), json.size());
        d = DirectFunctionCall1(jsonb_in, CStringGetDatum(cstr));
    });
    return d;
}

std::optional<std::string_view> flat_jsonb_container(Datum jsonb)
{
    const struct varlena *v = reinterpret_cast<const struct varlena *>(DatumGetPointer(jsonb));
    const std::string_view container(VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
    std::vector<flat_jsonb::Member> members;
    std::string why;
    if (!flat_jsonb::parse(container, members, why))
        return std::nullopt;
    return container;
}

Datum headers_datum(const content::BodyParts &parts, std::string_view key)
{
    if (!parts.headers_text_size)
        return jsonb_from_text(*parts.headers);

    /* Bytes from a table callers can write: proven well-formed before PostgreSQL sees
     * them as jsonb, down to the encoding of every string. */
    std::vector<flat_jsonb::Member> members;
    std::string why;
    bool ok = flat_jsonb::parse(*parts.headers, members, why);
    const int encoding = GetDatabaseEncoding();
    auto valid = [&](std::string_view s) {
        return pg_verify_mbstr(encoding, s.data(), static_cast<int>(s.size()), true);
    };
    for (std::size_t i = 0; ok && i < members.size(); i++) {
        ok = valid(members[i].key);
        for (std::string_view s : members[i].values)
            ok = ok && valid(s);
        if (!ok)
            why = "header " + std::to_string(i + 1) + " is not valid " + GetDatabaseEncodingName();
    }
    if (!ok)
        raise_undecodable("content object", key,
                          content::CodecError(content::CodecErrorKind::bad_layout,
                                              "stored headers are not header-shaped jsonb: " + why),
                          "headers stored as " + std::to_string(parts.headers->size()) +
                              " bytes of jsonb");
    Datum d = (Datum) 0;
    pg_call([&] {
        struct varlena *v = static_cast<struct varlena *>(palloc(VARHDRSZ + parts.headers->size()));
        SET_VARSIZE(v, VARHDRSZ + parts.headers->size());
        std::memcpy(VARDATA(v), parts.headers->data(), parts.headers->size());
        d = PointerGetDatum(v);
    });
    return d;
}

std::string jsonb_text(Datum jsonb)
{
    StringInfoData buf;
    pg_call([&] {
        Jsonb *j = DatumGetJsonbP(jsonb);
        initStringInfo(&buf);
        JsonbToCString(&buf, &j->root, VARSIZE(j));
    });
    std::string out(buf.data, static_cast<std::size_t>(buf.len));
    pfree(buf.data);
    return out;
}

std::string body_key(const sk::TenantId &tenant, const sk::BodyParts &parts)
{
    const sk::BodyEncoding encoding(parts);
    return sk::format(sk::Kind::body, tenant,
                      storage_key_sha256(encoding.chunks(), encoding.chunk_count()));
}

std::string attachment_key(Datum tenant, Datum content)
{
    text *t = nullptr;
    pg_call([&] {
        LOCAL_FCINFO(inner, 3);
        InitFunctionCallInfoData(*inner, nullptr, 3, InvalidOid, nullptr, nullptr);
        inner->args[0].value = tenant;
        inner->args[0].isnull = false;
        inner->args[1].value = CStringGetTextDatum("att");
        inner->args[1].isnull = false;
        inner->args[2].value = content;
        inner->args[2].isnull = false;
        t = DatumGetTextPP(pm_storage_key(inner));
    });
    return std::string(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

} // namespace pm::content_glue
