"""Real IMAP sync clients against Wharf: mbsync (isync) and offlineimap (offlineimap3),
each syncing a Maildir with a Wharf mailbox in both directions.

The tools are required, not optional: a missing tool fails the test (.ci/run installs
isync and offlineimap3).
"""

import imaplib
import pathlib
import shutil
import smtplib
import subprocess
import time

ALICE = ("alice@example.test", "alice-pw-1")


def tool(name):
    path = shutil.which(name)
    assert path, f"{name} is not installed (apt-get install isync offlineimap3; .ci/run does)"
    return path


def deliver(wharf, subject, body="hello"):
    msg = (
        f"From: Carol <carol@example.org>\r\nTo: alice@example.test\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '-')}@example.org>\r\n\r\n{body}\r\n"
    )
    with smtplib.SMTP("127.0.0.1", wharf.port("smtp"), timeout=30) as s:
        s.sendmail("carol@example.org", ["alice@example.test"], msg)


def imap(wharf):
    c = imaplib.IMAP4("127.0.0.1", wharf.port("imap"), timeout=30)
    c.login(*ALICE)
    return c


def wait_for(wharf, mailbox, n, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        c = imap(wharf)
        typ, data = c.select(mailbox)
        c.logout()
        if typ == "OK" and int(data[0]) >= n:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{mailbox} has {data} messages, waited for {n}")
        time.sleep(0.2)


def subjects(wharf, mailbox):
    c = imap(wharf)
    c.select(mailbox, readonly=True)
    typ, data = c.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    c.logout()
    out = {}
    for item in data:
        if isinstance(item, tuple):
            flags = item[0].decode()
            subj = item[1].decode().strip().removeprefix("Subject: ")
            out[subj] = flags
    return out


def maildir_messages(path: pathlib.Path):
    """subject -> maildir info flags (the part after ':2,')."""
    out = {}
    for sub in ("cur", "new"):
        d = path / sub
        if not d.exists():
            continue
        for f in d.iterdir():
            for line in f.read_bytes().decode(errors="replace").splitlines():
                if line.startswith("Subject: "):
                    out[line[9:].strip()] = f.name.split(":2,")[1] if ":2," in f.name else ""
                    break
    return out


def put_maildir(path: pathlib.Path, name: str, subject: str, flags=""):
    (path / "cur").mkdir(parents=True, exist_ok=True)
    (path / "new").mkdir(parents=True, exist_ok=True)
    (path / "tmp").mkdir(parents=True, exist_ok=True)
    (path / "cur" / f"{name}:2,{flags}").write_bytes(
        f"From: Alice <alice@example.test>\r\nTo: bob@example.test\r\nSubject: {subject}\r\n"
        f"Message-ID: <{name}@example.test>\r\n\r\nwritten locally\r\n".encode()
    )


# -- mbsync ----------------------------------------------------------------------------


def mbsync_config(tmp, wharf):
    local = tmp / "mbsync-mail"
    local.mkdir()
    cfg = tmp / "mbsyncrc"
    cfg.write_text(
        f"""IMAPAccount wharf
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

Channel inbox
Far :wharf-remote:INBOX
Near :local:INBOX
Create Both
Expunge Both
SyncState *
Sync All
"""
    )
    return cfg, local / "INBOX"


def mbsync(cfg):
    r = subprocess.run(
        [tool("mbsync"), "-c", str(cfg), "inbox"], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, f"mbsync failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r


def test_mbsync_pulls_pushes_and_syncs_flags(wharf, tmp_path):
    tool("mbsync")
    deliver(wharf, "first from smtp")
    deliver(wharf, "second from smtp")
    wait_for(wharf, "INBOX", 2)
    cfg, inbox = mbsync_config(tmp_path, wharf)

    # pull: the two delivered messages land in the Maildir
    mbsync(cfg)
    local = maildir_messages(inbox)
    assert set(local) == {"first from smtp", "second from smtp"}, local

    # push: a message written locally, and a flag set locally, reach Wharf
    put_maildir(inbox, "1700000000.local1.host", "written locally", "F")
    unseen = [*(inbox / "cur").iterdir(), *(inbox / "new").iterdir()]
    first = next(f for f in unseen if b"first from smtp" in f.read_bytes())
    first.rename(inbox / "cur" / (first.name.split(":2,")[0] + ":2,S"))
    mbsync(cfg)
    remote = subjects(wharf, "INBOX")
    assert set(remote) == {"first from smtp", "second from smtp", "written locally"}, remote
    assert "\\Flagged" in remote["written locally"]
    assert "\\Seen" in remote["first from smtp"]
    assert "\\Seen" not in remote["second from smtp"]

    # a flag set on the server, and a deletion there, come back to the Maildir
    c = imap(wharf)
    c.select("INBOX")
    typ, data = c.search(None, '(SUBJECT "second from smtp")')
    c.store(data[0].decode(), "+FLAGS", "(\\Answered)")
    typ, data = c.search(None, '(SUBJECT "written locally")')
    c.store(data[0].decode(), "+FLAGS", "(\\Deleted)")
    c.expunge()
    c.logout()
    mbsync(cfg)
    local = maildir_messages(inbox)
    assert set(local) == {"first from smtp", "second from smtp"}, local
    assert "R" in local["second from smtp"]
    assert "S" in local["first from smtp"]

    # nothing left to do: a second run changes nothing on either side
    mbsync(cfg)
    assert maildir_messages(inbox) == local
    assert set(subjects(wharf, "INBOX")) == {"first from smtp", "second from smtp"}


# -- offlineimap -------------------------------------------------------------------------


def offlineimap_config(tmp, wharf):
    local = tmp / "oi-mail"
    cfg = tmp / "offlineimaprc"
    cfg.write_text(
        f"""[general]
accounts = wharf
metadata = {tmp / "oi-meta"}

[Account wharf]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {local}

[Repository remote]
type = IMAP
remotehost = 127.0.0.1
remoteport = {wharf.port("imap")}
remoteuser = {ALICE[0]}
remotepass = {ALICE[1]}
ssl = no
starttls = no
folderfilter = lambda f: f in ["INBOX", "Archive"]
"""
    )
    return cfg, local


def offlineimap(cfg):
    r = subprocess.run(
        [tool("offlineimap"), "-c", str(cfg), "-o", "-u", "basic"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "ERROR" not in out, f"offlineimap failed ({r.returncode}):\n{out}"
    return out


def test_offlineimap_syncs_both_ways(wharf, tmp_path):
    tool("offlineimap")
    deliver(wharf, "delivered one")
    c = imap(wharf)
    c.create("Archive")
    c.append("Archive", "(\\Seen)", None, b"Subject: archived\r\nFrom: a@example.test\r\n\r\nold\r\n")
    c.logout()
    wait_for(wharf, "INBOX", 1)
    cfg, local = offlineimap_config(tmp_path, wharf)

    offlineimap(cfg)
    assert set(maildir_messages(local / "INBOX")) == {"delivered one"}
    archive = maildir_messages(local / "Archive")
    assert archive == {"archived": "S"}, archive

    # local changes: a new message in Archive, INBOX's message flagged
    put_maildir(local / "Archive", "1700000001.oi.host", "filed locally", "S")
    inbox_cur = local / "INBOX" / "cur"
    inbox_new = local / "INBOX" / "new"
    (m,) = [*inbox_cur.iterdir(), *inbox_new.iterdir()]
    base = str(inbox_cur / m.name).split(":2,")[0]
    m.rename(base + ":2,F")
    offlineimap(cfg)
    assert set(subjects(wharf, "Archive")) == {"archived", "filed locally"}
    assert "\\Flagged" in subjects(wharf, "INBOX")["delivered one"]

    # remote changes come back: new delivery, and a message deleted on the server
    deliver(wharf, "delivered two")
    wait_for(wharf, "INBOX", 2)
    c = imap(wharf)
    c.select("Archive")
    typ, data = c.search(None, '(SUBJECT "archived")')
    c.store(data[0].decode(), "+FLAGS", "(\\Deleted)")
    c.expunge()
    c.logout()
    offlineimap(cfg)
    assert set(maildir_messages(local / "INBOX")) == {"delivered one", "delivered two"}
    assert set(maildir_messages(local / "Archive")) == {"filed locally"}
