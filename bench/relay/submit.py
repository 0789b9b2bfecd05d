#!/usr/bin/env python3
"""bench/relay/submit.py - submit N messages to an SMTP server and wait until smtp-sink has them.

The same submitter is used for Postfix and Wharf, so the input is identical:

  * SESSIONS threads, each with its own SMTP connection; a connection sends PER_CONN
    messages (MAIL, RCPT, DATA each; smtplib does not pipeline), then QUITs and the
    thread opens a new one. With --auth USER:PASS every connection logs in with AUTH
    PLAIN first (Wharf's submission listener); without it no AUTH (Postfix's port 25,
    relaying for mynetworks).
  * message i (0-based) goes from --sender to user<i % 1000>@<rcpt-domain>, one recipient,
    is --size bytes (headers + body, CRLF lines) and carries `X-Bench-Seq: <tag>-<i>`, so
    that the dump can be checked for lost and duplicated messages.
  * a watcher thread tails smtp-sink's shared dump file (smtp-sink -D, with a start string
    of four \\001 bytes and a newline before every message, written when the final "." has
    been received and before smtp-sink answers 250) and notes when COUNT reaches --expect.

Prints one JSON object: t_accepted (first connection -> last 250 from the server),
t_delivered (first connection -> smtp-sink has --expect messages), failures, and the
dump check (messages, unique sequence numbers, duplicates, missing, foreign).
Exit status 0 if every message was accepted and exactly --expect unique messages, no
duplicates and nothing missing, reached the sink; 1 otherwise.
"""

import argparse
import json
import os
import re
import smtplib
import sys
import threading
import time

SEP = b"\x01\x01\x01\x01\n"


def build_message(i, args):
    rcpt = f"user{i % 1000}@{args.rcpt_domain}"
    head = (
        f"From: <{args.sender}>\r\n"
        f"To: <{rcpt}>\r\n"
        f"Subject: relay benchmark {args.tag} message {i}\r\n"
        f"Message-ID: <{args.tag}.{i}@bench.relay.test>\r\n"
        f"Date: Mon, 23 Nov 2026 12:00:00 +0000\r\n"
        f"X-Bench-Seq: {args.tag}-{i}\r\n"
        f"MIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=us-ascii\r\n"
        f"\r\n"
    ).encode()
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\r\n"  # 74 bytes
    need = max(args.size - len(head), len(line))
    body = line * (need // len(line))
    rest = need - len(body)
    if rest >= 3:
        body += b"x" * (rest - 2) + b"\r\n"
    return rcpt, head + body


class Watcher(threading.Thread):
    """Counts the messages smtp-sink has appended to its dump file."""

    def __init__(self, path, expect, poll):
        super().__init__(daemon=True)
        self.path, self.expect, self.poll = path, expect, poll
        self.count = 0
        self.done_at = None
        self.stop = threading.Event()

    def run(self):
        f = None
        tail = b""
        while not self.stop.is_set():
            if f is None:
                try:
                    f = open(self.path, "rb")
                except FileNotFoundError:
                    time.sleep(self.poll)
                    continue
            data = f.read()
            if data:
                now = time.monotonic()
                chunk = tail + data
                self.count += chunk.count(SEP)
                # keep the bytes that could be the start of a separator cut by this read
                tail = chunk[-(len(SEP) - 1):] if not chunk.endswith(SEP) else b""
                if self.done_at is None and self.count >= self.expect:
                    self.done_at = now
                continue  # read again at once: more may have arrived
            time.sleep(self.poll)
        if f:
            f.close()


def check_dump(path, tag, expect):
    """Counts messages and X-Bench-Seq values in the dump."""
    try:
        data = open(path, "rb").read()
    except FileNotFoundError:
        data = b""
    msgs = data.count(SEP)
    seqs = re.findall(rb"^X-Bench-Seq: (\S+)$", data, re.M)
    prefix = f"{tag}-".encode()
    seen = {}
    foreign = 0
    for s in seqs:
        if not s.startswith(prefix):
            foreign += 1
            continue
        try:
            n = int(s[len(prefix):])
        except ValueError:
            foreign += 1
            continue
        seen[n] = seen.get(n, 0) + 1
    dups = sum(c - 1 for c in seen.values() if c > 1)
    missing = sum(1 for i in range(expect) if i not in seen)
    return {
        "dump_messages": msgs,
        "dump_seq_headers": len(seqs),
        "unique": len(seen),
        "duplicates": dups,
        "missing": missing,
        "foreign": foreign,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--sessions", type=int, default=10)
    p.add_argument("--messages", type=int, default=10000)
    p.add_argument("--per-conn", type=int, default=100)
    p.add_argument("--size", type=int, default=4096)
    p.add_argument("--sender", required=True)
    p.add_argument("--rcpt-domain", default="remote.test")
    p.add_argument("--auth", help="USER:PASS for AUTH PLAIN")
    p.add_argument("--helo", default="submitter.bench.test")
    p.add_argument("--tag", required=True, help="unique per run; goes into X-Bench-Seq")
    p.add_argument("--sink-dump", required=True, help="smtp-sink's -D dump file")
    p.add_argument("--timeout", type=float, default=1800, help="seconds to wait for delivery")
    p.add_argument("--poll", type=float, default=0.02)
    args = p.parse_args()

    msgs = [build_message(i, args) for i in range(args.messages)]
    next_i = [0]
    lock = threading.Lock()
    failures = []
    last_ok = [0.0]
    accepted = [0]
    connections = [0]

    def take(n):
        with lock:
            start = next_i[0]
            end = min(start + n, args.messages)
            next_i[0] = end
            return range(start, end)

    def session():
        while True:
            batch = take(args.per_conn)
            if not batch:
                return
            try:
                s = smtplib.SMTP(args.host, args.port, local_hostname=args.helo, timeout=300)
                with lock:
                    connections[0] += 1
                s.ehlo()
                if args.auth:
                    user, _, pw = args.auth.partition(":")
                    s.user, s.password = user, pw
                    s.auth("PLAIN", s.auth_plain)
            except Exception as e:  # noqa: BLE001 - report and count every message as failed
                with lock:
                    failures.extend((i, f"connect/login: {e!r}") for i in batch)
                continue
            for i in batch:
                rcpt, data = msgs[i]
                try:
                    refused = s.sendmail(args.sender, [rcpt], data)
                    if refused:
                        raise smtplib.SMTPRecipientsRefused(refused)
                    t = time.monotonic()
                    with lock:
                        accepted[0] += 1
                        if t > last_ok[0]:
                            last_ok[0] = t
                except Exception as e:  # noqa: BLE001
                    with lock:
                        failures.append((i, repr(e)))
                    try:
                        s.rset()
                    except Exception:  # noqa: BLE001
                        break
            try:
                s.quit()
            except Exception:  # noqa: BLE001
                pass

    watcher = Watcher(args.sink_dump, args.messages, args.poll)
    watcher.start()
    threads = [threading.Thread(target=session, daemon=True) for _ in range(args.sessions)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t_submit_end = time.monotonic()
    deadline = t_submit_end + args.timeout
    while watcher.done_at is None and time.monotonic() < deadline:
        time.sleep(0.05)
    # a little longer, so that duplicates arriving right after the last message are seen
    time.sleep(0.5)
    watcher.stop.set()
    watcher.join()
    check = check_dump(args.sink_dump, args.tag, args.messages)
    result = {
        "tag": args.tag,
        "messages": args.messages,
        "sessions": args.sessions,
        "per_conn": args.per_conn,
        "size": len(msgs[0][1]),
        "connections": connections[0],
        "accepted": accepted[0],
        "failures": len(failures),
        "first_failures": [f"{i}: {e}" for i, e in failures[:5]],
        "t_accepted": round(last_ok[0] - t0, 3) if accepted[0] else None,
        "t_submit_end": round(t_submit_end - t0, 3),
        "t_delivered": round(watcher.done_at - t0, 3) if watcher.done_at else None,
        "sink_count_at_end": watcher.count,
        **check,
    }
    print(json.dumps(result))
    ok = (
        not failures
        and watcher.done_at is not None
        and check["dump_messages"] == args.messages
        and check["unique"] == args.messages
        and check["duplicates"] == 0
        and check["missing"] == 0
        and check["foreign"] == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
