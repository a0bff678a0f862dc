/*
 * http_client.h — one libcurl easy handle per sink, kept for the backend's life so
 * connections (and TLS sessions) are reused between batches.  No PostgreSQL here: the
 * caller passes a check that says when to give up (server shutdown, query cancel).
 */
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace pm::outbox {

struct HttpResponse {
    long status = 0;       /* 0: no HTTP answer */
    std::string body;      /* at most the first 4 kB */
    std::string error;     /* libcurl's reason when status is 0 */
    bool aborted = false;  /* stopped because should_stop() said so */
};

struct HttpRequest {
    std::string url;
    std::string content_type;
    const std::string *body = nullptr;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string basic_user, basic_password; /* both empty: no basic auth */
    long timeout_ms = 10000;
    long connect_timeout_ms = 3000;
};

class HttpClient {
public:
    HttpClient();
    ~HttpClient();
    HttpClient(const HttpClient &) = delete;
    HttpClient &operator=(const HttpClient &) = delete;

    /* POSTs the request; never throws for network trouble (it is in the response). */
    HttpResponse post(const HttpRequest &request, const std::function<bool()> &should_stop);

private:
    void *curl_; /* CURL * */
};

} // namespace pm::outbox
