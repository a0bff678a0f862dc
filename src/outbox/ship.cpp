/*
 * ship.cpp — the shipping pass (see ship.h) and pm.ship_outbox().
 */
/* Before the server headers: their port.h redefines snprintf, which nlohmann_json uses. */
#include <nlohmann/json.hpp>

#include "outbox/ship.h"
#include "outbox/http_client.h"
#include "outbox/settings.h"
#include "outbox/pure/delivery.h"
#include "outbox/pure/event_format.h"
#include "outbox/pure/sink_url.h"
#include "shared/direct_write.h"
#include "shared/spi_session.h"

extern "C" {
#include "access/xact.h"
#include "commands/dbcommands.h"
#include "common/base64.h"
#include "common/pg_prng.h"
#include "miscadmin.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(pm_ship_outbox);
}

#include <map>
#include <memory>
#include <vector>

namespace pm::outbox {

namespace {

constexpr const char *kLockClass = "1884114754"; /* advisory lock space of outbox sinks */
constexpr long kBoundsCheckMs = 1000;

struct Sink {
    std::string name;
    SinkKind kind;
    std::string endpoint;
    long batch_max;
    double flush_ms;
    long timeout_ms;
    int failures;
    bool due;
    std::string api_key, username, password;
    std::vector<std::pair<std::string, std::string>> headers;

    /* Everything a sink's answer might repeat: the credentials as sent, basic auth as its
     * base64 header value too. */
    std::vector<std::string> secrets() const
    {
        std::vector<std::string> all{api_key, password};
        if (!username.empty() || !password.empty())
            all.push_back(base64(username + ":" + password));
        for (const auto &header : headers)
            all.push_back(header.second);
        return all;
    }

    static std::string base64(const std::string &text)
    {
        std::string out(pg_b64_enc_len(static_cast<int>(text.size())), '\0');
        int n = pg_b64_encode(text.data(), static_cast<int>(text.size()), out.data(),
                              static_cast<int>(out.size()));
        out.resize(n > 0 ? n : 0);
        return out;
    }
};

struct Batch {
    std::vector<Event> events;
    std::vector<std::string> ids; /* outbox row of each event */
    bool ripe = false; /* full, or its oldest event waited flush_interval */

    /* created_at of the batch's oldest and newest events, as SQL bounds: the DELETE then
     * reads only the partitions that hold the batch instead of probing every one. */
    std::string oldest_us() const { return std::to_string(bound(true)); }
    std::string newest_us() const { return std::to_string(bound(false)); }
    std::int64_t bound(bool oldest) const
    {
        std::int64_t b = events.empty() ? 0 : events.front().created_us;
        for (const Event &e : events)
            b = oldest ? std::min(b, e.created_us) : std::max(b, e.created_us);
        return b;
    }

    /* {1,2,...}: the rows to remove */
    std::string id_array() const
    {
        std::string out = "{";
        for (const std::string &id : ids)
            out += (out.size() > 1 ? "," : "") + id;
        return out + "}";
    }
};

/* Clients live as long as the backend, one per sink, so connections are reused. */
std::map<std::string, std::unique_ptr<HttpClient>> clients;
std::map<std::string, TimestampTz> bounds_checked;

std::optional<std::string> opt(const std::string &s)
{
    return s;
}

/* Runs `step` in its own transaction (own_transactions) or in the caller's. */
template <typename Step>
void in_step(PassMode mode, Step &&step)
{
    if (mode == PassMode::in_caller_transaction) {
        step();
        return;
    }
    pg_call([] {
        /* now() is the statement start: a worker has no client statements to set it. */
        SetCurrentStatementStartTimestamp();
        StartTransactionCommand();
        PushActiveSnapshot(GetTransactionSnapshot());
    });
    try {
        step();
    } catch (...) {
        AbortCurrentTransaction();
        throw;
    }
    pg_call([] {
        PopActiveSnapshot();
        CommitTransactionCommand();
    });
}

std::vector<std::pair<std::string, std::string>> parse_headers(const std::string &text)
{
    std::vector<std::pair<std::string, std::string>> headers;
    if (text.empty())
        return headers;
    nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
    if (!doc.is_object())
        return headers;
    for (auto it = doc.begin(); it != doc.end(); ++it)
        if (it.value().is_string() && it.key().find_first_of("\r\n:") == std::string::npos)
            headers.emplace_back(it.key(), it.value().get<std::string>());
    return headers;
}

std::vector<Sink> load_sinks(SpiSession &spi, const std::optional<std::string> &only_sink)
{
    uint64 rows = spi.execute(
        "SELECT s.name, s.kind, s.url, s.batch_max, extract(epoch FROM s.flush_interval) * 1000,"
        "       (extract(epoch FROM s.timeout) * 1000)::bigint, coalesce(st.failures, 0),"
        "       st.next_attempt IS NULL OR st.next_attempt <= now(),"
        "       sec.api_key, sec.username, sec.password, sec.headers::text"
        "  FROM pm.outbox_sinks s"
        "  LEFT JOIN pm.outbox_sink_state st ON st.sink = s.name"
        "  LEFT JOIN pm.outbox_sink_secrets sec ON sec.sink = s.name"
        " WHERE s.enabled AND ($1::text IS NULL OR s.name = $1)"
        " ORDER BY s.name",
        {only_sink}, true);
    std::vector<Sink> sinks;
    for (uint64 row = 0; row < rows; row++) {
        Sink s;
        s.name = spi.value(row, 1).value_or("");
        s.kind = parse_sink_kind(spi.value(row, 2).value_or(""));
        s.endpoint = sink_endpoint(s.kind, spi.value(row, 3).value_or(""));
        s.batch_max = std::stol(spi.value(row, 4).value_or("1000"));
        s.flush_ms = std::stod(spi.value(row, 5).value_or("0"));
        s.timeout_ms = std::stol(spi.value(row, 6).value_or("10000"));
        s.failures = std::stoi(spi.value(row, 7).value_or("0"));
        /* A sink named by the caller is tried now, backoff or not. */
        s.due = only_sink.has_value() || is_true(spi.value(row, 8));
        s.api_key = spi.value(row, 9).value_or("");
        s.username = spi.value(row, 10).value_or("");
        s.password = spi.value(row, 11).value_or("");
        s.headers = parse_headers(spi.value(row, 12).value_or(""));
        sinks.push_back(std::move(s));
    }
    return sinks;
}

bool try_lock(SpiSession &spi, const Sink &sink, PassMode mode)
{
    std::string fn = mode == PassMode::own_transactions ? "pg_try_advisory_lock"
                                                        : "pg_try_advisory_xact_lock";
    spi.execute("SELECT " + fn + "(" + kLockClass + ", hashtext($1))", {opt(sink.name)});
    return is_true(spi.value(0, 1));
}

void unlock(const Sink &sink)
{
    SpiSession spi;
    spi.execute(std::string("SELECT pg_advisory_unlock(") + kLockClass + ", hashtext($1))",
                {opt(sink.name)});
}

void enforce_bounds_if_due(SpiSession &spi, const Sink &sink)
{
    TimestampTz now = GetCurrentTimestamp();
    auto it = bounds_checked.find(sink.name);
    if (it != bounds_checked.end() &&
        !TimestampDifferenceExceeds(it->second, now, static_cast<int>(kBoundsCheckMs)))
        return;
    bounds_checked[sink.name] = now;
    spi.execute("SELECT pm.outbox_enforce_bounds($1)", {opt(sink.name)});
}

/* The sink's oldest events after row `after`.  A pass goes on from the last row it shipped
 * rather than from the start: the rows it deleted stay in the index until vacuum (in the
 * caller's transaction they are not even dead yet), and rereading them would make a pass
 * quadratic.  A row of a lower id committed late is left to the next pass, which starts
 * from the beginning. */
Batch read_batch(SpiSession &spi, const Sink &sink, std::int64_t after)
{
    uint64 rows = spi.execute(
        "SELECT o.id, o.event_id::text,"
        "       (extract(epoch FROM o.created_at) * 1000000)::bigint,"
        "       o.level, o.event, o.tenant_id::text, o.distinct_id, o.properties::text,"
        "       extract(epoch FROM now() - o.created_at) * 1000"
        "  FROM pm.outbox o WHERE o.sink = $1 AND o.id > $3::bigint ORDER BY o.id LIMIT $2::bigint",
        /* Not read-only: in the caller's transaction the previous batch's DELETE must be
         * visible (a read-only SPI query keeps the caller's older snapshot). */
        {opt(sink.name), opt(std::to_string(sink.batch_max)), opt(std::to_string(after))}, false);
    Batch batch;
    for (uint64 row = 0; row < rows; row++) {
        Event e;
        batch.ids.push_back(spi.value(row, 1).value_or("0"));
        e.event_id = spi.value(row, 2).value_or("");
        e.created_us = std::stoll(spi.value(row, 3).value_or("0"));
        e.level = spi.value(row, 4).value_or("info");
        e.event = spi.value(row, 5).value_or("");
        e.tenant_id = spi.value(row, 6).value_or("");
        e.distinct_id = spi.value(row, 7).value_or("");
        e.properties = spi.value(row, 8).value_or("{}");
        if (row == 0)
            batch.ripe = std::stod(spi.value(row, 9).value_or("0")) >= sink.flush_ms;
        batch.events.push_back(std::move(e));
    }
    if (static_cast<long>(rows) >= sink.batch_max)
        batch.ripe = true;
    return batch;
}

/* Events this sink's format cannot carry (a number beyond double range, valid in jsonb) would
 * fail every pass: they leave `batch` for a batch of their own, dead-lettered unsent. */
Batch split_unformattable(Batch &batch, const Sink &sink, const Origin &origin)
{
    Batch bad, good;
    good.ripe = batch.ripe;
    for (std::size_t i = 0; i < batch.events.size(); i++) {
        try {
            (void) format_batch(sink.kind, {batch.events[i]}, origin, sink.api_key);
            good.events.push_back(std::move(batch.events[i]));
            good.ids.push_back(batch.ids[i]);
        } catch (const std::invalid_argument &) {
            bad.events.push_back(std::move(batch.events[i]));
            bad.ids.push_back(batch.ids[i]);
        }
    }
    batch = std::move(good);
    return bad;
}

HttpResponse post(const Sink &sink, const Body &body, const std::function<bool()> &should_stop)
{
    HttpRequest request;
    request.url = sink.endpoint;
    request.content_type = body.content_type;
    request.body = &body.text;
    request.headers = sink.headers;
    if (!sink.api_key.empty() && sink.kind != SinkKind::posthog)
        request.headers.emplace_back("Authorization", "Bearer " + sink.api_key);
    request.basic_user = sink.username;
    request.basic_password = sink.password;
    request.timeout_ms = sink.timeout_ms;
    request.connect_timeout_ms = std::min(sink.timeout_ms, 3000L);

    auto &client = clients[sink.name];
    if (!client)
        client = std::make_unique<HttpClient>();
    return client->post(request, should_stop);
}

std::string describe(const HttpResponse &response, const Sink &sink)
{
    std::string text = response.status == 0
                           ? "no answer: " + response.error
                           : "HTTP " + std::to_string(response.status) +
                                 (response.body.empty() ? "" : ": " + response.body);
    return redact(text, sink.secrets());
}

/* "AND created_at in the batch's range", the bounds in parameters $n and $n+1 (microseconds
 * since the Unix epoch: exact, unlike a float8 to_timestamp()). */
std::string batch_range(int n)
{
    auto at = [](int p) {
        return "'epoch'::timestamptz + $" + std::to_string(p) + "::bigint * interval '1 microsecond'";
    };
    return " AND o.created_at BETWEEN " + at(n) + " AND " + at(n + 1);
}

void record_delivered(SpiSession &spi, const Sink &sink, const Batch &batch)
{
    spi.execute("DELETE FROM pm.outbox o WHERE o.sink = $1 AND o.id = ANY ($2::bigint[])" + batch_range(3),
                {opt(sink.name), opt(batch.id_array()), opt(batch.oldest_us()), opt(batch.newest_us())});
    spi.execute("INSERT INTO pm.outbox_sink_state AS st (sink, shipped_total, last_ok)"
                " VALUES ($1, $2::bigint, now())"
                " ON CONFLICT (sink) DO UPDATE"
                "    SET shipped_total = st.shipped_total + EXCLUDED.shipped_total,"
                "        last_ok = now(), failures = 0, last_error = NULL, next_attempt = NULL",
                {opt(sink.name), opt(std::to_string(batch.events.size()))});
}

void record_dead_letter(SpiSession &spi, const Sink &sink, const Batch &batch,
                        const HttpResponse &response)
{
    std::string kept = redact(response.body, sink.secrets(), 4000);
    spi.execute("WITH gone AS (DELETE FROM pm.outbox o WHERE o.sink = $1 AND o.id = ANY ($2::bigint[])" +
                batch_range(5) + " RETURNING o.*)"
                " INSERT INTO pm.outbox_dead (sink, event_id, created_at, level, event, tenant_id,"
                "                             distinct_id, properties, status, response)"
                " SELECT sink, event_id, created_at, level, event, tenant_id, distinct_id,"
                "        properties, $3::int, $4 FROM gone",
                {opt(sink.name), opt(batch.id_array()), opt(std::to_string(response.status)), opt(kept),
                 opt(batch.oldest_us()), opt(batch.newest_us())});
    spi.execute("INSERT INTO pm.outbox_sink_state AS st (sink, dead_total, last_error)"
                " VALUES ($1, $2::bigint, $3)"
                " ON CONFLICT (sink) DO UPDATE"
                "    SET dead_total = st.dead_total + EXCLUDED.dead_total,"
                "        last_error = EXCLUDED.last_error, failures = 0, next_attempt = NULL",
                {opt(sink.name), opt(std::to_string(batch.events.size())),
                 opt("dead letter: " + describe(response, sink))});
    ereport(WARNING,
            (errmsg("outbox sink \"%s\" refused %zu events for good (HTTP %ld); they are in pm.outbox_dead",
                    sink.name.c_str(), batch.events.size(), response.status)));
}

void record_failure(SpiSession &spi, const Sink &sink, const HttpResponse &response)
{
    int failures = sink.failures + 1;
    double delay = retry_delay_ms(failures, retry_base_ms, retry_max_ms, 0.25,
                                  pg_prng_double(&pg_global_prng_state));
    spi.execute("INSERT INTO pm.outbox_sink_state AS st (sink, failures, last_error, next_attempt)"
                " VALUES ($1, $2::int, $3, now() + $4::double precision * interval '1 millisecond')"
                " ON CONFLICT (sink) DO UPDATE"
                "    SET failures = EXCLUDED.failures, last_error = EXCLUDED.last_error,"
                "        next_attempt = EXCLUDED.next_attempt",
                {opt(sink.name), opt(std::to_string(failures)), opt(describe(response, sink)),
                 opt(std::to_string(delay))});
}

/* Ships up to `budget` events of one sink; returns how many were accepted. */
long ship_sink(Sink &sink, long budget, PassMode mode, const Origin &origin,
               const std::function<bool()> &should_stop, bool &more_due)
{
    long shipped = 0;
    std::int64_t after = 0;
    while (shipped < budget && !should_stop()) {
        Batch batch;
        in_step(mode, [&] {
            SpiSession spi;
            enforce_bounds_if_due(spi, sink);
            batch = read_batch(spi, sink, after);
        });
        /* The worker waits for a full batch or flush_interval; a caller wants everything now. */
        if (batch.events.empty() || (mode == PassMode::own_transactions && !batch.ripe))
            break;
        after = std::stoll(batch.ids.back());

        Body body;
        try {
            body = format_batch(sink.kind, batch.events, origin, sink.api_key);
        } catch (const std::invalid_argument &e) {
            Batch bad = split_unformattable(batch, sink, origin);
            HttpResponse refusal;
            refusal.body = std::string("not sent: ") + e.what();
            in_step(mode, [&] {
                SpiSession spi;
                record_dead_letter(spi, sink, bad, refusal);
            });
            if (batch.events.empty())
                continue;
            body = format_batch(sink.kind, batch.events, origin, sink.api_key);
        }
        HttpResponse response = post(sink, body, should_stop);
        if (response.aborted)
            break; /* stopping: the batch stays and is sent again later */

        Outcome outcome = classify(response.status);
        in_step(mode, [&] {
            SpiSession spi;
            switch (outcome) {
            case Outcome::delivered: record_delivered(spi, sink, batch); break;
            case Outcome::dead_letter: record_dead_letter(spi, sink, batch, response); break;
            case Outcome::retry: record_failure(spi, sink, response); break;
            }
        });
        if (outcome == Outcome::retry)
            break;
        sink.failures = 0;
        if (outcome == Outcome::delivered)
            shipped += static_cast<long>(batch.events.size());
        if (static_cast<long>(batch.events.size()) < sink.batch_max)
            break;
        if (shipped >= budget)
            more_due = true;
    }
    return shipped;
}

void log_tier_transitions(SpiSession &spi)
{
    spi.execute("SELECT to_regprocedure('pm.log_tier_transitions()') IS NOT NULL", true);
    if (is_true(spi.value(0, 1)))
        spi.execute("SELECT pm.log_tier_transitions()");
}

} // namespace

PassResult ship_pass(const std::optional<std::string> &only_sink, long max_events, PassMode mode,
                     const std::function<bool()> &should_stop)
{
    PassResult result;
    std::vector<Sink> sinks;
    Origin origin;
    origin.service = service_name ? service_name : "penguinmails";
    in_step(mode, [&] {
        char *db = nullptr;
        pg_call([&] { db = get_database_name(MyDatabaseId); });
        origin.tier = db ? db : "";
        if (!OidIsValid(pm::direct::relation_oid("pm", "outbox_sink_state")))
            return; /* pm_core older than 0.5 here: nothing to ship */
        SpiSession spi;
        log_tier_transitions(spi);
        sinks = load_sinks(spi, only_sink);
    });

    for (Sink &sink : sinks) {
        if (!sink.due || result.shipped >= max_events || should_stop())
            continue;
        bool locked = false;
        in_step(mode, [&] {
            SpiSession spi;
            locked = try_lock(spi, sink, mode);
        });
        if (!locked)
            continue; /* another backend is shipping this sink */
        try {
            result.shipped += ship_sink(sink, max_events - result.shipped, mode, origin,
                                        should_stop, result.more_due);
        } catch (...) {
            if (mode == PassMode::own_transactions) {
                in_step(mode, [&] { unlock(sink); });
            }
            throw;
        }
        if (mode == PassMode::own_transactions)
            in_step(mode, [&] { unlock(sink); });
    }
    return result;
}

} // namespace pm::outbox

extern "C" Datum pm_ship_outbox(PG_FUNCTION_ARGS)
{
    return pm::guarded([&]() -> Datum {
        std::optional<std::string> sink;
        if (!PG_ARGISNULL(0))
            sink = pm::to_string(PG_GETARG_TEXT_PP(0));
        long max_events = PG_ARGISNULL(1) ? 10000 : PG_GETARG_INT32(1);
        if (max_events < 1)
            throw pm::SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                               "max_events must be at least 1 (got " + std::to_string(max_events) + ")");
        if (sink) {
            pm::SpiSession spi;
            spi.execute("SELECT 1 FROM pm.outbox_sinks WHERE name = $1", {sink}, true);
            if (SPI_processed == 0)
                throw pm::SqlError(ERRCODE_UNDEFINED_OBJECT,
                                   "outbox sink \"" + sink->substr(0, 100) + "\" does not exist");
        }
        /* A query cancel or statement_timeout stops a post in progress; the batch stays. */
        auto interrupted = [] { return InterruptPending != 0; };
        pm::outbox::PassResult result = pm::outbox::ship_pass(
            sink, max_events, pm::outbox::PassMode::in_caller_transaction, interrupted);
        pm::pg_call([] { CHECK_FOR_INTERRUPTS(); });
        return Int32GetDatum(static_cast<int32>(result.shipped));
    });
}
