/*
 * rls_isolation.cpp — pm.enable_tenant_isolation / pm.enable_user_isolation /
 * pm.enable_staff_only.
 *
 * The first two put one permissive FOR ALL policy on the table (and on every existing
 * partition, since a partition queried directly is checked by its own policies); staff
 * only puts none, so only BYPASSRLS roles read it.  Each enables and forces RLS and
 * records the table in pm.tenant_tables for pm.rls_audit().  Re-running changes nothing: catalog state that already
 * matches is left alone.
 */
#include "shared/boundary.h"
#include "core/pure/rls_rules.h"
#include "core/tenant_tables.h"
#include "shared/spi_session.h"

extern "C" {
#include "access/htup_details.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(pm_enable_tenant_isolation);
PG_FUNCTION_INFO_V1(pm_enable_user_isolation);
PG_FUNCTION_INFO_V1(pm_enable_staff_only);
}

#include <vector>

namespace pm {
namespace {

/* With search_path pinned to pg_catalog (see the SQL definitions), regclass
 * output is always schema-qualified and quoted as needed: safe to splice into DDL. */
std::string regclass_text(Oid relid)
{
    char *text = nullptr;
    pg_call([&] {
        text = DatumGetCString(DirectFunctionCall1(regclassout, ObjectIdGetDatum(relid)));
    });
    return text;
}

/* Checks that `column` exists on `relid` with type uuid; returns whether it is nullable. */
bool check_uuid_column(Oid relid, const std::string &column, const char *what)
{
    const std::string table = regclass_text(relid);
    AttrNumber attnum = InvalidAttrNumber;
    Oid type = InvalidOid;
    pg_call([&] {
        attnum = get_attnum(relid, column.c_str());
        if (attnum != InvalidAttrNumber)
            type = get_atttype(relid, attnum);
    });
    if (attnum == InvalidAttrNumber)
        throw SqlError(ERRCODE_UNDEFINED_COLUMN,
                       std::string(what) + " column \"" + column + "\" of table " + table +
                           " does not exist");
    if (type != UUIDOID) {
        char *type_name = nullptr;
        pg_call([&] { type_name = format_type_be(type); });
        throw SqlError(ERRCODE_DATATYPE_MISMATCH,
                       std::string(what) + " column \"" + column + "\" of table " + table +
                           " has type " + type_name + ", expected uuid");
    }
    bool not_null = false;
    pg_call([&] {
        HeapTuple tuple = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
        if (!HeapTupleIsValid(tuple))
            elog(ERROR, "cache lookup failed for attribute %d of relation %u", attnum, relid);
        not_null = reinterpret_cast<Form_pg_attribute>(GETSTRUCT(tuple))->attnotnull;
        ReleaseSysCache(tuple);
    });
    return !not_null;
}

void check_is_table(Oid relid)
{
    char relkind = '\0';
    pg_call([&] { relkind = get_rel_relkind(relid); });
    if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
        throw SqlError(ERRCODE_WRONG_OBJECT_TYPE,
                       "\"" + regclass_text(relid) + "\" is not a table",
                       "Row level security isolation applies to tables and partitioned tables.");
}

/* The table and all its partitions, locked against concurrent DDL. */
std::vector<Oid> table_and_partitions(Oid relid)
{
    std::vector<Oid> out;
    pg_call([&] {
        List *rels = find_all_inheritors(relid, AccessExclusiveLock, nullptr);
        ListCell *lc;
        foreach (lc, rels)
            out.push_back(lfirst_oid(lc));
    });
    return out;
}

void apply_policy(SpiSession &spi, Oid relid, const rls::Isolation &isolation)
{
    const std::string table = regclass_text(relid);
    const std::string oid_text = std::to_string(relid);

    spi.execute("SELECT relrowsecurity, relforcerowsecurity FROM pg_catalog.pg_class "
                "WHERE oid = $1::pg_catalog.oid",
                {oid_text}, true);
    const bool enabled = is_true(spi.value(0, 1));
    const bool forced = is_true(spi.value(0, 2));
    if (!enabled)
        spi.execute("ALTER TABLE " + table + " ENABLE ROW LEVEL SECURITY");
    if (!forced)
        spi.execute("ALTER TABLE " + table + " FORCE ROW LEVEL SECURITY");

    const std::string wanted_name = rls::policy_name(isolation);
    const std::string wanted_expr = rls::policy_expression(isolation, quote_ident);

    /* Either isolation policy may be there from an earlier call in the other mode. */
    const uint64 found = spi.execute(
        "SELECT polname::text, polpermissive AND polcmd = '*' AND polroles = '{0}' "
        "       AND pg_catalog.pg_get_expr(polqual, polrelid) = $2 "
        "       AND pg_catalog.pg_get_expr(polwithcheck, polrelid) = $2 "
        "FROM pg_catalog.pg_policy WHERE polrelid = $1::pg_catalog.oid "
        "AND polname IN ('tenant_isolation', 'tenant_user_isolation')",
        {oid_text, wanted_expr}, true);
    std::vector<std::string> stale;
    bool wanted_present = false;
    for (uint64 row = 0; row < found; row++) {
        const std::string name = spi.value(row, 1).value_or("");
        if (name == wanted_name && is_true(spi.value(row, 2)))
            wanted_present = true;
        else
            stale.push_back(name);
    }
    for (const std::string &name : stale)
        spi.execute("DROP POLICY " + quote_ident(name) + " ON " + table);
    if (!wanted_present && !isolation.staff_only)
        spi.execute("CREATE POLICY " + quote_ident(wanted_name) + " ON " + table +
                    " AS PERMISSIVE FOR ALL TO PUBLIC USING " + wanted_expr +
                    " WITH CHECK " + wanted_expr);
}

/* A partition is never an extension's object (partition_ddl.cpp), even when a script made
 * it: its registration is dumped with it. */
void register_table(SpiSession &spi, Oid relid, const rls::Isolation &isolation, bool is_root)
{
    const std::string oid_text = std::to_string(relid);
    /* Older catalogs (an earlier version's extension script, run by this library) have no
     * staff_only column; staff-only isolation itself exists only from pm_core 0.4 on. */
    const bool has_staff = tenant_tables_has_staff_only(spi);
    const std::string flag = isolation.staff_only ? "true" : "false";
    const std::string staff_column = has_staff ? ", staff_only" : "";
    const std::string staff_value = has_staff ? ", " + flag : "";
    const std::string staff_update = has_staff ? ", staff_only = " + flag : "";
    spi.execute(
        "INSERT INTO pm.tenant_tables AS t "
        "    (tbl, tenant_column, user_column, user_nullable, from_extension_script" +
            staff_column + ") "
        "VALUES ($1::pg_catalog.oid, $2, $3, $4::boolean, $5::boolean" + staff_value + ") "
        "ON CONFLICT (tbl) DO UPDATE SET tenant_column = EXCLUDED.tenant_column, "
        "    user_column = EXCLUDED.user_column, user_nullable = EXCLUDED.user_nullable" +
            staff_update + " "
        "WHERE (t.tenant_column, t.user_column, t.user_nullable) IS DISTINCT FROM "
        "      (EXCLUDED.tenant_column, EXCLUDED.user_column, EXCLUDED.user_nullable)" +
            (has_staff ? " OR t.staff_only IS DISTINCT FROM " + flag : ""),
        {oid_text, isolation.tenant_column, isolation.user_column,
         bool_text(isolation.user_nullable), bool_text(creating_extension && is_root)});
    /* Applications reach partitions through the root; an explicit choice made
     * with pm.set_table_access() is kept.  Staff-only tables get no grant at all. */
    if (is_root)
        spi.execute("INSERT INTO pm.table_access (tbl, app_access, from_extension_script) "
                    "VALUES ($1::pg_catalog.oid, $2, $3::boolean) "
                    "ON CONFLICT (tbl) DO NOTHING",
                    {oid_text, isolation.staff_only ? "none" : "write",
                     bool_text(creating_extension)});
}

/* Validates the table and its columns, then applies and records the isolation. */
void isolate(Oid relid, rls::Isolation isolation)
{
    check_is_table(relid);
    check_uuid_column(relid, isolation.tenant_column, "tenant");
    if (isolation.user_column)
        isolation.user_nullable = check_uuid_column(relid, *isolation.user_column, "user");

    const std::vector<Oid> relations = table_and_partitions(relid);
    SpiSession spi;
    for (Oid rel : relations) {
        apply_policy(spi, rel, isolation);
        register_table(spi, rel, isolation, rel == relid);
    }
}

std::string name_arg(FunctionCallInfo fcinfo, int argno)
{
    return NameStr(*PG_GETARG_NAME(argno));
}

} // namespace
} // namespace pm

extern "C" Datum pm_enable_tenant_isolation(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        pm::rls::Isolation isolation;
        isolation.tenant_column = pm::name_arg(fcinfo, 1);
        pm::isolate(PG_GETARG_OID(0), isolation);
        PG_RETURN_VOID();
    });
}

extern "C" Datum pm_enable_user_isolation(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        pm::rls::Isolation isolation;
        isolation.user_column = pm::name_arg(fcinfo, 1);
        isolation.tenant_column = pm::name_arg(fcinfo, 2);
        pm::isolate(PG_GETARG_OID(0), isolation);
        PG_RETURN_VOID();
    });
}

extern "C" Datum pm_enable_staff_only(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        pm::rls::Isolation isolation;
        isolation.staff_only = true;
        isolation.tenant_column = pm::name_arg(fcinfo, 1);
        pm::isolate(PG_GETARG_OID(0), isolation);
        PG_RETURN_VOID();
    });
}
