/*
 * link.cpp — SQL functions of pm_fdw (the rest of pm.link_tier & co. is SQL in
 * extension/pm_fdw--0.1.sql):
 *
 *   pm._fdw_health(server oid)        the server's health entry (for pm.tier_status())
 *   pm._fdw_conninfo(conninfo text)   keyword/value pairs of a libpq conninfo, validated
 *   pm.resolve_content_many(keys)     bodies through the content link, routed per shard,
 *   pm.resolve_content(key)           one pipelined remote call per shard, sent to every
 *                                     shard before waiting for any
 *   pm._fdw_put_body(server, ...)     pm_content.put_body on the given shard server
 *
 * These bodies are C-style (see pm_fdw.h); each SQL entry point still passes through
 * pm::guarded / pm::pg_call like every function of the library.
 */
#include "pm_fdw.h"
#include "shared/boundary.h"
#include "core/pure/storage_key.h"
#include "fdw/common/fdw_backoff.h"
#include "fdw/common/fdw_text.h"

extern "C" {
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "executor/spi.h"

PG_FUNCTION_INFO_V1(pm_fdw_health);
PG_FUNCTION_INFO_V1(pm_fdw_conninfo);
PG_FUNCTION_INFO_V1(pm_resolve_content_many);
PG_FUNCTION_INFO_V1(pm_fdw_put_body);
}

#include <cstring>

namespace {

Datum health_core(FunctionCallInfo fcinfo)
{
    Oid server = PG_GETARG_OID(0);
    PmFdwHealthRow h;
    pmfdw_health_get(server, &h);
    TupleDesc tupdesc;
    if (get_call_result_type(fcinfo, nullptr, &tupdesc) != TYPEFUNC_COMPOSITE)
        elog(ERROR, "pm._fdw_health: return type must be a row type");
    tupdesc = BlessTupleDesc(tupdesc);
    Datum values[6];
    bool nulls[6] = {false, false, false, false, false, false};
    values[0] = CStringGetTextDatum(
        pm::fdw::health_state_name(static_cast<pm::fdw::HealthState>(h.known ? h.state : 0)));
    values[1] = Int32GetDatum(h.known ? h.failures : 0);
    if (h.known && h.last_error[0])
        values[2] = CStringGetTextDatum(h.last_error);
    else
        nulls[2] = true;
    if (h.known && h.last_ok)
        values[3] = TimestampTzGetDatum(h.last_ok);
    else
        nulls[3] = true;
    if (h.known && h.state != 0 && h.retry_at)
        values[4] = TimestampTzGetDatum(h.retry_at);
    else
        nulls[4] = true;
    if (h.known && h.last_ok)
        values[5] = Float8GetDatum(h.rtt_ms);
    else
        nulls[5] = true;
    return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}

void conninfo_core(FunctionCallInfo fcinfo)
{
    char *conninfo = text_to_cstring(PG_GETARG_TEXT_PP(0));
    char *err = nullptr;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
    if (opts == nullptr) {
        char *message = nullptr;
        try {
            std::string m = pm::fdw::trim_message(pm::fdw::scrub_secrets(err ? err : "", {}));
            message = strdup(m.c_str());
        } catch (...) {
        }
        if (err)
            PQfreemem(err);
        char *copy = pstrdup(message ? message : "malformed");
        free(message);
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("invalid connection string: %s", copy),
                        errhint("Use keyword=value pairs, e.g. 'host=10.0.0.5 port=5433 "
                                "dbname=pm_content'.")));
    }
    /* Copy out, free libpq's memory, then build the result (which may raise). */
    int n = 0;
    for (PQconninfoOption *o = opts; o->keyword; ++o)
        if (o->val)
            ++n;
    char **keys = (char **) palloc0(sizeof(char *) * (n + 1));
    char **vals = (char **) palloc0(sizeof(char *) * (n + 1));
    int i = 0;
    for (PQconninfoOption *o = opts; o->keyword; ++o)
        if (o->val) {
            keys[i] = pstrdup(o->keyword);
            vals[i] = pstrdup(o->val);
            ++i;
        }
    PQconninfoFree(opts);

    InitMaterializedSRF(fcinfo, 0);
    ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
    for (i = 0; i < n; ++i) {
        if (strcmp(keys[i], "password") == 0 || strcmp(keys[i], "sslpassword") == 0)
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("the connection string must not contain a password"),
                            errhint("Pass it as the password argument: it is kept in the user "
                                    "mapping only.")));
        Datum values[2] = {CStringGetTextDatum(keys[i]), CStringGetTextDatum(vals[i])};
        bool nulls[2] = {false, false};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
}

void resolve_core(FunctionCallInfo fcinfo)
{
    ArrayType *array = PG_GETARG_ARRAYTYPE_P(0);
    Datum *elems;
    bool *elem_nulls;
    int nkeys;
    deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &elem_nulls, &nkeys);

    const char *tenant = GetConfigOption("app.current_tenant_id", true, false);
    if (tenant == nullptr || tenant[0] == '\0')
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE), errmsg("no tenant context"),
                        errhint("Call pm.set_context(tenant_id uuid) in this transaction first.")));
    /* Tenant as 32 lowercase hex digits, as keys carry it. */
    char tenant_hex[33];
    int t = 0;
    for (const char *p = tenant; *p && t < 32; ++p)
        if (*p != '-' && *p != '{' && *p != '}')
            tenant_hex[t++] = (char) tolower((unsigned char) *p);
    tenant_hex[t] = '\0';

    Oid *servers = nullptr;
    int nshards = pmfdw_tier_servers("content", &servers);

    /* Keys per shard, as text[] literals. */
    StringInfoData *lists = (StringInfoData *) palloc0(sizeof(StringInfoData) * nshards);
    int *counts = (int *) palloc0(sizeof(int) * nshards);
    for (int s = 0; s < nshards; ++s) {
        initStringInfo(&lists[s]);
        appendStringInfoChar(&lists[s], '{');
    }
    for (int k = 0; k < nkeys; ++k) {
        if (elem_nulls[k])
            continue;
        char *key = TextDatumGetCString(elems[k]);
        pm::storage_key::ParseResult parsed = pm::storage_key::try_parse(key);
        if (!parsed.ok())
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("invalid storage key \"%.80s\"", key)));
        const char *tenant_part = key + 5; /* after pmk1. */
        tenant_part = strchr(tenant_part, '.') + 1;
        if (strncmp(tenant_part, tenant_hex, 32) != 0)
            ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                            errmsg("storage key \"%.80s\" belongs to another tenant", key),
                            errdetail("Content is resolved for the caller's tenant only.")));
        int shard = nshards > 1 ? pm::storage_key::shard_of(parsed.key.digest, nshards) : 0;
        if (counts[shard]++ > 0)
            appendStringInfoChar(&lists[shard], ',');
        appendStringInfoString(&lists[shard], key); /* keys are [a-z0-9.]: no quoting */
    }

    InitMaterializedSRF(fcinfo, 0);
    ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
    AttInMetadata *attinmeta = TupleDescGetAttInMetadata(rsinfo->setDesc);
    const char *sql = "SELECT storage_key, tenant_id, content_text, content_html, headers, "
                      "raw_size_bytes, created_at, expires_at FROM pm_content.get_many($1::text[])";

    /* Send to every shard first, then collect: the shards work in parallel. */
    PmFdwConn **conns = (PmFdwConn **) palloc0(sizeof(PmFdwConn *) * nshards);
    for (int s = 0; s < nshards; ++s) {
        if (counts[s] == 0)
            continue;
        appendStringInfoChar(&lists[s], '}');
        ForeignServer *server = GetForeignServer(servers[s]);
        UserMapping *user = GetUserMapping(GetUserId(), server->serverid);
        PmFdwOptions opts;
        pmfdw_server_options(server, &opts);
        conns[s] = pmfdw_connect(server, user, &opts, true);
        if (conns[s] == nullptr)
            continue;
        const char *values[1] = {lists[s].data};
        if (!PQsendQueryParams(pmfdw_pgconn(conns[s]), sql, 1, nullptr, values, nullptr, nullptr, 0))
            pmfdw_report(ERROR, nullptr, conns[s], sql);
    }
    int natts = rsinfo->setDesc->natts;
    char **cols = (char **) palloc0(sizeof(char *) * natts);
    for (int s = 0; s < nshards; ++s) {
        if (conns[s] == nullptr)
            continue;
        PGresult *res = pmfdw_get_result(conns[s]);
        PGresult *extra;
        while ((extra = pmfdw_get_result(conns[s])) != nullptr)
            PQclear(extra);
        if (res == nullptr || PQresultStatus(res) != PGRES_TUPLES_OK)
            pmfdw_report(ERROR, res, conns[s], sql);
        int rows = PQntuples(res);
        /* Copy out, then build (input functions may raise). */
        char ***copy = (char ***) palloc0(sizeof(char **) * (rows + 1));
        for (int r = 0; r < rows; ++r) {
            copy[r] = (char **) palloc0(sizeof(char *) * natts);
            for (int c = 0; c < natts && c < PQnfields(res); ++c)
                copy[r][c] = PQgetisnull(res, r, c) ? nullptr : pstrdup(PQgetvalue(res, r, c));
        }
        PQclear(res);
        for (int r = 0; r < rows; ++r) {
            for (int c = 0; c < natts; ++c)
                cols[c] = copy[r][c];
            tuplestore_puttuple(rsinfo->setResult, BuildTupleFromCStrings(attinmeta, cols));
        }
    }
}

Datum put_body_core(FunctionCallInfo fcinfo)
{
    Name server_name = PG_GETARG_NAME(0);
    ForeignServer *server = GetForeignServerByName(NameStr(*server_name), false);
    UserMapping *user = GetUserMapping(GetUserId(), server->serverid);
    PmFdwOptions opts;
    pmfdw_server_options(server, &opts);
    PmFdwConn *conn = pmfdw_connect(server, user, &opts, false);
    const char *values[4];
    for (int i = 0; i < 4; ++i) {
        if (PG_ARGISNULL(i + 1)) {
            values[i] = nullptr;
            continue;
        }
        Oid type = get_fn_expr_argtype(fcinfo->flinfo, i + 1);
        Oid outfunc;
        bool varlena;
        getTypeOutputInfo(type, &outfunc, &varlena);
        values[i] = OidOutputFunctionCall(outfunc, PG_GETARG_DATUM(i + 1));
    }
    const char *sql = "SELECT pm_content.put_body($1::uuid, $2::text, $3::text, $4::jsonb)";
    pmfdw_sync_context(conn);
    PGresult *res = pmfdw_exec_params(conn, sql, 4, values);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        pmfdw_report(ERROR, res, conn, sql);
    char *key = pstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return CStringGetTextDatum(key);
}

} // namespace

/* Servers of a tier, by shard: pm.fdw_tier_shards, else the single pm_tier_<tier>. */
int pmfdw_tier_servers(const char *tier, Oid **servers)
{
    int n = 0;
    SPI_connect();
    char *sql = psprintf("SELECT s.oid FROM pm.fdw_tier_shards t JOIN pg_catalog.pg_foreign_server s "
                         "ON s.srvname = t.server WHERE t.tier = %s ORDER BY t.shard",
                         quote_literal_cstr(tier));
    if (SPI_execute(sql, true, 0) == SPI_OK_SELECT && SPI_processed > 0) {
        n = (int) SPI_processed;
        *servers = (Oid *) MemoryContextAlloc(TopTransactionContext, sizeof(Oid) * n);
        for (int i = 0; i < n; ++i) {
            bool isnull;
            (*servers)[i] = DatumGetObjectId(
                SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
        }
    }
    SPI_finish();
    if (n > 0)
        return n;
    char *name = psprintf("pm_tier_%s", tier);
    ForeignServer *server = GetForeignServerByName(name, true);
    if (server == nullptr)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("the %s tier is not linked", tier),
                        errhint("Call pm.link_tier('%s', conninfo, user_name, password) first.",
                                tier)));
    *servers = (Oid *) MemoryContextAlloc(TopTransactionContext, sizeof(Oid));
    (*servers)[0] = server->serverid;
    return 1;
}

extern "C" Datum pm_fdw_health(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        Datum result = (Datum) 0;
        pm::pg_call([&] { result = health_core(fcinfo); });
        return result;
    });
}

extern "C" Datum pm_fdw_conninfo(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        pm::pg_call([&] { conninfo_core(fcinfo); });
        return (Datum) 0;
    });
}

extern "C" Datum pm_resolve_content_many(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        pm::pg_call([&] { resolve_core(fcinfo); });
        return (Datum) 0;
    });
}

extern "C" Datum pm_fdw_put_body(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        Datum result = (Datum) 0;
        pm::pg_call([&] { result = put_body_core(fcinfo); });
        return result;
    });
}
