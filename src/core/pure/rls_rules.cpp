/* rls_rules.cpp — see rls_rules.h. */
#include "core/pure/rls_rules.h"

namespace pm::rls {

std::string policy_name(const Isolation &isolation)
{
    if (isolation.staff_only)
        return "";
    return isolation.user_column ? "tenant_user_isolation" : "tenant_isolation";
}

std::string policy_expression(const Isolation &isolation, QuoteIdentifier quote)
{
    const std::string tenant_match =
        "(" + quote(isolation.tenant_column) + " = pm.rls_tenant_id())";
    if (!isolation.user_column)
        return tenant_match;

    const std::string user = quote(*isolation.user_column);
    std::string user_match = "(" + user + " = pm.current_user_id())";
    if (isolation.user_nullable)
        user_match = "(" + user_match + " OR (" + user + " IS NULL))";
    return "(" + tenant_match + " AND " + user_match + ")";
}

std::vector<std::string> audit_table(const TableFacts &facts, QuoteIdentifier quote)
{
    std::vector<std::string> problems;
    const std::string &column = facts.isolation.tenant_column;

    if (!facts.has_tenant_column) {
        problems.push_back("tenant column \"" + column + "\" does not exist");
    } else {
        if (facts.tenant_column_type != "uuid")
            problems.push_back("tenant column \"" + column + "\" has type " +
                               facts.tenant_column_type + ", expected uuid");
        if (!facts.tenant_column_not_null && !facts.isolation.staff_only)
            problems.push_back("tenant column \"" + column + "\" allows NULL");
        /* The index lets the tenant policy be an index condition; a staff-only table has no
         * tenant policy (the outbox: written by one function, read by the shipper in order). */
        if (!facts.has_leading_index && !facts.isolation.staff_only)
            problems.push_back("no index leads with \"" + column +
                               "\": the policy cannot be used as an index condition");
    }
    if (!facts.registered)
        problems.push_back("has a tenant_id column but is not under tenant isolation "
                           "(run pm.enable_tenant_isolation)");
    if (!facts.rls_enabled)
        problems.push_back("row level security is not enabled");
    if (!facts.rls_forced)
        problems.push_back("row level security is not forced: the table owner bypasses it");
    if (facts.bypassing_owner)
        problems.push_back("owner " + *facts.bypassing_owner +
                           " has BYPASSRLS and bypasses the policy");

    if (facts.isolation.staff_only) {
        for (const PolicyFacts &policy : facts.policies)
            if (policy.permissive)
                problems.push_back("permissive policy \"" + policy.name +
                                   "\" opens a staff-only table to roles that are subject to RLS");
        return problems;
    }

    const std::string expected_name = policy_name(facts.isolation);
    const std::string expected_expr = policy_expression(facts.isolation, quote);
    bool expected_found = false;
    for (const PolicyFacts &policy : facts.policies) {
        if (!policy.permissive)
            continue; /* restrictive policies only narrow access further */
        if (policy.name == expected_name && policy.command == '*' && policy.applies_to_public &&
            policy.using_expr == expected_expr && policy.check_expr == expected_expr) {
            expected_found = true;
            continue;
        }
        if (policy.name == expected_name)
            continue; /* altered: reported once, below */
        /* Permissive policies are OR'ed: any other one can widen access. */
        problems.push_back("permissive policy \"" + policy.name +
                           "\" is not the isolation policy and can widen access");
    }
    if (facts.registered && !expected_found)
        problems.push_back("policy \"" + expected_name +
                           "\" is missing or altered: expected FOR ALL TO PUBLIC USING and WITH "
                           "CHECK " + expected_expr);
    return problems;
}

} // namespace pm::rls
