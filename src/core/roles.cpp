/*
 * roles.cpp — the three roles every tier shares and what they may touch.
 *
 *   pm_app      applications; subject to RLS; per table what pm.table_access says
 *   pm_staff    PenguinMails staff; BYPASSRLS; reads every table of the pm_* schemas
 *   pm_service  background jobs, rollups, maintenance; BYPASSRLS; reads and writes them
 *
 * Extension scripts create no roles (roles are cluster-wide); they call
 * pm.apply_grants(), which grants to whichever roles already exist, and
 * pm.ensure_roles() creates the missing ones and then grants.
 */
#include "shared/boundary.h"
#include "shared/spi_session.h"

extern "C" {
#include "commands/extension.h"

PG_FUNCTION_INFO_V1(pm_set_table_access);
PG_FUNCTION_INFO_V1(pm_apply_grants);
PG_FUNCTION_INFO_V1(pm_ensure_roles);
}

#include <vector>

namespace pm {
namespace {

struct RoleSpec {
    const char *name;
    const char *attributes;
};

constexpr RoleSpec kRoles[] = {
    {"pm_app", "NOLOGIN NOBYPASSRLS"},
    {"pm_staff", "NOLOGIN BYPASSRLS"},
    {"pm_service", "NOLOGIN BYPASSRLS"},
};

std::string app_privileges(const std::string &access)
{
    if (access == "write")
        return "SELECT, INSERT, UPDATE, DELETE";
    if (access == "read")
        return "SELECT";
    return {};
}

/* Not read-only: it must see roles created earlier in the same call. */
bool role_exists(SpiSession &spi, const char *role)
{
    return spi.execute("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1",
                       {std::string(role)}) > 0;
}

/* Grants on one table; `table` is regclass text (schema-qualified, quoted). */
void grant_table(SpiSession &spi, const std::string &table, const std::string &app_access,
                 bool have_app, bool have_staff, bool have_service)
{
    /* Credentials (pm.outbox_sink_secrets): superusers only, not even staff or services. */
    if (app_access == "secret") {
        for (const RoleSpec &role : kRoles)
            if (role_exists(spi, role.name))
                spi.execute("REVOKE ALL ON " + table + " FROM " + role.name);
        return;
    }
    if (have_app) {
        /* Revoke first so a narrowed access level takes effect. */
        spi.execute("REVOKE ALL ON " + table + " FROM pm_app");
        const std::string privileges = app_privileges(app_access);
        if (!privileges.empty())
            spi.execute("GRANT " + privileges + " ON " + table + " TO pm_app");
    }
    if (have_staff)
        spi.execute("GRANT SELECT ON " + table + " TO pm_staff");
    if (have_service)
        spi.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON " + table + " TO pm_service");
}

/* The schemas of pm_core and of every installed pm_* extension. */
constexpr const char *kSchemasQuery = R"SQL(
SELECT DISTINCT n.nspname::text
FROM pg_catalog.pg_extension e
JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname LIKE 'pm\_%'
ORDER BY 1
)SQL";

constexpr const char *kTablesQuery = R"SQL(
SELECT c.oid::pg_catalog.regclass::pg_catalog.text, coalesce(a.app_access, 'none')
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pm.table_access a ON a.tbl = c.oid
WHERE n.nspname = ANY ($1::pg_catalog.text[]) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND NOT c.relispartition
ORDER BY 1
)SQL";

void apply_grants(SpiSession &spi)
{
    const bool have_app = role_exists(spi, "pm_app");
    const bool have_staff = role_exists(spi, "pm_staff");
    const bool have_service = role_exists(spi, "pm_service");
    if (!have_app && !have_staff && !have_service)
        return;

    std::vector<std::string> schemas;
    const uint64 nschemas = spi.execute(kSchemasQuery, true);
    for (uint64 row = 0; row < nschemas; row++)
        schemas.push_back(spi.value(row, 1).value_or(""));

    std::string schema_array = "{";
    for (const std::string &schema : schemas) {
        std::string roles;
        for (const RoleSpec &role : kRoles)
            if (role_exists(spi, role.name))
                roles += (roles.empty() ? "" : ", ") + std::string(role.name);
        spi.execute("GRANT USAGE ON SCHEMA " + quote_ident(schema) + " TO " + roles);
        if (have_app || have_service)
            spi.execute("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA " + quote_ident(schema) +
                        " TO " + std::string(have_app ? "pm_app" : "") +
                        (have_app && have_service ? ", " : "") +
                        std::string(have_service ? "pm_service" : ""));
        /* Array literal element: double-quote and escape for the text[] input parser. */
        std::string element = "\"";
        for (char c : schema) {
            if (c == '"' || c == '\\')
                element.push_back('\\');
            element.push_back(c);
        }
        schema_array += (schema_array.size() > 1 ? "," : "") + element + "\"";
    }
    schema_array += "}";

    std::vector<std::pair<std::string, std::string>> tables;
    const uint64 ntables = spi.execute(kTablesQuery, {schema_array}, true);
    for (uint64 row = 0; row < ntables; row++)
        tables.emplace_back(spi.value(row, 1).value_or(""), spi.value(row, 2).value_or("none"));
    for (const auto &[table, access] : tables)
        grant_table(spi, table, access, have_app, have_staff, have_service);
}

} // namespace
} // namespace pm

extern "C" Datum pm_set_table_access(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        const Oid relid = PG_GETARG_OID(0);
        const std::string access = pm::to_string(PG_GETARG_TEXT_PP(1));
        if (access != "write" && access != "read" && access != "none" && access != "secret")
            throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                               "invalid app_access \"" + access + "\"",
                               {}, "Expected one of: write, read, none, secret.");
        pm::SpiSession spi;
        spi.execute("INSERT INTO pm.table_access (tbl, app_access, from_extension_script) "
                    "VALUES ($1::pg_catalog.oid, $2, $3::boolean) "
                    "ON CONFLICT (tbl) DO UPDATE SET app_access = EXCLUDED.app_access",
                    {std::to_string(relid), access, pm::bool_text(creating_extension)});
        PG_RETURN_VOID();
    });
}

extern "C" Datum pm_apply_grants([[maybe_unused]] PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        pm::SpiSession spi;
        pm::apply_grants(spi);
        PG_RETURN_VOID();
    });
}

extern "C" Datum pm_ensure_roles([[maybe_unused]] PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        pm::SpiSession spi;
        for (const pm::RoleSpec &role : pm::kRoles) {
            /* ALTER as well: an existing pm_app with BYPASSRLS would silently defeat RLS. */
            if (pm::role_exists(spi, role.name))
                spi.execute(std::string("ALTER ROLE ") + role.name + " " + role.attributes);
            else
                spi.execute(std::string("CREATE ROLE ") + role.name + " " + role.attributes);
        }
        pm::apply_grants(spi);
        PG_RETURN_VOID();
    });
}
