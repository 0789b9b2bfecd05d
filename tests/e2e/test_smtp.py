"""The SMTP mail exchanger, end to end: Python's smtplib and raw sockets against the real
`wharf` binary; delivery checked through POP3 (the same store, another protocol)."""

import poplib
import smtplib
import socket
import ssl

import pytest

ALICE = ("alice@example.test", "alice-pw-1")
BOB = ("bob@example.test", "bob-pw-2")


def messages(wharf, user):
    """Every message in the user's mailbox, via POP3, as bytes with CRLF lines."""
    p = poplib.POP3("127.0.0.1", wharf.port("pop3"), timeout=30)
    try:
        p.user(user[0])
        p.pass_(user[1])
        count, _ = p.stat()
        return [b"\r\n".join(p.retr(i)[1]) + b"\r\n" for i in range(1, count + 1)]
    finally:
        p.quit()


class Raw:
    """A raw SMTP connection: send bytes, read whole replies."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""
        greeting = self.reply()
        assert greeting.startswith("220 mx.example.test ESMTP"), greeting

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        lines = []
        while True:
            line = self.line()
            assert line is not None, f"connection closed after {lines}"
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return "\n".join(lines)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def close(self):
        self.sock.close()


def test_smtplib_delivers_with_trace_headers(wharf):
    s = smtplib.SMTP("127.0.0.1", wharf.port("smtp"), timeout=30)
    code, ehlo = s.ehlo("client.test")
    assert code == 250
    for ext in (b"PIPELINING", b"SIZE", b"8BITMIME", b"ENHANCEDSTATUSCODES", b"SMTPUTF8",
                b"CHUNKING", b"DSN", b"STARTTLS"):
        assert ext in ehlo, ext
    refused = s.sendmail("sender@remote.test", [ALICE[0]],
                         b"Subject: e2e\r\n\r\nHello\r\n.dot line\r\n")
    assert refused == {}
    s.quit()
    [msg] = messages(wharf, ALICE)
    assert msg.startswith(b"Return-Path: <sender@remote.test>\r\nReceived: from client.test ([127.0.0.1])\r\n")
    assert b"\tby mx.example.test (Wharf) with ESMTP id " in msg
    assert b"\tfor <alice@example.test>; " in msg
    assert msg.endswith(b"Subject: e2e\r\n\r\nHello\r\n.dot line\r\n")


def test_starttls_then_send(wharf):
    s = smtplib.SMTP("127.0.0.1", wharf.port("smtp"), timeout=30)
    s.ehlo("client.test")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    code, _ = s.starttls(context=ctx)
    assert code == 220
    code, ehlo = s.ehlo("client.test")
    assert b"STARTTLS" not in ehlo
    s.sendmail("sender@remote.test", [BOB[0]], b"Subject: tls\r\n\r\nsecret\r\n")
    s.quit()
    [msg] = messages(wharf, BOB)
    assert b" with ESMTPS id " in msg


def test_recipients_outside_or_unknown_are_refused(wharf):
    s = smtplib.SMTP("127.0.0.1", wharf.port("smtp"), timeout=30)
    s.ehlo("client.test")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
        s.sendmail("a@remote.test", ["victim@elsewhere.test", "ghost@example.test"], b"x\r\n")
    refused = e.value.recipients
    assert refused["victim@elsewhere.test"][0] == 550
    assert b"5.7.1" in refused["victim@elsewhere.test"][1]
    assert refused["ghost@example.test"][0] == 550
    assert b"5.1.1" in refused["ghost@example.test"][1]
    # Mixed: accepted for the good one, refused for the other.
    refused = s.sendmail("a@remote.test", [ALICE[0], "ghost@example.test"], b"Subject: m\r\n\r\nx\r\n")
    assert list(refused) == ["ghost@example.test"]
    s.quit()
    assert len(messages(wharf, ALICE)) == 1


def test_alias_delivers_once_per_mailbox(wharf):
    wharf.cli("alias", "add", "team@example.test", ALICE[0], BOB[0])
    s = smtplib.SMTP("127.0.0.1", wharf.port("smtp"), timeout=30)
    s.sendmail("a@remote.test", ["team@example.test"], b"Subject: team\r\n\r\nhi all\r\n")
    s.quit()
    for user in (ALICE, BOB):
        [msg] = messages(wharf, user)
        assert msg.endswith(b"hi all\r\n")


def test_size_limit(wharf_factory):
    w = wharf_factory("[smtp]\nmax_message_size = 2000\n").start()
    s = smtplib.SMTP("127.0.0.1", w.port("smtp"), timeout=30)
    s.ehlo("client.test")
    assert s.esmtp_features["size"] == "2000"
    # smtplib declares SIZE= when the server offers it: refused at MAIL FROM.
    with pytest.raises(smtplib.SMTPSenderRefused) as e:
        s.sendmail("a@remote.test", [ALICE[0]], b"x" * 3000 + b"\r\n")
    assert e.value.smtp_code == 552 and b"5.3.4" in e.value.smtp_error
    s.rset()
    s.quit()
    # Without SIZE=, the limit applies after the data, and the session goes on.
    r = Raw(w.port("smtp"))
    r.cmd("EHLO raw.test")
    r.cmd("MAIL FROM:<a@remote.test>")
    r.cmd("RCPT TO:<alice@example.test>")
    assert r.cmd("DATA").startswith("354")
    r.send(("y" * 98 + "\r\n") * 100 + ".\r\n")
    assert r.reply() == "552 5.3.4 Message size exceeds fixed maximum message size"
    assert r.cmd("NOOP") == "250 2.0.0 Ok"
    r.close()
    assert messages(w, ALICE) == []


@pytest.mark.parametrize("trick", [b"\n.\n", b"\r.\r", b"\r.\n", b"\n.\r\n", b"\r\n.\n"],
                         ids=["LF.LF", "CR.CR", "CR.LF", "LF.CRLF", "CRLF.LF"])
def test_smuggling_is_refused(wharf, trick):
    r = Raw(wharf.port("smtp"))
    r.cmd("EHLO raw.test")
    r.cmd("MAIL FROM:<a@remote.test>")
    r.cmd("RCPT TO:<alice@example.test>")
    assert r.cmd("DATA").startswith("354")
    r.send(b"Subject: one\r\n\r\nbody" + trick +
           b"MAIL FROM:<ceo@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
           b"Subject: forged\r\n\r\nforged\r\n.\r\n")
    assert r.reply() == "550 5.5.2 Error: bare <CR> or <LF> received"
    assert r.cmd("QUIT") == "221 2.0.0 Bye"
    r.close()
    assert messages(wharf, ALICE) == []
    assert messages(wharf, BOB) == []


def test_pipelining_and_bdat(wharf):
    r = Raw(wharf.port("smtp"))
    r.send("EHLO raw.test\r\nMAIL FROM:<>\r\nRCPT TO:<nobody@example.test>\r\n"
           "RCPT TO:<bob@example.test>\r\nBDAT 20\r\nSubject: chunk\r\n\r\nabBDAT 4 LAST\r\ncd\r\n"
           "DATA\r\nQUIT\r\n")
    assert r.reply().endswith("250 HELP")
    assert r.reply() == "250 2.1.0 Sender ok"
    assert r.reply() == "550 5.1.1 No such user here"
    assert r.reply() == "250 2.1.5 Recipient ok"
    assert r.reply() == "250 2.0.0 20 octets received"
    assert r.reply().startswith("250 2.0.0 Ok: queued as ")
    assert r.reply() == "503 5.5.1 Need MAIL command"
    assert r.reply() == "221 2.0.0 Bye"
    r.close()
    [msg] = messages(wharf, BOB)
    assert msg.endswith(b"Subject: chunk\r\n\r\nabcd\r\n")


def test_starttls_discards_pipelined_plaintext(wharf):
    r = Raw(wharf.port("smtp"))
    r.cmd("EHLO raw.test")
    r.send("STARTTLS\r\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<alice@example.test>\r\n")
    assert r.reply() == "220 2.0.0 Ready to start TLS"
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    tls = ctx.wrap_socket(r.sock, server_hostname="localhost")
    r.sock = tls
    # The injected MAIL/RCPT never ran: the session starts over.
    assert r.cmd("RCPT TO:<alice@example.test>") == "503 5.5.1 Send HELO/EHLO first"
    r.cmd("EHLO raw.test")
    assert r.cmd("RCPT TO:<alice@example.test>") == "503 5.5.1 Need MAIL command"
    r.cmd("QUIT")
    r.close()


def test_obsolete_and_unknown_commands(wharf):
    r = Raw(wharf.port("smtp"))
    for verb in ("SEND", "SOML", "SAML", "TURN"):
        assert r.cmd(verb).startswith("502 5.5.1")
    assert r.cmd("VRFY alice").startswith("252 2.5.0")
    assert r.cmd("FROB") == "500 5.5.2 Command unrecognized"
    assert r.cmd("MAIL FROM:<>") == "503 5.5.1 Send HELO/EHLO first"
    r.cmd("EHLO raw.test")
    assert r.cmd("MAIL FROM:<> FOO=1").startswith("555 5.5.4")
    r.close()


def test_quota_at_rcpt_and_end_of_data(wharf):
    wharf.cli("user", "quota", ALICE[0], "--messages", "1", "--bytes", "5000")
    s = smtplib.SMTP("127.0.0.1", wharf.port("smtp"), timeout=30)
    s.ehlo("client.test")
    # Larger than the byte quota: refused after the data (smtplib sends SIZE=, which
    # the RCPT check sees too).
    with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
        s.sendmail("a@remote.test", [ALICE[0]], b"Subject: big\r\n\r\n" + b"z" * 6000 + b"\r\n")
    code, text = e.value.recipients[ALICE[0]]
    assert code == 452 and b"4.2.2" in text
    r = Raw(wharf.port("smtp"))
    r.cmd("EHLO raw.test")
    r.cmd("MAIL FROM:<a@remote.test>")
    assert r.cmd("RCPT TO:<alice@example.test>") == "250 2.1.5 Recipient ok"
    r.cmd("DATA")
    r.send(b"Subject: big\r\n\r\n" + b"z" * 6000 + b"\r\n.\r\n")
    assert r.reply() == "552 5.2.2 Mailbox full: message exceeds quota"
    # One small message fits; then the message quota is reached.
    s.sendmail("a@remote.test", [ALICE[0]], b"Subject: small\r\n\r\nok\r\n")
    r.cmd("MAIL FROM:<a@remote.test>")
    assert r.cmd("RCPT TO:<alice@example.test>") == "452 4.2.2 Mailbox full"
    r.close()
    s.quit()
    assert len(messages(wharf, ALICE)) == 1
