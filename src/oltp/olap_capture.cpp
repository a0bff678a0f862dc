/*
 * olap_capture.cpp — pm_oltp's dirty-key triggers (0.3; 0.2 had them in PL/pgSQL): every
 * change the OLAP tier counts leaves a row in pm_oltp.olap_dirty_keys, written by the
 * changing transaction (docs/olap.md, "How the rollup stays exact").
 *
 *   olap_capture_email()            on emails: the send-day key of the old and of the new
 *                                   attribution, and a billing key when the send moved
 *   olap_capture_state(kind, ...)   on mailboxes 'm', enrollments 'l', campaigns 'c' and
 *                                   billing inputs 'b'; the columns after the kind are the
 *                                   ones whose UPDATE also moves billing
 *
 * They run on every send and every email event, so they insert the way the executor does
 * (no planned statement, no PL/pgSQL frame, no security-definer GUC switch: the trigger is
 * trusted code and the key table is not the writer's to touch), and a key this transaction
 * already wrote is not written again (a batch of events on one message, a mailbox bumped by
 * every send of a transaction).
 */
#include "oltp/pure/send_day.h"
#include "shared/boundary.h"
#include "shared/direct_write.h"

extern "C" {
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "utils/date.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
#include "utils/xid8.h"

PG_FUNCTION_INFO_V1(pm_oltp_olap_capture_email);
PG_FUNCTION_INFO_V1(pm_oltp_olap_capture_state);
}

#include <cstring>

namespace {

enum IdSlot { kTenant, kCampaign, kStep, kMailbox, kLead, kIdSlots };

/* One key row; hashed as raw bytes, so always built from a zero-filled value. */
struct DirtyKey {
    char kind;
    bool has_day;
    uint8 present; /* bit i: ids[i] is not NULL */
    DateADT day;
    pg_uuid_t ids[kIdSlots];
};

DirtyKey make_key(char kind)
{
    DirtyKey key;
    memset(&key, 0, sizeof(key));
    key.kind = kind;
    return key;
}

void set_day(DirtyKey &key, DateADT day)
{
    key.has_day = true;
    key.day = day;
}

void set_id(DirtyKey &key, IdSlot slot, Datum value, bool isnull)
{
    if (isnull)
        return;
    key.present |= static_cast<uint8>(1u << slot);
    memcpy(&key.ids[slot], DatumGetUUIDP(value), sizeof(pg_uuid_t));
}

/*
 * Keys this transaction has written.  Forgotten at its end, and entirely when any
 * subtransaction aborts (its rows are gone; which keys they were is not worth tracking).
 * A bound keeps a bulk update from growing it without limit: past it the set starts over,
 * which only costs duplicate rows.
 */
constexpr long kWrittenKeysBound = 16384;
HTAB *written_keys = nullptr;

void forget_at_end(XactEvent event, void *)
{
    if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE ||
        event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
        written_keys = nullptr; /* its memory goes with TopTransactionContext */
}

void forget_on_rollback(SubXactEvent event, SubTransactionId, SubTransactionId, void *)
{
    if (event == SUBXACT_EVENT_ABORT_SUB && written_keys != nullptr) {
        hash_destroy(written_keys);
        written_keys = nullptr;
    }
}

/* True the first time this transaction meets `key`.  C-like: call inside pm::pg_call. */
bool first_time(const DirtyKey &key)
{
    static bool callbacks_registered = false;
    if (!callbacks_registered) {
        RegisterXactCallback(forget_at_end, nullptr);
        RegisterSubXactCallback(forget_on_rollback, nullptr);
        callbacks_registered = true;
    }
    if (written_keys != nullptr && hash_get_num_entries(written_keys) >= kWrittenKeysBound) {
        hash_destroy(written_keys);
        written_keys = nullptr;
    }
    if (written_keys == nullptr) {
        HASHCTL ctl;
        memset(&ctl, 0, sizeof(ctl));
        ctl.keysize = sizeof(DirtyKey);
        ctl.entrysize = sizeof(DirtyKey);
        ctl.hcxt = TopTransactionContext;
        written_keys = hash_create("pm_oltp dirty keys written", 256, &ctl,
                                   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
    }
    bool found = false;
    hash_search(written_keys, &key, HASH_ENTER, &found);
    return !found;
}

/* Appends the keys (at most 4) not yet written by this transaction.  C-like: inside
 * pm::pg_call. */
void write_keys(const DirtyKey *keys, int n)
{
    bool fresh[4] = {false, false, false, false};
    bool any = false;
    for (int i = 0; i < n; i++)
        any |= fresh[i] = first_time(keys[i]);
    if (!any)
        return;

    const Oid relid = pm::direct::relation_oid("pm_oltp", "olap_dirty_keys");
    if (!OidIsValid(relid))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                        errmsg("pm_oltp.olap_dirty_keys does not exist"),
                        errhint("ALTER EXTENSION pm_oltp UPDATE installs it.")));
    pm::direct::Writer w;
    pm::direct::open_writer(w, relid, ACL_NO_RIGHTS);
    static const char *const kIdColumns[kIdSlots] = {"tenant_id", "campaign_id", "step_id",
                                                     "mailbox_id", "lead_id"};
    const AttrNumber xid_col = pm::direct::column_number(w.rel, "xid");
    const AttrNumber changed_col = pm::direct::column_number(w.rel, "changed_at");
    const AttrNumber kind_col = pm::direct::column_number(w.rel, "kind");
    const AttrNumber day_col = pm::direct::column_number(w.rel, "day");
    AttrNumber id_cols[kIdSlots];
    for (int s = 0; s < kIdSlots; s++)
        id_cols[s] = pm::direct::column_number(w.rel, kIdColumns[s]);
    const Datum xid = FullTransactionIdGetDatum(GetTopFullTransactionId());
    const Datum now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());

    for (int i = 0; i < n; i++) {
        if (!fresh[i])
            continue;
        const DirtyKey &key = keys[i];
        TupleTableSlot *row = w.row;
        ExecClearTuple(row);
        for (int a = 0; a < row->tts_tupleDescriptor->natts; a++)
            pm::direct::set_column(row, a + 1, (Datum) 0, true);
        pm::direct::set_column(row, xid_col, xid);
        pm::direct::set_column(row, changed_col, now);
        pm::direct::set_column(row, kind_col, CharGetDatum(key.kind));
        if (key.has_day)
            pm::direct::set_column(row, day_col, DateADTGetDatum(key.day));
        for (int s = 0; s < kIdSlots; s++)
            if (key.present & (1u << s))
                pm::direct::set_column(row, id_cols[s], UUIDPGetDatum(const_cast<pg_uuid_t *>(&key.ids[s])));
        ExecStoreVirtualTuple(row);
        /* Not ExecSimpleRelationInsert: it would re-read the table's CHECK expressions from
         * the catalog on every call, and these rows are valid by construction (the key
         * table has no trigger, no generated column, no partition). */
        table_tuple_insert(w.rel, row, w.estate->es_output_cid, 0, nullptr);
        if (w.rri->ri_NumIndices > 0)
            list_free(ExecInsertIndexTuples(w.rri, row, w.estate, false, false, nullptr, NIL));
        ResetPerTupleExprContext(w.estate);
    }
    pm::direct::close_writer(w);
}

TriggerData *after_row_trigger(FunctionCallInfo fcinfo, const char *name)
{
    if (!CALLED_AS_TRIGGER(fcinfo))
        throw pm::SqlError(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
                           std::string(name) + "() must be called as a trigger");
    auto *trigger = reinterpret_cast<TriggerData *>(fcinfo->context);
    if (!TRIGGER_FIRED_AFTER(trigger->tg_event) || !TRIGGER_FIRED_FOR_ROW(trigger->tg_event))
        throw pm::SqlError(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
                           std::string(name) + "() must be an AFTER ... FOR EACH ROW trigger");
    return trigger;
}

/* Attribute numbers of `names` in the trigger's table, or an error naming the missing one. */
void attnums(TriggerData *trigger, const char *fn, const char *const *names, int n, AttrNumber *out)
{
    TupleDesc desc = RelationGetDescr(trigger->tg_relation);
    for (int i = 0; i < n; i++) {
        int found = 0;
        pm::pg_call([&] { found = SPI_fnumber(desc, names[i]); });
        if (found <= 0)
            throw pm::SqlError(ERRCODE_UNDEFINED_COLUMN,
                               std::string(fn) + "(): table " +
                                   RelationGetRelationName(trigger->tg_relation) +
                                   " has no column \"" + names[i] + "\"");
        out[i] = static_cast<AttrNumber>(found);
    }
}

/* One version of an email row, as the counters read it; after kESentAt the event times,
 * which only matter as "did this UPDATE change a counter". */
enum EmailColumn {
    kETenant, kECampaign, kEStep, kEMailbox, kELead, kEDirection, kESentAt,
    kEDelivered, kEOpened, kEClicked, kEReplied, kEBounced, kEUnsubscribed, kEComplained,
    kEColumns
};
const char *const kEmailColumns[kEColumns] = {
    "tenant_id",    "campaign_id", "step_id",    "email_account_id", "lead_id",
    "direction",    "sent_at",     "delivered_at", "opened_at",      "clicked_at",
    "replied_at",   "bounced_at",  "unsubscribed_at", "complained_at"};
constexpr int kERead = kESentAt + 1; /* columns read for the keys */

struct EmailVersion {
    Datum values[kEColumns];
    bool nulls[kEColumns];
    bool counts; /* outbound and sent: attributed to a send day */
    DateADT day;
};

EmailVersion read_email(HeapTuple tuple, TupleDesc desc, const AttrNumber *cols)
{
    EmailVersion v;
    for (int c = 0; c < kERead; c++)
        v.values[c] = heap_getattr(tuple, cols[c], desc, &v.nulls[c]);
    v.counts = false;
    v.day = 0;
    if (!v.nulls[kESentAt] && !v.nulls[kEDirection]) {
        const text *direction = DatumGetTextPP(v.values[kEDirection]);
        if (VARSIZE_ANY_EXHDR(direction) == 8 && memcmp(VARDATA_ANY(direction), "outbound", 8) == 0) {
            v.counts = true;
            v.day = pm::oltp::utc_day(DatumGetTimestampTz(v.values[kESentAt]));
        }
    }
    return v;
}

bool same_uuid(const EmailVersion &a, const EmailVersion &b, int c)
{
    if (a.nulls[c] || b.nulls[c])
        return a.nulls[c] == b.nulls[c];
    return memcmp(DatumGetUUIDP(a.values[c]), DatumGetUUIDP(b.values[c]), sizeof(pg_uuid_t)) == 0;
}

bool same_attribution(const EmailVersion &a, const EmailVersion &b)
{
    for (int c = kETenant; c <= kELead; c++)
        if (!same_uuid(a, b, c))
            return false;
    return a.day == b.day;
}

DirtyKey email_key(const EmailVersion &v)
{
    DirtyKey key = make_key('e');
    set_day(key, v.day);
    set_id(key, kTenant, v.values[kETenant], v.nulls[kETenant]);
    set_id(key, kCampaign, v.values[kECampaign], v.nulls[kECampaign]);
    set_id(key, kStep, v.values[kEStep], v.nulls[kEStep]);
    set_id(key, kMailbox, v.values[kEMailbox], v.nulls[kEMailbox]);
    set_id(key, kLead, v.values[kELead], v.nulls[kELead]);
    return key;
}

DirtyKey billing_key(Datum tenant, bool isnull)
{
    DirtyKey key = make_key('b');
    set_id(key, kTenant, tenant, isnull);
    return key;
}

bool column_changed(HeapTuple before, HeapTuple after, TupleDesc desc, AttrNumber col)
{
    bool null_before = false, null_after = false;
    const Datum a = heap_getattr(before, col, desc, &null_before);
    const Datum b = heap_getattr(after, col, desc, &null_after);
    if (null_before || null_after)
        return null_before != null_after;
    const Form_pg_attribute att = TupleDescAttr(desc, col - 1);
    return !datumIsEqual(a, b, att->attbyval, att->attlen);
}

} // namespace

extern "C" Datum pm_oltp_olap_capture_email(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        TriggerData *trigger = after_row_trigger(fcinfo, "pm_oltp.olap_capture_email");
        AttrNumber cols[kEColumns];
        attnums(trigger, "pm_oltp.olap_capture_email", kEmailColumns, kEColumns, cols);
        pm::pg_call([&] {
            TupleDesc desc = RelationGetDescr(trigger->tg_relation);
            const bool inserted = TRIGGER_FIRED_BY_INSERT(trigger->tg_event);
            const bool updated = TRIGGER_FIRED_BY_UPDATE(trigger->tg_event);
            EmailVersion before{}, after{};
            if (!inserted)
                before = read_email(trigger->tg_trigtuple, desc, cols);
            if (updated || inserted)
                after = read_email(updated ? trigger->tg_newtuple : trigger->tg_trigtuple, desc, cols);

            if (!before.counts && !after.counts)
                return;
            /* No WHEN clause on the trigger: the executor would parse it again for every
             * statement, which costs more than this comparison.  An UPDATE that changes no
             * counter input writes nothing. */
            if (updated) {
                bool changed = false;
                for (int c = 0; c < kEColumns && !changed; c++)
                    changed = column_changed(trigger->tg_trigtuple, trigger->tg_newtuple, desc, cols[c]);
                if (!changed)
                    return;
            }
            DirtyKey keys[4];
            int n = 0;
            /* The old attribution loses the message when it no longer counts there. */
            if (before.counts && (!after.counts || !same_attribution(before, after)))
                keys[n++] = email_key(before);
            if (after.counts)
                keys[n++] = email_key(after);
            /* A send (or an unsend, or a moved send) changes the billing figure emails_sent. */
            const bool day_moved = before.counts != after.counts || before.day != after.day;
            const bool sent_moved = updated && (before.nulls[kESentAt] != after.nulls[kESentAt] ||
                                                (!before.nulls[kESentAt] &&
                                                 DatumGetTimestampTz(before.values[kESentAt]) !=
                                                     DatumGetTimestampTz(after.values[kESentAt])));
            if (day_moved || sent_moved) {
                const EmailVersion &v = inserted || updated ? after : before;
                keys[n++] = billing_key(v.values[kETenant], v.nulls[kETenant]);
            }
            /* A sent message moved to another tenant leaves the old tenant's figure too. */
            if (updated && before.counts && !same_uuid(before, after, kETenant))
                keys[n++] = billing_key(before.values[kETenant], before.nulls[kETenant]);
            write_keys(keys, n);
        });
        return PointerGetDatum(nullptr);
    });
}

extern "C" Datum pm_oltp_olap_capture_state(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        TriggerData *trigger = after_row_trigger(fcinfo, "pm_oltp.olap_capture_state");
        const Trigger *tg = trigger->tg_trigger;
        const char kind = tg->tgnargs > 0 && strlen(tg->tgargs[0]) == 1 ? tg->tgargs[0][0] : '?';
        if (strchr("mlcb", kind) == nullptr)
            throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                               std::string("pm_oltp.olap_capture_state(): unknown kind \"") +
                                   (tg->tgnargs > 0 ? tg->tgargs[0] : "") + "\"",
                               {}, "Expected m (mailbox), l (enrollment), c (campaign) or b (billing).");
        /* Which columns name the entity: mailboxes and campaigns are the row itself. */
        const char *id_columns[3] = {"tenant_id", nullptr, nullptr};
        int n_id = 1;
        if (kind == 'm' || kind == 'c')
            id_columns[n_id++] = "id";
        else if (kind == 'l') {
            id_columns[n_id++] = "campaign_id";
            id_columns[n_id++] = "lead_id";
        }
        AttrNumber id_cols[3];
        attnums(trigger, "pm_oltp.olap_capture_state", id_columns, n_id, id_cols);
        const int n_billing = tg->tgnargs > 1 ? tg->tgnargs - 1 : 0;
        AttrNumber billing_cols[8];
        if (n_billing > 8)
            throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                               "pm_oltp.olap_capture_state(): at most 8 billing columns");
        attnums(trigger, "pm_oltp.olap_capture_state", tg->tgargs + 1, n_billing, billing_cols);

        pm::pg_call([&] {
            TupleDesc desc = RelationGetDescr(trigger->tg_relation);
            const bool updated = TRIGGER_FIRED_BY_UPDATE(trigger->tg_event);
            HeapTuple row = updated ? trigger->tg_newtuple : trigger->tg_trigtuple;
            Datum v[3];
            bool isnull[3];
            for (int i = 0; i < n_id; i++)
                v[i] = heap_getattr(row, id_cols[i], desc, &isnull[i]);

            DirtyKey keys[2];
            int n = 0;
            if (kind != 'b') {
                DirtyKey key = make_key(kind);
                set_day(key, pm::oltp::utc_day(GetCurrentTransactionStartTimestamp()));
                set_id(key, kTenant, v[0], isnull[0]);
                if (kind == 'm')
                    set_id(key, kMailbox, v[1], isnull[1]);
                else if (kind == 'c')
                    set_id(key, kCampaign, v[1], isnull[1]);
                else {
                    set_id(key, kCampaign, v[1], isnull[1]);
                    set_id(key, kLead, v[2], isnull[2]);
                }
                keys[n++] = key;
            }
            /* Billing counts rows (inserts, deletes) and the named columns; a send bumping a
             * mailbox's daily_count must not make the rollup recount the tenant's period. */
            bool billing = kind == 'b' || !updated;
            for (int i = 0; i < n_billing && !billing; i++)
                billing = column_changed(trigger->tg_trigtuple, trigger->tg_newtuple, desc, billing_cols[i]);
            if (billing)
                keys[n++] = billing_key(v[0], isnull[0]);
            write_keys(keys, n);
        });
        return PointerGetDatum(nullptr);
    });
}
