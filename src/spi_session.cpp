/* spi_session.cpp — see spi_session.h. */
#include "spi_session.h"

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

std::optional<std::string> SpiSession::value(uint64 row, int col) const
{
    /* Results belong to the latest statement only: reading stale ones is a bug here, not a crash. */
    if (SPI_tuptable == nullptr || row >= SPI_tuptable->numvals || col < 1 ||
        col > SPI_tuptable->tupdesc->natts)
        throw std::logic_error("SPI result row " + std::to_string(row) + " column " +
                               std::to_string(col) + " is not available");
    char *raw = nullptr;
    pg_call([&] { raw = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col); });
    if (raw == nullptr)
        return std::nullopt;
    return std::string(raw);
}

} // namespace pm
