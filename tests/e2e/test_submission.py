"""Message submission end to end (RFC 6409, RFC 4954, RFC 8314): Python's smtplib against
the real `wharf` binary's `submission` (STARTTLS) and `submissions` (implicit TLS)
listeners. Local delivery is checked over POP3; remote recipients in `wharf queue list`.
Skipped while the binary does not serve submission."""

import poplib
import smtplib
import ssl
import subprocess

import pytest

ALICE = ("alice@example.test", "alice-pw-1")
BOB = ("bob@example.test", "bob-pw-2")


def insecure():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def messages(wharf, user):
    p = poplib.POP3("127.0.0.1", wharf.port("pop3"), timeout=30)
    try:
        p.user(user[0])
        p.pass_(user[1])
        count, _ = p.stat()
        return [b"\r\n".join(p.retr(i)[1]) + b"\r\n" for i in range(1, count + 1)]
    finally:
        p.quit()


MESSAGE = (
    "From: alice@example.test\r\n"
    "To: bob@example.test\r\n"
    "Bcc: carol@remote.test\r\n"
    "Subject: submitted\r\n"
    "\r\n"
    "Hello Bob\r\n"
)


def test_starttls_auth_local_and_remote_recipients(wharf):
    port = wharf.port("submission")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.ehlo("client.test")
        s.starttls(context=insecure())
        s.ehlo("client.test")
        assert "PLAIN" in s.esmtp_features.get("auth", "").upper()
        s.login(*ALICE)
        refused = s.sendmail("alice@example.test", ["bob@example.test", "carol@remote.test"], MESSAGE)
        assert refused == {}
    [raw] = messages(wharf, BOB)
    text = raw.decode()
    assert text.startswith("Return-Path: <alice@example.test>\r\nReceived: from client.test "), text
    assert " with ESMTPSA id " in text
    # RFC 6409 §8: Message-ID and Date added, Bcc removed.
    assert "\r\nMessage-ID: <" in text and "\r\nDate: " in text
    assert "Bcc" not in text and "carol@" not in text
    # carol's copy went to the outbound queue: it is still there, or (with a worker
    # running and remote.test not resolving) it came back to alice as a bounce.
    out = wharf.cli("queue", "list").stdout
    if "carol@remote.test" not in out:
        bounces = [m for m in messages(wharf, ALICE) if b"Final-Recipient: rfc822; carol@remote.test" in m]
        assert bounces, out


def test_implicit_tls_submissions(wharf):
    port = wharf.port("submissions")
    with smtplib.SMTP_SSL("127.0.0.1", port, timeout=30, context=insecure()) as s:
        s.ehlo("client.test")
        s.login(*BOB)
        s.sendmail("bob@example.test", ["alice@example.test"], "Subject: tls\r\n\r\nx\r\n")
    [raw] = messages(wharf, ALICE)
    assert b" with ESMTPSA id " in raw


def test_bad_password_and_auth_required(wharf):
    port = wharf.port("submission")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.ehlo("client.test")
        s.starttls(context=insecure())
        s.ehlo("client.test")
        code, msg = s.mail("alice@example.test")
        assert code == 530 and msg.startswith(b"5.7.0"), (code, msg)
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.login("alice@example.test", "wrong")
        assert e.value.smtp_code == 535 and e.value.smtp_error.startswith(b"5.7.8")


def test_sender_must_be_the_users_own(wharf):
    port = wharf.port("submission")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.ehlo("client.test")
        s.starttls(context=insecure())
        s.ehlo("client.test")
        s.login(*ALICE)
        code, msg = s.mail("bob@example.test")
        assert code == 553 and msg.startswith(b"5.7.1"), (code, msg)
        code, _ = s.mail("alice@example.test")
        assert code == 250


def test_alias_is_an_allowed_sender(wharf):
    wharf.cli("alias", "add", "sales@example.test", "alice@example.test")
    port = wharf.port("submission")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.ehlo("client.test")
        s.starttls(context=insecure())
        s.ehlo("client.test")
        s.login(*ALICE)
        code, _ = s.mail("sales@example.test")
        assert code == 250
