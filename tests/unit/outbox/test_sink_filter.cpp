// Unit tests for sink filters (src/outbox/pure/sink_filter.h).  The rule that matters most:
// email_* events (one per email sent, opened, clicked...) reach a sink only when its filter
// names them, so a catch-all filter or none at all never floods a logging sink with them.
#include "outbox/pure/sink_filter.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace {

using namespace pm::outbox;

using Filter = std::optional<std::vector<std::string>>;

Filter filter(std::vector<std::string> entries)
{
    return Filter(std::move(entries));
}

// ----------------------------------------------------------------------- accepts()

TEST(SinkFilter, NullFilterAcceptsEverythingButOptInEvents)
{
    const Filter none = std::nullopt;
    for (const char *event : {"job_done", "tenant_created", "a", "emailsent", "x.email_sent",
                              "Email_sent", "email", "$identify"})
        EXPECT_TRUE(accepts(none, event)) << event;
    for (const char *event : {"email_sent", "email_opened", "email_clicked", "email_"})
        EXPECT_FALSE(accepts(none, event)) << event;
}

TEST(SinkFilter, EmptyFilterAcceptsNothing)
{
    // An empty array is not NULL: the sink has been told to take no events.
    for (const char *event : {"job_done", "email_sent", ""})
        EXPECT_FALSE(accepts(filter({}), event)) << event;
}

TEST(SinkFilter, ExactNames)
{
    const Filter f = filter({"job_done", "tenant_created"});
    EXPECT_TRUE(accepts(f, "job_done"));
    EXPECT_TRUE(accepts(f, "tenant_created"));
    EXPECT_FALSE(accepts(f, "job_done2"));
    EXPECT_FALSE(accepts(f, "job_don"));
    EXPECT_FALSE(accepts(f, "JOB_DONE")) << "names are case-sensitive";
    EXPECT_FALSE(accepts(f, "tenant_deleted"));
}

TEST(SinkFilter, PrefixPatterns)
{
    const Filter f = filter({"job_*"});
    EXPECT_TRUE(accepts(f, "job_done"));
    EXPECT_TRUE(accepts(f, "job_failed"));
    EXPECT_TRUE(accepts(f, "job_")) << "the prefix alone matches";
    EXPECT_FALSE(accepts(f, "job"));
    EXPECT_FALSE(accepts(f, "jobs_done"));
    EXPECT_FALSE(accepts(f, "a_job_done")) << "a prefix, not a substring";
}

TEST(SinkFilter, AnyMatchingEntryIsEnough)
{
    const Filter f = filter({"tenant_created", "job_*", "billing.invoice_paid"});
    EXPECT_TRUE(accepts(f, "tenant_created"));
    EXPECT_TRUE(accepts(f, "job_retry"));
    EXPECT_TRUE(accepts(f, "billing.invoice_paid"));
    EXPECT_FALSE(accepts(f, "billing.invoice_sent"));
}

TEST(SinkFilter, StarAcceptsEverythingButOptInEvents)
{
    const Filter f = filter({"*"});
    EXPECT_TRUE(accepts(f, "job_done"));
    EXPECT_TRUE(accepts(f, "anything"));
    EXPECT_FALSE(accepts(f, "email_sent"));
    EXPECT_FALSE(accepts(f, "email_opened"));
}

TEST(SinkFilter, OptInEventsNeedAnExplicitEntry)
{
    EXPECT_TRUE(accepts(filter({"email_*"}), "email_sent"));
    EXPECT_TRUE(accepts(filter({"email_*"}), "email_clicked"));
    EXPECT_TRUE(accepts(filter({"email_sent"}), "email_sent"));
    EXPECT_FALSE(accepts(filter({"email_sent"}), "email_opened"));
    // Patterns longer than the family's prefix are explicit too.
    EXPECT_TRUE(accepts(filter({"email_open*"}), "email_opened"));
    EXPECT_FALSE(accepts(filter({"email_open*"}), "email_sent"));
    // Catch-alls that happen to cover the prefix are not.
    for (const char *entry : {"*", "e*", "em*", "email*"})
        EXPECT_FALSE(accepts(filter({entry}), "email_sent")) << entry;
    // Mixed: the catch-all takes ordinary events, the explicit entry the email ones.
    const Filter mixed = filter({"*", "email_sent"});
    EXPECT_TRUE(accepts(mixed, "job_done"));
    EXPECT_TRUE(accepts(mixed, "email_sent"));
    EXPECT_FALSE(accepts(mixed, "email_opened"));
}

TEST(SinkFilter, CatchAllPatternsStillMatchOrdinaryEvents)
{
    // 'e*' is not explicit for email_*, but is an ordinary prefix for everything else.
    EXPECT_TRUE(accepts(filter({"e*"}), "export_done"));
    EXPECT_TRUE(accepts(filter({"email*"}), "emails_digest")) << "not of the email_ family";
}

TEST(SinkFilter, IsOptIn)
{
    EXPECT_TRUE(is_opt_in("email_sent"));
    EXPECT_TRUE(is_opt_in("email_"));
    EXPECT_FALSE(is_opt_in("email"));
    EXPECT_FALSE(is_opt_in("emails_sent"));
    EXPECT_FALSE(is_opt_in("EMAIL_SENT"));
    EXPECT_FALSE(is_opt_in("my_email_sent"));
    EXPECT_FALSE(is_opt_in(""));
}

// --------------------------------------------------------------------- name checks

TEST(SinkFilter, EventNamesAccepted)
{
    for (const char *name : {"a", "job_done", "Job.Done", "billing:invoice-paid", "$identify",
                             "v2.3", "0", "a-b_c.d:e$f"})
        EXPECT_EQ(event_name_problem(name), "") << name;
    EXPECT_EQ(event_name_problem(std::string(kMaxEventNameLength, 'x')), "");
}

TEST(SinkFilter, EventNamesRefused)
{
    EXPECT_NE(event_name_problem("").find("empty"), std::string::npos);
    EXPECT_NE(event_name_problem(std::string(kMaxEventNameLength + 1, 'x')).find("200"),
              std::string::npos);
    for (const char *name : {"job done", "job*", "a/b", "a,b", "a\"b", "tab\there", "new\nline",
                             "caf\xC3\xA9", "a%b", "a@b", "semi;colon", "(x)"}) {
        const std::string problem = event_name_problem(name);
        EXPECT_NE(problem.find("only letters, digits"), std::string::npos) << name << ": " << problem;
    }
    EXPECT_NE(event_name_problem(std::string("a\0b", 3)), "");
}

TEST(SinkFilter, FilterEntriesAccepted)
{
    for (const char *entry : {"*", "job_*", "job_done", "email_*", "e*", "$identify", "a.b:c-d*"})
        EXPECT_EQ(filter_entry_problem(entry), "") << entry;
    // The '*' does not count against the name's length.
    EXPECT_EQ(filter_entry_problem(std::string(kMaxEventNameLength, 'x') + "*"), "");
}

TEST(SinkFilter, FilterEntriesRefused)
{
    // Only a trailing '*' is a pattern; anything else must be an event name.
    for (const char *entry : {"", "**", "*job", "jo*b", "job_**", "a b*", "job_*,x"})
        EXPECT_NE(filter_entry_problem(entry), "") << entry;
    EXPECT_NE(filter_entry_problem(std::string(kMaxEventNameLength + 1, 'x')), "");
}

TEST(SinkFilter, SinkNames)
{
    for (const char *name : {"posthog", "loki-eu", "otlp_2", "a", "0", "-", "_"})
        EXPECT_EQ(sink_name_problem(name), "") << name;
    EXPECT_EQ(sink_name_problem(std::string(63, 'a')), "");

    EXPECT_NE(sink_name_problem("").find("1 to 63"), std::string::npos);
    EXPECT_NE(sink_name_problem(std::string(64, 'a')).find("1 to 63"), std::string::npos);
    // Sink names are identifiers in SQL and logs: lowercase ASCII only.
    for (const char *name : {"PostHog", "loki eu", "a.b", "a:b", "sink$", "x*", "caf\xC3\xA9",
                             "tab\t"}) {
        const std::string problem = sink_name_problem(name);
        EXPECT_NE(problem.find("a-z, 0-9"), std::string::npos) << name << ": " << problem;
    }
}

} // namespace
