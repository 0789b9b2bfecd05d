#!/usr/bin/env python3
"""Storage-only ceiling of inbound delivery: 20 concurrent "sessions" each durably storing
4 KiB messages, with a single writer thread doing group commit, under four fsync patterns.
No SMTP, no parsing, no SQLite: only the sequence of fsyncs, so it shows what the disk
allows for each design. Diagnostic for bench/smtp/run.sh; not run by it.

  python3 bench/smtp/storesim.py [current|onedir|nodirsync|inline ...]

current    Wharf's store today: body file created in one of 256 random directories and
           fsynced by the session; the writer fsyncs each distinct directory of the batch,
           then the WAL (one fsync per batch).
onedir     as current, but all new bodies in one directory: one directory fsync per batch.
nodirsync  as current without directory fsyncs (NOT durable per POSIX; an upper bound).
inline     bodies appended to the WAL itself: one fsync per batch and nothing else.

SIM_DIR (default /var/lib/wharf-bench/sim) must be on the filesystem under test.
"""
import os, threading, time, random, queue, shutil, sys
ROOT = os.environ.get("SIM_DIR", "/var/lib/wharf-bench/sim")
SESS, DUR, BODY = 20, 6.0, b"x" * 4096

def run(mode):
    shutil.rmtree(ROOT, ignore_errors=True)
    os.makedirs(ROOT)
    for i in range(256): os.makedirs(f"{ROOT}/{i:02x}")
    wal = os.open(f"{ROOT}/wal", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    q = queue.Queue(); stop = time.time() + DUR; count = [0]; batches = [0]
    def writer():
        while True:
            items = [q.get()]
            if items[0] is None: return
            while True:
                try: items.append(q.get_nowait())
                except queue.Empty: break
            if None in items: return
            if mode in ("current", "onedir"):
                for d in {it[0] for it in items}:
                    fd = os.open(d, os.O_RDONLY); os.fsync(fd); os.close(fd)
            data = b"".join((BODY if mode == "inline" else b"m" * 200) for _ in items)
            os.write(wal, data); os.fsync(wal); batches[0] += 1
            for it in items: it[1].set()
    def session():
        while time.time() < stop:
            d = None
            if mode in ("current", "nodirsync", "onedir"):
                d = f"{ROOT}/{random.randrange(256):02x}" if mode != "onedir" else f"{ROOT}/00"
                fd = os.open(f"{d}/{random.getrandbits(128):032x}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                os.write(fd, BODY); os.fsync(fd); os.close(fd)
            ev = threading.Event(); q.put((d, ev)); ev.wait(); count[0] += 1
    w = threading.Thread(target=writer); w.start()
    ts = [threading.Thread(target=session) for _ in range(SESS)]
    t0 = time.time(); [t.start() for t in ts]; [t.join() for t in ts]; el = time.time() - t0
    q.put(None); w.join()
    print(f"{mode:10s} {count[0]/el:7.0f} msg/s   ({count[0]} in {el:.1f}s, {count[0]/max(batches[0],1):.1f} per commit)", flush=True)
    shutil.rmtree(ROOT, ignore_errors=True)

for m in sys.argv[1:] or ["current", "nodirsync", "inline"]: run(m)
