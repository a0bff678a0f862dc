/* tenant_tables.cpp — see tenant_tables.h. */
#include "core/tenant_tables.h"

namespace pm {

bool tenant_tables_has_staff_only(SpiSession &spi)
{
    spi.execute("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute "
                "WHERE attrelid = 'pm.tenant_tables'::pg_catalog.regclass "
                "AND attname = 'staff_only' AND NOT attisdropped)",
                true);
    return spi.value(0, 1).value_or("f") == "t";
}

} // namespace pm
