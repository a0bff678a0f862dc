/*
 * sinks.h — the sink filters as pm.log_event() needs them, cached per backend.
 *
 * The cache is reloaded after any committed change of pm.outbox_sinks: a statement trigger
 * on it sends a relcache invalidation, which reaches every backend at its next command.
 * Call inside an SPI connection (pm::SpiSession), as the outbox's owner (OwnerScope).
 */
#pragma once

#include "shared/spi_session.h"

extern "C" {
#include "miscadmin.h"
}

#include <optional>
#include <string>
#include <vector>

namespace pm::outbox {

struct SinkFilter {
    std::string name;
    std::optional<std::vector<std::string>> events;
};

/* The sinks (none when pm_core's outbox is not installed in this database). */
const std::vector<SinkFilter> &cached_sinks();

/* Owner of pm.outbox_sinks (the extension's owner), or InvalidOid without an outbox. */
Oid outbox_owner();

/* Runs as the outbox's owner for its lifetime: pm_app may log events but not read sinks or
 * the outbox (like SECURITY DEFINER, without the cost of a function-call wrapper). */
class OwnerScope {
public:
    explicit OwnerScope(Oid owner);
    ~OwnerScope();
    OwnerScope(const OwnerScope &) = delete;
    OwnerScope &operator=(const OwnerScope &) = delete;

private:
    Oid saved_user_;
    int saved_context_;
};

} // namespace pm::outbox
