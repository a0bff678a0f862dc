/*
 * boundary.h — the one place where C++ meets PostgreSQL's error handling.
 *
 * PostgreSQL reports errors with ereport(ERROR), a longjmp that skips C++
 * destructors; a C++ exception that escapes into PostgreSQL aborts the backend.
 * Every SQL-callable function therefore has the shape
 *
 *     extern "C" Datum pm_foo(PG_FUNCTION_ARGS)
 *     {
 *         return pm::guarded([&]() -> Datum { ... C++ work ... });
 *     }
 *
 * and the body may:
 *   - throw pm::SqlError(ERRCODE_..., "message", ...) for caller-triggered errors;
 *   - call PostgreSQL functions that may raise only through pm::pg_call(...), which
 *     turns the PostgreSQL error into a C++ exception (pm::PgError) so C++ frames
 *     unwind normally; guarded() re-raises it unchanged (SQLSTATE, message, detail).
 *
 * guarded() raises only after every C++ object of the body is destroyed.
 */
#pragma once

extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/memutils.h"
}

#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <utility>

namespace pm {

/* A caller-triggered error: becomes ereport(ERROR) with this SQLSTATE. */
class SqlError : public std::exception {
public:
    SqlError(int sqlstate, std::string message, std::string detail = {}, std::string hint = {})
        : sqlstate_(sqlstate), message_(std::move(message)), detail_(std::move(detail)),
          hint_(std::move(hint))
    {}

    const char *what() const noexcept override { return message_.c_str(); }
    int sqlstate() const noexcept { return sqlstate_; }
    const std::string &detail() const noexcept { return detail_; }
    const std::string &hint() const noexcept { return hint_; }

private:
    int sqlstate_;
    std::string message_;
    std::string detail_;
    std::string hint_;
};

/* A PostgreSQL error caught by pg_call(), carried through C++ frames. */
class PgError : public std::exception {
public:
    explicit PgError(ErrorData *edata) noexcept : edata_(edata) {}
    const char *what() const noexcept override
    {
        return edata_ && edata_->message ? edata_->message : "PostgreSQL error";
    }
    ErrorData *edata() const noexcept { return edata_; }

private:
    ErrorData *edata_; /* palloc'd by CopyErrorData() */
};

/*
 * Run PostgreSQL code that may ereport(ERROR) from C++.  `fn` must be C-like:
 * no C++ objects with destructors and no C++ throws inside it (a longjmp would
 * skip the former; the latter would leave PG_exception_stack dangling).
 * The caught error must be allowed to propagate to guarded(): the transaction
 * is not in a state to continue normal work after it.
 */
template <typename Fn>
void pg_call(Fn &&fn)
{
    MemoryContext caller_context = CurrentMemoryContext;
    ErrorData *volatile edata = nullptr; /* assigned after setjmp */

    PG_TRY();
    {
        fn();
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(caller_context);
        edata = CopyErrorData();
        FlushErrorState();
    }
    PG_END_TRY();

    if (edata != nullptr)
        throw PgError(edata);
}

namespace detail {

/* What guarded() raises once the C++ frames are gone; all strings palloc'd. */
struct PendingError {
    ErrorData *rethrow = nullptr;
    int sqlstate = 0;
    char *message = nullptr;
    char *detail = nullptr;
    char *hint = nullptr;
};

inline char *pstrdup_or_null(const std::string &s)
{
    return s.empty() ? nullptr : pstrdup(s.c_str());
}

[[noreturn]] void raise(const PendingError &pending);

} // namespace detail

/*
 * The SQL-function boundary: runs `body`, contains every C++ exception and
 * raises the matching PostgreSQL error after the body's objects are destroyed.
 */
template <typename Body>
Datum guarded(Body &&body) noexcept
{
    detail::PendingError pending;
    bool failed = true;
    Datum result = (Datum) 0;

    try {
        result = body();
        failed = false;
    } catch (const PgError &e) {
        pending.rethrow = e.edata();
    } catch (const SqlError &e) {
        pending.sqlstate = e.sqlstate();
        pending.message = pstrdup(e.what());
        pending.detail = detail::pstrdup_or_null(e.detail());
        pending.hint = detail::pstrdup_or_null(e.hint());
    } catch (const std::bad_alloc &) {
        pending.sqlstate = ERRCODE_OUT_OF_MEMORY;
        pending.message = pstrdup("out of memory in C++ code");
    } catch (const std::exception &e) {
        pending.sqlstate = ERRCODE_INTERNAL_ERROR;
        pending.message = psprintf("internal error: %s", e.what());
    } catch (...) {
        pending.sqlstate = ERRCODE_INTERNAL_ERROR;
        pending.message = pstrdup("internal error: unknown C++ exception");
    }

    if (failed)
        detail::raise(pending);
    return result;
}

/* Conversions between PostgreSQL values and C++ strings. */
inline std::string to_string(const text *t)
{
    return std::string(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

inline std::string_view to_string_view(const text *t)
{
    return std::string_view(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

inline text *to_text(std::string_view s)
{
    return cstring_to_text_with_len(s.data(), static_cast<int>(s.size()));
}

inline Datum text_datum(std::string_view s)
{
    return PointerGetDatum(to_text(s));
}

/* A palloc'd NUL-terminated copy, for PostgreSQL APIs that keep the pointer. */
inline char *to_cstring(std::string_view s)
{
    return pnstrdup(s.data(), s.size());
}

/* Identifier quoting as PostgreSQL does it (quote_identifier never raises). */
inline std::string quote_ident(std::string_view name)
{
    std::string copy(name);
    const char *quoted = quote_identifier(copy.c_str());
    return std::string(quoted);
}

} // namespace pm
