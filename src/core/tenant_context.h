/* tenant_context.h — the tenant/user context settings read by RLS policies. */
#pragma once

namespace pm {

enum class MissingTenantContext { Error = 0, Deny = 1 };

/* Backing variable of the setting pm.missing_tenant_context (a MissingTenantContext). */
extern int missing_tenant_context_setting;

constexpr const char *kTenantSetting = "app.current_tenant_id";
constexpr const char *kUserSetting = "app.current_user_id";

/* Defines kTenantSetting and kUserSetting (from _PG_init), so the library hears of every
 * change instead of looking the settings up by name on each policy evaluation. */
void define_context_settings();

} // namespace pm
