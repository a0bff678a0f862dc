/*
 * http_client.cpp — see http_client.h.
 */
#include "outbox/http_client.h"

#include <curl/curl.h>

#include <mutex>
#include <stdexcept>

namespace pm::outbox {

namespace {

constexpr std::size_t kKeptResponseBytes = 4096;

std::once_flag curl_initialised;

size_t keep_response(char *data, size_t size, size_t count, void *userdata)
{
    auto *body = static_cast<std::string *>(userdata);
    size_t bytes = size * count;
    if (body->size() < kKeptResponseBytes)
        body->append(data, std::min(bytes, kKeptResponseBytes - body->size()));
    return bytes;
}

int progress(void *userdata, curl_off_t, curl_off_t, curl_off_t, curl_off_t)
{
    const auto *should_stop = static_cast<const std::function<bool()> *>(userdata);
    return (*should_stop)() ? 1 : 0; /* non-zero aborts the transfer */
}

} // namespace

HttpClient::HttpClient()
{
    std::call_once(curl_initialised, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    curl_ = curl_easy_init();
    if (!curl_)
        throw std::runtime_error("libcurl could not create a handle");
}

HttpClient::~HttpClient()
{
    curl_easy_cleanup(static_cast<CURL *>(curl_));
}

HttpResponse HttpClient::post(const HttpRequest &request, const std::function<bool()> &should_stop)
{
    CURL *curl = static_cast<CURL *>(curl_);
    HttpResponse response;
    char error[CURL_ERROR_SIZE] = "";

    curl_slist *headers = nullptr;
    std::string content_type = "Content-Type: " + request.content_type;
    headers = curl_slist_append(headers, content_type.c_str());
    headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
    for (const auto &[name, value] : request.headers) {
        std::string line = name + ": " + value;
        headers = curl_slist_append(headers, line.c_str());
    }

    curl_easy_reset(curl); /* keeps the connection cache, drops the previous options */
    curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body->data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body->size()));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, request.timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, request.connect_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* the server owns the signal handlers */
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, keep_response);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &should_stop);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "penguinmails-outbox/0.5");
    if (!request.basic_user.empty() || !request.basic_password.empty()) {
        curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(curl, CURLOPT_USERNAME, request.basic_user.c_str());
        curl_easy_setopt(curl, CURLOPT_PASSWORD, request.basic_password.c_str());
    }

    CURLcode rc = curl_easy_perform(curl);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
    } else {
        response.aborted = rc == CURLE_ABORTED_BY_CALLBACK;
        response.error = *error ? error : curl_easy_strerror(rc);
    }
    /* Credentials must not outlive the call in the reused handle. */
    curl_easy_setopt(curl, CURLOPT_USERNAME, nullptr);
    curl_easy_setopt(curl, CURLOPT_PASSWORD, nullptr);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
    curl_slist_free_all(headers);
    return response;
}

} // namespace pm::outbox
