"""`wharf import` and `wharf export` against the running binary, checked over IMAP
(imaplib): folders, flags, keywords, internal dates and bytes.

Dovecot (dovecot-imapd) must be installed for test_dovecot_maildir_imports: the test
FAILS, not skips, without it.
"""

import datetime
import hashlib
import imaplib
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from conftest import child_env, wharf_binary

ALICE = ("alice@example.test", "alice-pw-1")
BOB = ("bob@example.test", "bob-pw-2")
CAROL = ("carol@example.test", "carol-pw-3")


def imap(w, user):
    c = imaplib.IMAP4("127.0.0.1", w.port("imap"))
    c.login(*user)
    return c


def mailbox_names(c):
    typ, data = c.list()
    assert typ == "OK"
    names = []
    for line in data:
        m = re.match(rb'\((.*?)\) "(.*?)" (.*)', line)
        name = m.group(3).decode()
        names.append(name.strip('"'))
    return sorted(names)


def dump(c):
    """Every mailbox -> [(sha256 of the bytes, sorted flags, internal date)], UID order."""
    out = {}
    for name in mailbox_names(c):
        typ, _ = c.select(f'"{name}"', readonly=True)
        assert typ == "OK", name
        typ, data = c.uid("FETCH", "1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")
        msgs = []
        for item in data:
            if not isinstance(item, tuple):
                continue
            meta, body = item
            flags = sorted(f.decode() for f in imaplib.ParseFlags(meta) if f != b"\\Recent")
            date = re.search(rb'INTERNALDATE "([^"]+)"', meta).group(1).decode()
            when = imaplib.Internaldate2tuple(b'INTERNALDATE "' + date.encode() + b'"')
            msgs.append((hashlib.sha256(body).hexdigest(), flags, time.mktime(when), body))
        out[name] = msgs
    return out


def test_mbox_file_imports_with_quoting_flags_and_dates(wharf, tmp_path):
    mbox = tmp_path / "mail.mbox"
    mbox.write_bytes(
        b"From alice@example.net Tue Nov 14 22:13:20 2023\n"
        b"From: alice@example.net\nSubject: one\nStatus: RO\nX-Status: AF\n"
        b"X-Keywords: work $Label1\n\n"
        b">From the start\n>>From once quoted\nFrom an unquoted line (no date)\nend\n\n"
        b"From bob@example.net Wed Nov 15 10:00:00 2023 +0100\n"
        b"From: bob@example.net\nSubject: two\n\nno trailing newline"
    )
    r = wharf.cli("import", ALICE[0], str(mbox))
    assert "imported 2 messages" in r.stdout, r.stdout
    c = imap(wharf, ALICE)
    got = dump(c)["INBOX"]
    assert [m[3] for m in got] == [
        b"From: alice@example.net\r\nSubject: one\r\n\r\n"
        b"From the start\r\n>From once quoted\r\nFrom an unquoted line (no date)\r\nend\r\n",
        b"From: bob@example.net\r\nSubject: two\r\n\r\nno trailing newline",
    ]
    assert got[0][1] == ["$Label1", "\\Answered", "\\Flagged", "\\Seen", "work"]
    assert got[1][1] == []
    assert got[0][2] == 1_700_000_000
    assert got[1][2] == datetime.datetime(2023, 11, 15, 9, 0, tzinfo=datetime.timezone.utc).timestamp()
    # A second run imports nothing again.
    r = wharf.cli("import", ALICE[0], str(mbox))
    assert "imported 0 messages" in r.stdout and "2 already imported" in r.stdout, r.stdout
    assert len(dump(c)["INBOX"]) == 2
    c.logout()


def write_maildirpp(root: pathlib.Path, n: int):
    """A Dovecot-style Maildir++ tree: INBOX, .Sent, .Archive.2023, with keywords,
    a uidlist whose order is not the file-name order, and mtimes as internal dates."""
    folders = ["", ".Sent", ".Archive", ".Archive.2023"]
    for f in folders:
        for sub in ("cur", "new", "tmp"):
            (root / f / sub).mkdir(parents=True, exist_ok=True)
        (root / f / "dovecot-keywords").write_text("0 work\n1 $Label1\n")
    uidlists = {f: [] for f in folders}
    for i in range(n):
        f = folders[i % len(folders)]
        date = 1_600_000_000 + i * 61
        body = f"From: x{i}@example.net\nSubject: m{i}\n\nFrom line {i}\n>From q\n"
        if i % 5 == 0:
            body = body.rstrip("\n")
        letters = "".join(sorted(("S" if i % 2 else "") + ("F" if i % 3 == 0 else "")
                                 + ("a" if i % 4 == 0 else "") + ("b" if i % 6 == 0 else "")))
        # File names in reverse time order: only the uidlist gives the right order.
        base = f"{2_000_000_000 - i}.M{i}P1.host"
        sub = "new" if i % 9 == 8 else "cur"
        name = base if sub == "new" else f"{base}:2,{letters}"
        p = root / f / sub / name
        p.write_bytes(body.encode())
        os.utime(p, (date, date))
        uidlists[f].append(base)
    for f, bases in uidlists.items():
        lines = "".join(f"{u + 1} :{b}\n" for u, b in enumerate(bases))
        (root / f / "dovecot-uidlist").write_text(f"3 V1 N{len(bases) + 1}\n{lines}")


def test_round_trip_maildir_and_mbox(wharf, tmp_path):
    n = 1000
    src = tmp_path / "src"
    write_maildirpp(src, n)
    wharf.add_user(*CAROL)
    r = wharf.cli("import", ALICE[0], str(src))
    assert f"imported {n} messages" in r.stdout, r.stdout
    c = imap(wharf, ALICE)
    a = dump(c)
    c.logout()
    assert {"INBOX", "Sent", "Archive", "Archive/2023"} <= set(a)
    assert sum(len(v) for v in a.values()) == n
    # The uidlist's order, the mtime as internal date, flags from letters; new/ unflagged.
    first = a["INBOX"][:2]
    assert first[0][2] == 1_600_000_000 and first[1][2] == 1_600_000_000 + 4 * 61
    assert first[0][1] == ["$Label1", "\\Flagged", "work"]
    assert first[0][3] == b"From: x0@example.net\r\nSubject: m0\r\n\r\nFrom line 0\r\n>From q"
    r = wharf.cli("export", ALICE[0], "--format", "maildir", str(tmp_path / "md"))
    assert f"exported {n} messages" in r.stdout and "not read back" not in r.stdout, r.stdout
    r = wharf.cli("export", ALICE[0], "--format", "mbox", str(tmp_path / "mbox"))
    assert f"exported {n} messages" in r.stdout and "not read back" not in r.stdout, r.stdout
    assert (tmp_path / "mbox" / "Archive" / "2023.mbox").is_file()
    wharf.cli("import", BOB[0], str(tmp_path / "md"))
    wharf.cli("import", CAROL[0], str(tmp_path / "mbox"))
    for user in (BOB, CAROL):
        c = imap(wharf, user)
        got = dump(c)
        c.logout()
        assert got == a, user
    # Exporting into a non-empty directory is refused.
    r = wharf.cli("export", ALICE[0], "--format", "mbox", str(tmp_path / "mbox"), check=False)
    assert r.returncode != 0 and "not empty" in r.stderr


def test_interrupted_import_resumes_without_duplicates(wharf, tmp_path):
    n = 1000
    src = tmp_path / "src"
    write_maildirpp(src, n)
    # Killed halfway: SIGKILL once part of the mail is in.
    p = subprocess.Popen([wharf_binary(), "--config", str(wharf.config), "import", ALICE[0], str(src)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
    c = imap(wharf, ALICE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        typ, data = c.status("INBOX", "(MESSAGES)")
        if int(re.search(rb"MESSAGES (\d+)", data[0]).group(1)) >= 20:
            break
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.wait()
    before = sum(len(v) for v in dump(c).values())
    assert before < n, "the import finished before it could be interrupted"
    # Lose the journal's "done" lines too, as a crash between commit and record would.
    journal = next((wharf.data_dir / "import-state").iterdir())
    lines = journal.read_text().splitlines()
    journal.write_text("".join(l + "\n" for l in lines if not l.startswith("D ")))
    r = wharf.cli("import", ALICE[0], str(src))
    assert f"imported {n - before} messages" in r.stdout, (before, r.stdout)
    assert f"{before} already imported" in r.stdout or before == 0, r.stdout
    got = dump(c)
    assert sum(len(v) for v in got.values()) == n
    hashes = [m[0] for v in got.values() for m in v]
    assert len(set(hashes)) == n, "duplicates after resuming"
    c.logout()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Dovecot:
    """A private Dovecot on a free loopback port serving `mail` (a Maildir++ tree) to
    alice / dove-pw-1. Fails (not skips) when dovecot-imapd is not installed."""

    def __init__(self, request, mail=None):
        dovecot = shutil.which("dovecot") or "/usr/sbin/dovecot"
        assert os.path.exists(dovecot), "dovecot is not installed (Debian: dovecot-imapd)"
        self.port = free_port()
        # Outside pytest's 0700 tmp dir: Dovecot's auth and mail processes drop privileges.
        base = pathlib.Path(tempfile.mkdtemp(prefix="wharf-dovecot-"))
        base.chmod(0o755)
        request.addfinalizer(lambda: shutil.rmtree(base, ignore_errors=True))
        self.base = base
        self.mail = base / "mail"
        (base / "run").mkdir(parents=True)
        if mail is None:
            self.mail.mkdir()
        else:
            shutil.copytree(mail, self.mail)
        import pwd
        me = pwd.getpwuid(os.getuid())
        # Dovecot refuses mail access as root: the mail processes run as nobody.
        mail_user = "nobody" if os.getuid() == 0 else me.pw_name
        uid = pwd.getpwnam(mail_user).pw_uid
        gid = pwd.getpwnam(mail_user).pw_gid
        for root, dirs, files in os.walk(self.mail):
            for x in [root] + [os.path.join(root, f) for f in files]:
                os.chown(x, uid, gid)
        (base / "users").write_text("alice:{PLAIN}dove-pw-1::::\n")
        conf = base / "dovecot.conf"
        conf.write_text(f"""
base_dir = {base}/run
state_dir = {base}/run
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {base}/dovecot.log
mail_location = maildir:{self.mail}
first_valid_uid = 0
default_internal_user = {me.pw_name if os.getuid() else "dovecot"}
default_login_user = {me.pw_name if os.getuid() else "dovenull"}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {base}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={self.mail}
}}
service imap-login {{
  inet_listener imap {{
    port = {self.port}
  }}
}}
""")
        self.proc = subprocess.Popen([dovecot, "-F", "-c", str(conf)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        request.addfinalizer(self.stop)

    def connect(self):
        deadline = time.monotonic() + 15
        while True:
            try:
                d = imaplib.IMAP4("127.0.0.1", self.port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    log = self.base / "dovecot.log"
                    raise AssertionError(f"dovecot did not start: {log.read_text() if log.exists() else ''}")
                time.sleep(0.1)
        d.login("alice", "dove-pw-1")
        return d

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)


def test_dovecot_maildir_imports(wharf, request):
    """Messages APPENDed with flags, keywords and dates to a loopback Dovecot; its
    maildir (dovecot-uidlist, dovecot-keywords, Maildir++ folders) imported; the same
    over IMAP from both."""
    dc = Dovecot(request)
    mail = dc.mail
    try:
        d = dc.connect()
        d.create("Sent")
        d.create("Archive")
        d.create("Archive.2023")
        d.create("Caf&AOk-")
        msgs = [
            ("INBOX", r"(\Seen work)", "14-Nov-2023 22:13:20 +0000", b"From: a@example.net\r\nSubject: one\r\n\r\nbody one\r\n"),
            ("INBOX", r"(\Flagged \Answered $Label1 work)", "01-Jan-2020 10:00:00 +0200", b"Subject: two\r\n\r\nFrom here\r\nno newline"),
            ("Sent", r"(\Draft)", "02-Feb-2021 00:00:01 +0000", b"Subject: three\r\n\r\n>From x\r\n"),
            ("Archive.2023", r"(\Deleted $Junk)", "03-Mar-2023 03:03:03 -0500", b"Subject: four\r\n\r\n4\r\n"),
            ("Caf&AOk-", r"()", "04-Apr-2024 04:04:04 +0000", b"Subject: five\r\n\r\n5\r\n"),
        ]
        for box, flags, date, body in msgs:
            typ, _ = d.append(box, flags, f'"{date}"', body)
            assert typ == "OK"
        expected = dump(d)
        d.logout()
    finally:
        dc.stop()
    # Dovecot's Maildir++ separator is '.'; Wharf's is '/'.
    expected = {k.replace(".", "/"): v for k, v in expected.items()}
    r = wharf.cli("import", ALICE[0], str(mail))
    assert "imported 5 messages" in r.stdout, r.stdout
    c = imap(wharf, ALICE)
    got = dump(c)
    c.logout()
    for name, msgs in expected.items():
        assert got.get(name) == msgs, (name, got.get(name), msgs)


def test_mbsync_maildir_imports(wharf, tmp_path):
    """alice's mail pulled by mbsync (isync, SubFolders Verbatim) into a local maildir
    tree, then imported into bob: folders, bytes and flags match over IMAP, and the
    order. mbsync keeps no keywords in maildir and its file mtimes are the time of the
    pull, not INTERNALDATE: those are not compared. Fails without isync."""
    mbsync_bin = shutil.which("mbsync")
    assert mbsync_bin, "mbsync is not installed (Debian: isync)"
    mbox = tmp_path / "in.mbox"
    mbox.write_bytes(
        b"From a@example.net Tue Nov 14 22:13:20 2023\nSubject: one\nStatus: RO\nX-Status: F\n\n"
        b">From quoted\nbody\n\n"
        b"From b@example.net Tue Nov 14 22:13:21 2023\nSubject: two\nX-Status: A\n\nlast"
    )
    wharf.cli("import", ALICE[0], str(mbox))
    wharf.cli("import", ALICE[0], str(mbox), "--mailbox", "Archive/2023")
    local = tmp_path / "mbsync-mail"
    local.mkdir()
    cfg = tmp_path / "mbsyncrc"
    cfg.write_text(f"""IMAPAccount wharf
Host 127.0.0.1
Port {wharf.port("imap")}
User {ALICE[0]}
Pass {ALICE[1]}
SSLType None
AuthMechs LOGIN

IMAPStore wharf-remote
Account wharf

MaildirStore local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel all
Far :wharf-remote:
Near :local:
Patterns *
Create Near
Sync Pull
SyncState *
""")
    r = subprocess.run([mbsync_bin, "-c", str(cfg), "all"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"mbsync failed:\n{r.stdout}\n{r.stderr}"
    assert (local / "Archive" / "2023" / "cur").is_dir()
    r = wharf.cli("import", BOB[0], str(local))
    assert "imported 4 messages" in r.stdout, r.stdout
    ca, cb = imap(wharf, ALICE), imap(wharf, BOB)
    a, b = dump(ca), dump(cb)
    ca.logout()
    cb.logout()
    strip = lambda d: {k: [(m[0], m[1]) for m in v] for k, v in d.items()}
    assert strip(a) == strip(b)
    assert [m[1] for m in b["INBOX"]] == [["\\Flagged", "\\Seen"], ["\\Answered"]]


def test_exported_maildir_reads_back_in_dovecot(wharf, request, tmp_path):
    """`wharf export --format maildir` served by Dovecot: the same folders, order,
    bytes, flags, keywords (dovecot-keywords), internal dates (mtimes) and UIDs
    (dovecot-uidlist) as Wharf serves."""
    write_maildirpp(tmp_path / "src", 60)
    wharf.cli("import", ALICE[0], str(tmp_path / "src"))
    c = imap(wharf, ALICE)
    want = dump(c)
    c.select("INBOX", readonly=True)
    want_uids = c.uid("SEARCH", "ALL")[1][0].split()
    c.logout()
    r = wharf.cli("export", ALICE[0], "--format", "maildir", str(tmp_path / "out"))
    assert "exported 60 messages" in r.stdout, r.stdout
    dc = Dovecot(request, tmp_path / "out")
    d = dc.connect()
    got = dump(d)
    d.select("INBOX", readonly=True)
    got_uids = d.uid("SEARCH", "ALL")[1][0].split()
    d.logout()
    assert {k.replace(".", "/"): v for k, v in got.items()} == want
    assert got_uids == want_uids


def test_mbox_export_stays_inside_its_directory(wharf, tmp_path):
    """A folder named `../../x` (legal in IMAP) is written inside PATH, and comes back
    under its own name."""
    c = imap(wharf, ALICE)
    typ, _ = c.create('"../../x"')
    assert typ == "OK"
    typ, _ = c.append('"../../x"', r"(\Seen)", None, b"Subject: dots\r\n\r\nx\r\n")
    assert typ == "OK"
    out = tmp_path / "a" / "b" / "out"
    wharf.cli("export", ALICE[0], "--format", "mbox", str(out))
    assert not (tmp_path / "a" / "x.mbox").exists() and not (tmp_path / "x.mbox").exists()
    assert all(str(p.resolve()).startswith(str(out)) for p in out.rglob("*"))
    wharf.cli("import", BOB[0], str(out))
    cb = imap(wharf, BOB)
    assert dump(cb)["../../x"] == dump(c)["../../x"]
    c.logout()
    cb.logout()
