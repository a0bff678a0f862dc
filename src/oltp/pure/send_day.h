/*
 * send_day.h — the UTC day an OLTP timestamp falls on, in PostgreSQL's own encodings
 * (timestamptz: microseconds since 2000-01-01 00:00 UTC; date: days since 2000-01-01),
 * without server headers so it is unit-tested on its own.  Same answer as
 * (ts AT TIME ZONE 'UTC')::date, infinities included.
 */
#pragma once

#include <cstdint>

namespace pm::oltp {

/* PostgreSQL's DT_NOBEGIN / DT_NOEND and DATEVAL_NOBEGIN / DATEVAL_NOEND. */
inline constexpr int64_t kTimestampMinusInfinity = INT64_MIN;
inline constexpr int64_t kTimestampInfinity = INT64_MAX;
inline constexpr int32_t kDateMinusInfinity = INT32_MIN;
inline constexpr int32_t kDateInfinity = INT32_MAX;

/* Floor division: an instant before 2000-01-01 belongs to the day it falls on, not the
 * day after. */
int32_t utc_day(int64_t timestamp_usecs);

} // namespace pm::oltp
