/*
 * queue_backoff.cpp — pm_queue.backoff_delay(): the retry schedule pm_queue.fail()
 * applies, computed by common/backoff.cpp (unit-tested without a server).
 */
#include "shared/boundary.h"
#include "queue/pure/backoff.h"

extern "C" {
#include "common/pg_prng.h"
#include "datatype/timestamp.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(pm_queue_backoff_delay);
}

extern "C" Datum pm_queue_backoff_delay(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        const int exponent = PG_GETARG_INT32(0);
        const pm::queue::BackoffPolicy policy{PG_GETARG_INT32(1), PG_GETARG_INT32(2),
                                              static_cast<double>(PG_GETARG_FLOAT4(3))};
        if (auto why = pm::queue::invalid_backoff(policy))
            throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE, *why, {},
                               "Fix backoff_base_ms, backoff_max_ms or backoff_jitter of the queue.");
        /* Only drawn when it matters, so jitter 0 leaves the backend's generator alone. */
        const double u = policy.jitter > 0 ? pg_prng_double(&pg_global_prng_state) : 0.5;
        const int64 ms = pm::queue::backoff_delay_ms(exponent, policy, u);

        Interval *delay = static_cast<Interval *>(palloc0(sizeof(Interval)));
        delay->time = ms * INT64CONST(1000);
        PG_RETURN_INTERVAL_P(delay);
    });
}
