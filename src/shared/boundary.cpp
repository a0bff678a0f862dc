/* boundary.cpp — raising the error that guarded() carried out of C++ frames. */
#include "shared/boundary.h"

namespace pm::detail {

void raise(const PendingError &pending)
{
    if (pending.rethrow != nullptr)
        ReThrowError(pending.rethrow);

    ereport(ERROR,
            (errcode(pending.sqlstate),
             errmsg_internal("%s", pending.message),
             pending.detail ? errdetail_internal("%s", pending.detail) : 0,
             pending.hint ? errhint("%s", pending.hint) : 0));
    pg_unreachable();
}

} // namespace pm::detail
