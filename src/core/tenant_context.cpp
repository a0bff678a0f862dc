/*
 * tenant_context.cpp — pm.set_context and the functions RLS policies call.
 *
 * The context lives in two ordinary settings (app.current_tenant_id,
 * app.current_user_id) so pooled connections can set it transaction-locally and
 * the source design's SQL keeps working.  Policies evaluate pm.rls_tenant_id()
 * once per index scan but once per row on sequential scans, so the parsed value
 * is cached and re-parsed only when the setting's text changes.
 */
#include "shared/boundary.h"
#include "shared/pure/uuid_text.h"
#include "core/tenant_context.h"

extern "C" {
#include "utils/guc.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(pm_set_context);
PG_FUNCTION_INFO_V1(pm_current_tenant_id);
PG_FUNCTION_INFO_V1(pm_current_user_id);
PG_FUNCTION_INFO_V1(pm_rls_tenant_id);
PG_FUNCTION_INFO_V1(pm_require_tenant);
}

#include <cstring>

namespace pm {

int missing_tenant_context_setting = static_cast<int>(MissingTenantContext::Error);

namespace {

class ParsedSetting {
public:
    explicit ParsedSetting(const char *name) : name_(name) {}

    /* The setting's uuid, or nullptr when unset or empty; SqlError 22P02 when malformed. */
    const UuidBytes *get()
    {
        const char *raw = GetConfigOption(name_, true, false);
        if (raw == nullptr || raw[0] == '\0')
            return nullptr;
        if (cached_ && std::strcmp(raw, cached_text_) == 0)
            return &cached_value_;

        std::optional<UuidBytes> parsed = parse_uuid(raw);
        if (!parsed)
            throw SqlError(ERRCODE_INVALID_TEXT_REPRESENTATION,
                           std::string("invalid value for setting \"") + name_ + "\": \"" +
                               truncate(raw) + "\" is not a uuid",
                           {}, "Set the context with pm.set_context(tenant_id uuid, user_id uuid).");

        /* Valid uuid text is at most 38 characters (braces, hyphens); always fits. */
        const std::size_t len = std::strlen(raw);
        if (len < sizeof(cached_text_)) {
            std::memcpy(cached_text_, raw, len + 1);
            cached_value_ = *parsed;
            cached_ = true;
            return &cached_value_;
        }
        scratch_ = *parsed;
        return &scratch_;
    }

private:
    static std::string truncate(const char *raw)
    {
        std::string s(raw);
        return s.size() > 64 ? s.substr(0, 64) + "..." : s;
    }

    const char *name_;
    bool cached_ = false;
    char cached_text_[64] = {};
    UuidBytes cached_value_{};
    UuidBytes scratch_{};
};

ParsedSetting tenant_setting(kTenantSetting);
ParsedSetting user_setting(kUserSetting);

Datum uuid_datum(const UuidBytes &value)
{
    auto *out = static_cast<pg_uuid_t *>(palloc(sizeof(pg_uuid_t)));
    std::memcpy(out->data, value.data(), UUID_LEN);
    return UUIDPGetDatum(out);
}

UuidBytes uuid_bytes(Datum datum)
{
    UuidBytes out;
    std::memcpy(out.data(), DatumGetUUIDP(datum)->data, UUID_LEN);
    return out;
}

[[noreturn]] void raise_no_tenant_context()
{
    throw SqlError(ERRCODE_INSUFFICIENT_PRIVILEGE, "no tenant context",
                   std::string("Setting \"") + kTenantSetting + "\" is not set.",
                   "Call pm.set_context(tenant_id uuid) in this transaction first.");
}

void set_setting(const char *name, const std::string &value, bool is_local)
{
    pg_call([&] {
        set_config_option(name, value.c_str(), PGC_USERSET, PGC_S_SESSION,
                          is_local ? GUC_ACTION_LOCAL : GUC_ACTION_SET, true, 0, false);
    });
}

} // namespace
} // namespace pm

extern "C" Datum pm_set_context(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        if (PG_ARGISNULL(2))
            throw pm::SqlError(ERRCODE_NULL_VALUE_NOT_ALLOWED,
                               "is_local must not be NULL",
                               {}, "Pass true (transaction-local) or false (session).");
        const bool is_local = PG_GETARG_BOOL(2);
        /* NULL clears a setting: an empty value means "no context", never "all tenants". */
        const std::string tenant =
            PG_ARGISNULL(0) ? std::string() : pm::format_uuid(pm::uuid_bytes(PG_GETARG_DATUM(0)));
        const std::string user =
            PG_ARGISNULL(1) ? std::string() : pm::format_uuid(pm::uuid_bytes(PG_GETARG_DATUM(1)));
        pm::set_setting(pm::kTenantSetting, tenant, is_local);
        pm::set_setting(pm::kUserSetting, user, is_local);
        PG_RETURN_VOID();
    });
}

extern "C" Datum pm_current_tenant_id(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        const pm::UuidBytes *tenant = pm::tenant_setting.get();
        if (tenant == nullptr)
            PG_RETURN_NULL();
        return pm::uuid_datum(*tenant);
    });
}

extern "C" Datum pm_current_user_id(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        const pm::UuidBytes *user = pm::user_setting.get();
        if (user == nullptr)
            PG_RETURN_NULL();
        return pm::uuid_datum(*user);
    });
}

extern "C" Datum pm_rls_tenant_id(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        const pm::UuidBytes *tenant = pm::tenant_setting.get();
        if (tenant != nullptr)
            return pm::uuid_datum(*tenant);
        if (pm::missing_tenant_context_setting ==
            static_cast<int>(pm::MissingTenantContext::Deny))
            PG_RETURN_NULL();
        pm::raise_no_tenant_context();
    });
}

extern "C" Datum pm_require_tenant([[maybe_unused]] PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        const pm::UuidBytes *tenant = pm::tenant_setting.get();
        if (tenant == nullptr)
            pm::raise_no_tenant_context();
        return pm::uuid_datum(*tenant);
    });
}
