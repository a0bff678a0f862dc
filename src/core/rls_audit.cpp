/*
 * rls_audit.cpp — pm.rls_audit(): gathers catalog facts for every table that is
 * tenant-owned (a tenant_id column, or registered in pm.tenant_tables) and asks
 * rls_rules what is wrong with each.  A partition is audited on its own (a query that
 * names it directly meets only its own policies) under the registration of its root.
 */
#include "shared/boundary.h"
#include "core/pure/rls_rules.h"
#include "core/tenant_tables.h"
#include "shared/spi_session.h"

extern "C" {
#include "funcapi.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(pm_rls_audit);
}

#include <map>
#include <vector>

namespace pm {
namespace {

/* One row per candidate table, ordered by name for a stable report. */
constexpr const char *kTableFactsQuery = R"SQL(
WITH candidates AS (
    SELECT c.oid AS relid
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_catalog.pg_attribute a
      ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND a.attnum > 0 AND NOT a.attisdropped
    WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't'
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\_toast%'
    UNION
    SELECT c.oid FROM pm.tenant_tables t
    JOIN pg_catalog.pg_class c
      ON coalesce(pg_catalog.pg_partition_root(c.oid)::pg_catalog.oid, c.oid) = t.tbl
)
SELECT c.oid,
       coalesce(t.tenant_column, 'tenant_id'),
       t.user_column,
       coalesce(t.user_nullable, false),
       t.tbl IS NOT NULL,
       c.relrowsecurity,
       c.relforcerowsecurity,
       a.attnum IS NOT NULL,
       pg_catalog.format_type(a.atttypid, a.atttypmod),
       coalesce(a.attnotnull, false),
       EXISTS (SELECT 1 FROM pg_catalog.pg_index i
               WHERE i.indrelid = c.oid AND i.indkey[0] = a.attnum
                 AND i.indpred IS NULL AND i.indisvalid),
       (SELECT r.rolname FROM pg_catalog.pg_roles r
        WHERE r.oid = c.relowner AND r.rolbypassrls AND NOT r.rolsuper),
       %STAFF_ONLY%
FROM candidates k
JOIN pg_catalog.pg_class c ON c.oid = k.relid
LEFT JOIN pm.tenant_tables t
  ON t.tbl = coalesce(pg_catalog.pg_partition_root(c.oid)::pg_catalog.oid, c.oid)
LEFT JOIN pg_catalog.pg_attribute a
  ON a.attrelid = c.oid AND a.attname = coalesce(t.tenant_column, 'tenant_id')
 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.oid::pg_catalog.regclass::pg_catalog.text
)SQL";

constexpr const char *kPolicyFactsQuery = R"SQL(
SELECT p.polrelid, p.polname, p.polpermissive, p.polcmd, p.polroles = '{0}',
       pg_catalog.pg_get_expr(p.polqual, p.polrelid),
       pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)
FROM pg_catalog.pg_policy p
ORDER BY p.polrelid, p.polname
)SQL";

struct AuditRow {
    Oid relid;
    std::string problem;
};

std::vector<AuditRow> run_audit()
{
    SpiSession spi;
    std::map<Oid, std::vector<rls::PolicyFacts>> policies;
    const uint64 npolicies = spi.execute(kPolicyFactsQuery, true);
    for (uint64 row = 0; row < npolicies; row++) {
        rls::PolicyFacts policy;
        policy.name = spi.value(row, 2).value_or("");
        policy.permissive = is_true(spi.value(row, 3));
        policy.command = spi.value(row, 4).value_or("*")[0];
        policy.applies_to_public = is_true(spi.value(row, 5));
        policy.using_expr = spi.value(row, 6);
        policy.check_expr = spi.value(row, 7);
        policies[static_cast<Oid>(std::stoul(spi.value(row, 1).value_or("0")))].push_back(policy);
    }

    std::string facts_query = kTableFactsQuery;
    facts_query.replace(facts_query.find("%STAFF_ONLY%"), 12,
                        tenant_tables_has_staff_only(spi) ? "coalesce(t.staff_only, false)"
                                                          : "false");

    std::vector<AuditRow> out;
    const uint64 ntables = spi.execute(facts_query, true);
    for (uint64 row = 0; row < ntables; row++) {
        const Oid relid = static_cast<Oid>(std::stoul(spi.value(row, 1).value_or("0")));
        rls::TableFacts facts;
        facts.isolation.tenant_column = spi.value(row, 2).value_or("tenant_id");
        facts.isolation.user_column = spi.value(row, 3);
        facts.isolation.user_nullable = is_true(spi.value(row, 4));
        facts.registered = is_true(spi.value(row, 5));
        facts.rls_enabled = is_true(spi.value(row, 6));
        facts.rls_forced = is_true(spi.value(row, 7));
        facts.has_tenant_column = is_true(spi.value(row, 8));
        facts.tenant_column_type = spi.value(row, 9).value_or("");
        facts.tenant_column_not_null = is_true(spi.value(row, 10));
        facts.has_leading_index = is_true(spi.value(row, 11));
        facts.bypassing_owner = spi.value(row, 12);
        facts.isolation.staff_only = is_true(spi.value(row, 13));
        facts.policies = policies[relid];
        for (std::string &problem : rls::audit_table(facts, quote_ident))
            out.push_back({relid, std::move(problem)});
    }
    return out;
}

} // namespace
} // namespace pm

extern "C" Datum pm_rls_audit(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        const std::vector<pm::AuditRow> rows = pm::run_audit();
        pm::pg_call([&] {
            InitMaterializedSRF(fcinfo, 0);
            auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
            for (const pm::AuditRow &row : rows) {
                Datum values[2] = {ObjectIdGetDatum(row.relid),
                                   CStringGetTextDatum(row.problem.c_str())};
                bool nulls[2] = {false, false};
                tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
            }
        });
        return (Datum) 0;
    });
}
