/* content_settings.h — the pm_content.* settings (docs/content.md). */
#pragma once

namespace pm {

/* Registers every pm_content.* setting and reserves the prefix; called once, from
 * _PG_init (a value SET before the library was loaded is taken over then). */
void content_define_settings();

namespace content_settings {

/* Largest body (text + html + headers bytes) or attachment accepted, in bytes. */
extern int max_object_bytes;
/* zstd level for new objects and dictionaries. */
extern int compression_level;
/* Memory budget of the per-backend dictionary cache, in kB. */
extern int dictionary_cache_kb;

} // namespace content_settings
} // namespace pm
