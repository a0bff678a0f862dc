/*
 * log_event.cpp — pm.log_event(): one outbox row per sink that wants the event, written in
 * the caller's transaction (so the event exists exactly when the caller's change commits)
 * with an INSERT planned once per backend.  No network, no lock beyond the insert's own:
 * logging never waits for a sink.
 */
#include "outbox/settings.h"
#include "outbox/sinks.h"
#include "outbox/pure/event_format.h"
#include "outbox/pure/sink_filter.h"
#include "core/tenant_context.h"
#include "shared/pure/uuid_text.h"

extern "C" {
#include "catalog/pg_authid.h"
#include "catalog/pg_type_d.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(pm_log_event);
}

#include <cstring>

namespace {

using namespace pm::outbox;

pm::KeptStatement insert_event(
    "INSERT INTO pm.outbox (sink, event_id, level, event, tenant_id, distinct_id, properties)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7)",
    {TEXTOID, UUIDOID, TEXTOID, TEXTOID, UUIDOID, TEXTOID, JSONBOID});

[[noreturn]] void bad_argument(const std::string &message, const std::string &hint = {})
{
    throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE, message, {}, hint);
}

/* A tenant's session may log only its own tenant's events; staff and services (BYPASSRLS)
 * log for any tenant. */
void check_tenant(const pg_uuid_t *tenant)
{
    if (tenant == nullptr || superuser() || has_bypassrls_privilege(GetUserId()))
        return;
    const char *current = GetConfigOption(pm::kTenantSetting, true, false);
    if (current == nullptr || *current == '\0')
        return;
    auto parsed = pm::parse_uuid(current);
    if (parsed && std::memcmp(parsed->data(), tenant->data, UUID_LEN) == 0)
        return;
    pm::UuidBytes given;
    std::memcpy(given.data(), tenant->data, UUID_LEN);
    throw pm::SqlError(ERRCODE_INSUFFICIENT_PRIVILEGE,
                       "pm.log_event: tenant_id " + pm::format_uuid(given) +
                           " is not the current tenant " + current,
                       {}, "A tenant session logs events of its own tenant only.");
}

} // namespace

extern "C" Datum pm_log_event(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        if (PG_ARGISNULL(0))
            throw pm::SqlError(ERRCODE_NULL_VALUE_NOT_ALLOWED, "pm.log_event: event must not be NULL");
        std::string event = pm::to_string(PG_GETARG_TEXT_PP(0));
        if (std::string problem = event_name_problem(event); !problem.empty())
            bad_argument("invalid event name \"" + event.substr(0, 250) + "\": " + problem);

        Datum properties = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
        if (properties == (Datum) 0) {
            pm::pg_call([&] {
                properties = DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
            });
        } else {
            Jsonb *doc = nullptr;
            pm::pg_call([&] { doc = PG_GETARG_JSONB_P(1); });
            properties = PointerGetDatum(doc);
            std::size_t bytes = VARSIZE(doc) - VARHDRSZ;
            if (bytes > static_cast<std::size_t>(max_event_bytes))
                throw pm::SqlError(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                                   "properties of event \"" + event + "\" take " +
                                       std::to_string(bytes) + " bytes; pm.outbox_max_event_bytes allows " +
                                       std::to_string(max_event_bytes),
                                   {}, "Log an id and keep the document in a table.");
            if (!JB_ROOT_IS_OBJECT(doc) || JB_ROOT_IS_SCALAR(doc))
                bad_argument("properties of event \"" + event + "\" must be a JSON object");
        }

        std::string level = PG_ARGISNULL(2) ? "info" : pm::to_string(PG_GETARG_TEXT_PP(2));
        if (!is_valid_level(level))
            bad_argument("invalid event level \"" + level.substr(0, 100) +
                         "\"; expected debug, info, warn, error or critical");

        std::optional<std::string> only_sink;
        if (!PG_ARGISNULL(3))
            only_sink = pm::to_string(PG_GETARG_TEXT_PP(3));
        const pg_uuid_t *tenant = PG_ARGISNULL(4) ? nullptr : PG_GETARG_UUID_P(4);
        check_tenant(tenant);
        Datum distinct = (Datum) 0;
        if (!PG_ARGISNULL(5)) {
            std::string_view d = pm::to_string_view(PG_GETARG_TEXT_PP(5));
            if (d.empty() || d.size() > 200)
                bad_argument("distinct_id must have 1 to 200 characters (got " +
                             std::to_string(d.size()) + ")");
            distinct = PG_GETARG_DATUM(5);
        }

        Datum event_id = (Datum) 0;
        pm::pg_call([&] { event_id = DirectFunctionCall1(gen_random_uuid, (Datum) 0); });

        Oid owner = outbox_owner();
        if (!OidIsValid(owner))
            throw pm::SqlError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                               "the event outbox is not installed in this database",
                               {}, "ALTER EXTENSION pm_core UPDATE (0.5 or later).");
        OwnerScope as_owner(owner);
        pm::SpiSession spi;
        bool sink_found = false;
        for (const SinkFilter &sink : cached_sinks()) {
            if (only_sink ? sink.name != *only_sink : !accepts(sink.events, event))
                continue;
            sink_found = true;
            Datum values[7] = {pm::text_datum(sink.name), event_id, pm::text_datum(level),
                               pm::text_datum(event), tenant ? UUIDPGetDatum(tenant) : (Datum) 0,
                               distinct, properties};
            bool nulls[7] = {false, false, false, false, tenant == nullptr, distinct == (Datum) 0,
                             false};
            insert_event.run(values, nulls);
        }
        if (only_sink && !sink_found)
            throw pm::SqlError(ERRCODE_UNDEFINED_OBJECT,
                               "outbox sink \"" + only_sink->substr(0, 100) + "\" does not exist",
                               {}, "SELECT name FROM pm.outbox_sinks lists the sinks.");
        return event_id;
    });
}
