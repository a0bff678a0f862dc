/*
 * content_attachments.cpp — pm_content.put_attachment and unpack_blob.
 *
 * Bytes live once per (tenant, bytes) in attachment_blobs, keyed by
 * pm.storage_key(tenant, 'att', bytes); an attachment row references its blob.
 * A put that finds the blob only refreshes last_referenced_at when it is older
 * than the touch interval, which is what keeps pm_content.collect_blobs (guard:
 * one hour) from deleting a blob between this put's lookup and its insert.
 */
#include "content/glue.h"
#include "content/settings.h"

extern "C" {
#include "catalog/pg_type.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(pm_content_put_attachment);
PG_FUNCTION_INFO_V1(pm_content_unpack_blob);
}

namespace sk = pm::storage_key;
namespace cc = pm::content;
using namespace pm::content_glue;

namespace {

Statement find_parent(R"SQL(
SELECT o.tenant_id FROM pm_content.content_objects o
 WHERE o.storage_key = $1 AND (o.expires_at IS NULL OR o.expires_at > now())
)SQL",
                      {TEXTOID});

Statement find_blob(R"SQL(
SELECT b.last_referenced_at < now() - interval '10 minutes'
  FROM pm_content.attachment_blobs b WHERE b.storage_key = $1
)SQL",
                    {TEXTOID});

Statement touch_blob(
    "UPDATE pm_content.attachment_blobs SET last_referenced_at = now() WHERE storage_key = $1",
    {TEXTOID});

Statement insert_blob(R"SQL(
INSERT INTO pm_content.attachment_blobs
    (storage_key, tenant_id, size_bytes, compression_algorithm, stored_size_bytes, content)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (storage_key) DO NOTHING
)SQL",
                      {TEXTOID, UUIDOID, INT4OID, TEXTOID, INT4OID, BYTEAOID});

Statement insert_attachment(R"SQL(
INSERT INTO pm_content.attachments
    (parent_storage_key, filename, mime_type, size_bytes, storage_disposition, tenant_id, blob_key)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT ON CONSTRAINT attachments_identity_key DO NOTHING
RETURNING id
)SQL",
                            {TEXTOID, TEXTOID, TEXTOID, INT4OID, TEXTOID, UUIDOID, TEXTOID});

Statement find_attachment(R"SQL(
SELECT a.id FROM pm_content.attachments a
 WHERE a.parent_storage_key = $1 AND a.blob_key = $2 AND a.filename = $3
   AND a.mime_type = $4 AND a.storage_disposition = $5
)SQL",
                          {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID});

/* SPI's memory goes at SPI_finish: the returned uuid must live in the caller's. */
Datum transfer_uuid(Datum id)
{
    Datum out = (Datum) 0;
    pm::pg_call([&] { out = SPI_datumTransfer(id, false, 16); });
    return out;
}

void require_not_null(FunctionCallInfo fcinfo, int n, const char *name)
{
    if (PG_ARGISNULL(n))
        throw pm::SqlError(ERRCODE_NULL_VALUE_NOT_ALLOWED,
                           std::string(name) + " must not be NULL");
}

/* Makes sure the blob exists and cannot be collected before this transaction
 * references it; compresses only when it has to be stored. */
void ensure_blob(const Datum blob_key, const Datum tenant, std::string_view bytes)
{
    for (int attempt = 0; attempt < 4; attempt++) {
        const bool no_null[] = {false, false, false, false, false, false};
        if (find_blob.run(&blob_key, no_null, false) > 0) {
            const bool stale = DatumGetBool(column(0, 1).value_or(BoolGetDatum(true)));
            if (!stale || touch_blob.run(&blob_key, no_null, false) > 0)
                return;
            /* Collected between the lookup and the touch: store it again. */
        }
        std::string frame;
        try {
            frame = codec().compress(bytes, pm::content_settings::compression_level);
        } catch (const cc::CodecError &e) {
            throw pm::SqlError(ERRCODE_INTERNAL_ERROR,
                               "could not compress attachment bytes: " + std::string(e.what()));
        }
        /* Images, PDFs and archives are compressed already: keep those as they are. */
        const bool plain = frame.size() >= bytes.size();
        const std::string_view stored = plain ? bytes : std::string_view(frame);
        const Datum args[] = {
            blob_key,
            tenant,
            Int32GetDatum(static_cast<int32>(bytes.size())),
            text_datum_of(plain ? "none" : "zstd"),
            Int32GetDatum(static_cast<int32>(stored.size())),
            bytea_datum(stored),
        };
        if (insert_blob.run(args, no_null, false) > 0)
            return;
        /* A concurrent put stored the same bytes first: the next round finds them. */
    }
    throw pm::SqlError(ERRCODE_T_R_SERIALIZATION_FAILURE,
                       "attachment bytes keep disappearing while they are put", {},
                       "Retry the transaction.");
}

Datum put_attachment(FunctionCallInfo fcinfo)
{
    require_not_null(fcinfo, 0, "parent_storage_key");
    require_not_null(fcinfo, 1, "filename");
    require_not_null(fcinfo, 2, "mime_type");
    require_not_null(fcinfo, 3, "content");
    require_not_null(fcinfo, 4, "disposition");

    const Datum parent_datum = PG_GETARG_DATUM(0);
    const std::string_view parent = varlena_view(detoast_arg(fcinfo, 0));
    const sk::Key key = parse_key(parent);
    if (key.kind != sk::Kind::body)
        throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                           "parent_storage_key must be a body key (pmk1.body...), not of kind " +
                               std::string(sk::kind_name(key.kind)),
                           "key: " + sk::quote_for_message(parent, 120));
    require_context_allows(key.tenant, "parent_storage_key " + sk::quote_for_message(parent, 120));

    const std::string_view disposition = varlena_view(detoast_arg(fcinfo, 4));
    if (disposition != "inline" && disposition != "attachment")
        throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                           "disposition must be 'inline' or 'attachment', got " +
                               sk::quote_for_message(disposition));

    const std::string_view bytes = varlena_view(detoast_arg(fcinfo, 3));
    if (bytes.size() > static_cast<std::size_t>(pm::content_settings::max_object_bytes))
        throw pm::SqlError(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                           "attachment of " + std::to_string(bytes.size()) +
                               " bytes exceeds pm_content.max_object_bytes (" +
                               std::to_string(pm::content_settings::max_object_bytes) + ")",
                           {}, "Nothing was stored.");

    pm::SpiSession spi;
    const bool no_null[] = {false, false, false, false, false, false, false};
    if (find_parent.run(&parent_datum, no_null, false) == 0)
        throw pm::SqlError(ERRCODE_FOREIGN_KEY_VIOLATION,
                           "parent body " + sk::quote_for_message(parent, 120) + " does not exist",
                           {}, "Put the body with pm_content.put_body() first.");
    /* Out of the result set: the statements below replace it. */
    const Datum tenant = uuid_datum(tenant_from_datum(*column(0, 1)));

    const Datum blob_key = text_datum_of(attachment_key(tenant, PG_GETARG_DATUM(3)));
    ensure_blob(blob_key, tenant, bytes);

    const Datum args[] = {
        parent_datum,      PG_GETARG_DATUM(1), PG_GETARG_DATUM(2),
        Int32GetDatum(static_cast<int32>(bytes.size())),
        PG_GETARG_DATUM(4), tenant,            blob_key,
    };
    if (insert_attachment.run(args, no_null, false) > 0)
        return transfer_uuid(*column(0, 1));
    /* The same file is attached to this body already: that row is the answer. */
    const Datum find_args[] = {parent_datum, blob_key, PG_GETARG_DATUM(1), PG_GETARG_DATUM(2),
                               PG_GETARG_DATUM(4)};
    if (find_attachment.run(find_args, no_null, false) == 0)
        throw pm::SqlError(ERRCODE_T_R_SERIALIZATION_FAILURE,
                           "attachment of " + sk::quote_for_message(parent, 120) +
                               " conflicts with a row this transaction cannot see",
                           {}, "Retry the transaction.");
    return transfer_uuid(*column(0, 1));
}

} // namespace

extern "C" {

/* pm_content.put_attachment(parent_storage_key, filename, mime_type, content, disposition) */
Datum pm_content_put_attachment(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        return put_attachment(fcinfo);
    });
}

/* pm_content.unpack_blob(storage_key, compression_algorithm, content, size_bytes) */
Datum pm_content_unpack_blob(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        if (PG_ARGISNULL(2))
            PG_RETURN_NULL();
        const std::string_view alg =
            PG_ARGISNULL(1) ? std::string_view() : varlena_view(detoast_arg(fcinfo, 1));
        const std::string_view key =
            PG_ARGISNULL(0) ? std::string_view() : varlena_view(detoast_arg(fcinfo, 0));
        const std::string_view stored = varlena_view(detoast_arg(fcinfo, 2));
        const std::int64_t size = PG_ARGISNULL(3) ? -1 : PG_GETARG_INT32(3);
        const std::string detail = "compression_algorithm " + std::string(alg) + ", " +
                                   std::to_string(stored.size()) + " stored bytes, size_bytes " +
                                   std::to_string(size);
        try {
            if (alg == "none") {
                if (static_cast<std::int64_t>(stored.size()) != size)
                    throw cc::CodecError(cc::CodecErrorKind::size_mismatch,
                                         "stored " + std::to_string(stored.size()) +
                                             " bytes, size_bytes says " + std::to_string(size));
                return PG_GETARG_DATUM(2);
            }
            if (alg != "zstd")
                throw cc::CodecError(cc::CodecErrorKind::unknown_codec,
                                     "unknown compression_algorithm " +
                                         sk::quote_for_message(alg));
            const cc::FrameInfo info = cc::inspect_frame(stored);
            if (info.has_dictionary)
                throw cc::CodecError(cc::CodecErrorKind::frame_header,
                                     "attachment frame names a dictionary");
            const std::string bytes =
                codec().decompress(stored, size < 0 ? 0 : static_cast<std::size_t>(size));
            if (static_cast<std::int64_t>(bytes.size()) != size)
                throw cc::CodecError(cc::CodecErrorKind::size_mismatch,
                                     "decoded " + std::to_string(bytes.size()) +
                                         " bytes, size_bytes says " + std::to_string(size));
            return bytea_datum(bytes);
        } catch (const cc::CodecError &e) {
            raise_undecodable("attachment blob", key, e, detail);
        }
    });
}

} // extern "C"
