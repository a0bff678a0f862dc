/* spi_session.cpp — see spi_session.h. */
#include "shared/spi_session.h"

extern "C" {
#include "nodes/parsenodes.h"
}

#include <stdexcept>

namespace pm {

SpiSession::SpiSession()
{
    pg_call([&] {
        if (SPI_connect() != SPI_OK_CONNECT)
            elog(ERROR, "SPI_connect failed");
    });
    connected_ = true;
}

SpiSession::~SpiSession()
{
    /* SPI_finish only fails when not connected; never raises otherwise. */
    if (connected_)
        SPI_finish();
}

uint64 SpiSession::execute(const std::string &sql, bool read_only)
{
    return execute(sql, {}, read_only);
}

uint64 SpiSession::execute(const std::string &sql,
                           const std::vector<std::optional<std::string>> &params, bool read_only)
{
    const int nargs = static_cast<int>(params.size());
    Oid *types = nargs ? static_cast<Oid *>(palloc(sizeof(Oid) * nargs)) : nullptr;
    Datum *values = nargs ? static_cast<Datum *>(palloc(sizeof(Datum) * nargs)) : nullptr;
    char *nulls = nargs ? static_cast<char *>(palloc(nargs)) : nullptr;
    for (int i = 0; i < nargs; i++) {
        types[i] = TEXTOID;
        nulls[i] = params[i] ? ' ' : 'n';
        values[i] = params[i] ? text_datum(*params[i]) : (Datum) 0;
    }

    const char *query = sql.c_str();
    uint64 processed = 0;
    pg_call([&] {
        int rc = SPI_execute_with_args(query, nargs, types, values, nulls, read_only, 0);
        if (rc < 0)
            elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
        processed = SPI_processed;
    });
    return processed;
}

namespace {

/* Results belong to the latest statement only: reading stale ones is a bug here, not a crash. */
void require_result_cell(uint64 row, int col)
{
    if (SPI_tuptable == nullptr || row >= SPI_tuptable->numvals || col < 1 ||
        col > SPI_tuptable->tupdesc->natts)
        throw std::logic_error("SPI result row " + std::to_string(row) + " column " +
                               std::to_string(col) + " is not available");
}

} // namespace

std::optional<Datum> result_datum(uint64 row, int col)
{
    require_result_cell(row, col);
    bool isnull = true;
    /* SPI_getbinval does not raise for a column that exists. */
    const Datum d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);
    if (isnull)
        return std::nullopt;
    return d;
}

uint64 KeptStatement::run(const Datum *values, const bool *nulls, bool read_only)
{
    std::string flags(types_.size(), ' ');
    for (std::size_t i = 0; i < types_.size(); i++)
        if (nulls[i])
            flags[i] = 'n';
    return run(values, flags.c_str(), read_only);
}

uint64 KeptStatement::run(const Datum *values, const char *nulls, bool read_only)
{
    uint64 processed = 0;
    pg_call([&] {
        if (plan_ == nullptr) {
            const int options = plans_ == PlanChoice::generic ? CURSOR_OPT_GENERIC_PLAN : 0;
            SPIPlanPtr plan = SPI_prepare_cursor(sql_.c_str(), static_cast<int>(types_.size()),
                                                 types_.data(), options);
            if (plan == nullptr)
                elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
            if (SPI_keepplan(plan) != 0)
                elog(ERROR, "SPI_keepplan failed");
            plan_ = plan;
        }
        const int rc = SPI_execute_plan(plan_, const_cast<Datum *>(values), nulls, read_only, 0);
        if (rc < 0)
            elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
        processed = SPI_processed;
    });
    return processed;
}

std::optional<std::string> SpiSession::value(uint64 row, int col) const
{
    require_result_cell(row, col);
    char *raw = nullptr;
    pg_call([&] { raw = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col); });
    if (raw == nullptr)
        return std::nullopt;
    return std::string(raw);
}

} // namespace pm
