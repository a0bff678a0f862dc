/*
 * engagement.cpp — SQL glue of pm.engagement (aggregate) and pm.health_score.
 *
 * The maths is core/pure/engagement.cpp.  The aggregate's state is an `internal` Totals
 * allocated in the aggregate's memory context; serialize/deserialize/combine let
 * PostgreSQL run it in parallel plans (partial states from workers merge by addition).
 */
#include "shared/boundary.h"
#include "core/pure/engagement.h"

extern "C" {
#include "access/htup_details.h"
#include "funcapi.h"
#include "utils/numeric.h"

PG_FUNCTION_INFO_V1(pm_engagement_step);
PG_FUNCTION_INFO_V1(pm_engagement_combine);
PG_FUNCTION_INFO_V1(pm_engagement_serialize);
PG_FUNCTION_INFO_V1(pm_engagement_deserialize);
PG_FUNCTION_INFO_V1(pm_engagement_final);
PG_FUNCTION_INFO_V1(pm_health_score);
}

#include <new>
#include <stdexcept>

namespace eg = pm::engagement;

namespace {

MemoryContext aggregate_context(FunctionCallInfo fcinfo, const char *fn)
{
    MemoryContext agg = nullptr;
    if (!AggCheckCallContext(fcinfo, &agg))
        throw pm::SqlError(ERRCODE_FEATURE_NOT_SUPPORTED,
                           std::string(fn) + " called outside an aggregate");
    return agg;
}

eg::Totals *new_state(MemoryContext agg)
{
    void *mem = nullptr;
    pm::pg_call([&] { mem = MemoryContextAllocZero(agg, sizeof(eg::Totals)); });
    return new (mem) eg::Totals(); /* trivially destructible: freed with the context */
}

/* Numbers the caller's data got wrong become 22003/22023, not internal errors. */
template <typename Fn>
void as_sql_errors(Fn &&fn)
{
    try {
        fn();
    } catch (const std::overflow_error &e) {
        throw pm::SqlError(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, e.what());
    } catch (const std::invalid_argument &e) {
        throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE, e.what());
    }
}

} // namespace

static_assert(std::is_trivially_destructible<eg::Totals>::value,
              "aggregate states are freed with their memory context");

extern "C" Datum pm_engagement_step(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        MemoryContext agg = aggregate_context(fcinfo, "pm.engagement");
        eg::Totals *state = PG_ARGISNULL(0) ? new_state(agg)
                                            : reinterpret_cast<eg::Totals *>(PG_GETARG_POINTER(0));
        std::array<std::optional<std::int64_t>, eg::kCounterCount> row;
        for (std::size_t i = 0; i < eg::kCounterCount; ++i)
            if (!PG_ARGISNULL(i + 1))
                row[i] = PG_GETARG_INT64(i + 1);
        as_sql_errors([&] { state->add(row); });
        PG_RETURN_POINTER(state);
    });
}

extern "C" Datum pm_engagement_combine(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        MemoryContext agg = aggregate_context(fcinfo, "pm.engagement");
        if (PG_ARGISNULL(1))
            return PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0);
        auto *other = reinterpret_cast<eg::Totals *>(PG_GETARG_POINTER(1));
        eg::Totals *state = PG_ARGISNULL(0) ? new_state(agg)
                                            : reinterpret_cast<eg::Totals *>(PG_GETARG_POINTER(0));
        as_sql_errors([&] { state->merge(*other); });
        PG_RETURN_POINTER(state);
    });
}

extern "C" Datum pm_engagement_serialize(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        aggregate_context(fcinfo, "pm.engagement");
        auto *state = reinterpret_cast<eg::Totals *>(PG_GETARG_POINTER(0));
        bytea *out = nullptr;
        pm::pg_call([&] { out = (bytea *) palloc(VARHDRSZ + eg::kSerializedSize); });
        SET_VARSIZE(out, VARHDRSZ + eg::kSerializedSize);
        eg::serialize(*state, reinterpret_cast<unsigned char *>(VARDATA(out)));
        PG_RETURN_BYTEA_P(out);
    });
}

extern "C" Datum pm_engagement_deserialize(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        MemoryContext agg = aggregate_context(fcinfo, "pm.engagement");
        bytea *in = PG_GETARG_BYTEA_PP(0);
        eg::Totals *state = new_state(agg);
        as_sql_errors([&] {
            *state = eg::deserialize(std::string_view(VARDATA_ANY(in), VARSIZE_ANY_EXHDR(in)));
        });
        PG_RETURN_POINTER(state);
    });
}

/* Totals and rates as pm.engagement_totals; an aggregate over no rows gives zeros. */
extern "C" Datum pm_engagement_final(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        eg::Totals empty;
        const eg::Totals &t =
            PG_ARGISNULL(0) ? empty : *reinterpret_cast<eg::Totals *>(PG_GETARG_POINTER(0));
        eg::Rates r = eg::rates(t);
        const std::optional<double> rates[] = {r.delivery, r.bounce, r.open, r.click,
                                               r.reply, r.unsubscribe, r.complaint};
        constexpr int natts = eg::kCounterCount + 7;
        Datum values[natts];
        bool nulls[natts] = {};
        for (std::size_t i = 0; i < eg::kCounterCount; ++i)
            values[i] = Int64GetDatum(t.sums[i]);
        for (int i = 0; i < 7; ++i) {
            nulls[eg::kCounterCount + i] = !rates[i];
            values[eg::kCounterCount + i] = rates[i] ? Float8GetDatum(*rates[i]) : (Datum) 0;
        }
        Datum result = (Datum) 0;
        pm::pg_call([&] {
            TupleDesc desc;
            if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
                elog(ERROR, "pm.engagement: the final function must return a row type");
            desc = BlessTupleDesc(desc);
            if (desc->natts != natts)
                elog(ERROR, "pm.engagement_totals has %d columns, expected %d", desc->natts, natts);
            result = HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
        });
        return result;
    });
}

/* pm.health_score(sent, delivered, bounced, complaints, replied, warmup_progress) */
extern "C" Datum pm_health_score(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        eg::HealthInputs in;
        std::int64_t *counts[] = {&in.sent, &in.delivered, &in.bounced, &in.complaints,
                                  &in.replied};
        for (int i = 0; i < 5; ++i)
            *counts[i] = PG_ARGISNULL(i) ? 0 : PG_GETARG_INT64(i);
        in.warmup_progress = PG_ARGISNULL(5) ? 0 : PG_GETARG_FLOAT8(5);
        int score = 0;
        as_sql_errors([&] { score = eg::health_score(in); });
        PG_RETURN_INT32(score);
    });
}
