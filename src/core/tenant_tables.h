/*
 * tenant_tables.h — what the installed pm_core's registry of isolated tables looks like.
 *
 * One library serves every pm_core version: a database whose pm_core has not been
 * updated yet has an older pm.tenant_tables.
 */
#pragma once

#include "shared/spi_session.h"

namespace pm {

/* pm.tenant_tables.staff_only exists (pm_core 0.4 and later). */
bool tenant_tables_has_staff_only(SpiSession &spi);

} // namespace pm
