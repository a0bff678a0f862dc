/*
 * options.cpp — the pm_fdw validator and the run-time view of options.
 *
 * Each option is checked on its own (fdw/common/fdw_options.cpp): unknown option, wrong
 * object, bad value, or an option only a superuser may set each get their own SQLSTATE and
 * a message naming the option and what was expected.  Secret values are never echoed.
 */
#include "pm_fdw.h"
#include "fdw/common/fdw_options.h"

extern "C" {
#include "access/reloptions.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_user_mapping.h"
#include "catalog/pg_attribute.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(pm_fdw_validator);
}

#include <cstring>

namespace {

pm::fdw::Context context_of(Oid catalog)
{
    switch (catalog) {
    case ForeignServerRelationId: return pm::fdw::Context::Server;
    case UserMappingRelationId: return pm::fdw::Context::UserMapping;
    case ForeignTableRelationId: return pm::fdw::Context::Table;
    case AttributeRelationId: return pm::fdw::Context::Column;
    default: return pm::fdw::Context::Wrapper;
    }
}

struct CheckResult {
    int sqlstate;
    char *message;
    char *hint;
};

/* The C++ check, its strings copied to palloc'd memory before anything may raise. */
bool check_one(const char *name, const char *value, pm::fdw::Context ctx, bool is_superuser,
               CheckResult *out) noexcept
{
    try {
        pm::fdw::Check check = pm::fdw::check_option(name, value, ctx, is_superuser);
        if (check.ok())
            return true;
        switch (check.verdict) {
        case pm::fdw::Verdict::Unknown:
        case pm::fdw::Verdict::WrongContext:
            out->sqlstate = ERRCODE_FDW_INVALID_OPTION_NAME;
            break;
        case pm::fdw::Verdict::NeedSuperuser:
            out->sqlstate = ERRCODE_INSUFFICIENT_PRIVILEGE;
            break;
        default:
            out->sqlstate = ERRCODE_INVALID_PARAMETER_VALUE;
        }
        out->message = strdup(check.message.c_str());
        out->hint = strdup(check.hint.c_str());
        return false;
    } catch (...) {
        out->sqlstate = ERRCODE_INTERNAL_ERROR;
        out->message = strdup("could not validate the option");
        out->hint = strdup("");
        return false;
    }
}

} // namespace

extern "C" Datum pm_fdw_validator(PG_FUNCTION_ARGS)
{
    List *options = untransformRelOptions(PG_GETARG_DATUM(0));
    Oid catalog = PG_GETARG_OID(1);
    pm::fdw::Context ctx = context_of(catalog);
    bool is_superuser = superuser();
    ListCell *lc;

    foreach (lc, options) {
        DefElem *def = (DefElem *) lfirst(lc);
        const char *value = defGetString(def);
        CheckResult r = {0, nullptr, nullptr};
        if (!check_one(def->defname, value, ctx, is_superuser, &r)) {
            char *message = pstrdup(r.message ? r.message : "invalid option");
            char *hint = (r.hint && r.hint[0]) ? pstrdup(r.hint) : nullptr;
            free(r.message);
            free(r.hint);
            ereport(ERROR, (errcode(r.sqlstate), errmsg_internal("%s", message),
                            hint ? errhint("%s", hint) : 0));
        }
    }
    PG_RETURN_VOID();
}

namespace {

void apply(PmFdwOptions *out, List *options)
{
    ListCell *lc;
    foreach (lc, options) {
        DefElem *def = (DefElem *) lfirst(lc);
        const char *v = defGetString(def);
        const char *n = def->defname;
        if (strcmp(n, "fetch_size") == 0)
            out->fetch_size = (int) pm::fdw::parse_int(v).value_or(out->fetch_size);
        else if (strcmp(n, "batch_size") == 0)
            out->batch_size = (int) pm::fdw::parse_int(v).value_or(out->batch_size);
        else if (strcmp(n, "on_unavailable") == 0)
            out->on_unavailable_empty = strcmp(v, "empty") == 0;
        else if (strcmp(n, "retry_interval") == 0)
            out->retry_interval_ms = pm::fdw::parse_duration_ms(v).value_or(out->retry_interval_ms);
        else if (strcmp(n, "retry_max") == 0)
            out->retry_max_ms = pm::fdw::parse_duration_ms(v).value_or(out->retry_max_ms);
        else if (strcmp(n, "updatable") == 0)
            out->updatable = pm::fdw::parse_bool(v).value_or(out->updatable);
        else if (strcmp(n, "propagate_tenant") == 0)
            out->propagate_tenant = pm::fdw::parse_bool(v).value_or(out->propagate_tenant);
        else if (strcmp(n, "response_timeout") == 0)
            out->response_timeout_ms =
                pm::fdw::parse_duration_ms(v).value_or(out->response_timeout_ms);
        else if (strcmp(n, "connect_timeout") == 0)
            out->connect_timeout_s = (int) pm::fdw::parse_int(v).value_or(out->connect_timeout_s);
        else if (strcmp(n, "tier") == 0)
            strlcpy(out->tier, v, sizeof(out->tier));
    }
}

} // namespace

void pmfdw_server_options(ForeignServer *server, PmFdwOptions *out)
{
    out->fetch_size = 1000;
    out->batch_size = 100;
    out->on_unavailable_empty = false;
    out->retry_interval_ms = 5000.0;
    out->retry_max_ms = 60000.0;
    out->updatable = true;
    out->propagate_tenant = true;
    out->connect_timeout_s = 2;
    out->response_timeout_ms = 30000.0;
    strlcpy(out->tier, server->servername, sizeof(out->tier));
    apply(out, server->options);
    if (out->retry_max_ms < out->retry_interval_ms)
        out->retry_max_ms = out->retry_interval_ms;
}

void pmfdw_table_options(Oid foreigntableid, PmFdwOptions *out)
{
    ForeignTable *table = GetForeignTable(foreigntableid);
    ForeignServer *server = GetForeignServer(table->serverid);
    pmfdw_server_options(server, out);
    apply(out, table->options);
}

void pmfdw_append_remote_table(StringInfo buf, Relation rel)
{
    ForeignTable *table = GetForeignTable(RelationGetRelid(rel));
    const char *nspname = nullptr;
    const char *relname = nullptr;
    ListCell *lc;
    foreach (lc, table->options) {
        DefElem *def = (DefElem *) lfirst(lc);
        if (strcmp(def->defname, "schema_name") == 0)
            nspname = defGetString(def);
        else if (strcmp(def->defname, "table_name") == 0)
            relname = defGetString(def);
    }
    if (nspname == nullptr)
        nspname = get_namespace_name(RelationGetNamespace(rel));
    if (relname == nullptr)
        relname = RelationGetRelationName(rel);
    appendStringInfo(buf, "%s.%s", quote_identifier(nspname), quote_identifier(relname));
}

const char *pmfdw_remote_column(Oid relid, AttrNumber attnum)
{
    List *options = GetForeignColumnOptions(relid, attnum);
    ListCell *lc;
    foreach (lc, options) {
        DefElem *def = (DefElem *) lfirst(lc);
        if (strcmp(def->defname, "column_name") == 0)
            return defGetString(def);
    }
    return get_attname(relid, attnum, false);
}
