/* job_id.cpp — see job_id.h. */
#include "queue/pure/job_id.h"

namespace pm::queue {

UuidBytes uuid_v7(std::uint64_t unix_ms, const std::array<std::uint8_t, 10> &random)
{
    UuidBytes id{};
    for (int i = 0; i < 6; i++)
        id[i] = static_cast<std::uint8_t>(unix_ms >> (8 * (5 - i)));
    for (int i = 0; i < 10; i++)
        id[6 + i] = random[i];
    id[6] = static_cast<std::uint8_t>(0x70 | (id[6] & 0x0f));
    id[8] = static_cast<std::uint8_t>(0x80 | (id[8] & 0x3f));
    return id;
}

std::uint64_t uuid_v7_millis(const UuidBytes &id)
{
    std::uint64_t ms = 0;
    for (int i = 0; i < 6; i++)
        ms = (ms << 8) | id[i];
    return ms;
}

} // namespace pm::queue
