/*
 * call.cpp — pm.tier_call(tier, function, args): runs a function of the linked tier's
 * schema inside the remote transaction of this one (same snapshot as every other use of
 * the link in this transaction, tenant context sent) and returns its rows here, typed by
 * the caller's column definition list.  This is how a tier asks another to compute
 * something where the data is and moves only the answer (the OLAP rollups).
 *
 *   SELECT * FROM pm.tier_call('oltp', 'olap_batch', ARRAY['0', '50000'])
 *            AS b(to_xid bigint, keys bigint, pending bigint, oldest timestamptz);
 *
 * Arguments travel as text and the remote resolves the function by its own signature.
 * The function name must be a plain identifier; the remote schema is the tier's
 * (pm_oltp, pm_olap, ...).  C-style body (see pm_fdw.h).
 */
#include "pm_fdw.h"
#include "shared/boundary.h"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(pm_tier_call);
}

#include <cstring>

namespace {

bool plain_identifier(const char *s)
{
    if (s[0] == '\0' || strlen(s) >= NAMEDATALEN || !(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z')))
        return false;
    for (const char *p = s; *p; ++p)
        if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            return false;
    return true;
}

const char *remote_schema(const char *tier)
{
    static const char *const kSchemas[][2] = {{"content", "pm_content"}, {"olap", "pm_olap"},
                                              {"notify", "pm_notify"},   {"oltp", "pm_oltp"},
                                              {"queue", "pm_queue"}};
    for (const auto &s : kSchemas)
        if (strcmp(s[0], tier) == 0)
            return s[1];
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("unknown tier \"%s\"", tier),
                    errhint("Expected one of: content, olap, notify, oltp, queue.")));
    return nullptr;
}

void call_core(FunctionCallInfo fcinfo)
{
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                        errmsg("pm.tier_call: %s must not be NULL",
                               PG_ARGISNULL(0) ? "tier" : "function")));
    char *tier = text_to_cstring(PG_GETARG_TEXT_PP(0));
    char *fn = text_to_cstring(PG_GETARG_TEXT_PP(1));
    const char *schema = remote_schema(tier);
    if (!plain_identifier(fn))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("invalid remote function name \"%.80s\"", fn),
                        errhint("Name a function of schema %s: lower-case letters, digits and "
                                "underscores.", schema)));

    int nargs = 0;
    Datum *elems = nullptr;
    bool *elem_nulls = nullptr;
    if (!PG_ARGISNULL(2))
        deconstruct_array(PG_GETARG_ARRAYTYPE_P(2), TEXTOID, -1, false, TYPALIGN_INT, &elems,
                          &elem_nulls, &nargs);
    if (nargs > 100)
        ereport(ERROR, (errcode(ERRCODE_TOO_MANY_ARGUMENTS),
                        errmsg("pm.tier_call: %d arguments, at most 100", nargs)));
    const char **values = (const char **) palloc0(sizeof(char *) * (nargs + 1));
    StringInfoData sql;
    initStringInfo(&sql);
    appendStringInfo(&sql, "SELECT * FROM %s.%s(", schema, fn);
    for (int i = 0; i < nargs; ++i) {
        appendStringInfo(&sql, "%s$%d", i ? ", " : "", i + 1);
        values[i] = elem_nulls[i] ? nullptr : TextDatumGetCString(elems[i]);
    }
    appendStringInfoChar(&sql, ')');

    InitMaterializedSRF(fcinfo, 0);
    ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
    int natts = rsinfo->setDesc->natts;

    Oid *servers = nullptr;
    if (pmfdw_tier_servers(tier, &servers) != 1)
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("pm.tier_call: the %s tier is sharded", tier),
                        errhint("Call the function on each shard's server instead.")));
    ForeignServer *server = GetForeignServer(servers[0]);
    UserMapping *user = GetUserMapping(GetUserId(), server->serverid);
    PmFdwOptions opts;
    pmfdw_server_options(server, &opts);
    PmFdwConn *conn = pmfdw_connect(server, user, &opts, false);
    pmfdw_sync_context(conn);
    PGresult *res = pmfdw_exec_params(conn, sql.data, nargs, values);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        pmfdw_report(ERROR, res, conn, sql.data);
    if (PQnfields(res) != natts) {
        int got = PQnfields(res);
        PQclear(res);
        ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                        errmsg("%s.%s returned %d columns, the column definition list has %d",
                               schema, fn, got, natts)));
    }
    /* Copy out, then build (input functions may raise). */
    int rows = PQntuples(res);
    char **cells = (char **) palloc0(sizeof(char *) * ((size_t) rows * natts + 1));
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < natts; ++c)
            cells[(size_t) r * natts + c] =
                PQgetisnull(res, r, c) ? nullptr : pstrdup(PQgetvalue(res, r, c));
    PQclear(res);
    AttInMetadata *attinmeta = TupleDescGetAttInMetadata(rsinfo->setDesc);
    for (int r = 0; r < rows; ++r)
        tuplestore_puttuple(rsinfo->setResult,
                            BuildTupleFromCStrings(attinmeta, &cells[(size_t) r * natts]));
}

} // namespace

extern "C" Datum pm_tier_call(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        pm::pg_call([&] { call_core(fcinfo); });
        return (Datum) 0;
    });
}
