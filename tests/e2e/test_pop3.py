"""POP3 end to end: Python's poplib against the real `wharf` binary.

Mail arrives over SMTP (smtplib, the MX port) and is collected over POP3, POP3 with
STLS, and POP3S.
"""

import poplib
import smtplib
import ssl
import threading

import pytest

ALICE, ALICE_PW = "alice@example.test", "alice-pw-1"

# Lines starting with dots (a lone "." would end the transfer if not stuffed), 8-bit
# Latin-1 bytes, UTF-8 text, and an empty line in the body.
TRICKY = (
    b"From: Bob <bob@example.test>\r\n"
    b"To: alice@example.test\r\n"
    b"Subject: =?UTF-8?Q?caf=C3=A9?=\r\n"
    b"Message-ID: <tricky@example.test>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b".\r\n"
    b"..\r\n"
    b".leading dot\r\n"
    b"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa8\r\n"
    b"latin1 \xe9\xe8\r\n"
    b"\r\n"
    b"last line\r\n"
)


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def send(wharf, raw, to=ALICE):
    with smtplib.SMTP(wharf.host, wharf.port("smtp"), timeout=30) as s:
        s.sendmail("bob@example.test", [to], raw)


def pop(wharf, user=ALICE, password=ALICE_PW):
    p = poplib.POP3(wharf.host, wharf.port("pop3"), timeout=30)
    p.user(user)
    p.pass_(password)
    return p


def joined(lines):
    """poplib strips CRLF from every line (and undoes the dot-stuffing)."""
    return b"".join(line + b"\r\n" for line in lines)


def test_message_sent_over_smtp_is_retrieved_byte_exact(wharf):
    send(wharf, TRICKY)
    p = pop(wharf)
    count, size = p.stat()
    assert count == 1
    _, lines, _ = p.retr(1)
    got = joined(lines)
    # The MX prepends its trace header(s); everything the sender wrote follows unchanged.
    assert got.endswith(TRICKY), got
    trace = got[: len(got) - len(TRICKY)]
    # Only header fields were added (Return-Path, Received): no blank line among them.
    assert b"\r\nReceived: " in b"\r\n" + trace, trace
    assert trace.endswith(b"\r\n") and b"\r\n\r\n" not in trace, trace
    # LIST and STAT report exactly the octets RETR sent (before stuffing).
    assert size == len(got)
    assert p.list(1) == f"+OK 1 {len(got)}".encode()
    p.quit()


def test_capabilities(wharf):
    p = poplib.POP3(wharf.host, wharf.port("pop3"), timeout=30)
    caps = p.capa()
    for cap in ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "USER", "STLS"]:
        assert cap in caps, caps
    assert caps["SASL"] == ["PLAIN", "LOGIN"]
    assert caps["EXPIRE"] == ["NEVER"]
    assert caps["IMPLEMENTATION"] == ["Wharf"]
    assert "APOP" not in caps
    # No APOP timestamp in the greeting.
    assert b"<" not in p.getwelcome()
    p.quit()


def test_keep_mode_uidl_is_stable_and_delete_mode_removes_at_quit(wharf):
    for i in range(3):
        send(wharf, f"Subject: m{i}\r\n\r\nbody {i}\r\n".encode())
    p = pop(wharf)
    _, first, _ = p.uidl()
    assert len(first) == 3
    ids = [line.split()[1] for line in first]
    assert len(set(ids)) == 3 and all(0 < len(i) <= 70 for i in ids)
    p.retr(1)
    p.quit()  # keep mode: nothing deleted

    p = pop(wharf)
    _, again, _ = p.uidl()
    assert again == first
    p.dele(2)
    assert p.stat()[0] == 2
    with pytest.raises(poplib.error_proto, match="already deleted"):
        p.retr(2)
    p.rset()
    p.dele(2)
    p.quit()

    p = pop(wharf)
    _, after, _ = p.uidl()
    assert [line.split()[1] for line in after] == [ids[0], ids[2]]
    p.quit()


def test_drop_without_quit_deletes_nothing(wharf):
    send(wharf, b"Subject: keep\r\n\r\nme\r\n")
    p = pop(wharf)
    p.dele(1)
    p.close()  # no QUIT: closes the socket only
    # The server may take a moment to notice the close and release the maildrop.
    for _ in range(100):
        try:
            p = pop(wharf)
            break
        except poplib.error_proto as e:
            assert b"[IN-USE]" in e.args[0]
            threading.Event().wait(0.05)
    assert p.stat()[0] == 1
    p.quit()


def test_second_session_is_refused_in_use(wharf):
    send(wharf, b"Subject: one\r\n\r\nx\r\n")
    first = pop(wharf)
    with pytest.raises(poplib.error_proto) as e:
        pop(wharf)
    assert e.value.args[0].startswith(b"-ERR [IN-USE]")
    assert first.stat()[0] == 1
    first.quit()
    pop(wharf).quit()


def test_wrong_password_is_auth_error(wharf):
    p = poplib.POP3(wharf.host, wharf.port("pop3"), timeout=30)
    p.user(ALICE)
    with pytest.raises(poplib.error_proto) as e:
        p.pass_("wrong")
    assert e.value.args[0].startswith(b"-ERR [AUTH]")
    p.quit()


def test_a_changed_password_ends_the_cached_login(wharf):
    # The first login is remembered ([limits] auth_cache_secs); after `user passwd` on the
    # running server's data_dir the old password must fail at once and the new one work.
    pop(wharf).quit()
    pop(wharf).quit()
    wharf.cli("user", "passwd", ALICE, "--password-stdin", input="changed-pw-9\n")
    p = poplib.POP3(wharf.host, wharf.port("pop3"), timeout=30)
    p.user(ALICE)
    with pytest.raises(poplib.error_proto) as e:
        p.pass_(ALICE_PW)
    assert e.value.args[0].startswith(b"-ERR [AUTH]")
    p.quit()
    p = poplib.POP3(wharf.host, wharf.port("pop3"), timeout=30)
    p.user(ALICE)
    assert p.pass_("changed-pw-9").startswith(b"+OK")
    p.quit()


def test_top(wharf):
    send(wharf, TRICKY)
    p = pop(wharf)
    _, lines, _ = p.top(1, 2)
    got = joined(lines)
    assert got.endswith(TRICKY[: TRICKY.index(b"\r\n\r\n") + 4] + b".\r\n..\r\n")
    p.quit()


def test_stls_then_login(wharf):
    send(wharf, TRICKY)
    p = poplib.POP3(wharf.host, wharf.port("pop3"), timeout=30)
    p.stls(context=tls_context())
    assert "STLS" not in p.capa()
    p.user(ALICE)
    p.pass_(ALICE_PW)
    _, lines, _ = p.retr(1)
    assert joined(lines).endswith(TRICKY)
    p.quit()


def test_pop3s(wharf):
    send(wharf, TRICKY)
    p = poplib.POP3_SSL(wharf.host, wharf.port("pop3s"), timeout=30, context=tls_context())
    p.user(ALICE)
    p.pass_(ALICE_PW)
    _, lines, _ = p.retr(1)
    assert joined(lines).endswith(TRICKY)
    p.quit()


def test_bad_commands_get_err_and_the_session_continues(wharf):
    p = poplib.POP3(wharf.host, wharf.port("pop3"), timeout=30)
    for cmd, expect in [
        ("FROB", b"-ERR Unknown command: FROB"),
        ("STAT", b"-ERR STAT is not valid before login"),
        ("APOP alice 0123", b"-ERR APOP not supported"),
    ]:
        with pytest.raises(poplib.error_proto) as e:
            p._shortcmd(cmd)
        assert e.value.args[0].startswith(expect), e.value.args[0]
    p.user(ALICE)
    p.pass_(ALICE_PW)
    with pytest.raises(poplib.error_proto, match="No such message"):
        p.retr(99)
    with pytest.raises(poplib.error_proto, match="invalid message number"):
        p._shortcmd("RETR x")
    assert p.noop() == b"+OK"
    p.quit()


def test_pop3_and_imap_see_each_others_deletions(wharf):
    import imaplib

    for i in range(3):
        send(wharf, f"Subject: x{i}\r\nMessage-ID: <x{i}@example.test>\r\n\r\nbody {i}\r\n".encode())
    imap = imaplib.IMAP4(wharf.host, wharf.port("imap"), timeout=30)
    imap.login(ALICE, ALICE_PW)
    typ, data = imap.select("INBOX")
    assert typ == "OK" and int(data[0]) == 3
    # IMAP marks message 1 \Deleted without expunging: POP3 sessions that start later skip it.
    assert imap.store("1", "+FLAGS", "\\Deleted")[0] == "OK"
    p = pop(wharf)
    assert p.stat()[0] == 2
    _, lines, _ = p.top(1, 0)
    assert b"Subject: x1" in lines
    # POP3 deletes its message 1 (IMAP's message 2): gone for the IMAP session too.
    p.dele(1)
    p.quit()
    imap.noop()
    _, expunged = imap.response("EXPUNGE")
    assert expunged == [b"2"], expunged
    typ, data = imap.search(None, "ALL")
    assert data[0].split() == [b"1", b"2"]
    typ, data = imap.fetch("2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"Subject: x2" in data[0][1]
    imap.logout()
