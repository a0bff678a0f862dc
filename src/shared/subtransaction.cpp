/* subtransaction.cpp — see subtransaction.h. */
#include "shared/subtransaction.h"

extern "C" {
#include "access/xact.h"
}

namespace pm {

Subtransaction::Subtransaction()
    : caller_context_(CurrentMemoryContext), caller_owner_(CurrentResourceOwner)
{
    pg_call([] { BeginInternalSubTransaction(nullptr); });
    open_ = true;
    /* Work inside still allocates where the caller did, so results outlive the scope. */
    MemoryContextSwitchTo(caller_context_);
}

void Subtransaction::restore_caller_state()
{
    MemoryContextSwitchTo(caller_context_);
    CurrentResourceOwner = caller_owner_;
}

void Subtransaction::commit()
{
    pg_call([] { ReleaseCurrentSubTransaction(); });
    open_ = false;
    restore_caller_state();
}

Subtransaction::~Subtransaction()
{
    if (!open_)
        return;
    /* Rollback of an internal subtransaction does not raise short of a PANIC. */
    RollbackAndReleaseCurrentSubTransaction();
    restore_caller_state();
}

} // namespace pm
