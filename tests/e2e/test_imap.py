"""The IMAP service, end to end: Python's imaplib (plain, STARTTLS, IMAPS) and raw
sockets against the real `wharf` binary; mail delivered over SMTP shows up in IMAP."""

import base64
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
    # Appended with no mailbox selected: \\Recent for this first SELECT (RFC 3501 §2.3.2).
    assert data[0][0].startswith(b"1 (FLAGS (\\Flagged \\Recent) RFC822.SIZE %d" % len(MESSAGE)), data
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


# ---- MIME decoding, BINARY and NUL (compared with Dovecot 2.3.19, docs/imap.md) ----

QP_MESSAGE = (
    b"From: Dan <dan@example.org>\r\n"
    b"Subject: qp\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"hello  \r\n"
    b"foo= \r\n"
    b"bar\r\n"
)


def raw_session(wharf, user=ALICE):
    s = socket.create_connection(("127.0.0.1", wharf.port("imap")), timeout=30)
    f = s.makefile("rb")
    assert f.readline().startswith(b"* OK")
    s.sendall(b"a LOGIN %s %s\r\n" % (user[0].encode(), user[1].encode()))
    while not f.readline().startswith(b"a OK"):
        pass
    return s, f


def read_tagged(f, tag):
    """Every octet up to and including the tagged reply of `tag`."""
    out = b""
    while True:
        line = f.readline()
        assert line, out
        out += line
        if line.startswith(tag + b" "):
            return out
        # A literal: read its octets whole, they may hold anything.
        if line.endswith(b"}\r\n"):
            n = int(line[line.rindex(b"{") + 1 : -3].rstrip(b"+"))
            out += f.read(n)


def test_quoted_printable_binary_and_search_agree(wharf):
    m = login(wharf)
    assert m.append("INBOX", None, None, QP_MESSAGE)[0] == "OK"
    assert m.append("INBOX", None, None, MESSAGE)[0] == "OK"
    m.select("INBOX")
    # RFC 2045 §6.7: trailing whitespace removed, "= " before CRLF a soft break.
    typ, data = m.fetch("1", "(BINARY[1] BINARY.SIZE[1])")
    assert typ == "OK" and data[0][1] == b"hello\r\nfoobar\r\n", data
    assert b"BINARY.SIZE[1] 15" in data[1], data
    # SEARCH sees the same decoded text.
    assert m.search(None, "BODY", "foobar") == ("OK", [b"1"])
    assert m.search(None, "BODY", '"hello  "') == ("OK", [b""])
    # BINARY[] of a multipart message is the whole message, each leaf decoded.
    typ, data = m.fetch("2", "(BINARY.SIZE[] BINARY[])")
    whole = data[0][1]
    assert whole.startswith(b"From: Carol <carol@example.org>\r\n"), data
    assert b"On se voit \xc3\xa0 midi.\r\n--b\r\n" in whole, whole
    assert whole.count(b"Content-Transfer-Encoding: binary\r\n") == 2, whole
    assert b"%PDF-1.4\n\r\n--b--\r\n" in whole, whole
    assert b"BINARY.SIZE[] %d" % len(whole) in data[0][0], data
    typ, data = m.fetch("2", "(BINARY[2] BINARY.SIZE[2])")
    assert data[0][1] == b"%PDF-1.4\n", data
    m.logout()


def test_fetch_partial_modifier_pages_the_newest_messages(wharf):
    # RFC 9394 §3.3 with imaplib: PARTIAL is advertised and UID FETCH 1:* ... (PARTIAL
    # -1:-2) answers for the two newest messages only. (Old binary: no PARTIAL
    # capability, BAD for the modifier.)
    m = login(wharf)
    for i in range(5):
        assert m.append("INBOX", None, None, b"Subject: p%d\r\n\r\nx\r\n" % i)[0] == "OK"
    assert b" PARTIAL" in m.capability()[1][0]
    m.select("INBOX")
    typ, data = m.uid("FETCH", "1:*", "(UID)", "(PARTIAL -1:-2)")
    assert typ == "OK", data
    assert [d for d in data if d] == [b"4 (UID 4)", b"5 (UID 5)"], data
    typ, data = m.uid("FETCH", "1:*", "(UID)", "(PARTIAL 1:1)")
    assert [d for d in data if d] == [b"1 (UID 1)"], data
    m.logout()


def test_binary_append_of_a_binary_part_is_stored_as_base64_like_dovecot(wharf):
    # A literal8 APPEND whose part says Content-Transfer-Encoding: binary is stored with
    # that part in base64 (Dovecot's istream-binary-converter at save; tests/imapdiff
    # binary.imap): BODY[] is the unaltered MIME form without NUL, BINARY[] still gives
    # the exact octets. (Old binary: BODY[] carried the octets with NUL made 0x80.)
    s, f = raw_session(wharf)
    data = b"before\x00after\xff\xfe\r\nsecond line\x00\r\n"
    msg = (
        b"Subject: bin\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: binary\r\n\r\n" + data
    )
    s.sendall(b"b APPEND INBOX ~{%d}\r\n" % len(msg))
    assert f.readline().startswith(b"+")
    s.sendall(msg + b"\r\n")
    assert b"b OK" in read_tagged(f, b"b")
    s.sendall(b"c SELECT INBOX\r\nd FETCH 1 (BODY.PEEK[TEXT] BINARY.PEEK[1] BODYSTRUCTURE)\r\n")
    read_tagged(f, b"c")
    out = read_tagged(f, b"d")
    b64 = base64.b64encode(data)
    assert b"BODY[TEXT] {%d}\r\n%s" % (len(b64), b64) in out, out
    assert b"BINARY[1] ~{%d}\r\n%s" % (len(data), data) in out, out
    assert b'"base64" %d' % len(b64) in out, out
    s.sendall(b"e FETCH 1 (BODY.PEEK[HEADER])\r\n")
    out = read_tagged(f, b"e")
    assert b"Content-Transfer-Encoding: base64\r\n" in out, out
    assert b"\x00" not in out and b"\x80" not in out, out
    s.sendall(b"z LOGOUT\r\n")
    read_tagged(f, b"z")
    s.close()


def test_binary_append_keeps_octets_and_nul_is_never_in_a_literal(wharf):
    s, f = raw_session(wharf)
    msg = b"Subject: lf\n\nab\ncd\x00\r\n"
    s.sendall(b"b APPEND INBOX ~{%d}\r\n" % len(msg))
    assert f.readline().startswith(b"+")
    s.sendall(msg + b"\r\n")
    assert b"b OK" in read_tagged(f, b"b")
    s.sendall(b"c SELECT INBOX\r\nd FETCH 1 (RFC822.SIZE BINARY[])\r\n")
    read_tagged(f, b"c")
    out = read_tagged(f, b"d")
    # RFC 3516 §4.3: literal8 content is stored as sent (Dovecot turns the bare LFs
    # into CRLF here; Wharf does not, see docs/imap.md).
    assert b"RFC822.SIZE %d " % len(msg) in out, out
    assert b"BINARY[] ~{%d}\r\n%s" % (len(msg), msg) in out, out
    # RFC 9051 §4.3: no NUL in a {n} literal: BODY[] sends 0x80 in its place, as Dovecot.
    s.sendall(b"e FETCH 1 (BODY.PEEK[] BODY.PEEK[TEXT])\r\n")
    out = read_tagged(f, b"e")
    assert b"BODY[] {%d}\r\n%s" % (len(msg), msg.replace(b"\x00", b"\x80")) in out, out
    assert b"BODY[TEXT] {8}\r\nab\ncd\x80\r\n" in out, out
    assert b"\x00" not in out, out
    s.sendall(b"z LOGOUT\r\n")
    read_tagged(f, b"z")
    s.close()


def test_a_new_message_never_gets_a_deleted_ones_structure(wharf):
    # The store's summary cache was keyed by the body's row id, which SQLite handed out
    # again after a delete: the new message was served with the old one's structure and
    # text (right RFC822.SIZE, wrong BODYSTRUCTURE and BODY[TEXT]).
    first = b"Subject: first message\r\nFrom: a@example.test\r\n\r\nhello\r\n"
    second = b"Subject: 2nd\r\n\r\nshort\r\n"
    assert (len(first), len(second)) == (55, 23)
    m = login(wharf)
    assert m.create("c1")[0] == "OK"
    assert m.append("c1", None, None, first)[0] == "OK"
    assert m.select("c1")[0] == "OK"
    typ, data = m.fetch("1", "(BODYSTRUCTURE)")
    assert typ == "OK" and b'"text" "plain"' in data[0], data
    assert m.close()[0] == "OK"
    assert m.delete("c1")[0] == "OK"
    assert m.create("c2")[0] == "OK"
    assert m.append("c2", None, None, second)[0] == "OK"
    assert m.select("c2")[0] == "OK"
    typ, data = m.fetch("1", "(RFC822.SIZE BODYSTRUCTURE BODY.PEEK[TEXT])")
    assert typ == "OK", data
    assert b"RFC822.SIZE 23" in data[0][0], data
    # text/plain, 7 octets ("short\r\n"), 1 line.
    assert b'"7BIT" 7 1' in data[0][0], data
    assert data[0][1] == b"short\r\n", data
    m.logout()


def test_envelope_addresses_and_display_sort_as_dovecot(wharf):
    m = login(wharf)
    odd = (
        b"From: <@route:user@domain>\r\nTo: d, Undisclosed:;\r\n"
        b"Cc: <user-from (c)@ (c) domain.org>\r\n\r\nx\r\n"
    )
    assert m.append("INBOX", None, None, odd)[0] == "OK"
    m.select("INBOX")
    typ, data = m.fetch("1", "ENVELOPE")
    # Dovecot 2.3.19's answer for the same message, byte for byte.
    assert data[0] == (
        b'1 (ENVELOPE (NIL NIL ((NIL "@route" "user" "domain")) ((NIL "@route" "user" "domain")) '
        b'((NIL "@route" "user" "domain")) ((NIL NIL "d" "MISSING_DOMAIN")'
        b'(NIL NIL "Undisclosed" NIL)(NIL NIL NIL NIL)) ((NIL NIL "user-from" "domain.org")) '
        b"NIL NIL NIL))"
    ), data
    # SEARCH FROM/CC read the same parse.
    assert m.search(None, "CC", "user-from@domain.org") == ("OK", [b"1"])
    assert m.search(None, "FROM", "user@domain") == ("OK", [b"1"])
    m.store("1", "+FLAGS", "\\Deleted")
    m.expunge()
    # RFC 5957: a group sorts by its display name, an address without a domain by its
    # mailbox; the orders are Dovecot's for the same four messages.
    for msg in (
        b"From: Mmm <m@x.test>\r\nTo: Bbb <b@x.test>\r\nSubject: 1\r\n\r\nb\r\n",
        b"From: Zgroup: Aaa <a@x.test>;\r\nTo: Ygroup:;\r\nSubject: 2\r\n\r\nb\r\n",
        b"From: d\r\nTo: c\r\nSubject: 3\r\n\r\nb\r\n",
        b"From: bbb@x.test\r\nTo: Xyz <zz@x.test>\r\nSubject: 4\r\n\r\nb\r\n",
    ):
        assert m.append("INBOX", None, None, msg)[0] == "OK"
    m.select("INBOX")
    assert m.sort("(DISPLAYFROM)", "UTF-8", "ALL") == ("OK", [b"4 3 1 2"])
    assert m.sort("(DISPLAYTO)", "UTF-8", "ALL") == ("OK", [b"1 3 4 2"])
    assert m.sort("(FROM)", "UTF-8", "ALL") == ("OK", [b"4 3 1 2"])
    assert m.sort("(TO)", "UTF-8", "ALL") == ("OK", [b"1 3 2 4"])
    m.logout()


# ---- grammar, SORT/THREAD, subscriptions, ESORT, CATENATE (docs/imap.md) ----


def test_tilde_atoms_and_invalid_utf8_search_strings(wharf):
    m = login(wharf)
    # RFC 9051 §9: `~` is an ATOM-CHAR: no such mailbox is NO, not BAD.
    typ, data = m.select("~foo")
    assert typ == "NO" and b"NONEXISTENT" in data[0], data
    assert m.create("~foo")[0] == "OK"
    assert m.select("~foo")[0] == "OK"
    bad = b"Subject: caf\xe9\r\n\r\nlatin-1 octet in a header\r\n"
    assert m.append("~foo", None, None, bad)[0] == "OK"
    m.logout()
    s, f = raw_session(wharf)
    s.sendall(b"b SELECT ~foo\r\n")
    read_tagged(f, b"b")
    # RFC 9051 §6.4.4: a string that is not valid UTF-8 is BAD (it used to become
    # U+FFFD and match the message above, whose bad octet had become U+FFFD too).
    s.sendall(b"c SEARCH CHARSET UTF-8 SUBJECT {4+}\r\ncaf\xe9\r\n")
    assert read_tagged(f, b"c").startswith(b"c BAD"), "invalid UTF-8 accepted"
    s.sendall(b"d SEARCH SUBJECT \xef\xbf\xbd\r\n")
    out = read_tagged(f, b"d")
    assert out.endswith(b"OK SEARCH completed\r\n"), out
    s.sendall(b"e LOGOUT\r\n")
    s.close()


def test_orderedsubject_thread_of_two_and_subject_order(wharf):
    m = login(wharf)
    for msg in (
        b"Subject: _\r\nDate: Tue, 2 Jan 2024 10:00:00 +0000\r\n\r\n1\r\n",
        b"Subject: Re: _\r\nDate: Wed, 3 Jan 2024 10:00:00 +0000\r\n\r\n2\r\n",
        b"Subject: [xyz]\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n3\r\n",
        b"Subject: apple\r\nDate: Thu, 4 Jan 2024 10:00:00 +0000\r\n\r\n4\r\n",
    ):
        assert m.append("INBOX", None, None, msg)[0] == "OK"
    m.select("INBOX")
    # RFC 5256 §5: a two-message thread is (1 2), never (1 (2)).
    assert m.thread("ORDEREDSUBJECT", "UTF-8", "ALL") == ("OK", [b"(3)(1 2)(4)"])
    # i;ascii-casemap: letters before `[` before `_` (Dovecot's order).
    assert m.sort("(SUBJECT)", "UTF-8", "ALL") == ("OK", [b"4 3 1 2"])
    m.logout()


def test_subscriptions_are_names_as_in_dovecot(wharf):
    m = login(wharf)
    assert m.create("a/b")[0] == "OK"
    # CREATE does not subscribe.
    assert not any(b"a/b" in x for x in m.lsub()[1] if x)
    assert m.subscribe("a/b")[0] == "OK"
    # RFC 3501 §6.3.9: `%` stops at the unsubscribed superior, shown \Noselect.
    typ, data = m.lsub('""', "%")
    assert b'(\\Noselect) "/" a' in data, data
    assert m.delete("a/b")[0] == "OK"
    # RFC 5258 §3.1: the name stays subscribed, \NonExistent.
    typ, data = m.list('""', "*")
    assert not any(b"a/b" in x for x in data), data
    typ, data = m._simple_command("LIST", "(SUBSCRIBED)", '""', "*")
    subscribed = m.untagged_responses.pop("LIST", [])
    assert any(b"\\NonExistent" in x and b"\\Subscribed" in x and x.endswith(b"a/b") for x in subscribed), subscribed
    assert m.subscribe("nonexistent")[0] == "NO"
    assert m.unsubscribe("a/b")[0] == "OK"
    m.logout()


def test_esort_and_catenate(wharf):
    m = login(wharf)
    caps = m.capability()[1][0].split()
    assert b"ESORT" in caps and b"CATENATE" in caps, caps
    for subj, day in (("c", 2), ("a", 3), ("b", 1)):
        msg = f"Subject: {subj}\r\nDate: {day} Jan 2024 10:00:00 +0000\r\n\r\nbody {subj}\r\n"
        assert m.append("INBOX", None, None, msg.encode())[0] == "OK"
    m.select("INBOX")
    typ, _ = m._simple_command("SORT", "RETURN (MIN MAX ALL COUNT)", "(SUBJECT)", "UTF-8", "ALL")
    assert typ == "OK"
    esearch = m.untagged_responses.pop("ESEARCH")
    assert esearch[0].endswith(b"MIN 2 MAX 1 ALL 2:3,1 COUNT 3"), esearch
    typ, data = m.response("UIDVALIDITY")
    uidvalidity = data[0].decode()
    m.logout()
    s, f = raw_session(wharf)
    s.sendall(b"b SELECT INBOX\r\n")
    read_tagged(f, b"b")
    url = f"/INBOX;UIDVALIDITY={uidvalidity}/;UID=1".encode()
    s.sendall(
        b'c APPEND INBOX CATENATE (URL "' + url + b'/;SECTION=HEADER" TEXT {5+}\r\nnew\r\n URL "'
        + url + b'/;SECTION=TEXT")\r\n'
    )
    assert b"c OK [APPENDUID " in read_tagged(f, b"c")
    s.sendall(b"d UID FETCH 4 BODY.PEEK[]\r\n")
    out = read_tagged(f, b"d")
    assert b"Subject: c\r\nDate: 2 Jan 2024 10:00:00 +0000\r\n\r\nnew\r\nbody c\r\n)" in out, out
    s.sendall(b'e APPEND INBOX CATENATE (URL "/INBOX;UIDVALIDITY=1/;UID=1")\r\n')
    assert b"e NO [BADURL /INBOX;UIDVALIDITY=1/;UID=1]" in read_tagged(f, b"e")
    s.sendall(b"f LOGOUT\r\n")
    s.close()
