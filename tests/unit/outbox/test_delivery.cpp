// Unit tests for what the shipper does with a sink's answer (src/outbox/pure/delivery.h):
// the outcome of an HTTP status, the backoff before the next attempt, and the redaction of
// secrets from what is stored in pm.outbox_sink_state and pm.outbox_dead.
#include "outbox/pure/delivery.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace {

using namespace pm::outbox;

// ------------------------------------------------------------------------ classify()

TEST(Delivery, TwoHundredsAreDelivered)
{
    for (long status : {200L, 201L, 202L, 204L, 299L})
        EXPECT_EQ(classify(status), Outcome::delivered) << status;
}

TEST(Delivery, TransientFailuresAreRetried)
{
    // 0: no answer at all (refused, reset, timed out).  408/425/429 and 5xx say "later".
    // 1xx is not a final answer: the batch was not taken.
    for (long status : {0L, 408L, 425L, 429L, 500L, 502L, 503L, 504L, 599L, 100L, 101L, 199L})
        EXPECT_EQ(classify(status), Outcome::retry) << status;
}

TEST(Delivery, PermanentRefusalsAreDeadLettered)
{
    // Sending the same batch again cannot help: keep it and the answer for a human.
    for (long status : {400L, 401L, 403L, 404L, 405L, 409L, 410L, 413L, 415L, 422L, 499L})
        EXPECT_EQ(classify(status), Outcome::dead_letter) << status;
}

TEST(Delivery, RedirectsAreRetriedNotDeadLettered)
{
    // Redirects are not followed (a POST would turn into a GET): the sink's URL needs fixing,
    // and until it is, its batches wait instead of being thrown away.
    for (long status : {300L, 301L, 302L, 304L, 307L, 308L, 399L})
        EXPECT_EQ(classify(status), Outcome::retry) << status;
}

// -------------------------------------------------------------------- retry_delay_ms()

TEST(Delivery, DelayDoublesPerFailureUntilTheCap)
{
    // No jitter: base·2^(failures−1), at most the cap.
    const double expected[] = {500, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000};
    for (int failures = 1; failures <= 9; failures++)
        EXPECT_DOUBLE_EQ(retry_delay_ms(failures, 500, 60000, 0.0, 0.7), expected[failures - 1])
            << "failures " << failures;
}

TEST(Delivery, ZeroOrNegativeFailuresWaitTheBase)
{
    EXPECT_DOUBLE_EQ(retry_delay_ms(0, 750, 60000, 0.0, 0.0), 750);
    EXPECT_DOUBLE_EQ(retry_delay_ms(-3, 750, 60000, 0.0, 0.0), 750);
}

TEST(Delivery, JitterBounds)
{
    const double d = 4000; // failures 3, base 1000
    EXPECT_DOUBLE_EQ(retry_delay_ms(3, 1000, 60000, 0.25, 0.0), d * 0.75);
    EXPECT_DOUBLE_EQ(retry_delay_ms(3, 1000, 60000, 0.25, 0.5), d);
    const double top = retry_delay_ms(3, 1000, 60000, 0.25, 0.999999);
    EXPECT_LT(top, d * 1.25);
    EXPECT_NEAR(top, d * 1.25, 0.01);
    for (int i = 0; i < 1000; i++) {
        const double delay = retry_delay_ms(3, 1000, 60000, 0.25, i / 1000.0);
        EXPECT_GE(delay, d * 0.75);
        EXPECT_LT(delay, d * 1.25);
    }
    // Jitter applies to the capped delay too.
    EXPECT_DOUBLE_EQ(retry_delay_ms(30, 1000, 60000, 0.25, 0.0), 45000);
}

TEST(Delivery, OutOfRangeJitterAndRandomAreClamped)
{
    EXPECT_DOUBLE_EQ(retry_delay_ms(1, 1000, 60000, 0.25, -5.0), 750);
    EXPECT_DOUBLE_EQ(retry_delay_ms(1, 1000, 60000, 0.25, 7.0), 1250);
    EXPECT_DOUBLE_EQ(retry_delay_ms(1, 1000, 60000, -1.0, 0.0), 1000);
    // Jitter 1 (clamped from 3) at random 0 would be 0 ms: the floor holds.
    EXPECT_DOUBLE_EQ(retry_delay_ms(1, 1000, 60000, 3.0, 0.0), 1);
}

TEST(Delivery, NeverBelowOneMillisecond)
{
    // A zero wait would spin the shipper against a failing sink.
    EXPECT_DOUBLE_EQ(retry_delay_ms(1, 0, 60000, 0.0, 0.0), 1);
    EXPECT_DOUBLE_EQ(retry_delay_ms(1, 0.2, 60000, 0.0, 0.0), 1);
    EXPECT_DOUBLE_EQ(retry_delay_ms(1, 100, 0, 0.0, 0.0), 1);
    EXPECT_DOUBLE_EQ(retry_delay_ms(1, 1.2, 60000, 0.5, 0.0), 1);
    EXPECT_DOUBLE_EQ(retry_delay_ms(2, 1.0, 60000, 0.0, 0.0), 2);
}

TEST(Delivery, HugeFailureCountsSaturateAtTheCap)
{
    for (int failures : {61, 62, 1000, 1 << 20, std::numeric_limits<int>::max()}) {
        const double delay = retry_delay_ms(failures, 1000, 3600000, 0.0, 0.0);
        EXPECT_DOUBLE_EQ(delay, 3600000) << failures;
    }
    // Even a base that overflows a double when doubled 60 times lands on the cap.
    const double delay = retry_delay_ms(std::numeric_limits<int>::max(), 1e300, 5000, 0.0, 0.0);
    EXPECT_TRUE(std::isfinite(delay));
    EXPECT_DOUBLE_EQ(delay, 5000);
}

// ---------------------------------------------------------------------------- redact()

TEST(Delivery, RedactReplacesEveryOccurrenceOfEverySecret)
{
    const std::vector<std::string> secrets{"phc_key", "hunter2"};
    EXPECT_EQ(redact("bad key phc_key (phc_key); password hunter2", secrets),
              "bad key *** (***); password ***");
    EXPECT_EQ(redact("nothing secret here", secrets), "nothing secret here");
    EXPECT_EQ(redact("phc_key", secrets), "***");
    EXPECT_EQ(redact("", secrets), "");
}

TEST(Delivery, RedactIgnoresEmptySecrets)
{
    // An unset password is "": it must neither match everywhere nor loop.
    EXPECT_EQ(redact("plain text", {"", "tok", ""}), "plain text");
    EXPECT_EQ(redact("plain text", {""}), "plain text");
    EXPECT_EQ(redact("a tok b", {"", "tok"}), "a *** b");
}

TEST(Delivery, RedactAdjacentAndOverlappingOccurrences)
{
    EXPECT_EQ(redact("abcabc", {"abc"}), "******");
    EXPECT_EQ(redact("xabcabcx", {"abc"}), "x******x");
    // Overlapping occurrences of one secret: none survives whole.
    const std::string overlapped = redact("aaaaa", {"aa"});
    EXPECT_EQ(overlapped.find("aa"), std::string::npos) << overlapped;
    EXPECT_EQ(overlapped.rfind("***", 0), 0u) << overlapped;
    const std::string periodic = redact("ababab", {"abab"});
    EXPECT_EQ(periodic.find("abab"), std::string::npos) << periodic;
}

TEST(Delivery, RedactSecretsThatLookLikeTheMask)
{
    // The replacement must not be searched again (that would never end) nor unmask anything.
    EXPECT_EQ(redact("**", {"*"}), "******");
    EXPECT_EQ(redact("a***b", {"***"}), "a***b");
    EXPECT_EQ(redact("x**y", {"**"}), "x***y");
}

TEST(Delivery, RedactASecretContainingAnother)
{
    // A password that is part of a longer header value: the longer secret is hidden whole,
    // whatever order the secrets come in — not "***-suffix" with the rest of it in clear.
    const std::string text = "401: token s3cret-and-more rejected";
    EXPECT_EQ(redact(text, {"s3cret", "s3cret-and-more"}), "401: token *** rejected");
    EXPECT_EQ(redact(text, {"s3cret-and-more", "s3cret"}), "401: token *** rejected");
    EXPECT_EQ(redact("s3cret and s3cret-and-more", {"s3cret", "s3cret-and-more"}),
              "*** and ***");
}

TEST(Delivery, RedactCutsToMaxBytes)
{
    EXPECT_EQ(redact(std::string(5000, 'x'), {}).size(), 1000u); // the default
    EXPECT_EQ(redact("abcdef", {}, 4), "abcd");
    EXPECT_EQ(redact("abcdef", {}, 6), "abcdef");
    EXPECT_EQ(redact("abcdef", {}, 0), "");
    // Secrets go first: a secret straddling the cut is not half shown.
    EXPECT_EQ(redact("ab hunter2", {"hunter2"}, 5), "ab **");
}

TEST(Delivery, RedactCutsAtAUtf8Boundary)
{
    const std::string e = "\xC3\xA9";              // é, 2 bytes
    const std::string euro = "\xE2\x82\xAC";       // €, 3 bytes
    const std::string penguin = "\xF0\x9F\x90\xA7"; // 🐧, 4 bytes
    EXPECT_EQ(redact(e + e + e, {}, 3), e);
    EXPECT_EQ(redact(e + e + e, {}, 4), e + e);
    EXPECT_EQ(redact("a" + euro, {}, 3), "a");
    EXPECT_EQ(redact("a" + euro, {}, 4), "a" + euro);
    for (std::size_t max = 0; max < 4; max++)
        EXPECT_EQ(redact(penguin + "z", {}, max), "") << max;
    EXPECT_EQ(redact(penguin + "z", {}, 4), penguin);
    EXPECT_EQ(redact(e, {}, 1), "");
}

} // namespace
