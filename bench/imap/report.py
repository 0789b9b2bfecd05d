#!/usr/bin/env python3
"""bench/imap/report.py OUT_DIR RESULTS_MD PARAMS - writes the `## IMAP` section of
bench/RESULTS.md from the raw outputs of bench/imap/run.sh (and only that section).
bench/imap/observations.md, if present, is appended to the section as it is."""
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

out, results, params = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
P = dict(kv.split("=", 1) for kv in params.split() if "=" in kv)
here = Path(__file__).resolve().parent


def read(name):
    p = out / name
    return p.read_text() if p.exists() else ""


def kv(text):
    return dict(l.split(": ", 1) for l in text.splitlines() if ": " in l)


build = kv(read("build.txt"))


def machine():
    cpu = "?"
    for l in Path("/proc/cpuinfo").read_text().splitlines():
        if l.startswith("model name"):
            cpu = l.split(":", 1)[1].strip()
            break
    mem = next(l.split()[1] for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal"))
    fs = subprocess.run(["df", "-T", "/var/lib"], capture_output=True, text=True).stdout.splitlines()[-1].split()[1]
    return f"{os.cpu_count()} vCPU ({cpu}), {int(mem) / 1024 / 1024:.1f} GiB RAM, Linux {platform.release()}, data on {fs} (/var/lib)"


# ---- mixed
mixed = {"dovecot": [], "wharf": []}
for s in mixed:
    r = 1
    while (out / f"mixed-{s}-{r}.txt").exists():
        t = read(f"mixed-{s}-{r}.txt")
        m = re.search(r"ops_per_s=([\d.]+)", t)
        d = {
            "run": r,
            "ops_s": float(m.group(1)) if m else 0.0,
            "line": next((l for l in t.splitlines() if l.startswith("mixed:")), ""),
            "errors": [l[len("mixed-error: "):] for l in t.splitlines() if l.startswith("mixed-error:")],
            "la": kv(t).get("loadavg", "?"),
        }
        for k in ("ops", "sessions", "errors", "secs"):
            mm = re.search(rf"\b{k}=([\d.]+)", d["line"])
            d["n" + k] = mm.group(1) if mm else "?"
        d["per"] = dict(re.findall(r" ([A-Za-z-]+)=(\d+/[\d.]+ms)", d["line"]))
        mixed[s].append(d)
        r += 1


def med(v):
    return statistics.median(v) if v else None


mix_med = {s: med([d["ops_s"] for d in mixed[s]]) for s in mixed}

# ---- search
search = {}
for s in ("dovecot", "wharf"):
    t = read(f"search-{s}.txt")
    if not t:
        continue
    sel = re.search(r"SELECT exists=(\d+) in ([\d.]+)", t)
    reps = re.findall(r"rep=(\d+)(?: \(first\))? secs=([\d.]+) hits=(\d+)", t)
    m = re.search(r"median=([\d.]+) min=([\d.]+) max=([\d.]+)", t)
    search[s] = {
        "exists": sel.group(1) if sel else "?",
        "first": reps[0][1] if reps else "?",
        "hits": reps[0][2] if reps else "?",
        "median": float(m.group(1)) if m else None,
        "min": m.group(2) if m else "?",
        "max": m.group(3) if m else "?",
        "n": len(reps) - 1,
        "la": kv(t).get("loadavg", "?"),
    }

# ---- idle
idle = {}
for label in ("wharf", "dovecot", "wharf-arena1"):
    rows, skipped = [], []
    for l in read(f"idle-{label}.txt").splitlines():
        f = l.split()
        if len(f) >= 2 and f[1] == "skipped":
            skipped.append({"n": int(f[0]), "per": int(f[2]), "need": int(f[3]), "cur": int(f[4]), "avail": int(f[5])})
        elif len(f) >= 11:
            n, ok = int(f[0]), int(f[1])
            b, L, a = list(map(int, f[2:5])), list(map(int, f[5:8])), list(map(int, f[8:11]))
            rows.append({"n": n, "ok": ok, "base": b, "loaded": L, "after": a, "la": " ".join(f[11:14])})
    if rows or skipped:
        idle[label] = {"rows": rows, "skipped": skipped}


def per_conn(r, i):  # KiB per connection, i=0 rss, 1 pss
    return (r["loaded"][i] - r["base"][i]) / max(r["ok"], 1)


def mib(k):
    return f"{k / 1024:.1f} MiB"


def best_idle(label):
    rows = idle.get(label, {}).get("rows", [])
    return max(rows, key=lambda r: r["ok"]) if rows else None


# ---- loading
def load_line(name):
    m = re.search(r"load: (\d+) messages into (\d+) mailbox\(es\) in ([\d.]+) s \((\d+)/s\)", read(name))
    return m.groups() if m else None


now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
wharf_id = f"Wharf {build.get('head', '?')}" + (f" (+ {build.get('dirty')} uncommitted changed files under crates/)" if build.get("dirty", "0") != "0" else "")
if build.get("build-failed"):
    wharf_id += "; the tree did not build at run time, so the binary built at " + build.get("binary-mtime", "?") + " was used"
else:
    wharf_id += f", binary built {build.get('binary-mtime', '?')}"
dv = f"Dovecot {build.get('dovecot', '?').split()[0]}"

# ---- long sessions and APPEND (issue 11)
LONG_OPS = ["FETCH-headers", "FETCH-body", "STORE", "APPEND", "EXPUNGE", "LIST", "STATUS"]


def parse_ops(kind, text):
    ops = {}
    for l in text.splitlines():
        m = re.match(rf"{kind}-op: (\S+) count=(\d+) per_s=([\d.]+) mean_ms=([\d.]+) p50_ms=([\d.]+) p99_ms=([\d.]+) failed=(\d+)", l)
        if m:
            ops[m.group(1)] = {"n": int(m.group(2)), "rate": float(m.group(3)), "mean": float(m.group(4)),
                               "p50": float(m.group(5)), "p99": float(m.group(6)), "failed": int(m.group(7))}
    head = next((l for l in text.splitlines() if l.startswith(f"{kind}:")), "")
    check = next((l for l in text.splitlines() if l.startswith(f"{kind}-check:")), "")
    k = kv(text)
    return {"ops": ops, "head": head, "check": check, "la": k.get("loadavg", "?"), "la_end": k.get("loadavg-end", "?"),
            "errors": [l for l in text.splitlines() if l.startswith(f"{kind}-error:") or l.startswith(f"{kind}-broken:")]}


def runs_of(kind):
    d = {"dovecot": [], "wharf": []}
    for s in d:
        r = 1
        while (out / f"{kind}-{s}-{r}.txt").exists():
            d[s].append(parse_ops(kind, read(f"{kind}-{s}-{r}.txt")))
            r += 1
    return d


def long_section(include_obs):
    L2 = []
    w2 = L2.append
    ls, ap, aps = runs_of("longsession"), runs_of("append"), runs_of("appendsel")
    if not (ls["dovecot"] or ap["dovecot"] or aps["dovecot"]):
        return ""
    w2("### Long sessions and APPEND (issue 11)\n")
    w2(f"{dv} and {wharf_id}; generated by `bench/imap/run.sh` on {now} (PHASES=\"{P.get('phases', 'longsession append')}\"); "
       f"machine: {machine()}; other agents were compiling on it at the same time (load averages below), so absolute "
       f"numbers are noisy; the servers were measured alternately, never at the same time.\n")
    if ls["dovecot"] and ls["wharf"]:
        w2(f"**Long sessions**: {P.get('long_clients')} clients, each logged in once for {P.get('long_secs')} s (no re-login), "
           f"{int(P.get('long_clients', 10)) // max(int(P.get('long_users', 1)), 1)} clients on each of {P.get('long_users')} shared INBOXes "
           f"({P.get('mailbox')} messages each at the start), so every client sees the others' EXISTS, EXPUNGE and FLAGS. "
           "Each round: `FETCH a:a+9 (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)])`, "
           "`FETCH x (UID BODY.PEEK[])`, `STORE x +FLAGS|-FLAGS (\\Flagged)`, `APPEND INBOX (\\Seen) {n+}`, then "
           "`UID STORE <its APPENDUID> +FLAGS.SILENT (\\Deleted)` and `UID EXPUNGE <uid>`, `LIST \"\" \"*\"`, "
           "`STATUS INBOX (MESSAGES UIDNEXT UNSEEN)` (a round started is finished, so each INBOX ends with the messages it "
           "began with: checked with STATUS after every run). All commands run in one fixed sequence per client, so the "
           "per-command rates move together; the per-command comparison is the mean latency (Dovecot's / Wharf's: above 1 "
           "means Wharf answers that command faster).\n")
        w2("| server | run | ops/s | rounds | failed | INBOXes consistent | load average (start; end) |")
        w2("|---|---|---|---|---|---|---|")
        for i in range(max(len(ls["dovecot"]), len(ls["wharf"]))):
            for s in ("dovecot", "wharf"):
                if i < len(ls[s]):
                    d = ls[s][i]
                    g = lambda k: (re.search(rf"\b{k}=([\w.]+)", d["head"]) or [None, "?"])[1]
                    cons = (re.search(r"consistent=(\w+)", d["check"]) or [None, "?"])[1]
                    w2(f"| {s.capitalize()} | {i + 1} | {g('ops_per_s')} | {g('rounds')} | {g('failed')} | {cons} | {d['la']}; {d['la_end']} |")
        w2("")
        w2("Per command, summed over the runs (rate = commands answered OK per second of run; mean, p50 and p99 latency in ms):\n")
        w2("| command | Dovecot rate/s | Wharf rate/s | rate Wharf/Dovecot | Dovecot mean / p50 / p99 | Wharf mean / p50 / p99 | speed (Dovecot mean / Wharf mean) |")
        w2("|---|---|---|---|---|---|---|")
        for o in LONG_OPS:
            agg = {}
            for s in ("dovecot", "wharf"):
                rs = [d["ops"][o] for d in ls[s] if o in d["ops"]]
                if not rs:
                    continue
                n = sum(r["n"] for r in rs)
                agg[s] = {"rate": statistics.mean(r["rate"] for r in rs),
                          "mean": sum(r["mean"] * r["n"] for r in rs) / max(n, 1),
                          "p50": statistics.median(r["p50"] for r in rs), "p99": max(r["p99"] for r in rs),
                          "failed": sum(r["failed"] for r in rs)}
            if len(agg) == 2:
                d, h = agg["dovecot"], agg["wharf"]
                w2(f"| {o} | {d['rate']:.1f} | {h['rate']:.1f} | {h['rate'] / max(d['rate'], 1e-9):.2f}x | "
                   f"{d['mean']:.2f} / {d['p50']:.2f} / {d['p99']:.2f} | {h['mean']:.2f} / {h['p50']:.2f} / {h['p99']:.2f} | "
                   f"**{d['mean'] / max(h['mean'], 1e-9):.2f}x** |")
        w2("")
    for kind, runs, how in (("append", ap, "the mailbox not selected"),
                            ("appendsel", aps, "every client has the mailbox selected, so each APPEND is news (EXISTS) to the other sessions on it")):
        if not (runs["dovecot"] and runs["wharf"]):
            continue
        w2(f"**Pure APPEND ({how})**: {P.get('append_clients')} clients, each logged in once, `APPEND \"{P.get('append_mailbox', 'Sent')}\" (\\Seen) {{n+}}` "
           f"(a 1.5-8 KB generated message) back to back for {P.get('append_secs')} s, spread over "
           f"{P.get('long_users')} users' mailboxes; checked after each run with STATUS that each mailbox grew by exactly "
           "the APPENDs answered OK.\n")
        w2("| server | run | APPEND/s | mean / p50 / p99 ms | failed | mailboxes consistent | load average (start; end) |")
        w2("|---|---|---|---|---|---|---|")
        for i in range(max(len(runs["dovecot"]), len(runs["wharf"]))):
            for s in ("dovecot", "wharf"):
                if i < len(runs[s]):
                    d = runs[s][i]
                    o = d["ops"].get("APPEND", {})
                    cons = (re.search(r"consistent=(\w+)", d["check"]) or [None, "?"])[1]
                    w2(f"| {s.capitalize()} | {i + 1} | {o.get('rate', 0):.1f} | {o.get('mean', 0):.2f} / {o.get('p50', 0):.2f} / "
                       f"{o.get('p99', 0):.2f} | {o.get('failed', '?')} | {cons} | {d['la']}; {d['la_end']} |")
        rd = [d["ops"]["APPEND"]["rate"] for d in runs["dovecot"] if "APPEND" in d["ops"]]
        rw = [d["ops"]["APPEND"]["rate"] for d in runs["wharf"] if "APPEND" in d["ops"]]
        if rd and rw:
            w2(f"\nMedian APPEND/s: Dovecot {med(rd):.1f}, Wharf {med(rw):.1f}: **{med(rw) / med(rd):.2f}x**.")
        w2("")
    for kind, runs in (("longsession", ls), ("append", ap), ("appendsel", aps)):
        for s in runs:
            errs = [e for d in runs[s] for e in d["errors"]]
            if errs:
                w2(f"{s.capitalize()} {kind} failures (first ones): " + "; ".join(f"`{e}`" for e in errs[:5]) + "\n")
    w2("```sh")
    w2(f"$G longsession --addr 127.0.0.1:PORT --users u --first 1 --count {P.get('long_users')} --pass bench-pw --clients {P.get('long_clients')} --secs {P.get('long_secs')}")
    w2(f"$G append      --addr 127.0.0.1:PORT --users u --first 1 --count {P.get('long_users')} --pass bench-pw --clients {P.get('append_clients')} --secs {P.get('append_secs')} --mailbox {P.get('append_mailbox', 'Sent')} [--select 1]")
    w2("```\n")
    obs = here / "observations.md"
    if include_obs and obs.exists():
        t = obs.read_text()
        m = re.search(r"^### Observations on long sessions.*?(?=^### |\Z)", t, re.M | re.S)
        if m:
            w2(m.group(0).rstrip() + "\n")
    return "\n".join(L2).rstrip() + "\n"


if os.environ.get("LONG_ONLY") == "1":
    # Only the long-session/APPEND subsection, spliced into the existing `## IMAP` section
    # (the other subsections keep the numbers of their own runs).
    sub = long_section(True)
    text = results.read_text()
    m = re.search(r"^## IMAP\s*$", text, re.M)
    if not m or not sub:
        sys.exit("no ## IMAP section in RESULTS, or no long-session/append results in OUT")
    nxt = re.search(r"^## ", text[m.end():], re.M)
    end = m.end() + nxt.start() if nxt else len(text)
    sec = text[m.start():end]
    old = re.search(r"^### Long sessions and APPEND \(issue 11\)\s*$.*?(?=^### |\Z)", sec, re.M | re.S)
    if old:
        sec = sec[: old.start()] + sub + "\n" + sec[old.end():]
    else:
        first = re.search(r"^### ", sec, re.M)
        at = first.start() if first else len(sec)
        sec = sec[:at] + sub + "\n" + sec[at:]
    results.write_text(text[: m.start()] + sec + text[end:])
    print(sub)
    sys.exit(0)


L = []
w = L.append
w("## IMAP\n")
w(f"IMAP (issue 4, Benchmark): {dv} (Debian `dovecot-imapd`, maildir, no full-text plugin) and {wharf_id}, "
  f"on the same mailboxes, over loopback, with the load generator `bench/imap` (Rust, tokio, its own Cargo "
  f"workspace). Generated by `bench/imap/run.sh` on {now}. Machine: {machine()}; other agents were "
  f"compiling and benchmarking on it at the same time (load averages below), so absolute numbers are "
  f"noisy; the servers were measured alternately, never at the same time.\n")

w("| | Dovecot | Wharf | Wharf / Dovecot | target |")
w("|---|---|---|---|---|")
if mix_med["dovecot"] and mix_med["wharf"]:
    w(f"| mixed workload, {P.get('clients')} clients: operations/s (median of {len(mixed['dovecot'])}/{len(mixed['wharf'])} runs) "
      f"| {mix_med['dovecot']:.1f} | {mix_med['wharf']:.1f} | {mix_med['wharf'] / mix_med['dovecot']:.2f}x | >= 1x |")
if "dovecot" in search and "wharf" in search and search["dovecot"]["median"] and search["wharf"]["median"]:
    d, h = search["dovecot"], search["wharf"]
    w(f"| `SEARCH BODY zebrafish` over {h['exists']} messages: s per search (median of {h['n']}) "
      f"| {d['median']:.3f} | {h['median']:.3f} | {d['median'] / h['median']:.2f}x as fast | >= 10x as fast |")
bw, bd = best_idle("wharf"), best_idle("dovecot")
if bw and bd:
    w(f"| idle connections in IDLE: resident memory per connection (largest N measured: Wharf {bw['ok']}, Dovecot {bd['ok']}) "
      f"| {per_conn(bd, 1):.0f} KiB PSS ({per_conn(bd, 0):.0f} KiB RSS) | {per_conn(bw, 0):.0f} KiB RSS | "
      f"{per_conn(bw, 0) / max(per_conn(bd, 1), 1):.2f}x (vs Dovecot's PSS) | < 64 KiB |")
ba = best_idle("wharf-arena1")
if ba:
    w(f"| (diagnostic) the same, Wharf with `MALLOC_ARENA_MAX=1`, N = {ba['ok']} | | {per_conn(ba, 0):.0f} KiB RSS | | |")
w("")

# mixed detail
ls_sub = long_section(False)
if ls_sub:
    w(ls_sub)
w("### Mixed workload\n")
w(f"Each of {P.get('clients')} clients is its own user (u1..u{P.get('clients')}@example.test, INBOX of {P.get('mailbox')} "
  f"generated messages of 1.5-8 KB) and loops, for {P.get('secs')} s, sessions of: connect, `LOGIN`, `SELECT INBOX`, then "
  f"{P.get('rounds')} rounds of [`FETCH a:a+9 (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)])`, "
  f"2 x `FETCH x (UID BODY.PEEK[])`, `STORE x +FLAGS (\\Seen \\Flagged)`, `APPEND INBOX (\\Seen) {{n+}}` (a new 1.5-8 KB message), "
  f"`STORE 1 +FLAGS.SILENT (\\Deleted)`, `EXPUNGE`], `LOGOUT` (x, a random message; the mailbox keeps its size). "
  f"An operation is one command with its tagged OK; a session that fails is counted as an error and the client starts a new one.\n")
w("| server | run | ops/s | ops | sessions | errors | load average at start |")
w("|---|---|---|---|---|---|---|")
order = []
for i in range(max(len(mixed["dovecot"]), len(mixed["wharf"]))):
    for s in ("dovecot", "wharf"):
        if i < len(mixed[s]):
            order.append((s, mixed[s][i]))
for s, d in order:
    w(f"| {s.capitalize()} | {d['run']} | {d['ops_s']:.1f} | {d['nops']} | {d['nsessions']} | {d['nerrors']} | {d['la']} |")
w("")
ops = ["LOGIN", "SELECT", "FETCH-headers", "FETCH-body", "STORE", "APPEND", "EXPUNGE", "LOGOUT"]
if mixed["dovecot"] and mixed["wharf"]:
    w("Mean latency per command (count / mean over all runs' clients, last run of each server):\n")
    w("| command | Dovecot | Wharf |")
    w("|---|---|---|")
    for o in ops:
        w(f"| {o} | {mixed['dovecot'][-1]['per'].get(o, '-')} | {mixed['wharf'][-1]['per'].get(o, '-')} |")
    w("")
long = {}
for s in ("dovecot", "wharf"):
    t = read(f"mixedlong-{s}.txt")
    m = re.search(r"ops_per_s=([\d.]+)", t)
    if m:
        line = next((l for l in t.splitlines() if l.startswith("mixed:")), "")
        long[s] = (float(m.group(1)), dict(re.findall(r" ([A-Za-z-]+)=(\d+/[\d.]+ms)", line)), kv(t).get("loadavg", "?"),
                   re.search(r"errors=(\d+)", line).group(1))
if len(long) == 2:
    rl = P.get("rounds_long", "50")
    w(f"The same with {rl} rounds per session (one LOGIN per {2 + 7 * int(rl) + 1} commands instead of one per "
      f"{2 + 7 * int(P.get('rounds', '5')) + 1}), one run each: Dovecot {long['dovecot'][0]:.1f} ops/s "
      f"(load average {long['dovecot'][2]}, errors {long['dovecot'][3]}), Wharf {long['wharf'][0]:.1f} ops/s "
      f"(load average {long['wharf'][2]}, errors {long['wharf'][3]}): **{long['wharf'][0] / long['dovecot'][0]:.2f}x**. Mean latency:\n")
    w("| command | Dovecot | Wharf |")
    w("|---|---|---|")
    for o in ops:
        w(f"| {o} | {long['dovecot'][1].get(o, '-')} | {long['wharf'][1].get(o, '-')} |")
    w("")
for s in mixed:
    errs = [e for d in mixed[s] for e in d["errors"]]
    if errs:
        w(f"{s.capitalize()} errors (first ones): " + "; ".join(f"`{e}`" for e in errs[:5]) + "\n")

w("### SEARCH BODY\n")
for s in ("dovecot", "wharf"):
    if s in search:
        d = search[s]
        w(f"- {s.capitalize()}: big@example.test INBOX with {d['exists']} messages; first search {d['first']} s, then "
          f"{d['n']} more: median {d['median']} s (min {d['min']}, max {d['max']}), {d['hits']} hits "
          f"(the word is in 1 message of 1000, as `Zebrafish`); load average {d['la']}.")
w("")
w("The same `SEARCH BODY zebrafish` in one selected session, after a `SELECT` (Dovecot builds or refreshes its index "
  "there); Dovecot without `fts` reads and scans every message file; Wharf answers from the body index its store keeps (FTS5 trigram over the decoded text, docs/imap.md, SEARCH).\n")

w("### Idle connections\n")
w("Connections spread over the u1..uN users; each does `LOGIN`, `SELECT INBOX`, `IDLE` and waits for the `+`; "
  "5 s after the last one idles, memory is sampled (Wharf: RSS of the wharf process; Dovecot: RSS and PSS summed "
  "over the master and every child: imap-login, auth, anvil, log, config, stats and one `imap` process per "
  "connection). Per connection = (with N idle - before) / N. Steps are taken in order and a step is skipped when, "
  "at the previous step's cost per connection, it would push the server past the memory cap or leave the "
  "machine with less than 4 GiB available.\n")
w("| server | N idle | before (RSS; PSS; processes) | with N idle | after they closed | per connection | load average |")
w("|---|---|---|---|---|---|---|")
for label in ("wharf", "dovecot", "wharf-arena1"):
    for r in idle.get(label, {}).get("rows", []):
        pc = f"{per_conn(r, 0):.0f} KiB RSS" + (f", {per_conn(r, 1):.0f} KiB PSS" if label == "dovecot" else "")
        fmt = lambda m: f"{mib(m[0])}; {mib(m[1])}; {m[2]}" if label == "dovecot" else mib(m[0])
        w(f"| {label} | {r['ok']} of {r['n']} | {fmt(r['base'])} | {fmt(r['loaded'])} | {fmt(r['after'])} | {pc} | {r['la']} |")
    for sk in idle.get(label, {}).get("skipped", []):
        w(f"| {label} | {sk['n']}: not run | server at {mib(sk['cur'])}, {mib(sk['avail'])} available | would need ~{mib(sk['need'])} ({sk['per']} KiB each) | | | |")
w("")

w("### Loading (APPEND), for the record\n")
for s in ("dovecot", "wharf"):
    a, b = load_line(f"load-small-{s}.txt"), load_line(f"load-big-{s}.txt")
    if a and b:
        w(f"- {s.capitalize()}: {a[0]} messages into {a[1]} mailboxes (4 connections per mailbox) in {a[2]} s ({a[3]}/s); "
          f"{b[0]} messages into one mailbox over 16 connections in {b[2]} s ({b[3]}/s).")
    big = read(f"load-big-{s}.txt")
    md = re.search(r"maildir: (\d+) messages into \S+ in ([\d.]+) s", big)
    ix = re.search(r"dovecot-index: ([\d.]+) s", big)
    if md:  # DOVECOT_BIG_LOAD=maildir
        w(f"- {s.capitalize()}: big@'s {md.group(1)} messages written straight into its maildir in {md.group(2)} s "
          f"(not APPEND; LF line ends as Dovecot stores them), then indexed by `doveadm mailbox status` in "
          f"{ix.group(1) if ix else '?'} s before anything was timed.")
    cu = re.search(r"wharf-index-catchup: ([\d.]+) s", big)
    if cu:
        w(f"- {s.capitalize()}: its body index caught up {cu.group(1)} s after loading ended (searches were timed after that).")
w("")

w("### How to run, and what was configured\n")
w("```sh")
w("sudo bench/imap/run.sh   # all phases, defaults: 32 clients, 200 messages each, 50000 in big@, IDLE steps 100 1000 5000")
w("sudo CLIENTS=8 MAILBOX_MSGS=50 BIG_MSGS=2000 IDLE_STEPS=100 RUNS=1 MIXED_SECS=5 bench/imap/run.sh   # a quick check")
w("```")
w(f"Parameters of this run: {params}. Commands (run.sh runs them; `G=target/release/imapbench`, Dovecot on 127.0.0.1:11143, Wharf on 127.0.0.1:12143):\n")
w("```sh")
w(f"$G load   --addr 127.0.0.1:PORT --users u --first 1 --count {P.get('clients')} --pass bench-pw --per-user {P.get('mailbox')} --conc 4")
w(f"$G load   --addr 127.0.0.1:PORT --user big@example.test --pass bench-pw --per-user {P.get('big')} --conc 16")
w(f"$G mixed  --addr 127.0.0.1:PORT --users u --first 1 --count {P.get('clients')} --pass bench-pw --secs {P.get('secs')} --rounds {P.get('rounds')}   # and --rounds {P.get('rounds_long')}")
w(f"$G search --addr 127.0.0.1:PORT --user big@example.test --pass bench-pw --word zebrafish --reps {P.get('reps')}")
w(f"$G idle   --addr 127.0.0.1:PORT --users u --first 1 --count {P.get('clients')} --pass bench-pw --conns N --par 16 --hold 3600 --ready-file F")
w("```")
w("- Same users and same password hashing on both: Wharf's Argon2id PHC strings (m=19456 KiB, t=2, p=1) are "
  "copied from its database into Dovecot's passwd-file as `{ARGON2ID}`; no auth cache on either (Dovecot's default "
  "`auth_cache_size = 0`).")
w("- Dovecot: a private instance (`dovecot -c $BENCH_DIR/dovecot/dovecot.conf`, own base_dir and maildirs) "
  "from `/work/shared/peers/SETUP.md` section 4 (passwd-file, static vmail userdb, maildir, auto-created special-use "
  "mailboxes, the quota plugin with `quota_max_mail_size = 50M`), `ssl = no` (Wharf's listener is plain too), and "
  "these limits raised for thousands of connections from one address: `default_process_limit = 10000`, "
  "`default_client_limit = 10500`, `service imap-login { service_count = 0; client_limit = 10000; "
  "process_min_avail = 2; vsz_limit = 1G }` (high-performance login mode), `service imap { process_limit = 10000; "
  "client_limit = 1 }` (Dovecot's standard one process per connection), `service anvil/auth { client_limit = 10500 }`, "
  "`protocol imap { mail_max_userip_connections = 10000 }` (default 10), and `ulimit -n` as high as allowed (20000 here). "
  "Dovecot's fsync default (`fsync_mode = optimized`) kept. No `imap_hibernate_timeout` (off by default).")
w("- Wharf: `wharf serve` with only `[listen] imap = [\"127.0.0.1:12143\"]`, `[limits] max_connections_per_ip = 0`, "
  "defaults otherwise, a fresh data_dir under /var/lib.")
w("")
obs = here / "observations.md"
if obs.exists():
    w(obs.read_text().rstrip() + "\n")

section = "\n".join(L).rstrip() + "\n"
text = results.read_text() if results.exists() else "# Wharf benchmarks\n"
m = re.search(r"^## IMAP\s*$", text, re.M)
if m:
    nxt = re.search(r"^## ", text[m.end():], re.M)
    end = m.end() + nxt.start() if nxt else len(text)
    text = text[: m.start()] + section + ("\n" if nxt else "") + text[end:]
else:
    text = text.rstrip() + "\n\n" + section
results.write_text(text)
print(section)
