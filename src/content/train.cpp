/*
 * content_train.cpp — pm_content.train_dictionary and pm_content.recompress.
 *
 * A dictionary is trained from the payloads the codec compresses (the packed
 * body layout), so what it learns is exactly what frames will contain: the
 * tenant's templates, boilerplate, header names, signatures.
 */
#include "content/glue.h"
#include "content/settings.h"

extern "C" {
#include "catalog/pg_type.h"

PG_FUNCTION_INFO_V1(pm_content_train_dictionary);
PG_FUNCTION_INFO_V1(pm_content_recompress);
}

#include <algorithm>

namespace sk = pm::storage_key;
namespace cc = pm::content;
using namespace pm::content_glue;

namespace {

constexpr int kDefaultMaxSamples = 2000;
constexpr int kMaxSamplesLimit = 100000;
constexpr int kMinDictionaryBytes = 256;
constexpr int kMaxDictionaryBytes = 1024 * 1024;
/* zstd's own default size (the CLI's --maxdict): enough for a tenant's
 * handful of templates, small next to thousands of bodies. */
constexpr std::size_t kDefaultDictionaryBytes = 112640;
/* zstd's guidance: samples of ~100x the dictionary size; more only costs time. */
constexpr std::size_t kSampleBytesPerDictionaryByte = 100;

/* Without an explicit size: a tenth of what the samples hold, within [4 kB, 110 kB].
 * A small tenant gets a small dictionary, which it pays for in stored bytes. */
std::size_t auto_capacity(std::size_t sample_bytes)
{
    return std::clamp<std::size_t>(sample_bytes / 10, 4096, kDefaultDictionaryBytes);
}

Statement lock_training("SELECT pg_advisory_xact_lock(hashtextextended($1::text || '/' || coalesce($2, ''), 7283))",
                        {UUIDOID, TEXTOID});

/* Columns 2..7 as in kRowColumns below. */
Statement newest_samples(R"SQL(
SELECT o.storage_key::text, o.compression_algorithm::text, o.packed, o.raw_size_bytes,
       o.content_text, o.content_html, o.headers::text
FROM pm_content.content_objects o
WHERE o.tenant_id = $1 AND o.template_hint IS NOT DISTINCT FROM $2
ORDER BY o.created_at DESC
LIMIT $3
)SQL",
                         {UUIDOID, TEXTOID, INT4OID});

Statement current_dictionary(R"SQL(
SELECT d.id FROM pm_content.dictionaries d
WHERE d.tenant_id = $1 AND d.template_hint IS NOT DISTINCT FROM $2
ORDER BY d.version DESC LIMIT 1
)SQL",
                             {UUIDOID, TEXTOID});

Statement insert_dictionary(R"SQL(
INSERT INTO pm_content.dictionaries
    (tenant_id, template_hint, version, method, sample_count, sample_bytes, compression_level, bytes)
VALUES ($1, $2,
        (SELECT coalesce(max(d.version), 0) + 1 FROM pm_content.dictionaries d
          WHERE d.tenant_id = $1 AND d.template_hint IS NOT DISTINCT FROM $2),
        $3, $4, $5, $6, $7)
RETURNING id
)SQL",
                            {UUIDOID, TEXTOID, TEXTOID, INT4OID, INT8OID, INT4OID, BYTEAOID});

/* Objects not (yet) in the newest dictionary of their tenant and hint. */
Statement stale_objects(R"SQL(
SELECT o.storage_key::text, o.compression_algorithm::text, o.packed, o.raw_size_bytes,
       o.content_text, o.content_html, o.headers::text, n.id
FROM pm_content.content_objects o
CROSS JOIN LATERAL (SELECT coalesce(
    (SELECT d.id FROM pm_content.dictionaries d
      WHERE d.tenant_id = o.tenant_id AND d.template_hint = o.template_hint
      ORDER BY d.version DESC LIMIT 1),
    (SELECT d.id FROM pm_content.dictionaries d
      WHERE d.tenant_id = o.tenant_id AND d.template_hint IS NULL
      ORDER BY d.version DESC LIMIT 1)) AS id) n
WHERE n.id IS NOT NULL
  AND o.compression_algorithm <> 'none'
  AND o.dictionary_id IS DISTINCT FROM n.id
  AND ($1::uuid IS NULL OR o.tenant_id = $1)
LIMIT $2
FOR UPDATE OF o SKIP LOCKED
)SQL",
                        {UUIDOID, INT4OID});

Statement rewrite_object(R"SQL(
UPDATE pm_content.content_objects
   SET packed = $2, dictionary_id = $3, compression_algorithm = $4, compressed_size_bytes = $5
 WHERE storage_key = $1
)SQL",
                         {TEXTOID, BYTEAOID, INT4OID, TEXTOID, INT4OID});

/* Columns of newest_samples / stale_objects (1-based). */
enum Col { cKey = 1, cAlgorithm, cPacked, cRawSize, cText, cHtml, cHeaders, cNewest };

std::string_view view_of(Datum d)
{
    struct varlena *v = nullptr;
    pm::pg_call([&] { v = PG_DETOAST_DATUM_PACKED(d); });
    return varlena_view(v);
}

/* The payload of result row `r`: decoded from its frame, or packed from the plain columns. */
std::string payload_of_row(uint64 r)
{
    const std::string_view alg = view_of(*column(r, cAlgorithm));
    if (alg == "none") {
        cc::BodyParts parts;
        if (auto v = column(r, cText))
            parts.text = view_of(*v);
        if (auto v = column(r, cHtml))
            parts.html = view_of(*v);
        if (auto v = column(r, cHeaders))
            parts.headers = view_of(*v);
        return cc::pack_body(parts);
    }
    StoredBody stored;
    stored.key = view_of(*column(r, cKey));
    stored.algorithm = alg;
    const std::optional<Datum> packed = column(r, cPacked);
    stored.frame = packed ? view_of(*packed) : std::string_view();
    const std::optional<Datum> raw = column(r, cRawSize);
    stored.raw_size = raw ? DatumGetInt32(*raw) : -1;
    return std::string(decode_body_payload(stored));
}

std::size_t compressed_total(const std::vector<std::string> &samples, cc::Dictionary *dict, int level)
{
    std::size_t total = 0;
    for (const std::string &s : samples)
        total += codec().compress(s, level, dict).size();
    return total;
}

void notice(const std::string &message)
{
    pm::pg_call([&] { ereport(NOTICE, (errmsg_internal("%s", message.c_str()))); });
}

Datum train(FunctionCallInfo fcinfo)
{
    if (PG_ARGISNULL(0))
        throw pm::SqlError(ERRCODE_NULL_VALUE_NOT_ALLOWED, "tenant_id must not be NULL");
    const Datum tenant = PG_GETARG_DATUM(0);
    const std::optional<std::string_view> hint =
        PG_ARGISNULL(1) ? std::nullopt : std::optional(varlena_view(detoast_arg(fcinfo, 1)));
    const int max_samples = PG_ARGISNULL(2) ? kDefaultMaxSamples : PG_GETARG_INT32(2);
    if (max_samples < 1 || max_samples > kMaxSamplesLimit)
        throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                           "max_samples must be between 1 and " + std::to_string(kMaxSamplesLimit) +
                               ", got " + std::to_string(max_samples));
    std::optional<int> requested_bytes;
    if (!PG_ARGISNULL(3)) {
        requested_bytes = PG_GETARG_INT32(3);
        if (*requested_bytes < kMinDictionaryBytes || *requested_bytes > kMaxDictionaryBytes)
            throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                               "dictionary_bytes must be between " +
                                   std::to_string(kMinDictionaryBytes) + " and " +
                                   std::to_string(kMaxDictionaryBytes) + ", got " +
                                   std::to_string(*requested_bytes));
    }
    const bool force = !PG_ARGISNULL(4) && PG_GETARG_BOOL(4);
    const int level = pm::content_settings::compression_level;
    const std::string who = "tenant " + tenant_text(tenant_from_datum(tenant)) +
                            (hint ? ", template hint " + sk::quote_for_message(*hint) : "");

    validate_dictionary_cache();
    pm::SpiSession spi;
    const Datum hint_datum = hint ? text_datum_of(*hint) : (Datum) 0;
    {
        const Datum args[] = {tenant, hint_datum};
        const bool nulls[] = {false, !hint};
        lock_training.run(args, nulls, false);
    }

    /* Newest first: train_dictionary keeps the newest samples when it has to choose. */
    const std::size_t sample_cap =
        (requested_bytes ? static_cast<std::size_t>(*requested_bytes) : kDefaultDictionaryBytes) *
        kSampleBytesPerDictionaryByte;
    std::vector<std::string> samples;
    std::size_t sample_bytes = 0;
    {
        const Datum args[] = {tenant, hint_datum, Int32GetDatum(max_samples)};
        const bool nulls[] = {false, !hint, false};
        const uint64 rows = newest_samples.run(args, nulls, true);
        for (uint64 r = 0; r < rows && sample_bytes < sample_cap; r++) {
            samples.push_back(payload_of_row(r));
            sample_bytes += samples.back().size();
        }
    }
    if (samples.empty()) {
        notice("no bodies of " + who + " to train a dictionary from");
        PG_RETURN_NULL();
    }

    const std::size_t capacity =
        requested_bytes ? static_cast<std::size_t>(*requested_bytes) : auto_capacity(sample_bytes);
    cc::TrainedDictionary trained;
    try {
        trained = cc::train_dictionary(samples, capacity, level);
    } catch (const cc::CodecError &e) {
        notice("no dictionary for " + who + ": " + e.what());
        PG_RETURN_NULL();
    }

    std::optional<int32> current;
    {
        const Datum args[] = {tenant, hint_datum};
        const bool nulls[] = {false, !hint};
        if (current_dictionary.run(args, nulls, true) > 0)
            current = DatumGetInt32(*column(0, 1));
    }
    if (!force) {
        /* Judged on the samples it learnt from, against what new objects get now. */
        cc::Dictionary candidate(0, trained.bytes);
        cc::Dictionary *existing = current ? dictionary(static_cast<std::uint32_t>(*current)) : nullptr;
        const std::size_t with_new = compressed_total(samples, &candidate, level);
        const std::size_t with_current = compressed_total(samples, existing, level);
        if (with_new >= with_current - with_current / 50) {
            notice("kept " + (current ? "dictionary " + std::to_string(*current) : "no dictionary") +
                   " for " + who + ": a new one would store " + std::to_string(samples.size()) +
                   " recent bodies in " + std::to_string(with_new) + " bytes instead of " +
                   std::to_string(with_current));
            if (current)
                return Int32GetDatum(*current);
            PG_RETURN_NULL();
        }
    }

    const Datum args[] = {
        tenant,
        hint_datum,
        text_datum_of(trained.method),
        Int32GetDatum(static_cast<int32>(samples.size())),
        Int64GetDatum(static_cast<int64>(sample_bytes)),
        Int32GetDatum(level),
        bytea_datum(trained.bytes),
    };
    const bool nulls[] = {false, !hint, false, false, false, false, false};
    insert_dictionary.run(args, nulls, false);
    const Datum id = *column(0, 1);
    /* New objects of this backend use it from now on (others: next transaction). */
    forget_newest_dictionaries();
    return id;
}

Datum recompress(FunctionCallInfo fcinfo)
{
    const int batch = PG_ARGISNULL(1) ? 1000 : PG_GETARG_INT32(1);
    if (batch < 1)
        throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                           "batch must be a positive number, got " + std::to_string(batch));
    const int level = pm::content_settings::compression_level;

    validate_dictionary_cache();
    pm::SpiSession spi;
    const Datum args[] = {PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0), Int32GetDatum(batch)};
    const bool nulls[] = {PG_ARGISNULL(0), false};
    const uint64 rows = stale_objects.run(args, nulls, false);

    /* Everything is read before the first update replaces SPI's result set. */
    struct Rewrite {
        Datum key;
        std::string frame;
        std::uint32_t dict;
    };
    std::vector<Rewrite> rewrites;
    rewrites.reserve(rows);
    for (uint64 r = 0; r < rows; r++) {
        const auto dict_id = static_cast<std::uint32_t>(DatumGetInt32(*column(r, cNewest)));
        const Datum key = *column(r, cKey);
        const std::string payload = payload_of_row(r);
        /* Loading a dictionary leaves this result set in place (see dictionary()). */
        cc::Dictionary *dict = dictionary(dict_id);
        if (dict == nullptr)
            continue;
        rewrites.push_back({key, codec().compress(payload, level, dict), dict_id});
    }
    for (const Rewrite &w : rewrites) {
        const Datum up[] = {
            w.key,
            bytea_datum(w.frame),
            Int32GetDatum(static_cast<int32>(w.dict)),
            text_datum_of("zstd-dict:" + std::to_string(w.dict)),
            Int32GetDatum(static_cast<int32>(w.frame.size())),
        };
        const bool no_null[] = {false, false, false, false, false};
        rewrite_object.run(up, no_null, false);
    }
    return Int32GetDatum(static_cast<int32>(rewrites.size()));
}

} // namespace

extern "C" {

/* pm_content.train_dictionary(tenant_id, template_hint, max_samples, dictionary_bytes, force) */
Datum pm_content_train_dictionary(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum { return train(fcinfo); });
}

/* pm_content.recompress(tenant_id, batch) */
Datum pm_content_recompress(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum { return recompress(fcinfo); });
}

} // extern "C"
