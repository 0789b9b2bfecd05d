"""Outbound delivery end to end: the real `wharf` binary relays submitted mail to a
Python SMTP sink through `[outbound] routes`, bounces 5xx refusals back to the sender
(a DSN read over POP3), and keeps queued mail across kill -9. Skipped while the binary
does not serve submission or does not know the `[outbound]` section."""

import poplib
import smtplib
import socket
import ssl
import threading
import time


ALICE = ("alice@example.test", "alice-pw-1")


class Sink:
    """A tiny SMTP server: records transactions; RCPTs to `refuse@` get 550."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.received = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn):
        f = conn.makefile("rb")
        conn.sendall(b"220 sink.test ESMTP\r\n")
        mail, rcpts = None, []
        for raw in f:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                conn.sendall(b"250-sink.test\r\n250-8BITMIME\r\n250 PIPELINING\r\n")
            elif verb == "MAIL":
                mail, rcpts = line, []
                conn.sendall(b"250 2.1.0 ok\r\n")
            elif verb == "RCPT":
                if "<refuse@" in line:
                    conn.sendall(b"550 5.1.1 no such user here\r\n")
                else:
                    rcpts.append(line)
                    conn.sendall(b"250 2.1.5 ok\r\n")
            elif verb == "DATA":
                conn.sendall(b"354 go\r\n")
                data = b""
                for d in f:
                    if d == b".\r\n":
                        break
                    data += d[1:] if d.startswith(b".") else d
                self.received.append((mail, rcpts, data))
                conn.sendall(b"250 2.0.0 queued\r\n")
            elif verb == "QUIT":
                conn.sendall(b"221 bye\r\n")
                break
            else:
                conn.sendall(b"250 ok\r\n")
        conn.close()

    def close(self):
        self.sock.close()


def start(wharf_factory, routes):
    cfg = "\n[outbound]\npoll_interval_secs = 1\nretry = [\"1s\"]\nroutes = { %s }\n" % ", ".join(
        f'"{d}" = "127.0.0.1:{p}"' for d, p in routes.items()
    )
    w = wharf_factory(cfg)
    # A server that refuses [outbound] or exits early fails the test (no skip).
    w.start()
    w.port("submission")
    return w


def submit(w, rcpts, body="Subject: out\r\n\r\nHello\r\n"):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", w.port("submission"), timeout=30) as s:
        s.ehlo("client.test")
        s.starttls(context=ctx)
        s.ehlo("client.test")
        s.login(*ALICE)
        return s.sendmail("alice@example.test", rcpts, body)


def wait_for(pred, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def untouched(w):
    """The queue holds mail that no delivery attempt has touched (no worker running)."""
    out = w.cli("queue", "list").stdout
    return out.strip() != "" and all(line.endswith("error=-") for line in out.strip().splitlines())


def wait_for_delivery(w, pred, timeout=20):
    """Waits for the outbound worker's result; a worker that never touched the queue (not
    running, or stopped) is a failure that says so, not a skip."""
    try:
        return wait_for(pred, timeout)
    except AssertionError:
        if untouched(w):
            raise AssertionError(
                "the outbound worker never tried the queued mail (not running or stopped): "
                + w.cli("queue", "list").stdout
            )
        raise


def inbox(w):
    p = poplib.POP3("127.0.0.1", w.port("pop3"), timeout=30)
    try:
        p.user(ALICE[0])
        p.pass_(ALICE[1])
        count, _ = p.stat()
        return [b"\r\n".join(p.retr(i)[1]).decode("utf-8", "replace") for i in range(1, count + 1)]
    finally:
        p.quit()


def test_relay_to_the_sink_and_bounce_refused(wharf_factory):
    sink = Sink()
    try:
        w = start(wharf_factory, {"remote.test": sink.port})
        submit(w, ["carol@remote.test", "refuse@remote.test", "dave@remote.test"])
        wait_for_delivery(w, lambda: sink.received)
        mail, rcpts, data = sink.received[0]
        assert mail.startswith("MAIL FROM:<alice@example.test>"), mail
        # One transaction for both accepted recipients.
        assert [r.split()[1] for r in rcpts] == ["TO:<carol@remote.test>", "TO:<dave@remote.test>"], rcpts
        assert b" with ESMTPSA id " in data and b"\r\n\r\nHello\r\n" in data
        dsn = wait_for(lambda: [m for m in inbox(w) if "delivery-status" in m])[0]
        assert "Final-Recipient: rfc822; refuse@remote.test" in dsn
        assert "Action: failed" in dsn and "Status: 5.1.1" in dsn
        assert "carol@remote.test" not in dsn.split("message/delivery-status", 1)[1].split("message/rfc822")[0]
        wait_for(lambda: w.cli("queue", "list").stdout.strip() == "")
    finally:
        sink.close()


def test_queue_survives_kill9(wharf_factory):
    # First the destination is down: the message waits in the queue.
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()
    w = start(wharf_factory, {"remote.test": dead_port})
    submit(w, ["carol@remote.test"])
    listed = wait_for_delivery(
        w, lambda: "carol@remote.test" in (out := w.cli("queue", "list").stdout) and "error=-" not in out and out
    )
    assert "carol@remote.test" in listed
    w.kill9()
    # Restart with the destination up: the queued message is delivered.
    sink = Sink()
    try:
        w.config.write_text(w.config.read_text().replace(f"127.0.0.1:{dead_port}", f"127.0.0.1:{sink.port}"))
        w.start()
        w.cli("queue", "retry", "--all")
        wait_for(lambda: sink.received)
        assert len(sink.received) == 1
        wait_for(lambda: w.cli("queue", "list").stdout.strip() == "")
    finally:
        sink.close()


def test_mail_exchanger_forwards_off_site_alias_targets(wharf_factory):
    sink = Sink()
    try:
        w = start(wharf_factory, {"remote.test": sink.port})
        w.cli("alias", "add", "fwd@example.test", "carol@remote.test", "alice@example.test")
        with smtplib.SMTP("127.0.0.1", w.port("smtp"), timeout=30) as s:
            s.sendmail("someone@outside.test", ["fwd@example.test"], "Subject: fwd\r\n\r\nForward me\r\n")
        wait_for_delivery(w, lambda: sink.received)
        mail, rcpts, data = sink.received[0]
        # The original envelope sender is kept (no SRS); the forwarded copy is the message.
        assert mail.startswith("MAIL FROM:<someone@outside.test>"), mail
        assert [r.split()[1] for r in rcpts] == ["TO:<carol@remote.test>"], rcpts
        assert b"\r\n\r\nForward me\r\n" in data and b"Return-Path:" not in data
        # The local target got its copy too.
        assert any("Forward me" in m for m in inbox(w))
    finally:
        sink.close()
