//! `imapbench`: the IMAP load generator of `bench/imap/run.sh` (issue 4, Benchmark).
//!
//! Plain-TCP IMAP client, one tokio task per connection, no IMAP library (the few
//! response shapes it needs are parsed by hand: tagged status, `* n EXISTS`,
//! `* n EXPUNGE`, `* SEARCH`, literals `{n}` in responses). Subcommands:
//!
//! - `load`: APPENDs deterministic generated messages (message `i` is the same bytes for
//!   every server) into the INBOX of one or more users, several connections at a time.
//! - `mixed`: N concurrent clients, each its own user, for a duration; every client loops
//!   sessions of LOGIN, SELECT, then rounds of FETCH headers (10 messages), FETCH 2 bodies,
//!   STORE flags, APPEND, STORE \Deleted + EXPUNGE (the mailbox keeps its size), LOGOUT.
//!   Reports commands (operations) per second and per-command latency.
//! - `longsession` (issue 11): C clients over fewer mailboxes (several on each, so each
//!   sees the others' changes), each logged in once for the whole run: FETCH headers,
//!   FETCH body, STORE, APPEND, UID STORE \Deleted + UID EXPUNGE of that message, LIST,
//!   STATUS; per-command rate, mean, p50, p99; checks the INBOXes end as they began.
//! - `append`: C clients logged in once, APPENDing to a mailbox (optionally selected by
//!   all of them) for a duration; checks
//!   each mailbox grew by exactly the APPENDs answered OK.
//! - `search`: SELECT a mailbox, then times `SEARCH BODY <word>` several times.
//! - `maildir`: writes the same generated messages straight into a maildir (Dovecot's
//!   store), for loading large mailboxes without Dovecot's slow APPEND.
//! - `idle`: opens C connections (LOGIN, SELECT, IDLE), touches a ready file when all
//!   are idling, holds them, then DONE + LOGOUT.
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

// ---- messages ----------------------------------------------------------------------------

struct Rng(u64);
impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Syllables of the filler words: no 'z', so the marker word
/// "Zebrafish" cannot appear by chance.
const SYL: &[&str] = &[
    "ka", "lo", "mi", "nu", "pe", "ra", "si", "to", "va", "wi", "da", "fo", "gu", "ha", "jo", "ti",
    "mar", "len", "dor", "sal", "qui", "bri", "tom", "cas", "ner", "vil", "pan", "rho",
];

fn word(rng: &mut Rng, out: &mut String) {
    for _ in 0..(2 + rng.below(3)) {
        out.push_str(SYL[rng.below(SYL.len() as u64) as usize]);
    }
}

/// Message `i` (1-based) of a generated set: ~1.5-8 KB of text, CRLF line ends. Every
/// message whose index is 7 mod 1000 has the word "Zebrafish" in the middle of its body.
fn message(i: u64) -> Vec<u8> {
    let mut rng = Rng::new(i + 1);
    let mut subj = String::new();
    for _ in 0..4 {
        word(&mut rng, &mut subj);
        subj.push(' ');
    }
    let day = 1 + (i % 28);
    let mut m = format!(
        "Return-Path: <sender{s}@remote.test>\r\nFrom: Sender {s} <sender{s}@remote.test>\r\n\
         To: Bench User <user@example.test>\r\nSubject: {subj}#{i}\r\n\
         Date: Mon, {day} Nov 2026 10:{mm:02}:{ss:02} +0000\r\n\
         Message-ID: <bench-{i}@remote.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n",
        s = i % 97,
        mm = i % 60,
        ss = (i / 60) % 60,
    );
    let lines = 20 + rng.below(100);
    let marker_line = if i % 1000 == 7 { lines / 2 } else { u64::MAX };
    for l in 0..lines {
        let mut line = String::new();
        for w in 0..(6 + rng.below(6)) {
            if w > 0 {
                line.push(' ');
            }
            if l == marker_line && w == 3 {
                line.push_str("Zebrafish");
            } else {
                word(&mut rng, &mut line);
            }
        }
        line.push_str(".\r\n");
        m.push_str(&line);
    }
    m.into_bytes()
}

// ---- client ------------------------------------------------------------------------------

struct Client {
    r: BufReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
    tag: u64,
    exists: u64,
    /// Last `* SEARCH` line, if any, of the last command.
    search: Option<String>,
    /// Last `* STATUS` line, if any, of the last command.
    status: Option<String>,
    /// The tagged reply line of the last command (for `[APPENDUID v uid]`).
    tagged: String,
    line: Vec<u8>,
}

fn err(msg: String) -> io::Error {
    io::Error::other(msg)
}

/// `{n}` or `{n+}` at the end of a response line (without CRLF).
fn literal_len(line: &[u8]) -> Option<usize> {
    let l = line.strip_suffix(b"}")?;
    let open = l.iter().rposition(|&b| b == b'{')?;
    let n = &l[open + 1..];
    let n = n.strip_suffix(b"+").unwrap_or(n);
    std::str::from_utf8(n).ok()?.parse().ok()
}

fn trim_crlf(l: &[u8]) -> &[u8] {
    let l = l.strip_suffix(b"\n").unwrap_or(l);
    l.strip_suffix(b"\r").unwrap_or(l)
}

impl Client {
    async fn connect(addr: &str) -> io::Result<Client> {
        let s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        let (r, w) = s.into_split();
        let mut c = Client {
            r: BufReader::with_capacity(16384, r),
            w,
            tag: 0,
            exists: 0,
            search: None,
            status: None,
            tagged: String::new(),
            line: Vec::new(),
        };
        c.read_line().await?;
        if !c.line.starts_with(b"* OK") {
            return Err(err(format!(
                "greeting: {}",
                String::from_utf8_lossy(&c.line)
            )));
        }
        Ok(c)
    }

    async fn read_line(&mut self) -> io::Result<()> {
        self.line.clear();
        let n = self.r.read_until(b'\n', &mut self.line).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed the connection",
            ));
        }
        Ok(())
    }

    /// Sends `tag cmd` (with a LITERAL+ literal if given) and reads to the tagged reply.
    /// Ok(()) only for a tagged OK.
    async fn cmd(&mut self, cmd: &str, literal: Option<&[u8]>) -> io::Result<()> {
        self.tag += 1;
        let tag = format!("a{}", self.tag);
        let mut out = Vec::with_capacity(cmd.len() + 32 + literal.map_or(0, |l| l.len()));
        out.extend_from_slice(tag.as_bytes());
        out.push(b' ');
        out.extend_from_slice(cmd.as_bytes());
        if let Some(lit) = literal {
            out.extend_from_slice(format!(" {{{}+}}\r\n", lit.len()).as_bytes());
            out.extend_from_slice(lit);
        }
        out.extend_from_slice(b"\r\n");
        self.w.write_all(&out).await?;
        self.search = None;
        self.status = None;
        self.read_to_tag(&tag).await
    }

    async fn read_to_tag(&mut self, tag: &str) -> io::Result<()> {
        let mut skip = Vec::new();
        loop {
            self.read_line().await?;
            let first = trim_crlf(&self.line).to_vec();
            // skip literals of this response
            let mut cur = first.clone();
            while let Some(n) = literal_len(&cur) {
                skip.resize(n, 0);
                self.r.read_exact(&mut skip[..n]).await?;
                self.read_line().await?;
                cur = trim_crlf(&self.line).to_vec();
            }
            if let Some(rest) = first.strip_prefix(b"* ") {
                let s = String::from_utf8_lossy(rest);
                let mut it = s.split(' ');
                let a = it.next().unwrap_or("");
                let b = it.next().unwrap_or("");
                if let Ok(n) = a.parse::<u64>() {
                    if b.eq_ignore_ascii_case("EXISTS") {
                        self.exists = n;
                    } else if b.eq_ignore_ascii_case("EXPUNGE") {
                        self.exists = self.exists.saturating_sub(1);
                    }
                } else if a.eq_ignore_ascii_case("SEARCH") || a.eq_ignore_ascii_case("ESEARCH") {
                    self.search = Some(s.to_string());
                } else if a.eq_ignore_ascii_case("STATUS") {
                    self.status = Some(s.to_string());
                } else if a.eq_ignore_ascii_case("BYE") {
                    // The tagged reply may still follow (LOGOUT).
                }
                continue;
            }
            if first.starts_with(b"+") {
                return Err(err(format!(
                    "unexpected continuation: {}",
                    String::from_utf8_lossy(&first)
                )));
            }
            if let Some(rest) = first.strip_prefix(tag.as_bytes()) {
                self.tagged = String::from_utf8_lossy(rest).into_owned();
                if rest.len() >= 3 && rest[1..3].eq_ignore_ascii_case(b"OK") {
                    return Ok(());
                }
                return Err(err(format!("{}", String::from_utf8_lossy(&first))));
            }
            // untagged of another form: ignore
        }
    }

    async fn login(&mut self, user: &str, pass: &str) -> io::Result<()> {
        self.cmd(&format!("LOGIN \"{user}\" \"{pass}\""), None)
            .await
    }
}

// ---- args --------------------------------------------------------------------------------

struct Args(HashMap<String, String>);
impl Args {
    fn parse(v: &[String]) -> Args {
        let mut m = HashMap::new();
        let mut i = 0;
        while i < v.len() {
            if let Some(k) = v[i].strip_prefix("--") {
                let val = v.get(i + 1).cloned().unwrap_or_default();
                m.insert(k.to_string(), val);
                i += 2;
            } else {
                i += 1;
            }
        }
        Args(m)
    }
    fn s(&self, k: &str, d: &str) -> String {
        self.0.get(k).cloned().unwrap_or_else(|| d.to_string())
    }
    fn n(&self, k: &str, d: u64) -> u64 {
        self.0.get(k).and_then(|v| v.parse().ok()).unwrap_or(d)
    }
}

/// `--users PREFIX --first A --count N` -> PREFIX{A}@example.test ... ; or `--user ADDR`.
fn users(a: &Args) -> Vec<String> {
    if let Some(u) = a.0.get("user") {
        return vec![u.clone()];
    }
    let p = a.s("users", "u");
    let first = a.n("first", 1);
    (first..first + a.n("count", 1))
        .map(|i| format!("{p}{i}@{}", a.s("domain", "example.test")))
        .collect()
}

// ---- load --------------------------------------------------------------------------------

async fn load(a: Args) -> io::Result<()> {
    let addr = a.s("addr", "127.0.0.1:143");
    let pass = a.s("pass", "bench-pw");
    let per_user = a.n("per-user", 100);
    let conc = a.n("conc", 8).max(1);
    let users = users(&a);
    let t0 = Instant::now();
    let mut total = 0u64;
    for user in &users {
        let next = Arc::new(AtomicU64::new(1));
        let mut tasks = Vec::new();
        for _ in 0..conc.min(per_user) {
            let (addr, user, pass, next) = (addr.clone(), user.clone(), pass.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let mut c = Client::connect(&addr).await?;
                c.login(&user, &pass).await?;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i > per_user {
                        break;
                    }
                    let m = message(i);
                    c.cmd("APPEND INBOX", Some(&m))
                        .await
                        .map_err(|e| err(format!("APPEND {i} to {user}: {e}")))?;
                }
                c.cmd("LOGOUT", None).await?;
                Ok::<_, io::Error>(())
            }));
        }
        for t in tasks {
            t.await.map_err(|e| err(e.to_string()))??;
        }
        total += per_user;
    }
    let s = t0.elapsed().as_secs_f64();
    println!(
        "load: {total} messages into {} mailbox(es) in {s:.1} s ({:.0}/s)",
        users.len(),
        total as f64 / s
    );
    Ok(())
}

// ---- mixed -------------------------------------------------------------------------------

const OPS: &[&str] = &[
    "LOGIN",
    "SELECT",
    "FETCH-headers",
    "FETCH-body",
    "STORE",
    "APPEND",
    "EXPUNGE",
    "LOGOUT",
];

#[derive(Default)]
struct Stats {
    count: [AtomicU64; 8],
    micros: [AtomicU64; 8],
    errors: AtomicU64,
    sessions: AtomicU64,
    first_errors: Mutex<Vec<String>>,
}

impl Stats {
    fn record(&self, op: usize, t: Instant) {
        self.count[op].fetch_add(1, Ordering::Relaxed);
        self.micros[op].fetch_add(t.elapsed().as_micros() as u64, Ordering::Relaxed);
    }
    fn error(&self, e: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut v = self.first_errors.lock().unwrap_or_else(|p| p.into_inner());
        if v.len() < 10 {
            v.push(e);
        }
    }
}

async fn session(
    addr: &str,
    user: &str,
    pass: &str,
    rounds: u64,
    rng: &mut Rng,
    st: &Stats,
) -> io::Result<()> {
    macro_rules! op {
        ($i:expr, $e:expr) => {{
            let t = Instant::now();
            $e.await.map_err(|e| err(format!("{}: {e}", OPS[$i])))?;
            st.record($i, t);
        }};
    }
    let mut c = Client::connect(addr).await?;
    op!(0, c.login(user, pass));
    op!(1, c.cmd("SELECT INBOX", None));
    for _ in 0..rounds {
        let n = c.exists.max(1);
        let a = 1 + rng.below(n);
        let b = (a + 9).min(n);
        op!(2, c.cmd(&format!("FETCH {a}:{b} (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)])"), None));
        for _ in 0..2 {
            let x = 1 + rng.below(n);
            op!(3, c.cmd(&format!("FETCH {x} (UID BODY.PEEK[])"), None));
        }
        let x = 1 + rng.below(n);
        op!(
            4,
            c.cmd(&format!("STORE {x} +FLAGS (\\Seen \\Flagged)"), None)
        );
        let m = message(1_000_000 + rng.below(1_000_000));
        op!(5, c.cmd("APPEND INBOX (\\Seen)", Some(&m)));
        op!(4, c.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)", None));
        op!(6, c.cmd("EXPUNGE", None));
    }
    op!(7, c.cmd("LOGOUT", None));
    Ok(())
}

async fn mixed(a: Args) -> io::Result<()> {
    let addr = a.s("addr", "127.0.0.1:143");
    let pass = a.s("pass", "bench-pw");
    let secs = a.n("secs", 30);
    let rounds = a.n("rounds", 5);
    let users = users(&a);
    let st = Arc::new(Stats::default());
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for (k, user) in users.iter().enumerate() {
        let (addr, user, pass, st) = (addr.clone(), user.clone(), pass.clone(), st.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(k as u64 * 7919 + 13);
            while Instant::now() < deadline {
                match session(&addr, &user, &pass, rounds, &mut rng, &st).await {
                    Ok(()) => {
                        st.sessions.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        st.error(format!("{user}: {e}"));
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let s = t0.elapsed().as_secs_f64();
    let total: u64 = st.count.iter().map(|c| c.load(Ordering::Relaxed)).sum();
    let mut per = String::new();
    for (i, name) in OPS.iter().enumerate() {
        let n = st.count[i].load(Ordering::Relaxed);
        let us = st.micros[i].load(Ordering::Relaxed);
        per.push_str(&format!(
            " {name}={n}/{:.2}ms",
            if n > 0 {
                us as f64 / n as f64 / 1000.0
            } else {
                0.0
            }
        ));
    }
    println!(
        "mixed: clients={} secs={s:.2} ops={total} ops_per_s={:.1} sessions={} errors={} per-op(count/mean latency):{per}",
        users.len(),
        total as f64 / s,
        st.sessions.load(Ordering::Relaxed),
        st.errors.load(Ordering::Relaxed)
    );
    for e in st
        .first_errors
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
    {
        println!("mixed-error: {e}");
    }
    Ok(())
}

// ---- long sessions (issue 11) ------------------------------------------------------------

const LONG_OPS: &[&str] = &[
    "FETCH-headers",
    "FETCH-body",
    "STORE",
    "APPEND",
    "EXPUNGE",
    "LIST",
    "STATUS",
];

/// Per-command counts, latencies (µs, every sample, for percentiles) and failures.
struct OpStats {
    lat: Vec<Vec<u32>>,
    fails: Vec<u64>,
    first_errors: Vec<String>,
}

impl OpStats {
    fn new(n: usize) -> OpStats {
        OpStats {
            lat: vec![Vec::new(); n],
            fails: vec![0; n],
            first_errors: Vec::new(),
        }
    }
    fn merge(&mut self, o: OpStats) {
        for (a, b) in self.lat.iter_mut().zip(o.lat) {
            a.extend(b);
        }
        for (a, b) in self.fails.iter_mut().zip(o.fails) {
            *a += b;
        }
        for e in o.first_errors {
            if self.first_errors.len() < 10 {
                self.first_errors.push(e);
            }
        }
    }
    /// Times one command; a tagged NO/BAD is counted as a failure of that command and
    /// the session goes on; a broken connection ends it.
    async fn time(
        &mut self,
        op: usize,
        names: &[&str],
        r: io::Result<()>,
        t: Instant,
    ) -> io::Result<bool> {
        match r {
            Ok(()) => {
                self.lat[op].push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::Other => {
                self.fails[op] += 1;
                if self.first_errors.len() < 10 {
                    self.first_errors.push(format!("{}: {e}", names[op]));
                }
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
    /// One line per command: `name count rate/s mean p50 p99 failures`.
    fn print(&self, kind: &str, names: &[&str], secs: f64) {
        for (i, name) in names.iter().enumerate() {
            let mut v = self.lat[i].clone();
            v.sort_unstable();
            let n = v.len();
            let mean = if n > 0 {
                v.iter().map(|&x| x as f64).sum::<f64>() / n as f64 / 1000.0
            } else {
                0.0
            };
            let pct = |p: f64| {
                if n == 0 {
                    0.0
                } else {
                    v[((n as f64 * p) as usize).min(n - 1)] as f64 / 1000.0
                }
            };
            println!(
                "{kind}-op: {name} count={n} per_s={:.1} mean_ms={mean:.2} p50_ms={:.2} p99_ms={:.2} failed={}",
                n as f64 / secs,
                pct(0.5),
                pct(0.99),
                self.fails[i]
            );
        }
        for e in &self.first_errors {
            println!("{kind}-error: {e}");
        }
    }
}

/// `[APPENDUID v uid]` of a tagged OK.
fn appenduid(tagged: &str) -> Option<u32> {
    let i = tagged.find("APPENDUID ")?;
    let rest = &tagged[i + "APPENDUID ".len()..];
    let uid = rest.split(' ').nth(1)?;
    uid.trim_end_matches(']').parse().ok()
}

/// `MESSAGES n` of the last `* STATUS` line.
fn status_messages(c: &Client) -> Option<u64> {
    let s = c.status.as_deref()?;
    let i = s.find("MESSAGES ")?;
    s[i + "MESSAGES ".len()..]
        .split(|ch: char| !ch.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// MESSAGES of one mailbox of each user, in one session per user.
async fn counts(addr: &str, users: &[String], pass: &str, mailbox: &str) -> io::Result<Vec<u64>> {
    let mut v = Vec::new();
    for u in users {
        let mut c = Client::connect(addr).await?;
        c.login(u, pass).await?;
        c.cmd(&format!("STATUS \"{mailbox}\" (MESSAGES)"), None)
            .await?;
        v.push(status_messages(&c).ok_or_else(|| err(format!("no STATUS for {u}")))?);
        c.cmd("LOGOUT", None).await?;
    }
    Ok(v)
}

/// One long session: LOGIN and SELECT once, then rounds until the deadline (a round
/// started is finished, so the mailbox ends as it began): FETCH 10 header sets, FETCH a
/// body, STORE a flag on a random message (set or cleared: it changes every time), APPEND
/// a message, UID STORE \Deleted + UID EXPUNGE of exactly that message (UIDPLUS), LIST,
/// STATUS of the selected mailbox. Several clients share each mailbox, so each sees the
/// others' EXISTS, EXPUNGE and FETCH FLAGS.
async fn long_client(
    addr: String,
    user: String,
    pass: String,
    deadline: Instant,
    seed: u64,
) -> io::Result<(OpStats, u64)> {
    let mut st = OpStats::new(LONG_OPS.len());
    let mut rng = Rng::new(seed);
    let mut c = Client::connect(&addr).await?;
    c.login(&user, &pass).await?;
    c.cmd("SELECT INBOX", None).await?;
    let mut rounds = 0u64;
    while Instant::now() < deadline {
        let n = c.exists.max(1);
        let a = 1 + rng.below(n);
        let b = (a + 9).min(n);
        let t = Instant::now();
        let r = c
            .cmd(&format!("FETCH {a}:{b} (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)])"), None)
            .await;
        st.time(0, LONG_OPS, r, t).await?;
        let x = 1 + rng.below(c.exists.max(1));
        let t = Instant::now();
        let r = c.cmd(&format!("FETCH {x} (UID BODY.PEEK[])"), None).await;
        st.time(1, LONG_OPS, r, t).await?;
        let x = 1 + rng.below(c.exists.max(1));
        let sign = if rng.below(2) == 0 { '+' } else { '-' };
        let t = Instant::now();
        let r = c
            .cmd(&format!("STORE {x} {sign}FLAGS (\\Flagged)"), None)
            .await;
        st.time(2, LONG_OPS, r, t).await?;
        let m = message(1_000_000 + rng.below(1_000_000));
        let t = Instant::now();
        let r = c.cmd("APPEND INBOX (\\Seen)", Some(&m)).await;
        if st.time(3, LONG_OPS, r, t).await? {
            let uid = appenduid(&c.tagged)
                .ok_or_else(|| err(format!("APPEND: no APPENDUID in {:?}", c.tagged)))?;
            let t = Instant::now();
            let r = c
                .cmd(&format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"), None)
                .await;
            st.time(2, LONG_OPS, r, t).await?;
            let t = Instant::now();
            let r = c.cmd(&format!("UID EXPUNGE {uid}"), None).await;
            st.time(4, LONG_OPS, r, t).await?;
        }
        let t = Instant::now();
        let r = c.cmd("LIST \"\" \"*\"", None).await;
        st.time(5, LONG_OPS, r, t).await?;
        let t = Instant::now();
        let r = c.cmd("STATUS INBOX (MESSAGES UIDNEXT UNSEEN)", None).await;
        st.time(6, LONG_OPS, r, t).await?;
        rounds += 1;
    }
    c.cmd("LOGOUT", None).await?;
    Ok((st, rounds))
}

/// `longsession`: `--clients C` connections spread over the users (`--users/--first/
/// --count`: C / count clients per mailbox), each logged in once for `--secs`. Checks
/// that every INBOX ends with the messages it had at the start.
async fn longsession(a: Args) -> io::Result<()> {
    let addr = a.s("addr", "127.0.0.1:143");
    let pass = a.s("pass", "bench-pw");
    let secs = a.n("secs", 30);
    let clients = a.n("clients", 10);
    let users = users(&a);
    let before = counts(&addr, &users, &pass, "INBOX").await?;
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for k in 0..clients {
        let user = users[k as usize % users.len()].clone();
        tasks.push(tokio::spawn(long_client(
            addr.clone(),
            user,
            pass.clone(),
            deadline,
            k * 7919 + 17,
        )));
    }
    let mut st = OpStats::new(LONG_OPS.len());
    let (mut rounds, mut broken) = (0u64, Vec::new());
    for t in tasks {
        match t.await.map_err(|e| err(e.to_string()))? {
            Ok((s, r)) => {
                st.merge(s);
                rounds += r;
            }
            Err(e) => broken.push(e.to_string()),
        }
    }
    let s = t0.elapsed().as_secs_f64();
    let after = counts(&addr, &users, &pass, "INBOX").await?;
    let total: usize = st.lat.iter().map(|v| v.len()).sum();
    let failed: u64 = st.fails.iter().sum();
    println!(
        "longsession: clients={clients} mailboxes={} secs={s:.2} rounds={rounds} ops={total} ops_per_s={:.1} failed={failed} broken_sessions={}",
        users.len(),
        total as f64 / s,
        broken.len()
    );
    st.print("longsession", LONG_OPS, s);
    for e in &broken {
        println!("longsession-broken: {e}");
    }
    println!(
        "longsession-check: inbox_before={before:?} inbox_after={after:?} consistent={}",
        before == after
    );
    Ok(())
}

/// `append`: `--clients C` connections spread over the users, each logged in once,
/// APPENDing generated messages to `--mailbox` for `--secs` (with `--select 1` every
/// client has that mailbox selected, so each APPEND is news to the others on it). Checks that
/// the mailboxes grew by exactly the APPENDs answered OK.
async fn append_run(a: Args) -> io::Result<()> {
    let addr = a.s("addr", "127.0.0.1:143");
    let pass = a.s("pass", "bench-pw");
    let secs = a.n("secs", 30);
    let clients = a.n("clients", 10);
    let mailbox = a.s("mailbox", "Sent");
    let select = a.n("select", 0) == 1;
    let users = users(&a);
    let before = counts(&addr, &users, &pass, &mailbox).await?;
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for k in 0..clients {
        let (addr, pass, mailbox) = (addr.clone(), pass.clone(), mailbox.clone());
        let ui = k as usize % users.len();
        let user = users[ui].clone();
        tasks.push(tokio::spawn(async move {
            let mut st = OpStats::new(1);
            let mut rng = Rng::new(k * 104_729 + 3);
            let mut c = Client::connect(&addr).await?;
            c.login(&user, &pass).await?;
            if select {
                // Every client has the mailbox selected: each APPEND is news (EXISTS)
                // to the other sessions on it.
                c.cmd(&format!("SELECT \"{mailbox}\""), None).await?;
            }
            while Instant::now() < deadline {
                let m = message(2_000_000 + rng.below(1_000_000));
                let t = Instant::now();
                let r = c
                    .cmd(&format!("APPEND \"{mailbox}\" (\\Seen)"), Some(&m))
                    .await;
                st.time(0, &["APPEND"], r, t).await?;
            }
            c.cmd("LOGOUT", None).await?;
            Ok::<_, io::Error>((ui, st))
        }));
    }
    let mut st = OpStats::new(1);
    let mut ok_per_user = vec![0u64; users.len()];
    let mut broken = Vec::new();
    for t in tasks {
        match t.await.map_err(|e| err(e.to_string()))? {
            Ok((ui, s)) => {
                ok_per_user[ui] += s.lat[0].len() as u64;
                st.merge(s);
            }
            Err(e) => broken.push(e.to_string()),
        }
    }
    let s = t0.elapsed().as_secs_f64();
    let after = counts(&addr, &users, &pass, &mailbox).await?;
    let expected: Vec<u64> = before
        .iter()
        .zip(&ok_per_user)
        .map(|(b, o)| b + o)
        .collect();
    println!(
        "append: clients={clients} mailboxes={} selected={select} secs={s:.2} ops={} ops_per_s={:.1} failed={} broken_sessions={}",
        users.len(),
        st.lat[0].len(),
        st.lat[0].len() as f64 / s,
        st.fails[0],
        broken.len()
    );
    st.print("append", &["APPEND"], s);
    for e in &broken {
        println!("append-broken: {e}");
    }
    println!(
        "append-check: {mailbox}_before={before:?} {mailbox}_after={after:?} expected={expected:?} consistent={}",
        after == expected && broken.is_empty()
    );
    Ok(())
}

// ---- search ------------------------------------------------------------------------------

async fn search(a: Args) -> io::Result<()> {
    let addr = a.s("addr", "127.0.0.1:143");
    let user = a.s("user", "big@example.test");
    let pass = a.s("pass", "bench-pw");
    let word = a.s("word", "zebrafish");
    let reps = a.n("reps", 5);
    let mut c = Client::connect(&addr).await?;
    c.login(&user, &pass).await?;
    let t = Instant::now();
    c.cmd("SELECT INBOX", None).await?;
    println!(
        "search: SELECT exists={} in {:.3} s",
        c.exists,
        t.elapsed().as_secs_f64()
    );
    let mut times = Vec::new();
    for r in 0..=reps {
        let t = Instant::now();
        c.cmd(&format!("SEARCH BODY {word}"), None).await?;
        let s = t.elapsed().as_secs_f64();
        let hits = c.search.as_deref().map_or(0, |l| {
            l.split(' ').skip(1).filter(|x| !x.is_empty()).count()
        });
        println!(
            "search: rep={r}{} secs={s:.3} hits={hits}",
            if r == 0 { " (first)" } else { "" }
        );
        if r > 0 {
            times.push(s);
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    if !times.is_empty() {
        println!(
            "search: median={:.3} min={:.3} max={:.3}",
            times[times.len() / 2],
            times[0],
            times[times.len() - 1]
        );
    }
    c.cmd("LOGOUT", None).await?;
    Ok(())
}

// ---- idle --------------------------------------------------------------------------------

async fn idle(a: Args) -> io::Result<()> {
    let addr = a.s("addr", "127.0.0.1:143");
    let pass = a.s("pass", "bench-pw");
    let conns = a.n("conns", 100);
    let par = a.n("par", 32) as usize;
    let hold = a.n("hold", 20);
    let ready = a.s("ready-file", "");
    let users = Arc::new(users(&a));
    let sem = Arc::new(tokio::sync::Semaphore::new(par));
    let (tx, rx) = tokio::sync::watch::channel(false);
    let (donetx, mut donerx) = tokio::sync::mpsc::channel::<Result<(), String>>(conns as usize + 1);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..conns {
        let (addr, pass, users, sem, mut rx, donetx) = (
            addr.clone(),
            pass.clone(),
            users.clone(),
            sem.clone(),
            rx.clone(),
            donetx.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let setup = async {
                let _p = sem.acquire().await.map_err(|e| err(e.to_string()))?;
                let user = &users[k as usize % users.len()];
                let mut c = Client::connect(&addr).await?;
                c.login(user, &pass).await?;
                c.cmd("SELECT INBOX", None).await?;
                c.tag += 1;
                let tag = format!("a{}", c.tag);
                c.w.write_all(format!("{tag} IDLE\r\n").as_bytes()).await?;
                loop {
                    c.read_line().await?;
                    if c.line.starts_with(b"+") {
                        break;
                    }
                    if !c.line.starts_with(b"*") {
                        return Err(err(format!("IDLE: {}", String::from_utf8_lossy(&c.line))));
                    }
                }
                Ok::<_, io::Error>((c, tag))
            };
            match setup.await {
                Ok((mut c, tag)) => {
                    let _ = donetx.send(Ok(())).await;
                    let _ = rx.wait_for(|v| *v).await;
                    let r = async {
                        c.w.write_all(b"DONE\r\n").await?;
                        c.read_to_tag(&tag).await?;
                        c.cmd("LOGOUT", None).await
                    };
                    r.await.map_err(|e| e.to_string())
                }
                Err(e) => {
                    let _ = donetx.send(Err(e.to_string())).await;
                    Err(e.to_string())
                }
            }
        }));
    }
    drop(donetx);
    let (mut ok, mut failed, mut errs) = (0u64, 0u64, Vec::new());
    while ok + failed < conns {
        match donerx.recv().await {
            Some(Ok(())) => ok += 1,
            Some(Err(e)) => {
                failed += 1;
                if errs.len() < 5 {
                    errs.push(e);
                }
            }
            None => break,
        }
    }
    println!(
        "idle: {ok} idling, {failed} failed, set up in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    for e in &errs {
        println!("idle-error: {e}");
    }
    if !ready.is_empty() {
        std::fs::write(&ready, format!("{ok} {failed}\n"))?;
    }
    tokio::time::sleep(Duration::from_secs(hold)).await;
    let _ = tx.send(true);
    let mut end_fail = 0;
    for t in tasks {
        if let Ok(Err(_)) = t.await {
            end_fail += 1;
        }
    }
    println!("idle: released; {end_fail} connection(s) failed in total (setup or DONE/LOGOUT)");
    Ok(())
}

// ---- maildir ----------------------------------------------------------------------------

/// Writes generated messages `first..first+count` straight into a maildir's `cur/`, as
/// Dovecot itself stores an APPENDed message (LF line ends, `mail_save_crlf = no`; it
/// serves them with CRLF, so IMAP clients get the same octets as from APPEND). The names
/// carry `S=` (file size) and `W=` (size with CRLF) as Dovecot writes them, so it need
/// not read a file to know its size. Dovecot's APPEND runs at ~45 msg/s here (one fsync
/// and uidlist lock per message); this loads 50,000 in seconds.
fn maildir(a: Args) -> io::Result<()> {
    let dir = std::path::PathBuf::from(a.s("dir", ""));
    let first = a.n("first", 1);
    let count = a.n("count", 1000);
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    let t = Instant::now();
    let base = 1_790_000_000u64;
    for i in first..first + count {
        let crlf = message(i);
        let lf: Vec<u8> = crlf.iter().copied().filter(|&b| b != b'\r').collect();
        let name = format!(
            "{}.M{i}P1.bench,S={},W={}:2,",
            base + i,
            lf.len(),
            crlf.len()
        );
        std::fs::write(dir.join("cur").join(name), &lf)?;
    }
    println!(
        "maildir: {count} messages into {} in {:.1} s",
        dir.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() -> io::Result<()> {
    let argv: Vec<String> = std::env::args().collect();
    let sub = argv.get(1).cloned().unwrap_or_default();
    let a = Args::parse(&argv[2.min(argv.len())..]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.n("threads", 2) as usize)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match sub.as_str() {
            "load" => load(a).await,
            "mixed" => mixed(a).await,
            "longsession" => longsession(a).await,
            "append" => append_run(a).await,
            "search" => search(a).await,
            "idle" => idle(a).await,
            "maildir" => maildir(a),
            "message" => {
                use std::io::Write;
                std::io::stdout().write_all(&message(a.n("i", 1)))
            }
            _ => Err(err(
                "usage: imapbench load|mixed|longsession|append|search|idle|maildir|message [--key value ...]".into(),
            )),
        }
    })
}
