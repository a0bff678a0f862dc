/* rate_key.cpp — see rate_key.h. */
#include "queue/pure/rate_key.h"

namespace pm::queue {

std::optional<UuidBytes> mailbox_of(std::string_view key)
{
    if (key.size() <= kMailboxPrefix.size() || key.substr(0, kMailboxPrefix.size()) != kMailboxPrefix)
        return std::nullopt;
    return parse_uuid(key.substr(kMailboxPrefix.size()));
}

std::optional<std::string> invalid_rate_key(std::string_view key)
{
    if (key.empty())
        return "rate key must not be empty";
    if (key.size() > kMaxRateKeyLength)
        return "rate key is " + std::to_string(key.size()) + " bytes, the limit is " +
               std::to_string(kMaxRateKeyLength);
    for (unsigned char c : key)
        if (c < 0x20 || c == 0x7f)
            return "rate key contains a control character";
    if (key.substr(0, kMailboxPrefix.size()) == kMailboxPrefix && !mailbox_of(key))
        return "mailbox rate key must be \"mailbox:<email_account_id uuid>\"";
    return std::nullopt;
}

} // namespace pm::queue
