#!/usr/bin/env python3
"""Round trip benchmark for `wharf import` / `wharf export` (not a test: run by hand).

Writes a Maildir++ tree of N messages (default 100,000) over five folders, with flags,
keywords, internal dates (mtimes) and bodies with `From ` lines, a missing final newline
and 8-bit text; then:

  import into alice -> export alice (maildir) -> import into bob -> export bob (maildir)
  export alice (mbox) -> import into carol -> export carol (maildir)

and checks that the three final exports hold the same messages: per folder and UID,
the sha256 of the file, the flags and keywords of its name, and its mtime. Prints the
time of every step.

    python3 scripts/import-export-roundtrip.py [--messages N] [--wharf PATH] [--dir DIR]
"""

import argparse
import hashlib
import os
import pathlib
import random
import shutil
import subprocess
import time

FOLDERS = ["", ".Sent", ".Archive", ".Archive.2023", ".Lists.r&AOk-sum&AOk-"]
KEYWORDS = ["$Forwarded", "work", "$Label1", "todo"]


def make_tree(root: pathlib.Path, n: int):
    rnd = random.Random(42)
    for f in FOLDERS:
        for sub in ("cur", "new", "tmp"):
            (root / f / sub).mkdir(parents=True, exist_ok=True)
        (root / f / "dovecot-keywords").write_text(
            "".join(f"{i} {k}\n" for i, k in enumerate(KEYWORDS[1:])))
    base = 1_600_000_000
    for i in range(n):
        f = FOLDERS[i % len(FOLDERS)]
        date = base + i * 37
        body = "".join(f"line {j} of message {i} {'x' * rnd.randint(0, 70)}\n"
                       for j in range(rnd.randint(1, 40)))
        if i % 7 == 0:
            body += "From the start of a line\n>From quoted once\n"
        if i % 11 == 0:
            body += "caf\u00e9 \u00fcber\n"
        msg = (f"From: sender{i % 97}@example.net\nTo: alice@example.test\n"
               f"Subject: message {i}\nMessage-ID: <{i}@bench>\n"
               f"Date: Thu, 1 Oct 2020 00:00:00 +0000\n\n{body}")
        if i % 13 == 0:
            msg = msg.rstrip("\n")
        letters = ""
        if i % 2:
            letters += "S"
        if i % 3 == 0:
            letters += "F"
        if i % 5 == 0:
            letters += "R"
        if i % 17 == 0:
            letters += "P"
        if i % 4 == 0:
            letters += "a"
        if i % 6 == 0:
            letters += "b"
        letters = "".join(sorted(letters))
        name = f"{date}.M{i}P1.bench:2,{letters}"
        p = root / f / "cur" / name
        p.write_bytes(msg.encode())
        os.utime(p, (date, date))


def digest(tree: pathlib.Path):
    """(folder, uid) -> (sha256, info, mtime, keywords named)."""
    out = {}
    for d in sorted([tree] + [p for p in tree.iterdir() if p.is_dir() and p.name.startswith(".")]):
        kw = {}
        kf = d / "dovecot-keywords"
        if kf.exists():
            for line in kf.read_text().splitlines():
                i, name = line.split(" ", 1)
                kw[chr(ord("a") + int(i))] = name
        for f in (d / "cur").iterdir():
            base, info = f.name.split(":", 1)
            uid = int(base.split(".")[1][1:].split("P")[0])
            letters = info[2:]
            flags = "".join(c for c in letters if c.isupper())
            kws = sorted(kw[c] for c in letters if c.islower())
            out[("" if d == tree else d.name, uid)] = (hashlib.sha256(f.read_bytes()).hexdigest(), flags, kws,
                                  int(f.stat().st_mtime))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--wharf", default=str(pathlib.Path(__file__).resolve().parents[1] / "target/release/wharf"))
    ap.add_argument("--dir", default="/tmp/wharf-roundtrip")
    a = ap.parse_args()
    work = pathlib.Path(a.dir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    cfg = work / "wharf.toml"
    cfg.write_text(f'hostname = "mx.example.test"\ndata_dir = "{work / "data"}"\n')

    def wharf(*args, input=None):
        t = time.monotonic()
        r = subprocess.run([a.wharf, "--config", str(cfg), *args], input=input,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"wharf {' '.join(args)} failed: {r.stderr}")
        dt = time.monotonic() - t
        print(f"{dt:8.1f} s  wharf {' '.join(args)}\n{r.stdout}", flush=True)
        return dt

    t = time.monotonic()
    make_tree(work / "src", a.messages)
    print(f"{time.monotonic() - t:8.1f} s  wrote {a.messages} messages", flush=True)
    wharf("domain", "add", "example.test")
    for u in ("alice", "bob", "carol"):
        wharf("user", "add", f"{u}@example.test", "--password-stdin", input="bench-pw-1\n")
    total = 0.0
    total += wharf("import", "alice@example.test", str(work / "src"))
    total += wharf("export", "alice@example.test", "--format", "maildir", str(work / "alice-md"))
    total += wharf("import", "bob@example.test", str(work / "alice-md"))
    total += wharf("export", "bob@example.test", "--format", "maildir", str(work / "bob-md"))
    total += wharf("export", "alice@example.test", "--format", "mbox", str(work / "alice-mbox"))
    total += wharf("import", "carol@example.test", str(work / "alice-mbox"))
    total += wharf("export", "carol@example.test", "--format", "maildir", str(work / "carol-md"))
    da, db, dc = (digest(work / x) for x in ("alice-md", "bob-md", "carol-md"))
    assert len(da) == a.messages, (len(da), a.messages)
    assert da == db, "maildir round trip differs"
    assert da == dc, "mbox round trip differs"
    src = sorted(hashlib.sha256(p.read_bytes().replace(b"\r\n", b"\n")).hexdigest()
                 for p in (work / "src").rglob("cur/*"))
    assert src == sorted(v[0] for v in da.values()), "export differs from the source"
    print(f"OK: {a.messages} messages identical after maildir and mbox round trips; "
          f"{total:.1f} s in wharf import/export")


if __name__ == "__main__":
    main()
