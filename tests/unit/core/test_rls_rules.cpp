// Unit tests for the isolation rules pm.enable_*_isolation applies and pm.rls_audit() checks.
#include "core/pure/rls_rules.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace {

// Stand-in for PostgreSQL's quote_identifier(): enough to show the rules quote.
std::string quote(std::string_view name)
{
    bool plain = !name.empty();
    for (char c : name)
        plain = plain && ((c >= 'a' && c <= 'z') || c == '_' || (c >= '0' && c <= '9'));
    return plain ? std::string(name) : "\"" + std::string(name) + "\"";
}

pm::rls::TableFacts healthy_table()
{
    pm::rls::TableFacts facts;
    facts.registered = true;
    facts.rls_enabled = true;
    facts.rls_forced = true;
    facts.has_tenant_column = true;
    facts.tenant_column_type = "uuid";
    facts.tenant_column_not_null = true;
    facts.has_leading_index = true;
    pm::rls::PolicyFacts policy;
    policy.name = "tenant_isolation";
    policy.using_expr = policy.check_expr = "(tenant_id = pm.rls_tenant_id())";
    facts.policies.push_back(policy);
    return facts;
}

bool mentions(const std::vector<std::string> &problems, const std::string &needle)
{
    return std::any_of(problems.begin(), problems.end(),
                       [&](const std::string &p) { return p.find(needle) != std::string::npos; });
}

TEST(RlsRules, TenantPolicyExpressionMatchesDeparsedForm)
{
    pm::rls::Isolation isolation;
    EXPECT_EQ(pm::rls::policy_name(isolation), "tenant_isolation");
    EXPECT_EQ(pm::rls::policy_expression(isolation, quote), "(tenant_id = pm.rls_tenant_id())");
    isolation.tenant_column = "Org Id";
    EXPECT_EQ(pm::rls::policy_expression(isolation, quote), "(\"Org Id\" = pm.rls_tenant_id())");
}

TEST(RlsRules, UserPolicyAllowsTenantWideRowsOnlyWhenNullable)
{
    pm::rls::Isolation isolation;
    isolation.user_column = "user_id";
    EXPECT_EQ(pm::rls::policy_name(isolation), "tenant_user_isolation");
    EXPECT_EQ(pm::rls::policy_expression(isolation, quote),
              "((tenant_id = pm.rls_tenant_id()) AND (user_id = pm.current_user_id()))");
    isolation.user_nullable = true;
    EXPECT_EQ(pm::rls::policy_expression(isolation, quote),
              "((tenant_id = pm.rls_tenant_id()) AND ((user_id = pm.current_user_id()) OR "
              "(user_id IS NULL)))");
}

TEST(RlsRules, HealthyTableHasNoProblems)
{
    EXPECT_TRUE(pm::rls::audit_table(healthy_table(), quote).empty());
}

TEST(RlsRules, EachDefectIsReported)
{
    struct Case {
        void (*breaks)(pm::rls::TableFacts &);
        const char *expected;
    };
    const Case cases[] = {
        {[](auto &f) { f.registered = false; }, "not under tenant isolation"},
        {[](auto &f) { f.rls_enabled = false; }, "not enabled"},
        {[](auto &f) { f.rls_forced = false; }, "not forced"},
        {[](auto &f) { f.tenant_column_type = "text"; }, "has type text, expected uuid"},
        {[](auto &f) { f.tenant_column_not_null = false; }, "allows NULL"},
        {[](auto &f) { f.has_leading_index = false; }, "no index leads with"},
        {[](auto &f) { f.has_tenant_column = false; }, "does not exist"},
        {[](auto &f) { f.bypassing_owner = "owner_role"; }, "owner_role has BYPASSRLS"},
        {[](auto &f) { f.policies.clear(); }, "missing or altered"},
        {[](auto &f) { f.policies[0].check_expr.reset(); }, "missing or altered"},
        {[](auto &f) { f.policies[0].command = 'r'; }, "missing or altered"},
        {[](auto &f) { f.policies[0].applies_to_public = false; }, "missing or altered"},
        {[](auto &f) { f.policies[0].using_expr = "true"; }, "missing or altered"},
    };
    for (const Case &c : cases) {
        pm::rls::TableFacts facts = healthy_table();
        c.breaks(facts);
        const auto problems = pm::rls::audit_table(facts, quote);
        EXPECT_TRUE(mentions(problems, c.expected)) << "expected a problem mentioning: " << c.expected;
    }
}

TEST(RlsRules, ExtraPermissivePolicyWidensAccessButRestrictiveDoesNot)
{
    pm::rls::TableFacts facts = healthy_table();
    pm::rls::PolicyFacts restrictive;
    restrictive.name = "only_active";
    restrictive.permissive = false;
    restrictive.using_expr = "(status = 'active')";
    facts.policies.push_back(restrictive);
    EXPECT_TRUE(pm::rls::audit_table(facts, quote).empty());

    pm::rls::PolicyFacts permissive;
    permissive.name = "open_door";
    permissive.using_expr = "true";
    facts.policies.push_back(permissive);
    EXPECT_TRUE(mentions(pm::rls::audit_table(facts, quote), "\"open_door\""));
}

TEST(RlsRules, UserIsolatedTableExpectsItsOwnPolicy)
{
    pm::rls::TableFacts facts = healthy_table();
    facts.isolation.user_column = "user_id";
    // The plain tenant policy alone would expose every user's rows to the whole tenant.
    const auto problems = pm::rls::audit_table(facts, quote);
    EXPECT_TRUE(mentions(problems, "tenant_user_isolation"));
    EXPECT_TRUE(mentions(problems, "\"tenant_isolation\" is not the isolation policy"));
}

TEST(RlsRules, StaffOnlyTableAllowsNullTenantsAndNoPermissivePolicy)
{
    pm::rls::TableFacts facts = healthy_table();
    facts.isolation.staff_only = true;
    facts.tenant_column_not_null = false;  // NULL: a system-wide row
    facts.policies.clear();
    EXPECT_TRUE(pm::rls::audit_table(facts, quote).empty());
    EXPECT_EQ(pm::rls::policy_name(facts.isolation), "");

    // No tenant policy, so no index it would need (the outbox has none on tenant_id); a
    // tenant-isolated table without one is still a problem.
    facts.has_leading_index = false;
    EXPECT_TRUE(pm::rls::audit_table(facts, quote).empty());
    facts.isolation.staff_only = false;
    facts.tenant_column_not_null = true;
    facts.policies = healthy_table().policies;
    EXPECT_TRUE(mentions(pm::rls::audit_table(facts, quote), "no index leads with"));
    facts.isolation.staff_only = true;
    facts.tenant_column_not_null = false;
    facts.has_leading_index = true;
    facts.policies.clear();

    // Any permissive policy, even the tenant one, would let pm_app read rows.
    facts.policies = healthy_table().policies;
    EXPECT_TRUE(mentions(pm::rls::audit_table(facts, quote), "opens a staff-only table"));

    facts.policies.clear();
    facts.rls_forced = false;
    EXPECT_TRUE(mentions(pm::rls::audit_table(facts, quote), "not forced"));
    facts.rls_forced = true;
    facts.tenant_column_type = "text";
    EXPECT_TRUE(mentions(pm::rls::audit_table(facts, quote), "expected uuid"));
}

} // namespace
