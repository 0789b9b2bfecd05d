"""IMAP session semantics against the real `wharf` binary, where the outside compliance
suite and stress test found Wharf answering differently from Dovecot: two concurrent
sessions (imaplib, or raw sockets where the order of responses matters), a body file
removed under the running server, CONDSTORE's enabling responses, new keywords and
\\Recent across a restart."""

import imaplib
import socket

ALICE = ("alice@example.test", "alice-pw-1")


def login(wharf, user=ALICE):
    m = imaplib.IMAP4("127.0.0.1", wharf.port("imap"), timeout=30)
    m.login(*user)
    return m


def message(n):
    return (
        b"From: a@example.org\r\nSubject: message %d\r\nMessage-ID: <%d@example.org>\r\n"
        b"\r\nbody of message %d %s\r\n" % (n, n, n, b"x" * (n * 10))
    )


class Raw:
    """A raw IMAP connection: sends one tagged command, returns every line up to its
    tagged reply in the order the server sent them (literals inlined)."""

    def __init__(self, wharf, user=ALICE):
        self.s = socket.create_connection(("127.0.0.1", wharf.port("imap")), timeout=30)
        self.f = self.s.makefile("rb")
        assert self.f.readline().startswith(b"* OK")
        self.n = 0
        assert self.cmd(b"LOGIN %s %s" % (user[0].encode(), user[1].encode()))[-1].startswith(b"t1 OK")

    def send(self, data):
        self.s.sendall(data)

    def line(self):
        line = self.f.readline()
        assert line, "connection closed"
        while line.endswith(b"}\r\n"):
            n = int(line[line.rindex(b"{") + 1 : -3].rstrip(b"+"))
            line = line[:-2] + self.f.read(n) + self.f.readline()
        return line.rstrip(b"\r\n")

    def until(self, tag):
        out = []
        while True:
            line = self.line()
            out.append(line)
            if line.startswith(tag + b" "):
                return out

    def cmd(self, command):
        self.n += 1
        tag = b"t%d" % self.n
        self.send(tag + b" " + command + b"\r\n")
        return self.until(tag)


def index(lines, needle):
    for i, line in enumerate(lines):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in {lines!r}")


def test_fetch_of_a_message_expunged_by_another_session(wharf):
    a, b = login(wharf), login(wharf)
    for n in (1, 2, 3):
        assert a.append("INBOX", None, None, message(n))[0] == "OK"
    a.select("INBOX")
    b.select("INBOX")
    b.store("2", "+FLAGS.SILENT", r"(\Deleted)")
    assert b.expunge()[1] == [b"2"]

    # A has not been told: message 2 is still served from what A knows ...
    typ, data = a.fetch("1:3", "(UID RFC822.SIZE)")
    assert typ == "OK", data
    assert [d.split(b" (")[0] for d in data] == [b"1", b"2", b"3"], data
    # ... but its body is gone: the others' data, then NO [EXPUNGEISSUED], not OK.
    typ, data = a.fetch("1:3", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "NO" and b"[EXPUNGEISSUED]" in data[0], (typ, data)
    typ, served = a.response("FETCH")
    subjects = [d[1] for d in served if isinstance(d, tuple)]
    assert subjects == [b"Subject: message 1\r\n\r\n", b"Subject: message 3\r\n\r\n"], served
    # The expunge is reported at the next command that may report it.
    typ, data = a.noop()
    assert a.response("EXPUNGE")[1] == [b"2"]
    typ, data = a.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK" and len([d for d in data if isinstance(d, tuple)]) == 2, data
    a.logout()
    b.logout()


def test_body_file_removed_under_the_running_server(wharf):
    m = login(wharf)
    for n in (1, 2, 3):
        assert m.append("INBOX", None, None, message(n))[0] == "OK"
    blobs = wharf.data_dir / "blobs"
    victims = [p for p in blobs.rglob("*") if p.is_file() and p.read_bytes() == message(2)]
    assert len(victims) == 1, list(blobs.rglob("*"))
    victims[0].unlink()

    m.select("INBOX")
    assert m.fetch("1:3", "(UID FLAGS)")[0] == "OK"
    typ, data = m.fetch("1:3", "(BODY.PEEK[])")
    assert typ == "NO" and b"[UNAVAILABLE]" in data[0], (typ, data)
    typ, served = m.response("FETCH")
    bodies = [d[1] for d in served if isinstance(d, tuple)]
    assert bodies == [message(1), message(3)], served
    # SEARCH by a header reads the bodies: NO [UNAVAILABLE], not OK without message 2.
    typ, data = m.search(None, "HEADER", "Subject", "message")
    assert typ == "NO" and b"[UNAVAILABLE]" in data[0], (typ, data)
    # The session goes on.
    assert m.fetch("3", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")[0] == "OK"
    m.logout()


def test_condstore_enabling_and_silent_store(wharf):
    m = login(wharf)
    m.append("INBOX", None, None, message(1))
    m.logout()
    r = Raw(wharf)
    assert b"HIGHESTMODSEQ" not in b"".join(r.cmd(b"SELECT INBOX"))
    lines = r.cmd(b"FETCH 1 (MODSEQ)")
    assert lines[0].startswith(b"* OK [HIGHESTMODSEQ "), lines
    assert lines[1].startswith(b"* 1 FETCH (MODSEQ ("), lines
    assert b"HIGHESTMODSEQ" not in b"".join(r.cmd(b"FETCH 1 (MODSEQ)"))
    lines = r.cmd(b"STORE 1 +FLAGS (\\Flagged)")
    # (The first session to select sees the appended message as \\Recent.)
    assert lines[0].startswith(b"* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent) MODSEQ ("), lines
    lines = r.cmd(b"STORE 1 +FLAGS.SILENT (\\Seen)")
    assert lines[0].startswith(b"* 1 FETCH (UID 1 MODSEQ ("), lines
    assert lines[-1].startswith(b"t6 OK") and b"FLAGS" not in lines[0], lines


def test_new_keyword_is_announced_before_its_fetch_in_both_sessions(wharf):
    m = login(wharf)
    m.append("INBOX", None, None, message(1))
    m.logout()
    a, b = Raw(wharf), Raw(wharf)
    a.cmd(b"SELECT INBOX")
    b.cmd(b"SELECT INBOX")
    lines = b.cmd(b"STORE 1 +FLAGS ($Important)")
    f = index(lines, b"* FLAGS (")
    p = index(lines, b"* OK [PERMANENTFLAGS (")
    x = index(lines, b"* 1 FETCH")
    assert f < p < x and b"$Important" in lines[f] and b"$Important" in lines[p], lines
    # The other session hears FLAGS before the FETCH, after a command ...
    lines = a.cmd(b"NOOP")
    f = index(lines, b"* FLAGS (")
    x = index(lines, b"* 1 FETCH (UID 1 FLAGS ($Important")
    assert f < x and b"$Important" in lines[f], lines
    # ... and while idling.
    a.send(b"i IDLE\r\n")
    assert a.line().startswith(b"+")
    b.cmd(b"STORE 1 +FLAGS ($Later)")
    got = [a.line() for _ in range(3)]
    assert got[0].startswith(b"* FLAGS (") and b"$Later" in got[0], got
    assert got[1].startswith(b"* OK [PERMANENTFLAGS (") and b"$Later" in got[1], got
    assert got[2] == b"* 1 FETCH (UID 1 FLAGS ($Important $Later \\Recent))", got
    a.send(b"DONE\r\n")
    a.until(b"i")


def test_recent_goes_to_the_next_session_that_selects_even_after_a_restart(wharf):
    # Appended with no mailbox selected: recent for the next SELECT, once.
    c = login(wharf)
    assert c.append("INBOX", None, None, message(1))[0] == "OK"
    assert b"(RECENT 1)" in c.status("INBOX", "(RECENT)")[1][0]
    c.logout()
    # A restart keeps the mark (it is in the store, not in the process).
    wharf.stop()
    wharf.start()
    a = login(wharf)
    a.select("INBOX")
    assert a.response("RECENT")[1] == [b"1"]
    assert a.search(None, "RECENT") == ("OK", [b"1"])
    assert a.search(None, "NEW") == ("OK", [b"1"])
    b = login(wharf)
    b.select("INBOX")
    assert b.response("RECENT")[1] == [b"0"]
    assert b.search(None, "OLD") == ("OK", [b"1"])
    assert b"(RECENT 0)" in b.status("INBOX", "(RECENT)")[1][0]
    wharf.stop()
    wharf.start()
    d = login(wharf)
    d.select("INBOX")
    assert d.response("RECENT")[1] == [b"0"]
    for m in (a, b, d):
        try:
            m.logout()
        except (imaplib.IMAP4.abort, OSError):
            pass
