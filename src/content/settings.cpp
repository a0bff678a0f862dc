/* content_settings.cpp — see content_settings.h. */
#include "content/settings.h"

#include "shared/boundary.h"
#include "content/pure/content_codec.h"

#include <climits>

extern "C" {
#include "utils/guc.h"
}

namespace pm {

namespace content_settings {
/* 32 MB: several times what mail providers accept in one message (25 MB), so the
 * limit stops accidents (a whole mailbox export put as one body), not mail. */
int max_object_bytes = 32 * 1024 * 1024;
int compression_level = 3;
int dictionary_cache_kb = 64 * 1024;
} // namespace content_settings

void content_define_settings()
{
    /* SUSET: the limit protects the content database from its callers, so a
     * caller must not be able to raise it for itself. */
    DefineCustomIntVariable(
        "pm_content.max_object_bytes",
        "Largest body (text + html + headers) or attachment pm_content accepts.",
        "Bigger puts fail with SQLSTATE 54000 and store nothing.",
        &content_settings::max_object_bytes, content_settings::max_object_bytes, 1,
        static_cast<int>(pm::content::kMaxContentSize) - 64, PGC_SUSET, GUC_UNIT_BYTE, nullptr,
        nullptr, nullptr);

    DefineCustomIntVariable(
        "pm_content.compression_level",
        "zstd compression level for new content objects, attachments and dictionaries.",
        "Existing objects keep the level they were written with; higher is smaller and slower.",
        &content_settings::compression_level, content_settings::compression_level,
        pm::content::min_level(), pm::content::max_level(), PGC_USERSET, 0, nullptr, nullptr,
        nullptr);

    DefineCustomIntVariable(
        "pm_content.dictionary_cache_size",
        "Memory each backend may keep for loaded compression dictionaries.",
        "Least recently used dictionaries are dropped beyond it and reloaded when needed.",
        &content_settings::dictionary_cache_kb, content_settings::dictionary_cache_kb, 1024,
        INT_MAX / 1024, PGC_USERSET, GUC_UNIT_KB, nullptr, nullptr, nullptr);

    MarkGUCPrefixReserved("pm_content");
}

} // namespace pm
