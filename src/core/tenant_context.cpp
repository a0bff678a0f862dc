/*
 * tenant_context.cpp — pm.set_context and the functions RLS policies call.
 *
 * The context lives in two ordinary settings (app.current_tenant_id,
 * app.current_user_id) so pooled connections can set it transaction-locally and
 * the source design's SQL keeps working.  Policies evaluate pm.rls_tenant_id()
 * once per index scan but once per row on sequential scans, so this library defines
 * the two settings itself and parses a value once, when it is assigned.
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

#include <algorithm>
#include <cstring>

namespace pm {

int missing_tenant_context_setting = static_cast<int>(MissingTenantContext::Error);

namespace {

/*
 * One context setting, parsed when it changes rather than when it is read.  The setting is
 * defined by this library, so PostgreSQL calls assign() on every SET, SET LOCAL, RESET and
 * transaction end that changes it; get() then costs a branch.  A policy's per-row call
 * used to look the setting up by name (a binary search over every GUC): on a whale
 * tenant's sequential scan that lookup was most of the policy's cost.
 */
class ParsedSetting {
public:
    explicit ParsedSetting(const char *name) : name_(name) {}

    const char *name() const { return name_; }

    /* Changes whenever the value may have: lets callers keep what they derived from it. */
    uint64 generation() const { return generation_; }

    /* The setting's uuid, or nullptr when unset or empty; SqlError 22P02 when malformed. */
    const UuidBytes *get() const
    {
        switch (state_) {
        case State::Unset:
            return nullptr;
        case State::Valid:
            return &value_;
        case State::Malformed:
            break;
        }
        throw SqlError(ERRCODE_INVALID_TEXT_REPRESENTATION,
                       std::string("invalid value for setting \"") + name_ + "\": \"" +
                           malformed_text_ + (malformed_truncated_ ? "..." : "") +
                           "\" is not a uuid",
                       {}, "Set the context with pm.set_context(tenant_id uuid, user_id uuid).");
    }

    /* GUC assign hooks must not fail: a malformed value is kept and reported by get(). */
    void assign(const char *raw) noexcept
    {
        generation_++;
        if (raw == nullptr || raw[0] == '\0') {
            state_ = State::Unset;
            return;
        }
        std::optional<UuidBytes> parsed = parse_uuid(raw);
        if (parsed) {
            value_ = *parsed;
            state_ = State::Valid;
            return;
        }
        const std::size_t len = std::strlen(raw);
        const std::size_t kept = std::min(len, kMessageChars);
        std::memcpy(malformed_text_, raw, kept);
        malformed_text_[kept] = '\0';
        malformed_truncated_ = len > kMessageChars;
        state_ = State::Malformed;
    }

private:
    enum class State { Unset, Valid, Malformed };
    static constexpr std::size_t kMessageChars = 64;

    const char *name_;
    uint64 generation_ = 0;
    State state_ = State::Unset;
    UuidBytes value_{};
    char malformed_text_[kMessageChars + 1] = {};
    bool malformed_truncated_ = false;
};

ParsedSetting tenant_setting(kTenantSetting);
ParsedSetting user_setting(kUserSetting);

Datum uuid_datum(const UuidBytes &value)
{
    auto *out = static_cast<pg_uuid_t *>(palloc(sizeof(pg_uuid_t)));
    std::memcpy(out->data, value.data(), UUID_LEN);
    return UUIDPGetDatum(out);
}

/* The setting's value as a Datum, allocated once per call site and value instead of once per
 * call: policies call this for every row of a sequential scan.  A new value gets a new
 * allocation, so a Datum handed out earlier in the query keeps its value. */
Datum setting_datum(FunctionCallInfo fcinfo, const ParsedSetting &setting, const UuidBytes &value)
{
    struct Cached {
        uint64 generation;
        pg_uuid_t uuid;
    };
    FmgrInfo *flinfo = fcinfo->flinfo;
    if (flinfo == nullptr)
        return uuid_datum(value);
    auto *cached = static_cast<Cached *>(flinfo->fn_extra);
    if (cached == nullptr || cached->generation != setting.generation()) {
        pg_call([&] {
            cached = static_cast<Cached *>(MemoryContextAlloc(flinfo->fn_mcxt, sizeof(Cached)));
        });
        cached->generation = setting.generation();
        std::memcpy(cached->uuid.data, value.data(), UUID_LEN);
        flinfo->fn_extra = cached;
    }
    return UUIDPGetDatum(&cached->uuid);
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

/* Backing storage PostgreSQL keeps the settings' text in; readers go through the parsed
 * copies above. */
char *tenant_setting_text = nullptr;
char *user_setting_text = nullptr;

void assign_tenant_setting(const char *newval, void *) { tenant_setting.assign(newval); }
void assign_user_setting(const char *newval, void *) { user_setting.assign(newval); }

} // namespace

void define_context_settings()
{
    /* No check hook: a malformed value is accepted by SET, as it was while the settings
     * were placeholders, and refused (22P02) by the first policy that reads it. */
    DefineCustomStringVariable(
        kTenantSetting, "Tenant whose rows RLS policies let this session see.",
        "Set with pm.set_context(tenant_id, user_id); empty means no tenant context.",
        &tenant_setting_text, "", PGC_USERSET, GUC_NOT_IN_SAMPLE, nullptr,
        assign_tenant_setting, nullptr);
    DefineCustomStringVariable(
        kUserSetting, "User whose per-user rows RLS policies let this session see.",
        "Set with pm.set_context(tenant_id, user_id); empty means no user context.",
        &user_setting_text, "", PGC_USERSET, GUC_NOT_IN_SAMPLE, nullptr,
        assign_user_setting, nullptr);
}

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
        return pm::setting_datum(fcinfo, pm::user_setting, *user);
    });
}

extern "C" Datum pm_rls_tenant_id(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        const pm::UuidBytes *tenant = pm::tenant_setting.get();
        if (tenant != nullptr)
            return pm::setting_datum(fcinfo, pm::tenant_setting, *tenant);
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
