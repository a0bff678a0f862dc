/*
 * subtransaction.h — an internal subtransaction as a C++ scope, for work that may fail
 * without losing the rest of the caller's transaction (a lock that times out, a DDL step
 * that meets a concurrent change).
 *
 *     try {
 *         pm::Subtransaction sub;
 *         ... pg_call / SpiSession work ...
 *         sub.commit();
 *     } catch (const pm::PgError &e) {
 *         ... the subtransaction is rolled back: its changes and its locks are gone ...
 *     }
 *
 * Leaving the scope without commit() rolls back.  A committed subtransaction's locks stay
 * until the top-level transaction ends (PostgreSQL keeps them); a rolled-back one's do not.
 * Open SpiSessions outside the scope: SPI connections made inside die with it.
 */
#pragma once

#include "shared/boundary.h"

extern "C" {
#include "utils/resowner.h"
}

namespace pm {

class Subtransaction {
public:
    Subtransaction();
    ~Subtransaction();
    Subtransaction(const Subtransaction &) = delete;
    Subtransaction &operator=(const Subtransaction &) = delete;

    void commit();

private:
    void restore_caller_state();

    MemoryContext caller_context_;
    ResourceOwner caller_owner_;
    bool open_ = false;
};

/* SQLSTATE of a PostgreSQL error carried by PgError. */
inline int sqlstate_of(const PgError &e)
{
    return e.edata() ? e.edata()->sqlerrcode : ERRCODE_INTERNAL_ERROR;
}

} // namespace pm
