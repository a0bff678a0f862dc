/*
 * settings.cpp — the outbox settings.  The database list is read once at server start (one
 * background worker per database is registered then); the rest take effect on reload.
 */
#include "shared/boundary.h"
#include "outbox/settings.h"

extern "C" {
#include "miscadmin.h"
#include "utils/guc.h"
}

namespace pm::outbox {

int max_event_bytes = 65536;
char *databases = nullptr;
int naptime_ms = 200;
char *service_name = nullptr;
int retry_base_ms = 1000;
int retry_max_ms = 300000;

void define_settings()
{
    DefineCustomIntVariable(
        "pm.outbox_max_event_bytes", "Largest properties document pm.log_event() accepts.",
        "Larger events are refused with SQLSTATE 54000, so one runaway producer cannot fill the "
        "outbox or a sink's request limit.",
        &max_event_bytes, 65536, 256, 1048576, PGC_SUSET, GUC_UNIT_BYTE, nullptr, nullptr, nullptr);
    /* Read once, when the postmaster preloads the library and registers the workers.  A
     * backend that loads the library later may not define a postmaster setting (FATAL);
     * there it is a reload setting that nothing reads. */
    DefineCustomStringVariable(
        "pm.outbox_databases", "Databases in which the outbox shipper worker runs.",
        "Comma-separated; needs penguinmails in shared_preload_libraries and a restart. Empty: "
        "no worker (ship with pm.ship_outbox() or pg_cron).",
        &databases, "",
        process_shared_preload_libraries_in_progress ? PGC_POSTMASTER : PGC_SIGHUP, 0, nullptr,
        nullptr, nullptr);
    DefineCustomIntVariable(
        "pm.outbox_naptime", "How long the shipper worker sleeps when nothing is due.", nullptr,
        &naptime_ms, 200, 10, 60000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr, nullptr);
    DefineCustomStringVariable(
        "pm.outbox_service", "Service name the outbox gives sinks (Loki label, OTLP service.name).",
        nullptr, &service_name, "penguinmails", PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "pm.outbox_retry_base", "First delay before a sink that failed is tried again.",
        "Doubles per consecutive failure up to pm.outbox_retry_max, with ±25 % jitter.",
        &retry_base_ms, 1000, 10, 3600000, PGC_SUSET, GUC_UNIT_MS, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "pm.outbox_retry_max", "Longest delay between two tries of a failing sink.", nullptr,
        &retry_max_ms, 300000, 10, 86400000, PGC_SUSET, GUC_UNIT_MS, nullptr, nullptr, nullptr);
}

} // namespace pm::outbox
