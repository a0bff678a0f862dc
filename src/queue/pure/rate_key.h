/*
 * rate_key.h — what a pm_queue rate key names, without PostgreSQL.
 *
 * Keys are free text ("domain:<uuid>", "tenant:<uuid>:webhooks", ...) whose budgets live in
 * pm_queue.rate_limits.  One family is understood by the queue itself: "mailbox:<uuid>",
 * whose default budget is the mailbox's email_accounts.daily_limit per UTC day when the
 * queue shares its database with pm_oltp.
 */
#pragma once

#include "shared/pure/uuid_text.h"

#include <optional>
#include <string>
#include <string_view>

namespace pm::queue {

constexpr std::string_view kMailboxPrefix = "mailbox:";
constexpr std::size_t kMaxRateKeyLength = 200;

/* The mailbox id of a "mailbox:<uuid>" key; nullopt for any other or malformed key. */
std::optional<UuidBytes> mailbox_of(std::string_view key);

/* Why a key cannot be used, or nullopt.  Mailbox keys must carry a well-formed uuid. */
std::optional<std::string> invalid_rate_key(std::string_view key);

} // namespace pm::queue
