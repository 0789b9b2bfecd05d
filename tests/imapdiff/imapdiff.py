"""Differential IMAP testing: replay transcripts against a server and compare its
answers, normalised, with answers recorded from Dovecot.

Standard library only. See docs/imap-dovecot-diff.md for the whole workflow; in short:

- `transcripts/*.imap` are the inputs (format below);
- `expected/*.txt` are Dovecot's normalised answers, written by
  `scripts/imapdiff-refresh-dovecot.sh` (which calls `record` here);
- `allow.txt` lists the differences that are known: each entry names a transcript line
  and says why (`deliberate`, `harmless`, or `known-bug #N`);
- tests/e2e/test_imap_dovecot_diff.py replays every transcript against Wharf and fails
  on every difference that `allow.txt` does not list.

Transcript format (one step per line, `#` starts a comment line):

    A: SELECT INBOX          session A sends `<tag> SELECT INBOX` (tags A1, A2, ... per
                             session) and reads up to that tag's completion, or up to a
                             `+` continuation request (IDLE, AUTHENTICATE)
    A! DONE                  session A sends the raw line (no tag) and keeps reading for
                             the command still pending
    = sleep 0.5              pause (seconds), e.g. to let IDLE notifications arrive

Sessions are named by one capital letter; each connects at its first step (the greeting
is part of that step's answer). Inside a line:

    {{text}}    a non-synchronizing literal `{n+}` holding text, with escapes
                \\r \\n \\t \\0 \\\\ \\xHH (nothing else is special)
    {{!text}}   a synchronizing literal `{n}`: waits for the `+` (recorded) first
    ~{{text}}   a literal8 `~{n+}` (RFC 3516), same escapes
    {{@name}}   the file messages/name, line ends made CRLF, as a literal
    $MODSEQ     the last MODSEQ / HIGHESTMODSEQ value this session received
    $UIDVALIDITY  the last UIDVALIDITY value this session received

Answers are recorded one step at a time, after normalisation (see `normalise`).
"""

import argparse
import dataclasses
import pathlib
import re
import socket
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
TRANSCRIPTS = HERE / "transcripts"
EXPECTED = HERE / "expected"
MESSAGES = HERE / "messages"
ALLOW = HERE / "allow.txt"

READ_TIMEOUT = 15.0
MAX_RESPONSE = 16 * 1024 * 1024

STEP_RE = re.compile(r"^([A-Z])([:!]) ?(.*)$")


# -- transcripts ---------------------------------------------------------------------


@dataclasses.dataclass
class Step:
    lineno: int
    session: str  # "A".."Z", or "" for a directive
    kind: str  # ":" tagged command, "!" raw line, "=" directive
    text: str

    def key(self) -> str:
        if self.kind == "=":
            return f"= {self.text}"
        return f"{self.session}{self.kind} {self.text}"


def parse_transcript(path: pathlib.Path) -> list:
    steps = []
    for i, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.rstrip()
        if not line or line.lstrip().startswith("#"):
            continue
        if line.startswith("="):
            steps.append(Step(i, "", "=", line[1:].strip()))
            continue
        m = STEP_RE.match(line)
        if not m:
            raise ValueError(f"{path.name}:{i}: not a step: {line!r}")
        steps.append(Step(i, m.group(1), m.group(2), m.group(3)))
    return steps


def unescape(text: str) -> bytes:
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            n = text[i + 1]
            simple = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\"}
            if n in simple:
                out += simple[n]
                i += 2
                continue
            if n == "x" and i + 3 < len(text):
                out.append(int(text[i + 2 : i + 4], 16))
                i += 4
                continue
        out += c.encode("utf-8")
        i += 1
    return bytes(out)


def message_file(name: str) -> bytes:
    data = (MESSAGES / name).read_bytes()
    if name.endswith(".bin"):
        return data  # sent exactly as stored (binary content, NULs, bare LFs)
    return re.sub(rb"\r?\n", b"\r\n", data)


LITERAL_RE = re.compile(r"(~?)\{\{(!?)(.*?)\}\}")


def render(text: str):
    """The command text as a list of parts: bytes to send, or ("sync", header) markers
    after which the sender waits for a continuation request."""
    parts = []
    pos = 0
    for m in LITERAL_RE.finditer(text):
        parts.append(text[pos : m.start()].encode("utf-8"))
        tilde, sync, body = m.group(1), m.group(2), m.group(3)
        data = message_file(body[1:]) if body.startswith("@") else unescape(body)
        if sync:
            parts.append(("sync", f"{tilde}{{{len(data)}}}\r\n".encode()))
        else:
            parts.append(f"{tilde}{{{len(data)}+}}\r\n".encode())
        parts.append(data)
        pos = m.end()
    parts.append(text[pos:].encode("utf-8") + b"\r\n")
    return parts


# -- the client ----------------------------------------------------------------------


class Conn:
    """One IMAP connection that reads whole responses (lines with their literals)."""

    def __init__(self, host: str, port: int):
        self.sock = socket.create_connection((host, port), timeout=READ_TIMEOUT)
        self.buf = b""
        self.last_modseq = None
        self.uidvalidity = None

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed by the server")
        self.buf += chunk
        if len(self.buf) > MAX_RESPONSE:
            raise ValueError("response too large")

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line + b"\r\n"

    def read_response(self) -> bytes:
        """One response: a line, and if it ends with a literal announcement, the literal
        and the rest of the response."""
        out = self._line()
        while True:
            m = re.search(rb"~?\{(\d+)\}\r\n$", out)
            if not m:
                return out
            n = int(m.group(1))
            while len(self.buf) < n:
                self._fill()
            out += self.buf[:n]
            self.buf = self.buf[n:]
            out += self._line()

    def send(self, data: bytes):
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def show(resp: bytes) -> str:
    """A response as one printable line: bytes outside printable ASCII/UTF-8 escaped."""
    body = resp[:-2] if resp.endswith(b"\r\n") else resp
    out = []
    for ch in body.decode("utf-8", errors="surrogateescape"):
        o = ord(ch)
        if ch == "\r":
            out.append("\\r")
        elif ch == "\n":
            out.append("\\n")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif 0xDC80 <= o <= 0xDCFF:  # a byte that is not UTF-8
            out.append(f"\\x{o - 0xDC00:02x}")
        else:
            out.append(ch)
    return "".join(out)


# -- normalisation -------------------------------------------------------------------

STATUS_RE = re.compile(r"^(\S+) (OK|NO|BAD|BYE|PREAUTH)(?: (\[[^\]]*\]))?(?: .*)?$", re.I)


def split_items(text: str):
    """Splits the inside of a parenthesised list into its top-level items (atoms,
    quoted strings, literals shown as `{n}\\r\\n...`, nested lists, `BODY[..]<..>`
    names). Returns None if the text does not parse (it is then left alone)."""
    items, i, n = [], 0, len(text)
    while i < n:
        if text[i] == " ":
            i += 1
            continue
        j = i
        depth = 0
        while j < n:
            c = text[j]
            if c == '"':
                j += 1
                while j < n and text[j] != '"':
                    j += 2 if text[j] == "\\" else 1
                j += 1
                continue
            if c == "{":
                m = re.match(r"\{(\d+)\}\\r\\n", text[j:])
                if m:
                    # the literal's bytes are shown escaped: skip by counting raw bytes
                    k = j + m.end()
                    left = int(m.group(1))
                    while left > 0 and k < n:
                        if text[k] == "\\" and text[k + 1 : k + 2] == "x":
                            k += 4
                        elif text[k] == "\\" and text[k + 1 : k + 2] in ("r", "n"):
                            k += 2
                        else:
                            left -= len(text[k].encode("utf-8"))
                            k += 1
                            continue
                        left -= 1
                    j = k
                    continue
            if c in "([":
                depth += 1
            elif c in ")]":
                depth -= 1
                if depth < 0:
                    return None
            elif c == " " and depth == 0:
                break
            j += 1
        items.append(text[i:j])
        i = j
    return items


def fetch_pairs(items):
    """FETCH data items as (name, value) pairs, or None."""
    if items is None or len(items) % 2:
        return None
    return [(items[k], items[k + 1]) for k in range(0, len(items), 2)]


class Normaliser:
    """Maps what legitimately differs between two servers to placeholders:
    response text after the status code, capability lists, ID, UIDVALIDITY,
    INTERNALDATE, MODSEQ values (their absolute numbers are each server's own: Dovecot
    gives one APPEND batch one modseq, Wharf one per message), the order of flags in a
    flag list and of items in a FETCH or STATUS response (not significant, RFC 9051 §7.5.2), and the
    case of MIME tokens."""

    def line(self, s: str) -> str:
        # free-form text after the status code (greeting, BYE, tagged replies)
        m = STATUS_RE.match(s)
        if m and not s.startswith("+"):
            s = f"{m.group(1)} {m.group(2).upper()}" + (f" {m.group(3)}" if m.group(3) else "")
        if s.startswith("+"):
            s = "+ <continue>"
        s = re.sub(r"^\* CAPABILITY .*", "* CAPABILITY <caps>", s)
        s = re.sub(r"\[CAPABILITY [^\]]*\]", "[CAPABILITY <caps>]", s)
        s = re.sub(r"^\* ID .*", "* ID <id>", s)
        s = re.sub(r"(UIDVALIDITY )\d+", r"\1<v>", s)
        s = re.sub(r"\[(APPENDUID|COPYUID) \d+", r"[\1 <v>", s)
        s = re.sub(r'INTERNALDATE "[^"]*"', 'INTERNALDATE "<date>"', s)
        s = re.sub(r"((?:HIGHESTMODSEQ|MODSEQ) \(?)\d+", r"\1<n>", s)
        s = re.sub(r"(\(MODSEQ )\d+", r"\1<n>", s)
        # MIME tokens are case-insensitive (RFC 2045 §6.1): "7BIT" is "7bit"
        s = re.sub(
            r'"(7bit|8bit|binary|base64|quoted-printable)"',
            lambda m: f'"{m.group(1).lower()}"',
            s,
            flags=re.I,
        )
        # flag lists: order is not significant
        s = re.sub(
            r"((?:FLAGS|PERMANENTFLAGS) \()([^()]*)\)",
            lambda m: m.group(1) + " ".join(sorted(m.group(2).split(), key=str.lower)) + ")",
            s,
        )
        # STATUS items: order is not significant
        m = re.match(r"^(\* STATUS .* \()([^()]*)\)$", s)
        if m:
            pairs = fetch_pairs(m.group(2).split())
            if pairs:
                pairs.sort()
                s = m.group(1) + " ".join(f"{k} {v}" for k, v in pairs) + ")"
        # FETCH items: order is not significant
        m = re.match(r"^(\* \d+ FETCH \()(.*)\)$", s)
        if m:
            pairs = fetch_pairs(split_items(m.group(2)))
            if pairs:
                pairs.sort(key=lambda p: p[0].upper())
                s = m.group(1) + " ".join(f"{k} {v}" for k, v in pairs) + ")"
        return s

    def answer(self, lines: list) -> list:
        """Normalised lines of one step; runs of LIST / LSUB lines sorted (their order
        is not specified by RFC 9051 §7.3.1)."""
        out = [self.line(x) for x in lines]
        i = 0
        while i < len(out):
            j = i
            while j < len(out) and re.match(r"\* (LIST|LSUB) ", out[j]):
                j += 1
            if j > i + 1:
                out[i:j] = sorted(out[i:j])
            i = max(j, i + 1)
        return out


def capture(conn: Conn, text: str):
    """Remembers the values a transcript may quote back ($MODSEQ, $UIDVALIDITY)."""
    for m in re.finditer(r"(?:HIGHESTMODSEQ|MODSEQ) \(?(\d+)", text):
        conn.last_modseq = m.group(1)
    for m in re.finditer(r"UIDVALIDITY (\d+)", text):
        conn.uidvalidity = m.group(1)


# -- replay --------------------------------------------------------------------------


@dataclasses.dataclass
class Answer:
    step: Step
    lines: list  # normalised response lines


def replay(path: pathlib.Path, host: str, port: int) -> list:
    """Replays one transcript against host:port; returns one Answer per step."""
    steps = parse_transcript(path)
    conns = {}
    pending = {}  # session -> tag of a command waiting for its completion
    counters = {}
    norm = Normaliser()
    answers = []
    try:
        for step in steps:
            if step.kind == "=":
                word, _, arg = step.text.partition(" ")
                if word != "sleep":
                    raise ValueError(f"{path.name}:{step.lineno}: unknown directive {word}")
                time.sleep(float(arg))
                answers.append(Answer(step, []))
                continue
            got = []
            conn = conns.get(step.session)
            if conn is None:
                conn = conns[step.session] = Conn(host, port)
                got.append(conn.read_response())
            text = step.text.replace("$MODSEQ", conn.last_modseq or "0")
            text = text.replace("$UIDVALIDITY", conn.uidvalidity or "0")
            if step.kind == ":":
                counters[step.session] = counters.get(step.session, 0) + 1
                tag = f"{step.session}{counters[step.session]}"
                parts = render(text)
                parts[0] = f"{tag} ".encode() + parts[0]
                pending[step.session] = tag
            else:
                tag = pending.get(step.session)
                parts = render(text)
            try:
                for part in parts:
                    if isinstance(part, tuple):
                        conn.send(part[1])
                        resp = conn.read_response()
                        got.append(resp)
                        if not resp.startswith(b"+"):
                            pending.pop(step.session, None)
                            break
                        continue
                    conn.send(part)
                else:
                    got += read_until(conn, tag)
                    if tag is not None and not got[-1].startswith(b"+"):
                        pending.pop(step.session, None)
            except (EOFError, OSError, socket.timeout) as e:
                got.append(f"<connection: {type(e).__name__}>".encode())
                conn.close()
                conns.pop(step.session, None)
                pending.pop(step.session, None)
            shown = [show(r) for r in got]
            for s in shown:
                capture(conn, s)
            answers.append(Answer(step, norm.answer(shown)))
            if step.kind == ":" and re.match(r"(?i)logout\b", text):
                conn.close()
                conns.pop(step.session, None)
    finally:
        for c in conns.values():
            c.close()
    return answers


def read_until(conn: Conn, tag):
    """Responses up to the tagged completion of `tag`, or a continuation request."""
    got = []
    while True:
        r = conn.read_response()
        got.append(r)
        if r.startswith(b"+"):
            return got
        if tag is not None and r.startswith(tag.encode() + b" "):
            return got
        if tag is None and not r.startswith(b"*"):
            return got


# -- recorded answers ----------------------------------------------------------------


def format_answers(answers: list) -> str:
    out = []
    for a in answers:
        out.append(f"== {a.step.lineno} {a.step.key()}")
        out += a.lines
    return "\n".join(out) + "\n"


def parse_answers(text: str) -> dict:
    """lineno -> (step key, lines)."""
    res = {}
    cur = None
    for line in text.splitlines():
        m = re.match(r"^== (\d+) (.*)$", line)
        if m:
            cur = int(m.group(1))
            res[cur] = (m.group(2), [])
        elif cur is not None:
            res[cur][1].append(line)
    return res


@dataclasses.dataclass
class Difference:
    transcript: str
    lineno: int
    key: str
    expected: list
    actual: list

    def where(self) -> str:
        return f"{self.transcript}:{self.lineno}"

    def __str__(self):
        exp = "\n".join("    dovecot| " + x for x in self.expected) or "    dovecot| (nothing)"
        act = "\n".join("    wharf  | " + x for x in self.actual) or "    wharf  | (nothing)"
        return f"{self.where()} {self.key}\n{exp}\n{act}"


def _without_uid(line: str) -> str:
    m = re.match(r"^(\* \d+ FETCH \()(.*)\)$", line)
    if not m:
        return line
    pairs = fetch_pairs(split_items(m.group(2)))
    if not pairs:
        return line
    return m.group(1) + " ".join(f"{k} {v}" for k, v in pairs if k.upper() != "UID") + ")"


def same_answer(expected: list, actual: list) -> bool:
    """Equal, or equal but for a `UID n` item that one server adds to an unsolicited or
    STORE-caused FETCH response and the other leaves out (RFC 9051 §7.5.2 lets a server
    send more data items than asked for; Wharf always adds UID, as RFC 7162 §3.2 asks
    once CONDSTORE is on)."""
    if expected == actual:
        return True
    if len(expected) != len(actual):
        return False
    return all(e == a or _without_uid(e) == _without_uid(a) for e, a in zip(expected, actual))


def compare(name: str, expected_text: str, answers: list) -> list:
    exp = parse_answers(expected_text)
    diffs = []
    seen = set()
    for a in answers:
        seen.add(a.step.lineno)
        e = exp.get(a.step.lineno)
        if e is None or e[0] != a.step.key():
            diffs.append(Difference(name, a.step.lineno, a.step.key(), ["<not recorded: refresh expected/>"], a.lines))
        elif not same_answer(e[1], a.lines):
            diffs.append(Difference(name, a.step.lineno, a.step.key(), e[1], a.lines))
    for lineno, (key, lines) in exp.items():
        if lineno not in seen:
            diffs.append(Difference(name, lineno, key, lines, ["<step no longer in the transcript>"]))
    return diffs


@dataclasses.dataclass
class Allowed:
    where: str  # transcript:lineno
    key: str  # the step as written, checked against the transcript
    kind: str  # deliberate | harmless | known-bug
    reason: str
    line: int  # line in allow.txt


def load_allow(path: pathlib.Path = ALLOW) -> dict:
    """allow.txt: blocks of

        transcript.imap:LINE  A: the step as written
          kind: known-bug #11 | deliberate | harmless
          why: one or more lines of reason
    """
    entries = {}
    cur = None
    for i, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip() or raw.startswith("#"):
            continue
        if not raw.startswith(" "):
            where, _, key = raw.partition("  ")
            cur = Allowed(where.strip(), key.strip(), "", "", i)
            if cur.where in entries:
                raise ValueError(f"allow.txt:{i}: {cur.where} listed twice")
            entries[cur.where] = cur
            continue
        field, _, value = raw.strip().partition(":")
        if cur is None:
            raise ValueError(f"allow.txt:{i}: field before an entry")
        if field == "kind":
            cur.kind = value.strip()
        elif field == "why":
            cur.reason += value.strip()
        else:
            cur.reason += " " + raw.strip()
    for e in entries.values():
        k = e.kind.split()[0] if e.kind else ""
        if k not in ("deliberate", "harmless", "known-bug") or not e.reason:
            raise ValueError(f"allow.txt:{e.line}: {e.where} needs a kind and a why")
        if k == "known-bug" and not re.search(r"#\d+", e.kind):
            raise ValueError(f"allow.txt:{e.line}: a known-bug names its issue (#N)")
    return entries


def check_allow_keys(entries: dict) -> list:
    """Problems with allow.txt itself: entries whose transcript line is not the step they
    name (the transcript was edited; the entry must follow)."""
    problems = []
    for e in entries.values():
        name, _, lineno = e.where.rpartition(":")
        path = TRANSCRIPTS / name
        if not path.exists():
            problems.append(f"allow.txt:{e.line}: no transcript {name}")
            continue
        steps = {s.lineno: s.key() for s in parse_transcript(path)}
        if steps.get(int(lineno)) != e.key:
            problems.append(f"allow.txt:{e.line}: {e.where} is {steps.get(int(lineno))!r}, not {e.key!r}")
    return problems


def transcripts(names=None) -> list:
    paths = sorted(TRANSCRIPTS.glob("*.imap"))
    if names:
        paths = [p for p in paths if p.name in names or p.stem in names]
    return paths


# -- command line --------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("record", "diff", "show"):
        p = sub.add_parser(name)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, required=True)
        p.add_argument(
            "--reset",
            default="",
            help="shell command run before each transcript (fresh accounts)",
        )
        p.add_argument("names", nargs="*", help="transcripts (default: all)")
    args = ap.parse_args(argv)
    import subprocess

    status = 0
    allow = load_allow() if args.cmd == "diff" else {}
    for path in transcripts(args.names):
        if args.reset:
            subprocess.run(args.reset, shell=True, check=True)
        answers = replay(path, args.host, args.port)
        text = format_answers(answers)
        if args.cmd == "record":
            EXPECTED.mkdir(exist_ok=True)
            (EXPECTED / (path.stem + ".txt")).write_text(text, encoding="utf-8")
            print(f"recorded {path.name}: {len(answers)} steps")
        elif args.cmd == "show":
            sys.stdout.write(text)
        else:
            exp = (EXPECTED / (path.stem + ".txt")).read_text(encoding="utf-8")
            for d in compare(path.name, exp, answers):
                e = allow.get(d.where())
                tag = f"[allowed: {e.kind}]" if e else "[NOT ALLOWED]"
                if not e:
                    status = 1
                print(f"{tag} {d}")
    return status


if __name__ == "__main__":
    sys.exit(main())
