#!/usr/bin/env python3
"""bench/pop3/run.py - POP3 retrieval throughput: Dovecot vs Wharf (issue 3, Benchmark).

Run as root on a Debian 12 machine (it installs dovecot-pop3d and runs a private Dovecot
instance on 127.0.0.1:11110). Loopback only. Re-running it is safe.

    sudo bench/pop3/run.py                         # 10000 messages, 3 runs per case
    sudo RUNS=1 MESSAGES=2000 bench/pop3/run.py    # a quick check

What it does:
 1. generates MESSAGES messages (deterministic sizes, 1-64 KiB, some lines starting with
    dots, 8-bit and UTF-8 text) and delivers them over SMTP to a fresh Wharf: all of them
    to bench00@example.test (the 1-client case) and the same messages split evenly over
    bench01..bench{CLIENTS} (the CLIENTS-client case, one account per client);
 2. reads every message back from Wharf over POP3 and writes the exact same bytes into
    Dovecot maildirs (S= and W= sizes in the file names, as Dovecot's own deliveries
    have), so both servers serve byte-identical mailboxes;
 3. warms both servers up with one full pass (Dovecot builds its index and uidlist on
    first access; Wharf's page cache fills), then restarts Wharf so its peak memory
    counts only the measured POP3 work;
 4. for each case and run: every client connects, USER/PASS, UIDL, RETR of every message
    (one command at a time, waiting for each reply: no pipelining), QUIT, and checks
    that each message has the size LIST announced; the time is from the first connect to
    the last QUIT reply. Keep mode: nothing is deleted, so runs repeat on the same data;
 5. memory: Wharf = VmHWM of the wharf process; Dovecot = peak, sampled every ~100 ms, of
    the summed RSS (and PSS) of every process of the Dovecot instance;
 6. writes the `## POP3` section of bench/RESULTS.md (other sections are kept).

Environment knobs (defaults in brackets): MESSAGES [10000], CLIENTS [20], RUNS [3],
BENCH_DIR [/var/lib/wharf-bench-pop3], RESULTS [bench/RESULTS.md], SKIP_BUILD=1 (use the
existing target/release/wharf), WRITE_RESULTS=0 (print the section only).
"""

import concurrent.futures
import os
import random
import shutil
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

MESSAGES = int(os.environ.get("MESSAGES", "10000"))
CLIENTS = int(os.environ.get("CLIENTS", "20"))
RUNS = int(os.environ.get("RUNS", "3"))
BENCH_DIR = Path(os.environ.get("BENCH_DIR", "/var/lib/wharf-bench-pop3"))
REPO = Path(__file__).resolve().parents[2]
RESULTS = Path(os.environ.get("RESULTS", REPO / "bench" / "RESULTS.md"))
WRITE_RESULTS = os.environ.get("WRITE_RESULTS", "1") == "1"
WHARF_BIN = REPO / "target" / "release" / "wharf"
WHARF_SMTP, WHARF_POP3, DOVECOT_POP3 = 12526, 12110, 11110
PASSWORD = "bench-pw-1"
DOMAIN = "example.test"

WHARF_DIR = BENCH_DIR / "wharf"
WHARF_FIXED_MMAP = "Wharf (MALLOC_MMAP_THRESHOLD_=131072)"
DOVECOT_DIR = BENCH_DIR / "dovecot"


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def die(msg):
    log(f"error: {msg}")
    sys.exit(1)


def account(i):
    return f"bench{i:02d}@{DOMAIN}"


# ---- messages ---------------------------------------------------------------------------

def make_message(i, rng):
    """A message of 1-64 KiB (skewed towards small), CRLF line endings."""
    size = int(min(65536, 1024 * (1 + rng.expovariate(1 / 6))))
    head = (
        f"From: Sender {i} <sender{i}@remote.test>\r\n"
        f"To: bench@{DOMAIN}\r\n"
        f"Subject: benchmark message {i} caf\u00e9\r\n"
        f"Message-ID: <bench-{i}@remote.test>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode()
    special = [b".a line that starts with a dot", b".", "caf\u00e9 \u20ac \u00fc".encode(), b"latin1 \xe9"]
    body = bytearray()
    while len(head) + len(body) < size:
        body += (rng.choice(special) if rng.random() < 0.05 else rng.choice(TEXT_LINES)) + b"\r\n"
    return head + bytes(body)


# A pool of plain text lines (drawing every character would make generation slow).
_text_rng = random.Random(7)
TEXT_LINES = [
    bytes(_text_rng.choice(b"abcdefghijklmnopqrstuvwxyz     ") for _ in range(72)) for _ in range(2000)
]


# ---- POP3 client (raw socket, used for loading, warm-up and the measured runs) -----------

class Pop3:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.buf = bytearray()
        self.line()

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[: i + 2]
                return line
            self._recv()

    def _recv(self):
        data = self.sock.recv(262144)
        if not data:
            raise ConnectionError("server closed the connection")
        self.buf += data

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\r\n")
        reply = self.line()
        if not reply.startswith(b"+OK"):
            raise RuntimeError(f"{line.split()[0]}: {reply!r}")
        return reply

    def block(self):
        """A multi-line reply body, unstuffed, without its terminator."""
        start = 0
        while True:
            # The terminator is ".\r\n" at the start of the block or after a CRLF.
            if self.buf.startswith(b".\r\n"):
                del self.buf[:3]
                return b""
            i = self.buf.find(b"\r\n.\r\n", start)
            if i >= 0:
                data = bytes(self.buf[: i + 2])
                del self.buf[: i + 5]
                data = data.replace(b"\r\n..", b"\r\n.")
                return data[1:] if data.startswith(b"..") else data
            start = max(0, len(self.buf) - 4)
            self._recv()

    def login(self, user):
        self.cmd(f"USER {user}")
        self.cmd(f"PASS {PASSWORD}")

    def close(self):
        self.sock.close()


def fetch_all(port, user, keep=False):
    """UIDL + LIST + RETR of every message + QUIT; returns (count, octets, messages)."""
    c = Pop3(port)
    c.login(user)
    c.cmd("UIDL")
    uids = c.block().split(b"\r\n")
    c.cmd("LIST")
    sizes = [int(line.split()[1]) for line in c.block().split(b"\r\n") if line]
    if len([u for u in uids if u]) != len(sizes):
        raise RuntimeError(f"{user}: UIDL and LIST disagree")
    got, octets = [], 0
    for n, size in enumerate(sizes, 1):
        c.cmd(f"RETR {n}")
        data = c.block()
        if len(data) != size:
            raise RuntimeError(f"{user}: message {n} is {len(data)} octets, LIST said {size}")
        octets += size
        if keep:
            got.append(data)
    c.cmd("QUIT")
    c.close()
    return len(sizes), octets, got


def run_clients(port, users):
    """All clients at once, one process each; returns (seconds, messages, octets)."""
    with concurrent.futures.ProcessPoolExecutor(max_workers=len(users)) as pool:
        # Start the worker processes before the clock.
        list(pool.map(time.sleep, [0] * len(users)))
        t0 = time.monotonic()
        results = list(pool.map(fetch_all, [port] * len(users), users))
        t1 = time.monotonic()
    return t1 - t0, sum(r[0] for r in results), sum(r[1] for r in results)


# ---- Wharf -------------------------------------------------------------------------------

class Wharf:
    def __init__(self):
        self.proc = None
        self.conf = WHARF_DIR / "wharf.toml"

    def cli(self, *args, input=None):
        subprocess.run([str(WHARF_BIN), "--config", str(self.conf), *args], input=input,
                       text=True, check=True, capture_output=True)

    def create(self):
        shutil.rmtree(WHARF_DIR, ignore_errors=True)
        WHARF_DIR.mkdir(parents=True)
        self.conf.write_text(
            f'hostname = "mx.example.test"\ndata_dir = "{WHARF_DIR / "data"}"\n\n[listen]\n'
            f'smtp = ["127.0.0.1:{WHARF_SMTP}"]\npop3 = ["127.0.0.1:{WHARF_POP3}"]\n'
        )
        self.cli("domain", "add", DOMAIN)
        for i in range(CLIENTS + 1):
            self.cli("user", "add", account(i), "--password-stdin", input=PASSWORD + "\n")

    def start(self, env=None):
        self.log = open(WHARF_DIR / "wharf.log", "ab")
        self.proc = subprocess.Popen([str(WHARF_BIN), "--config", str(self.conf), "serve"],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     env={**os.environ, **(env or {})})
        for line in self.proc.stdout:
            if line.startswith("wharf: ready"):
                threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
                return
        die(f"wharf serve did not start (log: {WHARF_DIR / 'wharf.log'})")

    def vmhwm_kib(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return 0

    def cpu_seconds(self):
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)
            self.proc = None
            self.log.close()


def deliver(messages_by_account):
    """Sends every (account, message) over SMTP, 4 connections in parallel."""
    jobs = [(acct, m) for acct, msgs in messages_by_account.items() for m in msgs]

    def sender(part):
        with smtplib.SMTP("127.0.0.1", WHARF_SMTP, timeout=120) as s:
            for acct, m in part:
                s.sendmail("sender@remote.test", [acct], m)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(sender, [jobs[i::4] for i in range(4)]))


# ---- Dovecot -----------------------------------------------------------------------------

def install_dovecot():
    if subprocess.run(["dpkg", "-s", "dovecot-pop3d"], capture_output=True).returncode != 0:
        log("installing dovecot-pop3d")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-q", "dovecot-pop3d"], check=True, env=env)
    # The package starts the system instance; ours is private, on its own port.
    subprocess.run(["systemctl", "stop", "dovecot"], capture_output=True)
    if subprocess.run(["getent", "passwd", "vmail"], capture_output=True).returncode != 0:
        subprocess.run(["groupadd", "-g", "5000", "vmail"], capture_output=True)
        subprocess.run(["useradd", "-u", "5000", "-g", "vmail", "-M", "-s", "/usr/sbin/nologin", "vmail"],
                       check=True)


def dovecot_version():
    return subprocess.run(["dovecot", "--version"], capture_output=True, text=True).stdout.split()[0]


class Dovecot:
    conf = DOVECOT_DIR / "dovecot.conf"

    def create(self, mailboxes):
        shutil.rmtree(DOVECOT_DIR, ignore_errors=True)
        (DOVECOT_DIR / "run").mkdir(parents=True)
        # The same password hashing as Wharf (Argon2id) where Dovecot has it.
        scheme = "ARGON2ID"
        r = subprocess.run(["doveadm", "pw", "-s", scheme, "-p", PASSWORD], capture_output=True, text=True)
        if r.returncode != 0:
            scheme = "SHA512-CRYPT"
            r = subprocess.run(["doveadm", "pw", "-s", scheme, "-p", PASSWORD], capture_output=True, text=True)
        self.scheme = scheme
        hashed = r.stdout.strip()
        (DOVECOT_DIR / "passwd").write_text("".join(f"{account(i)}:{hashed}\n" for i in range(CLIENTS + 1)))
        self.conf.write_text(f"""
base_dir = {DOVECOT_DIR / 'run'}
instance_name = wharf-bench
protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
log_path = {DOVECOT_DIR / 'dovecot.log'}
mail_location = maildir:~/Maildir
first_valid_uid = 5000
passdb {{
  driver = passwd-file
  args = scheme={scheme} {DOVECOT_DIR / 'passwd'}
}}
userdb {{
  driver = static
  args = uid=vmail gid=vmail home={DOVECOT_DIR / 'mail'}/%d/%n
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {DOVECOT_POP3}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
pop3_uidl_format = %08Xu%08Xv
""")
        for acct, msgs in mailboxes.items():
            local, domain = acct.split("@")
            new = DOVECOT_DIR / "mail" / domain / local / "Maildir" / "new"
            new.mkdir(parents=True)
            for d in ("cur", "tmp"):
                (new.parent / d).mkdir()
            base = int(time.time())
            for n, m in enumerate(msgs):
                # Dovecot reads S= (physical) and W= (virtual, CRLF) sizes from the name.
                (new / f"{base + n}.M{n}P1.bench,S={len(m)},W={len(m)}").write_bytes(m)
        subprocess.run(["chown", "-R", "vmail:vmail", str(DOVECOT_DIR / "mail")], check=True)

    def start(self):
        subprocess.run(["dovecot", "-c", str(self.conf)], check=True)
        for _ in range(100):
            try:
                Pop3(DOVECOT_POP3).close()
                return
            except OSError:
                time.sleep(0.1)
        die(f"Dovecot does not answer on {DOVECOT_POP3} (log: {DOVECOT_DIR / 'dovecot.log'})")

    def master_pid(self):
        return int((DOVECOT_DIR / "run" / "master.pid").read_text())

    def pids(self):
        """The master and its children, from /proc (no subprocess: the sampler thread
        must not fork while the client pool forks, or pipes leak into the workers)."""
        master = self.master_pid()
        pids = [master]
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                pids.append(int(entry.name))
        return pids

    def cpu_seconds(self):
        """User + system CPU of the master, its live children and its reaped children."""
        total = 0
        for pid in self.pids():
            try:
                f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += sum(int(x) for x in f[11:15])
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self):
        subprocess.run(["doveadm", "-c", str(self.conf), "stop"], capture_output=True)
        time.sleep(0.5)


class MemSampler(threading.Thread):
    """Peak summed RSS and PSS (KiB) of a set of processes, sampled every ~100 ms."""

    def __init__(self, pids_fn):
        super().__init__(daemon=True)
        self.pids_fn, self.stop_flag = pids_fn, threading.Event()
        self.rss = self.pss = self.procs = 0

    def run(self):
        while not self.stop_flag.is_set():
            rss = pss = n = 0
            for pid in self.pids_fn():
                try:
                    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
                except OSError:
                    continue
                n += 1
                for line in text.splitlines():
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
            self.rss, self.pss, self.procs = max(self.rss, rss), max(self.pss, pss), max(self.procs, n)
            time.sleep(0.1)

    def finish(self):
        self.stop_flag.set()
        self.join()


# ---- main --------------------------------------------------------------------------------

def build_wharf():
    if os.environ.get("SKIP_BUILD") == "1" and WHARF_BIN.exists():
        return
    log("building wharf (release)")
    subprocess.run(["cargo", "build", "--release", "--bin", "wharf"], cwd=REPO, check=True)


def wharf_version():
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "crates"],
                           capture_output=True, text=True).stdout.strip()
    return rev + (" (+ uncommitted changes)" if dirty else "")


def main():
    if os.geteuid() != 0:
        die("run as root (installs and runs Dovecot)")
    install_dovecot()
    build_wharf()
    BENCH_DIR.mkdir(parents=True, exist_ok=True)

    rng = random.Random(3)
    messages = [make_message(i, rng) for i in range(MESSAGES)]
    single = [account(0)]
    multi = [account(i) for i in range(1, CLIENTS + 1)]
    plan = {single[0]: messages}
    for k, acct in enumerate(multi):
        plan[acct] = messages[k::CLIENTS]

    wharf = Wharf()
    wharf.create()
    wharf.start()
    log(f"delivering {MESSAGES} messages to {single[0]} and again split over {len(multi)} accounts (SMTP)")
    deliver(plan)
    log("reading them back from Wharf to build identical Dovecot maildirs")
    stored = {acct: fetch_all(WHARF_POP3, acct, keep=True)[2] for acct in plan}
    for acct in plan:
        if len(stored[acct]) != len(plan[acct]):
            die(f"Wharf has {len(stored[acct])} messages for {acct}, expected {len(plan[acct])}")
    wharf.stop()

    dovecot = Dovecot()
    dovecot.stop()
    dovecot.create(stored)
    total_octets = sum(len(m) for m in stored[single[0]])
    del stored

    cases = [("1 client", single), (f"{CLIENTS} clients", multi)]
    rows = []  # (server, case, run, seconds, messages, octets, cpu, mem)

    # Dovecot first (warm-up pass, then the measured runs), then Wharf, never both at once.
    dovecot.start()
    try:
        for _, users in cases:
            run_clients(DOVECOT_POP3, users)  # warm-up: index + uidlist
        for case, users in cases:
            for run in range(1, RUNS + 1):
                sampler = MemSampler(dovecot.pids)
                sampler.start()
                cpu0 = dovecot.cpu_seconds()
                secs, n, octets = run_clients(DOVECOT_POP3, users)
                cpu = dovecot.cpu_seconds() - cpu0
                sampler.finish()
                log(f"Dovecot {case} run {run}: {n} messages in {secs:.3f}s ({n / secs:.0f}/s); "
                    f"peak RSS sum {sampler.rss / 1024:.1f} MiB, PSS {sampler.pss / 1024:.1f} MiB")
                rows.append(("Dovecot", case, run, secs, n, octets, cpu,
                             f"RSS sum {sampler.rss / 1024:.1f} MiB, PSS sum {sampler.pss / 1024:.1f} MiB, "
                             f"{sampler.procs} processes"))
    finally:
        dovecot.stop()

    # The second Wharf variant only changes glibc's malloc: a fixed mmap threshold, so the
    # ~19 MiB Argon2id buffers of each login go back to the system when freed (see render).
    for label, env in (("Wharf", {}), (WHARF_FIXED_MMAP, {"MALLOC_MMAP_THRESHOLD_": "131072"})):
        for case, users in cases:
            wharf.start(env)  # fresh process: VmHWM covers this case only
            try:
                run_clients(WHARF_POP3, users)  # warm-up: page cache
                for run in range(1, RUNS + 1):
                    cpu0 = wharf.cpu_seconds()
                    secs, n, octets = run_clients(WHARF_POP3, users)
                    cpu = wharf.cpu_seconds() - cpu0
                    hwm = wharf.vmhwm_kib()
                    log(f"{label} {case} run {run}: {n} messages in {secs:.3f}s ({n / secs:.0f}/s); "
                        f"VmHWM {hwm / 1024:.1f} MiB")
                    rows.append((label, case, run, secs, n, octets, cpu, f"VmHWM {hwm / 1024:.1f} MiB"))
            finally:
                wharf.stop()

    section = render(rows, cases, total_octets, dovecot.scheme)
    print(section)
    if WRITE_RESULTS:
        update_results(section)


def render(rows, cases, total_octets, scheme):
    def max_mem(server, case):
        best = max((r for r in rows if r[0] == server and r[1] == case),
                   key=lambda r: float(r[7].split()[2]))
        return best[7].split(",")[0].replace("RSS sum ", "") + " summed RSS"

    def med(server, case, idx):
        return statistics.median(r[idx] for r in rows if r[0] == server and r[1] == case)

    out = [
        "## POP3",
        "",
        f"Mail collection (issue 3): {MESSAGES} messages ({total_octets / 1048576:.1f} MiB, 1-64 KiB each, with",
        "dot-lines, 8-bit and UTF-8 text), byte-identical on both servers, fetched with UIDL + RETR of",
        f"every message (one command at a time, no pipelining) + QUIT, by 1 client (one account holding all",
        f"{MESSAGES}) and by {CLIENTS} concurrent clients (one account each, {MESSAGES // CLIENTS} messages per account);",
        "keep mode, nothing deleted. Each client checks every message against the size LIST gave.",
        f"Generated by `bench/pop3/run.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"{RUNS} run(s) per case after one warm-up pass, median reported.",
        "",
        "| case | Dovecot msgs/s | Wharf msgs/s | Wharf / Dovecot | Dovecot CPU s | Wharf CPU s |",
        "|---|---|---|---|---|---|",
    ]
    for case, _ in cases:
        d = MESSAGES / med("Dovecot", case, 3)
        w = MESSAGES / med("Wharf", case, 3)
        out.append(f"| {case} | {d:.0f} | {w:.0f} | **{w / d:.2f}x** | {med('Dovecot', case, 6):.2f} | "
                   f"{med('Wharf', case, 6):.2f} |")
    def peak(server, case):
        return max(int(float(r[7].split()[1]) * 1024) for r in rows if r[0] == server and r[1] == case)

    out += [
        "",
        "Peak memory (highest run): " + "; ".join(
            f"{case}: Dovecot {max_mem('Dovecot', case)}, Wharf {peak('Wharf', case) / 1024:.1f} MiB"
            for case, _ in cases) + ".",
        "",
        "Wharf's peak memory comes almost all from password checks, not from POP3: each Argon2id",
        "verification allocates ~19 MiB, and glibc's *dynamic* mmap threshold then serves those",
        "buffers from the heap, where they stay after being freed. The same binary started with",
        "`MALLOC_MMAP_THRESHOLD_=131072` (a fixed threshold; nothing else changed) peaks at " + "; ".join(
            f"{case}: {peak(WHARF_FIXED_MMAP, case) / 1024:.1f} MiB ({MESSAGES / med(WHARF_FIXED_MMAP, case, 3):.0f} msgs/s)"
            for case, _ in cases) + ".",
    ]
    out += [
        "",
        f"Target: at least 1.5x Dovecot's throughput. Dovecot {dovecot_version()} (Debian's dovecot-pop3d,",
        f"maildir, passwords {scheme}); Wharf {wharf_version()} (release build, SQLite store,",
        "passwords Argon2id). Peak memory: Dovecot = summed RSS/PSS of every process of the instance",
        "(sampled every ~100 ms); Wharf = VmHWM of the wharf process (restarted before each case).",
        "",
        "| server | case | run | seconds | messages/s | MiB/s | CPU (s) | peak memory |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for server, case, run, secs, n, octets, cpu, mem in rows:
        out.append(f"| {server} | {case} | {run} | {secs:.3f} | {n / secs:.0f} | {octets / secs / 1048576:.1f} | "
                   f"{cpu:.2f} | {mem} |")
    out += [
        "",
        f"Machine: {os.cpu_count()} CPUs, load average at the end {open('/proc/loadavg').read().split()[:3]}",
        "(other work was running on the machine; compare ratios, not absolute rates).",
        "",
        "Command: `sudo bench/pop3/run.py` "
        f"(MESSAGES={MESSAGES} CLIENTS={CLIENTS} RUNS={RUNS}).",
        "",
    ]
    return "\n".join(out)


def update_results(section):
    """Replaces (or appends) the `## POP3` section of RESULTS."""
    text = RESULTS.read_text() if RESULTS.exists() else (
        "# Wharf benchmarks\n\nEach section is written by the script named in it; re-run the script to refresh it.\n\n")
    lines = text.splitlines(keepends=True)
    out, skipping, replaced = [], False, False
    for line in lines:
        if line.startswith("## "):
            if line.strip() == "## POP3":
                skipping, replaced = True, True
                out.append(section + "\n")
                continue
            skipping = False
        if not skipping:
            out.append(line)
    if not replaced:
        out.append("\n" + section + "\n")
    RESULTS.write_text("".join(out))
    log(f"wrote the ## POP3 section of {RESULTS}")


if __name__ == "__main__":
    main()
