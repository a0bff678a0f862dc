/*
 * queue_plan.h — statements of pm_queue's hot path, planned once per backend.
 *
 * Each is prepared on first use (SPI_prepare_cursor + SPI_keepplan) and forced to a generic
 * plan: with `LIMIT $n` a custom plan always looks cheaper to the plan cache, which would
 * otherwise re-plan the statement on every call.  The plan cache still re-plans a kept plan
 * when a table it reads changes (ALTER, DROP/CREATE EXTENSION).
 * Must run inside an SPI connection (pm::SpiSession).
 */
#pragma once

#include "shared/spi_session.h"

#include <initializer_list>
#include <vector>

namespace pm::queue {

/* Always the generic plan (see above). */
class KeptPlan : public KeptStatement {
public:
    KeptPlan(const char *sql, std::initializer_list<Oid> arg_types)
        : KeptStatement(sql, arg_types, PlanChoice::generic)
    {}
};

/* Binary value of column `col` (1-based) of result row `row`; nullopt for NULL. */
inline std::optional<Datum> result_value(uint64 row, int col)
{
    return result_datum(row, col);
}

} // namespace pm::queue
