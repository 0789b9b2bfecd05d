"""The IMAP service, end to end: Python's imaplib (plain, STARTTLS, IMAPS) and raw
sockets against the real `wharf` binary; mail delivered over SMTP shows up in IMAP."""

import imaplib
import smtplib
import socket
import ssl
import time

ALICE = ("alice@example.test", "alice-pw-1")
BOB = ("bob@example.test", "bob-pw-2")

MESSAGE = (
    b"From: Carol <carol@example.org>\r\n"
    b"To: alice@example.test\r\n"
    b"Subject: =?utf-8?q?r=C3=A9union?=\r\n"
    b"Message-ID: <m1@example.org>\r\n"
    b"Content-Type: multipart/mixed; boundary=b\r\n"
    b"\r\n"
    b"--b\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"On se voit =C3=A0 midi.\r\n"
    b"--b\r\n"
    b"Content-Type: application/pdf; name=agenda.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"JVBERi0xLjQK\r\n"
    b"--b--\r\n"
)


def insecure():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def login(wharf, user=ALICE):
    m = imaplib.IMAP4("127.0.0.1", wharf.port("imap"), timeout=30)
    m.login(*user)
    return m


def test_append_fetch_search_store_expunge(wharf):
    m = login(wharf)
    typ, data = m.append("INBOX", r"(\Flagged)", None, MESSAGE)
    assert typ == "OK" and b"APPENDUID" in data[0], data
    typ, data = m.select("INBOX")
    assert typ == "OK" and data == [b"1"]
    typ, data = m.fetch("1", "(FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    assert typ == "OK"
    assert data[0][0].startswith(b"1 (FLAGS (\\Flagged) RFC822.SIZE %d" % len(MESSAGE)), data
    assert data[0][1] == b"Message-ID: <m1@example.org>\r\n\r\n"
    typ, data = m.fetch("1", "(BODY[1] BODYSTRUCTURE)")
    assert data[0][1] == b"On se voit =C3=A0 midi."
    assert b'"application" "pdf" ("name" "agenda.pdf")' in data[1], data
    typ, data = m.fetch("1", "FLAGS")
    assert b"\\Seen" in data[0], data
    assert m.search("UTF-8", "BODY", '"voit \xc3\xa0 midi"'.encode("latin-1"))[1] == [b"1"]
    assert m.search(None, "SUBJECT", "réunion".encode())[1] == [b"1"]
    assert m.search(None, "UNFLAGGED")[1] == [b""]
    typ, data = m.uid("SEARCH", None, "ALL")
    assert data == [b"1"]
    typ, data = m.store("1", "+FLAGS", r"(\Deleted)")
    assert typ == "OK" and b"\\Deleted" in data[0]
    typ, data = m.expunge()
    assert data == [b"1"]
    assert m.select("INBOX")[1] == [b"0"]
    m.logout()


def test_fetch_of_many_messages_keeps_their_order(wharf):
    # FETCH loads messages a window at a time, concurrently; the responses must still
    # come in sequence order, each with its own message.
    m = login(wharf)
    for i in range(1, 41):
        body = b"Subject: n%d\r\nMessage-ID: <n%d@example.org>\r\n\r\n%s\r\n" % (i, i, b"x" * (i * 997))
        assert m.append("INBOX", None, None, body)[0] == "OK"
    m.select("INBOX")
    typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT])")
    assert typ == "OK"
    parts = [d for d in data if isinstance(d, tuple)]
    assert len(parts) == 80, len(parts)
    for i in range(1, 41):
        head, text = parts[2 * i - 2], parts[2 * i - 1]
        assert head[0].startswith(b"%d (" % i), head[0]
        assert head[1] == b"Subject: n%d\r\n\r\n" % i, head
        assert text[1] == b"x" * (i * 997) + b"\r\n", (i, len(text[1]))
    m.logout()


def test_mailboxes(wharf):
    m = login(wharf)
    typ, data = m.list()
    names = b"\n".join(data)
    for special in (b"\\Sent", b"\\Drafts", b"\\Trash", b"\\Junk"):
        assert special in names, names
    assert m.create("Work/2024")[0] == "OK"
    assert m.rename("Work", "Archive")[0] == "OK"
    typ, data = m.list('""', "Archive/*")
    assert data == [b'(\\HasNoChildren) "/" Archive/2024'], data
    typ, data = m.status("Archive/2024", "(MESSAGES UIDNEXT UIDVALIDITY)")
    assert typ == "OK" and b"MESSAGES 0 UIDNEXT 1" in data[0], data
    typ, data = m.create("Entw&APw-rfe")
    assert typ == "OK"
    assert m.delete("Archive/2024")[0] == "OK"
    typ, data = m.select("Nowhere")
    assert typ == "NO"
    m.logout()


def test_copy_and_move_between_mailboxes(wharf):
    m = login(wharf)
    for i in range(3):
        m.append("INBOX", None, None, b"Subject: n%d\r\n\r\nbody\r\n" % i)
    m.select("INBOX")
    typ, data = m.copy("1:2", "Trash")
    assert typ == "OK" and b"COPYUID" in data[0], data
    typ, data = m._simple_command("MOVE", "3", "Junk")
    assert typ == "OK", data
    assert m.select("Trash")[1] == [b"2"]
    assert m.select("Junk")[1] == [b"1"]
    assert m.select("INBOX")[1] == [b"2"]
    m.logout()


def test_smtp_delivery_is_seen_by_an_idling_client(wharf):
    s = socket.create_connection(("127.0.0.1", wharf.port("imap")), timeout=30)
    f = s.makefile("rb")
    assert f.readline().startswith(b"* OK [CAPABILITY IMAP4rev1 IMAP4rev2")
    s.sendall(b"a LOGIN alice@example.test alice-pw-1\r\n")
    assert f.readline().startswith(b"a OK")
    s.sendall(b"b SELECT INBOX\r\n")
    while not f.readline().startswith(b"b OK"):
        pass
    s.sendall(b"c IDLE\r\n")
    assert f.readline() == b"+ idling\r\n"
    with smtplib.SMTP("127.0.0.1", wharf.port("smtp"), timeout=30) as smtp:
        smtp.sendmail("carol@example.org", ["alice@example.test"], MESSAGE)
    started = time.monotonic()
    assert f.readline() == b"* 1 EXISTS\r\n"
    assert time.monotonic() - started < 10
    s.sendall(b"DONE\r\n")
    lines = [f.readline()]
    while not lines[-1].startswith(b"c "):
        lines.append(f.readline())
    assert lines[-1] == b"c OK IDLE terminated\r\n", lines
    s.sendall(b"d FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]\r\n")
    assert f.readline() == b"* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {37}\r\n"
    s.close()


def test_starttls_and_imaps(wharf):
    m = imaplib.IMAP4("127.0.0.1", wharf.port("imap"), timeout=30)
    assert "STARTTLS" in m.capabilities
    m.starttls(ssl_context=insecure())
    assert "STARTTLS" not in m.capabilities
    m.login(*BOB)
    assert m.select("INBOX")[0] == "OK"
    m.logout()
    m = imaplib.IMAP4_SSL("127.0.0.1", wharf.port("imaps"), ssl_context=insecure(), timeout=30)
    assert "STARTTLS" not in m.capabilities
    m.login(*ALICE)
    m.logout()


def test_bad_credentials_and_bad_commands(wharf):
    m = imaplib.IMAP4("127.0.0.1", wharf.port("imap"), timeout=30)
    try:
        m.login("alice@example.test", "wrong")
        raise AssertionError("login with a wrong password succeeded")
    except imaplib.IMAP4.error as e:
        assert "AUTHENTICATIONFAILED" in str(e)
    m.login(*ALICE)
    imaplib.Commands.setdefault("FROBNICATE", ("AUTH", "SELECTED"))
    try:
        m._simple_command("FROBNICATE")
        raise AssertionError("an unknown command was accepted")
    except imaplib.IMAP4.error as e:
        assert "Unknown command" in str(e)
    # The session goes on after the error.
    assert m.noop()[0] == "OK"
    m.logout()


def test_idle_over_imaps(wharf):
    raw = socket.create_connection(("127.0.0.1", wharf.port("imaps")), timeout=30)
    s = insecure().wrap_socket(raw, server_hostname="localhost")
    f = s.makefile("rb")
    assert f.readline().startswith(b"* OK [CAPABILITY IMAP4rev1 IMAP4rev2")
    s.sendall(b"a LOGIN bob@example.test bob-pw-2\r\nb SELECT INBOX\r\nc IDLE\r\n")
    line = f.readline()
    while not line.startswith(b"+ "):
        line = f.readline()
    with smtplib.SMTP("127.0.0.1", wharf.port("smtp"), timeout=30) as smtp:
        smtp.sendmail("carol@example.org", ["bob@example.test"], MESSAGE)
    assert f.readline() == b"* 1 EXISTS\r\n"
    s.sendall(b"DONE\r\nd LOGOUT\r\n")
    rest = []
    while True:
        line = f.readline()
        if not line:
            break
        rest.append(line)
    assert b"c OK IDLE terminated\r\n" in rest, rest
    assert rest[-1] == b"d OK LOGOUT completed\r\n", rest


def test_sort_and_thread(wharf):
    m = login(wharf)
    msgs = [
        b"Subject: Plans\r\nDate: Tue, 2 Jan 2024 10:00:00 +0000\r\nMessage-ID: <a@x>\r\n\r\n1\r\n",
        b"Subject: Re: Plans\r\nDate: Wed, 3 Jan 2024 10:00:00 +0000\r\nMessage-ID: <b@x>\r\nIn-Reply-To: <a@x>\r\n\r\n2\r\n",
        b"Subject: Lunch\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <c@x>\r\n\r\n3\r\n",
    ]
    for msg in msgs:
        assert m.append("INBOX", None, None, msg)[0] == "OK"
    m.select("INBOX")
    assert m.sort("(DATE)", "UTF-8", "ALL") == ("OK", [b"3 1 2"])
    assert m.sort("(REVERSE SUBJECT)", "UTF-8", "ALL") == ("OK", [b"1 2 3"])
    assert m.thread("REFERENCES", "UTF-8", "ALL") == ("OK", [b"(3)(1 2)"])
    typ, data = m.uid("SORT", "(SUBJECT)", "UTF-8", "ALL")
    assert data == [b"3 1 2"], data
    m.logout()
