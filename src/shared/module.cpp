/*
 * module.cpp — the penguinmails shared library: module magic and settings.
 * One library serves every pm_* extension (module_pathname in each control file).
 */
#include "shared/boundary.h"
#include "content/settings.h"
#include "core/tenant_context.h"
#include "fdw/pm_fdw.h"
#include "outbox/settings.h"

extern "C" {
#include "miscadmin.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void _PG_init(void);
}

namespace {

const struct config_enum_entry kMissingTenantContextOptions[] = {
    {"error", static_cast<int>(pm::MissingTenantContext::Error), false},
    {"deny", static_cast<int>(pm::MissingTenantContext::Deny), false},
    {nullptr, 0, false},
};

} // namespace

void _PG_init(void)
{
    DefineCustomEnumVariable(
        "pm.missing_tenant_context",
        "What pm.rls_tenant_id() does when no tenant context is set.",
        "error raises SQLSTATE 42501 so an application bug shows up; deny returns NULL so "
        "policies match no row.",
        &pm::missing_tenant_context_setting, static_cast<int>(pm::MissingTenantContext::Error),
        kMissingTenantContextOptions, PGC_USERSET, 0, nullptr, nullptr, nullptr);

    pm::define_context_settings();

    /* pm_fdw: server health in shared memory when preloaded. */
    pmfdw_init();

    /* The event outbox (before the prefix is reserved, which would discard the values of
     * postgresql.conf); its shipper workers exist only when the library is preloaded. */
    pm::outbox::define_settings();
    if (process_shared_preload_libraries_in_progress)
        pm::outbox::register_workers();

    /* Every pm.* setting belongs to this library: catch typos instead of making placeholders. */
    MarkGUCPrefixReserved("pm");

    /* Defined whenever the library loads, so SET pm_content.* is validated (and a typo
     * refused) before the first content call of a session, like any built-in setting. */
    pm::content_define_settings();
}
