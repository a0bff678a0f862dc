/*
 * spi_session.h — SPI from C++: connect once per SQL function, run statements
 * through pg_call() so a failing statement surfaces as pm::PgError.
 */
#pragma once

#include "boundary.h"

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

/* A boolean as an SPI text parameter. */
inline std::string bool_text(bool value)
{
    return value ? "true" : "false";
}

} // namespace pm
