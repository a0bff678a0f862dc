/*
 * send_day.cpp — see send_day.h.
 */
#include "oltp/pure/send_day.h"

namespace pm::oltp {

int32_t utc_day(int64_t timestamp_usecs)
{
    constexpr int64_t kUsecsPerDay = INT64_C(86400000000);
    if (timestamp_usecs == kTimestampMinusInfinity)
        return kDateMinusInfinity;
    if (timestamp_usecs == kTimestampInfinity)
        return kDateInfinity;
    int64_t day = timestamp_usecs / kUsecsPerDay;
    if (timestamp_usecs % kUsecsPerDay < 0)
        --day;
    return static_cast<int32_t>(day);
}

} // namespace pm::oltp
