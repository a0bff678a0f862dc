/*
 * rls_rules.h — what a correctly isolated table looks like, without PostgreSQL.
 *
 * The policy text produced here is what pm.enable_*_isolation creates and what
 * pm.rls_audit() expects to read back from pg_get_expr() (with search_path
 * pinned to pg_catalog, so function names come back schema-qualified).
 */
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pm::rls {

/* How rows of a table are isolated. */
struct Isolation {
    std::string tenant_column = "tenant_id";
    std::optional<std::string> user_column; /* set: per-user isolation */
    bool user_nullable = false;             /* NULL user = tenant-wide row */
    /* Staff only (pm.enable_staff_only): RLS on and forced with no permissive policy, so
     * only BYPASSRLS roles (pm_staff, pm_service) see rows; the tenant column may be NULL
     * (rows that concern no tenant). */
    bool staff_only = false;
};

/* Name of the single policy each isolation mode creates ("" for staff only: none). */
std::string policy_name(const Isolation &isolation);

/* Quotes an identifier the way the server does (PostgreSQL's quote_identifier). */
using QuoteIdentifier = std::string (*)(std::string_view);

/* The USING / WITH CHECK expression, as pg_get_expr() prints it. */
std::string policy_expression(const Isolation &isolation, QuoteIdentifier quote);

/* A policy as read from pg_policy. */
struct PolicyFacts {
    std::string name;
    bool permissive = true;
    char command = '*';          /* polcmd: '*' = ALL */
    bool applies_to_public = true;
    std::optional<std::string> using_expr;
    std::optional<std::string> check_expr;
};

/* Everything the audit looks at for one table. */
struct TableFacts {
    Isolation isolation;
    bool registered = false;     /* in pm.tenant_tables */
    bool rls_enabled = false;
    bool rls_forced = false;
    bool has_tenant_column = false;
    std::string tenant_column_type; /* format_type() */
    bool tenant_column_not_null = false;
    bool has_leading_index = false;
    std::optional<std::string> bypassing_owner; /* owner with BYPASSRLS (not superuser) */
    std::vector<PolicyFacts> policies;
};

/* One line per problem; empty when the table is correctly isolated. */
std::vector<std::string> audit_table(const TableFacts &facts, QuoteIdentifier quote);

} // namespace pm::rls
