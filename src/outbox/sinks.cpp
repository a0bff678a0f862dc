/*
 * sinks.cpp — the per-backend cache of sink filters (see sinks.h), the check of a sink row
 * and pm.outbox_wants().
 */
#include "outbox/sinks.h"
#include "outbox/pure/sink_filter.h"
#include "outbox/pure/sink_url.h"
#include "shared/direct_write.h"

extern "C" {
#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "commands/trigger.h"
#include "catalog/pg_type_d.h"
#include "utils/array.h"
#include "utils/inval.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(pm_outbox_check_sink);
PG_FUNCTION_INFO_V1(pm_outbox_sinks_changed);
PG_FUNCTION_INFO_V1(pm_outbox_wants);
}

#include <sstream>

namespace pm::outbox {

namespace {

struct Cache {
    bool owner_known = false;
    bool sinks_loaded = false;
    bool callback_registered = false;
    Oid sinks_relid = InvalidOid;
    Oid owner = InvalidOid;
    std::vector<SinkFilter> sinks;
};

Cache cache;

void forget(Datum, Oid relid)
{
    if (relid == InvalidOid || relid == cache.sinks_relid) {
        cache.owner_known = false;
        cache.sinks_loaded = false;
    }
}

void learn_owner()
{
    if (!cache.callback_registered) {
        CacheRegisterRelcacheCallback(forget, (Datum) 0);
        cache.callback_registered = true;
    }
    Oid relid = InvalidOid, owner = InvalidOid;
    pg_call([&] {
        relid = pm::direct::relation_oid("pm", "outbox_sinks");
        if (OidIsValid(relid)) {
            HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
            if (HeapTupleIsValid(tuple)) {
                owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
                ReleaseSysCache(tuple);
            }
        }
    });
    cache.sinks_relid = relid;
    cache.owner = owner;
    cache.owner_known = true;
    cache.sinks_loaded = false;
}

std::vector<std::string> split(const std::string &text)
{
    std::vector<std::string> parts;
    std::string part;
    std::istringstream in(text);
    while (std::getline(in, part, ','))
        parts.push_back(part);
    return parts;
}

std::string column_text(HeapTuple tuple, TupleDesc desc, const char *column)
{
    char *value = nullptr;
    pg_call([&] {
        int attnum = SPI_fnumber(desc, column);
        value = attnum > 0 ? SPI_getvalue(tuple, desc, attnum) : nullptr;
    });
    return value ? std::string(value) : std::string();
}

[[noreturn]] void bad_sink(const std::string &message, const std::string &hint = {})
{
    throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE, message, {}, hint);
}

} // namespace

Oid outbox_owner()
{
    if (!cache.owner_known)
        learn_owner();
    return cache.owner;
}

const std::vector<SinkFilter> &cached_sinks()
{
    if (!cache.owner_known)
        learn_owner();
    if (cache.sinks_loaded)
        return cache.sinks;
    std::vector<SinkFilter> sinks;
    if (OidIsValid(cache.sinks_relid)) {
        SpiSession spi;
        uint64 rows = spi.execute("SELECT name, events IS NULL, array_to_string(events, ',')"
                                  "  FROM pm.outbox_sinks ORDER BY name",
                                  true);
        for (uint64 row = 0; row < rows; row++) {
            SinkFilter sink;
            sink.name = spi.value(row, 1).value_or("");
            if (!is_true(spi.value(row, 2)))
                sink.events = split(spi.value(row, 3).value_or(""));
            sinks.push_back(std::move(sink));
        }
    }
    cache.sinks = std::move(sinks);
    cache.sinks_loaded = true;
    return cache.sinks;
}

OwnerScope::OwnerScope(Oid owner)
{
    GetUserIdAndSecContext(&saved_user_, &saved_context_);
    if (OidIsValid(owner))
        SetUserIdAndSecContext(owner, saved_context_ | SECURITY_LOCAL_USERID_CHANGE);
}

OwnerScope::~OwnerScope()
{
    SetUserIdAndSecContext(saved_user_, saved_context_);
}

} // namespace pm::outbox

using namespace pm::outbox;

/* BEFORE INSERT OR UPDATE on pm.outbox_sinks: what the CHECK constraints cannot say. */
extern "C" Datum pm_outbox_check_sink(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        if (!CALLED_AS_TRIGGER(fcinfo))
            throw pm::SqlError(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
                               "pm._outbox_check_sink() must be called as a trigger");
        auto *trigger = reinterpret_cast<TriggerData *>(fcinfo->context);
        HeapTuple row = TRIGGER_FIRED_BY_UPDATE(trigger->tg_event) ? trigger->tg_newtuple
                                                                    : trigger->tg_trigtuple;
        TupleDesc desc = trigger->tg_relation->rd_att;

        std::string name = column_text(row, desc, "name");
        if (std::string problem = sink_name_problem(name); !problem.empty())
            bad_sink("invalid outbox sink name \"" + name + "\": " + problem);

        std::string kind_text = column_text(row, desc, "kind");
        SinkKind kind;
        try {
            kind = parse_sink_kind(kind_text);
        } catch (const std::invalid_argument &e) {
            bad_sink(std::string("outbox sink \"") + name + "\": " + e.what());
        }
        try {
            (void) sink_endpoint(kind, column_text(row, desc, "url"));
        } catch (const SinkUrlError &e) {
            bad_sink(std::string("outbox sink \"") + name + "\": " + e.what(),
                     "A sink URL is http(s)://host[:port][/path]; without a path the kind's "
                     "standard one is used.");
        }

        char **texts = nullptr;
        int count = 0;
        bool has_events = false;
        pm::pg_call([&] {
            bool isnull = true;
            Datum array = heap_getattr(row, SPI_fnumber(desc, "events"), desc, &isnull);
            if (isnull)
                return;
            has_events = true;
            Datum *elems;
            bool *nulls;
            deconstruct_array(DatumGetArrayTypeP(array), TEXTOID, -1, false, TYPALIGN_INT, &elems,
                              &nulls, &count);
            texts = static_cast<char **>(palloc0(sizeof(char *) * (count + 1)));
            for (int i = 0; i < count; i++)
                texts[i] = nulls[i] ? pstrdup("") : TextDatumGetCString(elems[i]);
        });
        std::vector<std::string> entries(texts, texts + count);
        if (has_events && entries.empty())
            bad_sink("outbox sink \"" + name + "\": events is an empty list, which accepts nothing",
                     "Use NULL for every event, or name the events.");
        for (const std::string &entry : entries)
            if (std::string problem = filter_entry_problem(entry); !problem.empty())
                bad_sink("outbox sink \"" + name + "\": invalid events entry \"" + entry +
                             "\": " + problem,
                         "Entries are event names or prefixes ending in *, such as job_* or email_*.");
        return PointerGetDatum(row);
    });
}

/* AFTER ... FOR EACH STATEMENT on pm.outbox_sinks: every backend reloads its filters. */
extern "C" Datum pm_outbox_sinks_changed(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        if (!CALLED_AS_TRIGGER(fcinfo))
            throw pm::SqlError(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
                               "pm._outbox_sinks_changed() must be called as a trigger");
        auto *trigger = reinterpret_cast<TriggerData *>(fcinfo->context);
        pm::pg_call([&] { CacheInvalidateRelcache(trigger->tg_relation); });
        return PointerGetDatum(nullptr);
    });
}

extern "C" Datum pm_outbox_wants(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        std::string event = pm::to_string(PG_GETARG_TEXT_PP(0));
        OwnerScope as_owner(outbox_owner());
        for (const SinkFilter &sink : cached_sinks())
            if (accepts(sink.events, event))
                return BoolGetDatum(true);
        return BoolGetDatum(false);
    });
}
