/* settings.h — the pm.outbox_* settings (defined by module.cpp at library load). */
#pragma once

namespace pm::outbox {

extern int max_event_bytes;      /* pm.outbox_max_event_bytes */
extern char *databases;          /* pm.outbox_databases: where the shipper worker runs */
extern int naptime_ms;           /* pm.outbox_naptime */
extern char *service_name;       /* pm.outbox_service: Loki label, OTLP service.name */
extern int retry_base_ms;        /* pm.outbox_retry_base */
extern int retry_max_ms;         /* pm.outbox_retry_max */

void define_settings();

/* Registers one shipper worker per database of pm.outbox_databases (preload only). */
void register_workers();

} // namespace pm::outbox
