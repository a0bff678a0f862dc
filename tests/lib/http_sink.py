#!/usr/bin/env python3
"""A local HTTP sink for the outbox tests and the demo (127.0.0.1 only).

    http_sink.py serve PORT LOG      records every POST as one JSON line in LOG
    http_sink.py events LOG          prints "<accepted> <unique> <kinds>": events in 2xx answers
    http_sink.py check LOG KIND      validates every accepted body against KIND's JSON shape
    http_sink.py ids LOG             prints the event_ids of accepted requests, one per line

While serving, GET /_mode?answer=ok|500|429|400|echo500|echo400|hang|reset[&times=N] changes how the next
POSTs are answered (N of them, then ok again; without times: until changed).  "hang" keeps
the connection open without answering until the mode changes; "reset" closes it with a TCP
reset; "echo500"/"echo400" answer with the request's headers and body in the error.  GET /_stats answers {"requests": n, "accepted": n}.
"""
import json
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

state = {"answer": "ok", "times": None, "requests": 0, "accepted": 0}
lock = threading.Lock()
log_file = None


def next_answer():
    with lock:
        answer = state["answer"]
        if state["times"] is not None:
            state["times"] -= 1
            if state["times"] <= 0:
                state["answer"], state["times"] = "ok", None
        state["requests"] += 1
        return answer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # An answer goes out in two writes (headers, body); with Nagle on, a kept-alive
        # connection waits for the client's delayed ACK (~40 ms a request). Real receivers
        # set TCP_NODELAY too.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass

    def reply(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        if url.path == "/_mode":
            with lock:
                state["answer"] = query.get("answer", ["ok"])[0]
                times = query.get("times", [None])[0]
                state["times"] = int(times) if times else None
            self.reply(200, b"{}")
        elif url.path == "/_stats":
            with lock:
                self.reply(200, json.dumps({k: state[k] for k in ("requests", "accepted")}).encode())
        else:
            self.reply(404, b'{"error":"not found"}')

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        answer = next_answer()
        if answer == "hang":
            while True:
                with lock:
                    if state["answer"] != "hang":
                        break
                time.sleep(0.05)
            self.close_connection = True
            return
        if answer == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        status = {"ok": 200, "500": 500, "429": 429, "400": 400,
                  "echo500": 500, "echo400": 400}.get(answer, 200)
        record = {
            "at": time.time(),
            "path": self.path,
            "status": status,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("utf-8", "replace"),
        }
        with lock:
            if status < 300:
                state["accepted"] += 1
            log_file.write(json.dumps(record) + "\n")
            log_file.flush()
        if answer.startswith("echo"):
            # A careless receiver that repeats the request: what it says must not leak secrets.
            reply = json.dumps({"error": "bad", "headers": record["headers"],
                                "body": record["body"][:300]}).encode()
        else:
            reply = b'{"status":"ok"}' if status < 300 else b'{"error":"sink said %d"}' % status
        self.reply(status, reply)


def serve(port, path):
    global log_file
    log_file = open(path, "a", encoding="utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", int(port)), Handler)
    server.daemon_threads = True
    server.serve_forever()


def accepted(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            if record["status"] < 300:
                yield record


def body_events(record):
    """(event_id, event) of every event in one request body, whatever its format."""
    body = record["body"]
    path = record["path"]
    if path.endswith("/batch/"):
        return [(e["uuid"], e["event"]) for e in json.loads(body)["batch"]]
    if path.endswith("/loki/api/v1/push"):
        out = []
        for stream in json.loads(body)["streams"]:
            for _, line in stream["values"]:
                e = json.loads(line)
                out.append((e["event_id"], e["event"]))
        return out
    if path.endswith("/v1/logs"):
        out = []
        for rl in json.loads(body)["resourceLogs"]:
            for sl in rl["scopeLogs"]:
                for r in sl["logRecords"]:
                    attrs = {a["key"]: a["value"] for a in r["attributes"]}
                    out.append((attrs["event_id"]["stringValue"], r["body"]["stringValue"]))
        return out
    return [(json.loads(l)["event_id"], json.loads(l)["event"]) for l in body.splitlines() if l]


def is_uuid(text):
    return isinstance(text, str) and len(text) == 36 and text.count("-") == 4


def is_rfc3339(text):
    return isinstance(text, str) and len(text) >= 20 and text[10] == "T" and text.endswith("Z")


def check_posthog(doc, problems):
    if not isinstance(doc.get("api_key"), str):
        problems.append("posthog: api_key is not a string")
    if not isinstance(doc.get("batch"), list) or not doc["batch"]:
        problems.append("posthog: batch is not a non-empty array")
        return
    for e in doc["batch"]:
        for field, test in (("event", lambda v: isinstance(v, str) and v),
                            ("uuid", is_uuid),
                            ("distinct_id", lambda v: isinstance(v, str) and v),
                            ("timestamp", is_rfc3339),
                            ("properties", lambda v: isinstance(v, dict))):
            if not test(e.get(field)):
                problems.append(f"posthog: batch item field {field} is missing or of the wrong type")
        if "tenant_id" not in e.get("properties", {}):
            problems.append("posthog: properties carry no tenant_id")


def check_loki(doc, problems):
    streams = doc.get("streams")
    if not isinstance(streams, list) or not streams:
        problems.append("loki: streams is not a non-empty array")
        return
    for s in streams:
        labels = s.get("stream")
        if not isinstance(labels, dict) or set(labels) != {"service", "tier", "level"}:
            problems.append(f"loki: labels are {sorted(labels or {})}, expected service, tier, level")
        elif not all(isinstance(v, str) for v in labels.values()):
            problems.append("loki: a label value is not a string")
        for value in s.get("values", []):
            if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
                    and value[0].isdigit() and len(value[0]) >= 19 and isinstance(value[1], str)):
                problems.append("loki: a value is not [\"<unix ns>\", \"<line>\"]")
                continue
            line = json.loads(value[1])
            if not is_uuid(line.get("event_id")):
                problems.append("loki: a line has no event_id")


def check_otlp(doc, problems):
    for rl in doc.get("resourceLogs", []) or [None]:
        if not isinstance(rl, dict):
            problems.append("otlp: resourceLogs is not a non-empty array")
            return
        attrs = rl.get("resource", {}).get("attributes", [])
        if not any(a.get("key") == "service.name" for a in attrs):
            problems.append("otlp: resource has no service.name")
        for sl in rl.get("scopeLogs", []):
            for r in sl.get("logRecords", []):
                if not (isinstance(r.get("timeUnixNano"), str) and r["timeUnixNano"].isdigit()):
                    problems.append("otlp: timeUnixNano is not a decimal string")
                if not isinstance(r.get("severityNumber"), int) or not 1 <= r["severityNumber"] <= 24:
                    problems.append("otlp: severityNumber is not an integer 1..24")
                if not isinstance(r.get("severityText"), str):
                    problems.append("otlp: severityText is not a string")
                if not isinstance(r.get("body", {}).get("stringValue"), str):
                    problems.append("otlp: body is not a string AnyValue")
                for a in r.get("attributes", []):
                    value = a.get("value")
                    if not isinstance(a.get("key"), str) or not isinstance(value, dict) or len(value) > 1:
                        problems.append("otlp: an attribute is not {key, value: AnyValue}")
                    elif value and next(iter(value)) not in ("stringValue", "boolValue", "intValue",
                                                             "doubleValue", "arrayValue", "kvlistValue"):
                        problems.append("otlp: an attribute value has an unknown AnyValue field")
                    elif "intValue" in value and not isinstance(value["intValue"], str):
                        problems.append("otlp: intValue is not a decimal string")
                if not any(a.get("key") == "event_id" for a in r.get("attributes", [])):
                    problems.append("otlp: a record has no event_id attribute")


def check_jsonl(body, problems):
    for line in body.splitlines():
        e = json.loads(line)
        for field in ("event_id", "timestamp", "event", "level", "service", "tier", "properties"):
            if field not in e:
                problems.append(f"jsonl: a line has no {field}")
        if not is_uuid(e.get("event_id")) or not is_rfc3339(e.get("timestamp")):
            problems.append("jsonl: event_id or timestamp has the wrong type")


def check(path, kind):
    problems, seen = [], 0
    for record in accepted(path):
        seen += 1
        try:
            if kind == "jsonl":
                check_jsonl(record["body"], problems)
            else:
                doc = json.loads(record["body"])
                {"posthog": check_posthog, "loki": check_loki, "otlp": check_otlp}[kind](doc, problems)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            problems.append(f"{kind}: body does not parse as expected: {e}")
    if seen == 0:
        problems.append(f"{kind}: no accepted request to check")
    for p in sorted(set(problems)):
        print(p)
    return 1 if problems else 0


def main():
    command = sys.argv[1]
    if command == "serve":
        serve(sys.argv[2], sys.argv[3])
    elif command == "events":
        ids = [eid for r in accepted(sys.argv[2]) for eid, _ in body_events(r)]
        names = sorted({name for r in accepted(sys.argv[2]) for _, name in body_events(r)})
        print(len(ids), len(set(ids)), ",".join(names))
    elif command == "ids":
        for r in accepted(sys.argv[2]):
            for eid, _ in body_events(r):
                print(eid)
    elif command == "check":
        sys.exit(check(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
