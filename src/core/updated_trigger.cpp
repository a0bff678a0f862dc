/*
 * updated_trigger.cpp — pm.touch_updated(): BEFORE UPDATE row trigger that keeps
 * a timestamptz column (TG_ARGV[0], default "updated") at now().  Incremental
 * rollups read rows by that column, so it must not depend on callers remembering.
 */
#include "shared/boundary.h"

extern "C" {
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(pm_touch_updated);
}

extern "C" Datum pm_touch_updated(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        if (!CALLED_AS_TRIGGER(fcinfo))
            throw pm::SqlError(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
                               "pm.touch_updated() must be called as a trigger");
        auto *trigger = reinterpret_cast<TriggerData *>(fcinfo->context);
        if (!TRIGGER_FIRED_BEFORE(trigger->tg_event) || !TRIGGER_FIRED_FOR_ROW(trigger->tg_event) ||
            !TRIGGER_FIRED_BY_UPDATE(trigger->tg_event))
            throw pm::SqlError(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
                               "pm.touch_updated() must be a BEFORE UPDATE FOR EACH ROW trigger");

        const char *column =
            trigger->tg_trigger->tgnargs > 0 ? trigger->tg_trigger->tgargs[0] : "updated";
        TupleDesc desc = trigger->tg_relation->rd_att;
        int attnum = 0;
        pm::pg_call([&] { attnum = SPI_fnumber(desc, column); });
        if (attnum <= 0)
            throw pm::SqlError(ERRCODE_UNDEFINED_COLUMN,
                               std::string("pm.touch_updated(): column \"") + column +
                                   "\" does not exist on table " +
                                   RelationGetRelationName(trigger->tg_relation));
        if (TupleDescAttr(desc, attnum - 1)->atttypid != TIMESTAMPTZOID)
            throw pm::SqlError(ERRCODE_DATATYPE_MISMATCH,
                               std::string("pm.touch_updated(): column \"") + column +
                                   "\" must be timestamptz");

        Datum now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
        bool is_null = false;
        HeapTuple result = nullptr;
        pm::pg_call([&] {
            result = heap_modify_tuple_by_cols(trigger->tg_newtuple, desc, 1, &attnum, &now,
                                               &is_null);
        });
        return PointerGetDatum(result);
    });
}
