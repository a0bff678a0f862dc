/*
 * queue_rate_window.cpp — SQL glue for pm_queue's rate limits: the fixed window an
 * instant falls in (common/rate_window.cpp) and the rate keys the queue understands
 * (common/rate_key.cpp).
 */
#include "shared/boundary.h"
#include "queue/pure/rate_key.h"
#include "queue/pure/rate_window.h"

extern "C" {
#include "datatype/timestamp.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(pm_queue_rate_window_start);
PG_FUNCTION_INFO_V1(pm_queue_rate_key_mailbox);
PG_FUNCTION_INFO_V1(pm_queue_check_rate_key);
}

#include <cstring>

namespace {

/* A window length in microseconds; months have no fixed length, so they are refused. */
int64 window_length_us(const Interval *len)
{
    if (len->month != 0)
        throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                           "rate window must not be given in months or years",
                           {}, "Use days, e.g. interval '30 days'.");
    /* Bounded first so the multiplication cannot overflow. */
    if (len->day > 366 || len->day < -366)
        throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE, "rate window must be at most 366 days");
    const int64 us = len->time + static_cast<int64>(len->day) * USECS_PER_DAY;
    if (auto why = pm::queue::invalid_window_length(us))
        throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE, *why);
    return us;
}

} // namespace

extern "C" Datum pm_queue_rate_window_start(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        const TimestampTz at = PG_GETARG_TIMESTAMPTZ(0);
        const int64 len = window_length_us(PG_GETARG_INTERVAL_P(1));
        if (TIMESTAMP_NOT_FINITE(at))
            throw pm::SqlError(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE,
                               "rate window of an infinite timestamp");
        PG_RETURN_TIMESTAMPTZ(pm::queue::window_start(at, len));
    });
}

/* Never raises on the key: claim() calls it on keys it did not validate itself. */
extern "C" Datum pm_queue_rate_key_mailbox(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        const std::optional<pm::UuidBytes> id =
            pm::queue::mailbox_of(pm::to_string_view(PG_GETARG_TEXT_PP(0)));
        if (!id)
            PG_RETURN_NULL();
        pg_uuid_t *out = static_cast<pg_uuid_t *>(palloc(sizeof(pg_uuid_t)));
        std::memcpy(out->data, id->data(), UUID_LEN);
        PG_RETURN_UUID_P(out);
    });
}

extern "C" Datum pm_queue_check_rate_key(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        const std::string_view key = pm::to_string_view(PG_GETARG_TEXT_PP(0));
        if (auto why = pm::queue::invalid_rate_key(key)) {
            std::string shown(key.substr(0, 80));
            for (char &c : shown)
                if (static_cast<unsigned char>(c) < 0x20)
                    c = '?';
            throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                               "invalid rate_key \"" + shown + "\": " + *why, {},
                               "Rate keys look like \"mailbox:<email_account_id>\" or "
                               "\"domain:<domain_id>\"; budgets live in pm_queue.rate_limits.");
        }
        PG_RETURN_VOID();
    });
}
