/*
 * spi_session.h — SPI from C++: connect once per SQL function, run statements
 * through pg_call() so a failing statement surfaces as pm::PgError.
 */
#pragma once

#include "shared/boundary.h"

extern "C" {
#include "executor/spi.h"
}

#include <optional>
#include <string>
#include <vector>

namespace pm {

class SpiSession {
public:
    SpiSession();
    ~SpiSession();
    SpiSession(const SpiSession &) = delete;
    SpiSession &operator=(const SpiSession &) = delete;

    /* Runs a statement; returns the number of rows processed. */
    uint64 execute(const std::string &sql, bool read_only = false);

    /* Runs a query with text parameters ($1..$n, NULL for std::nullopt). */
    uint64 execute(const std::string &sql, const std::vector<std::optional<std::string>> &params,
                   bool read_only = false);

    /* Text of column `col` (1-based) of result row `row` of the latest statement,
     * or nullopt for NULL. */
    std::optional<std::string> value(uint64 row, int col) const;

private:
    bool connected_ = false;
};

/* Which plans the plan cache may use for a kept statement. */
enum class PlanChoice {
    per_call,  /* PostgreSQL's choice between custom and generic plans */
    generic,   /* always the generic plan: for statements (LIMIT $n, ...) whose custom plans
                * look cheaper to the plan cache than they are, so it would re-plan every call */
};

/*
 * A statement of a hot path, prepared on first use and kept for the backend's life
 * (SPI_prepare_cursor + SPI_keepplan); the plan cache still re-plans it when a table it
 * reads changes.  Run inside an SpiSession; results are in SPI_tuptable until the next
 * statement.
 */
class KeptStatement {
public:
    KeptStatement(std::string sql, std::vector<Oid> types, PlanChoice plans = PlanChoice::per_call)
        : sql_(std::move(sql)), types_(std::move(types)), plans_(plans)
    {}
    KeptStatement(const KeptStatement &) = delete;
    KeptStatement &operator=(const KeptStatement &) = delete;

    /* Rows processed (SPI_processed). */
    uint64 run(const Datum *values, const bool *nulls, bool read_only = false);
    /* The same with SPI's own null flags: 'n' for NULL, ' ' otherwise. */
    uint64 run(const Datum *values, const char *nulls, bool read_only = false);

private:
    std::string sql_;
    std::vector<Oid> types_;
    PlanChoice plans_;
    SPIPlanPtr plan_ = nullptr;
};

/* Binary value of column `col` (1-based) of result row `row` of the latest statement, or
 * nullopt for NULL; std::logic_error for a row or column the result does not have. */
std::optional<Datum> result_datum(uint64 row, int col);

/* A boolean as an SPI text parameter. */
inline std::string bool_text(bool value)
{
    return value ? "true" : "false";
}

/* A boolean SPI result column as text: true only for 't' (NULL is false). */
inline bool is_true(const std::optional<std::string> &value)
{
    return value == std::optional<std::string>("t");
}

} // namespace pm
