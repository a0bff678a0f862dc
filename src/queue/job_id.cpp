/*
 * queue_job_id.cpp — pm_queue.new_job_id(): time-ordered (v7) uuids for job ids, so
 * enqueues append to the primary-key index instead of scattering over it.
 */
#include "shared/boundary.h"
#include "queue/pure/job_id.h"

extern "C" {
#include "utils/timestamp.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(pm_queue_new_job_id);
}

#include <cstring>

extern "C" Datum pm_queue_new_job_id(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        std::array<std::uint8_t, 10> random{};
        if (!pg_strong_random(random.data(), random.size()))
            throw pm::SqlError(ERRCODE_INTERNAL_ERROR, "could not generate random bytes for a job id");
        /* Wall clock, not now(): ids of one transaction's jobs still sort by creation. */
        const TimestampTz ts = GetCurrentTimestamp();
        const std::uint64_t unix_ms =
            static_cast<std::uint64_t>((ts + (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) *
                                                 SECS_PER_DAY * USECS_PER_SEC) / 1000);
        const pm::UuidBytes id = pm::queue::uuid_v7(unix_ms, random);
        pg_uuid_t *out = static_cast<pg_uuid_t *>(palloc(sizeof(pg_uuid_t)));
        std::memcpy(out->data, id.data(), UUID_LEN);
        PG_RETURN_UUID_P(out);
    });
}
