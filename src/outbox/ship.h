/*
 * ship.h — one shipping pass over the sinks of this database: per sink, batches of its
 * oldest events are formatted, posted and removed only after a 2xx.
 *
 * Two ways to run it:
 *   in_caller_transaction   pm.ship_outbox(): everything in the caller's transaction (which
 *                           is open while posting; that is what a synchronous call means)
 *   own_transactions        the background worker: each step is its own short transaction
 *                           and none is open while waiting on the network
 * A sink is shipped by one backend at a time (an advisory lock per sink); a crash between a
 * sink's 2xx and the removal re-sends that batch: delivery is at least once, and each event
 * keeps its event_id for the sink to deduplicate.
 */
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace pm::outbox {

enum class PassMode { in_caller_transaction, own_transactions };

struct PassResult {
    long shipped = 0;      /* events the sinks accepted */
    bool more_due = false; /* a sink still had a full batch waiting */
};

PassResult ship_pass(const std::optional<std::string> &only_sink, long max_events, PassMode mode,
                     const std::function<bool()> &should_stop);

} // namespace pm::outbox
