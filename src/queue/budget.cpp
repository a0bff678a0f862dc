/*
 * queue_budget.cpp — consumes rate budgets the way grant_plan does (queue_claim.cpp), with
 * index lookups and direct row writes instead of a planned INSERT .. ON CONFLICT.
 *
 * Per key: the budget (pm_queue.rate_limits by key, else the mailbox's daily_limit per UTC
 * day from pm_oltp.email_accounts when it shares the database), then the counter row of the
 * key's current window in pm_queue.rate_windows, updated (or inserted) in place.  A plain
 * read-modify-write is safe because every writer of a key's counters (claim, and the
 * admission of claim_capped) holds the key's transaction-level advisory lock: the snapshot
 * taken here, after those locks were granted, sees every earlier grant.
 *
 * Why: with 100 keys per claim (batch 100 over 1000 mailboxes) the upsert statement spent
 * most of its time in per-row executor work (speculative insertion, ON CONFLICT locking,
 * projection); these are the index probes and one HOT update per key that remain.
 */
#include "queue/budget.h"

#include "shared/boundary.h"
#include "queue/pure/rate_key.h"
#include "queue/pure/rate_window.h"
#include "shared/direct_write.h"

extern "C" {
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
}

#include <algorithm>
#include <cstring>
#include <optional>

namespace pm::queue_budget {

namespace {

/* One open table for reading by primary key. */
struct Reader {
    Relation rel;
    pm::direct::KeyLookup by_key;
    TupleTableSlot *slot;
};

void open_reader(Reader &r, Oid relid, Snapshot snapshot)
{
    r.rel = table_open(relid, AccessShareLock);
    const AclResult acl = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);
    if (acl != ACLCHECK_OK)
        aclcheck_error(acl, OBJECT_TABLE, RelationGetRelationName(r.rel));
    pm::direct::open_lookup(r.by_key, r.rel, RelationGetPrimaryKeyIndex(r.rel), snapshot);
    r.slot = table_slot_create(r.rel, nullptr);
}

void close_reader(Reader &r)
{
    ExecDropSingleTupleTableSlot(r.slot);
    pm::direct::close_lookup(r.by_key);
    table_close(r.rel, NoLock);
}

/* A budget: max_per_window claims per window of window_us microseconds. */
struct Budget {
    int max_per_window;
    int64 window_us;
};

} // namespace

bool grant(const std::vector<std::pair<std::string, int>> &demand, bool oltp_mailboxes,
           std::unordered_map<std::string, Grant> &granted)
{
    Oid limits_oid = InvalidOid, windows_oid = InvalidOid, accounts_oid = InvalidOid;
    bool rls = false;
    pm::pg_call([&] {
        limits_oid = pm::direct::relation_oid("pm_queue", "rate_limits");
        windows_oid = pm::direct::relation_oid("pm_queue", "rate_windows");
        if (oltp_mailboxes)
            accounts_oid = pm::direct::relation_oid("pm_oltp", "email_accounts");
        rls = pm::direct::rls_applies(limits_oid) || pm::direct::rls_applies(windows_oid) ||
              (OidIsValid(accounts_oid) && pm::direct::rls_applies(accounts_oid));
    });
    if (rls)
        return false;

    Reader limits{}, accounts{};
    pm::direct::Writer windows{};
    pm::direct::KeyLookup window_of{};
    AttrNumber l_max = 0, l_len = 0, a_limit = 0, w_key = 0, w_start = 0, w_end = 0, w_used = 0,
               w_max = 0, w_last = 0;
    Snapshot snapshot = nullptr;
    pm::pg_call([&] {
        /* After the keys' advisory locks: sees every earlier holder's grants. */
        snapshot = RegisterSnapshot(GetLatestSnapshot());
        open_reader(limits, limits_oid, snapshot);
        if (OidIsValid(accounts_oid)) {
            open_reader(accounts, accounts_oid, snapshot);
            a_limit = pm::direct::column_number(accounts.rel, "daily_limit");
        }
        pm::direct::open_writer(windows, windows_oid, ACL_SELECT | ACL_INSERT | ACL_UPDATE);
        pm::direct::open_lookup(window_of, windows.rel, RelationGetPrimaryKeyIndex(windows.rel), snapshot);
        l_max = pm::direct::column_number(limits.rel, "max_per_window");
        l_len = pm::direct::column_number(limits.rel, "window_len");
        w_key = pm::direct::column_number(windows.rel, "key");
        w_start = pm::direct::column_number(windows.rel, "window_start");
        w_end = pm::direct::column_number(windows.rel, "window_end");
        w_used = pm::direct::column_number(windows.rel, "used");
        w_max = pm::direct::column_number(windows.rel, "max_per_window");
        w_last = pm::direct::column_number(windows.rel, "last_grant");
    });
    const TimestampTz now = GetCurrentTransactionStartTimestamp();

    for (const auto &[key, wanted] : demand) {
        /* The budget: rate_limits, else the mailbox's daily_limit; none: unlimited. */
        std::optional<Budget> budget;
        Interval window_len{};
        bool from_limits = false;
        Datum key_text = (Datum) 0;
        pm::pg_call([&] {
            key_text = PointerGetDatum(cstring_to_text_with_len(key.data(), static_cast<int>(key.size())));
            if (pm::direct::lookup(limits.by_key, &key_text, limits.slot)) {
                slot_getallattrs(limits.slot);
                from_limits = true;
                window_len = *DatumGetIntervalP(limits.slot->tts_values[l_len - 1]);
                budget = Budget{DatumGetInt32(limits.slot->tts_values[l_max - 1]), 0};
            }
        });
        if (from_limits) {
            /* rate_limits' CHECK keeps window_len a valid length (no months, 1 s .. 366 days). */
            budget->window_us = window_len.time + static_cast<int64>(window_len.day) * USECS_PER_DAY;
        } else if (OidIsValid(accounts_oid)) {
            if (const auto mailbox = pm::queue::mailbox_of(key)) {
                pm::pg_call([&] {
                    pg_uuid_t *id = static_cast<pg_uuid_t *>(palloc(sizeof(pg_uuid_t)));
                    std::memcpy(id->data, mailbox->data(), UUID_LEN);
                    const Datum k = UUIDPGetDatum(id);
                    if (pm::direct::lookup(accounts.by_key, &k, accounts.slot)) {
                        bool isnull = false;
                        const Datum limit = slot_getattr(accounts.slot, a_limit, &isnull);
                        if (!isnull)
                            budget = Budget{DatumGetInt32(limit), USECS_PER_DAY};
                    }
                });
            }
        }
        if (!budget)
            continue;

        const TimestampTz start = pm::queue::window_start(now, budget->window_us);
        const TimestampTz end = start + budget->window_us;
        int give = 0;
        pm::pg_call([&] {
            const Datum keys[2] = {key_text, TimestampTzGetDatum(start)};
            if (pm::direct::lookup(window_of, keys, windows.stored)) {
                slot_getallattrs(windows.stored);
                const int used = DatumGetInt32(windows.stored->tts_values[w_used - 1]);
                if (used < budget->max_per_window) {
                    give = std::max(0, std::min(wanted, budget->max_per_window - used));
                    TupleTableSlot *row = pm::direct::begin_new_version(windows, windows.stored);
                    pm::direct::set_column(row, w_used, Int32GetDatum(used + give));
                    pm::direct::set_column(row, w_last, Int32GetDatum(give));
                    pm::direct::set_column(row, w_max, Int32GetDatum(budget->max_per_window));
                    ExecStoreVirtualTuple(row);
                    ExecSimpleRelationUpdate(windows.rri, windows.estate, &windows.epq, windows.stored, row);
                }
            } else {
                give = std::max(0, std::min(wanted, budget->max_per_window));
                TupleTableSlot *row = windows.row;
                ExecClearTuple(row);
                for (int i = 0; i < RelationGetDescr(windows.rel)->natts; i++)
                    row->tts_isnull[i] = true;
                pm::direct::set_column(row, w_key, keys[0]);
                pm::direct::set_column(row, w_start, keys[1]);
                pm::direct::set_column(row, w_end, TimestampTzGetDatum(end));
                pm::direct::set_column(row, w_max, Int32GetDatum(budget->max_per_window));
                pm::direct::set_column(row, w_used, Int32GetDatum(give));
                pm::direct::set_column(row, w_last, Int32GetDatum(give));
                ExecStoreVirtualTuple(row);
                ExecSimpleRelationInsert(windows.rri, windows.estate, row);
            }
            ResetPerTupleExprContext(windows.estate);
        });
        granted[key] = Grant{give, end};
    }

    pm::pg_call([&] {
        pm::direct::close_lookup(window_of);
        pm::direct::close_writer(windows);
        if (OidIsValid(accounts_oid))
            close_reader(accounts);
        close_reader(limits);
        UnregisterSnapshot(snapshot);
    });
    return true;
}

} // namespace pm::queue_budget
