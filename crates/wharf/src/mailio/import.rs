//! `wharf import ADDRESS PATH`: an mbox file, a directory of mbox files, or a Maildir /
//! Maildir++ tree (Dovecot, mutt, mbsync, Postfix) into an account, folders, flags,
//! keywords and internal dates kept.
//!
//! Implementation notes:
//! - Resumable: every message has a key, the first 128 bits of SHA-256 over (target
//!   mailbox name, internal date, stored bytes) plus its occurrence number among equal
//!   messages of this run. A journal in `DATA_DIR/import-state/` records, fsynced, a
//!   group of keys *before* their appends ("P mailbox uid_from keys...") and each key
//!   once appended ("D key"). A re-run skips every "D" key; for keys of a group that was
//!   begun but not finished (the run was killed), it reads the mailbox's messages from
//!   `uid_from` on and counts as imported those whose key matches, so a kill at any
//!   moment neither duplicates nor loses a message.
//! - Messages are appended in source order (Dovecot's `dovecot-uidlist` UIDs, mbsync's
//!   `,U=` UIDs, else file name order, which starts with the delivery time), so UID
//!   order follows the source's.

use super::progress::Progress;
use super::{
    MAX_MESSAGE, from_file, maildir_flags, maildirpp_name, mbox_level_name, mbsync_uid,
    parse_dovecot_keywords, parse_dovecot_uidlist, parse_from_line_date, parse_mbox_message,
};
use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use wharf_store::{Account, Flags, Mailbox, NewMessage, Store};

/// Options of `wharf import`.
pub struct ImportOptions {
    /// The mailbox a single mbox file goes into.
    pub mailbox: String,
    /// Forget what earlier runs of this import recorded.
    pub fresh: bool,
}

/// Files a Maildir tree holds besides mail; passed over without a word.
const MAILDIR_META: &[&str] = &[
    "dovecot-uidlist",
    "dovecot-keywords",
    "dovecot-uidvalidity",
    "dovecot.index",
    "dovecot.index.log",
    "dovecot.index.cache",
    "dovecot.list.index",
    "dovecot.mailbox.log",
    "subscriptions",
    "maildirfolder",
    ".uidvalidity",
    ".mbsyncstate",
    ".isyncuidmap.db",
    "courierimapsubscribed",
    "courierimapuiddb",
    "courierimapkeywords",
];

enum Kind {
    Maildir(PathBuf),
    Mbox(PathBuf),
}

struct Source {
    mailbox: String,
    kind: Kind,
}

/// What the run did, printed at the end.
#[derive(Default)]
pub struct Summary {
    imported: BTreeMap<String, u64>,
    skipped: BTreeMap<String, u64>,
    examples: Vec<String>,
}

impl Summary {
    fn skip(&mut self, reason: &str, what: impl FnOnce() -> String) {
        *self.skipped.entry(reason.to_string()).or_default() += 1;
        if self.examples.len() < 10 && reason != "already imported by an earlier run" {
            self.examples.push(format!("{}: {reason}", what()));
        }
    }

    pub fn print(&self) {
        let total: u64 = self.imported.values().sum();
        let per: Vec<String> = self
            .imported
            .iter()
            .map(|(m, n)| format!("{m} {n}"))
            .collect();
        println!(
            "imported {total} messages into {} mailboxes{}",
            self.imported.len(),
            if per.is_empty() {
                String::new()
            } else {
                format!(" ({})", per.join(", "))
            }
        );
        let skipped: u64 = self.skipped.values().sum();
        if skipped == 0 {
            println!("skipped 0 messages");
        } else {
            let why: Vec<String> = self
                .skipped
                .iter()
                .map(|(r, n)| format!("{n} {r}"))
                .collect();
            println!("skipped {skipped} messages: {}", why.join("; "));
            for e in &self.examples {
                println!("  {e}");
            }
        }
    }
}

// ---------------------------------------------------------------- finding the sources

fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() && (dir.join("new").is_dir() || dir.join("tmp").is_dir())
}

fn starts_with_from(path: &Path) -> bool {
    let mut head = [0u8; 5];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head == b"From "
}

fn mailbox_name(parts: &[String]) -> String {
    let name = parts.join("/");
    if parts.len() == 1 && parts[0].eq_ignore_ascii_case("inbox") {
        "INBOX".into()
    } else {
        name
    }
}

/// Every mailbox the path holds, and the files it passes over (with why).
/// Files passed over while looking for mail: (path, why).
type PassedOver = Vec<(String, String)>;

fn find_sources(path: &Path, opts: &ImportOptions) -> Result<(Vec<Source>, PassedOver)> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    let mut sources = Vec::new();
    let mut passed = Vec::new();
    if meta.is_file() {
        if !starts_with_from(path) && meta.len() > 0 {
            bail!(
                "{} is neither an mbox file (no `From ` line at its start) nor a directory",
                path.display()
            );
        }
        sources.push(Source {
            mailbox: opts.mailbox.clone(),
            kind: Kind::Mbox(path.to_path_buf()),
        });
        return Ok((sources, passed));
    }
    if is_maildir(path) {
        sources.push(Source {
            mailbox: "INBOX".into(),
            kind: Kind::Maildir(path.to_path_buf()),
        });
    }
    walk(path, &[], is_maildir(path), &mut sources, &mut passed)?;
    if sources.is_empty() {
        bail!(
            "{} holds no Maildir (a directory with cur/ and new/) and no mbox file",
            path.display()
        );
    }
    Ok((sources, passed))
}

fn walk(
    dir: &Path,
    rel: &[String],
    dir_is_maildir: bool,
    sources: &mut Vec<Source>,
    passed: &mut Vec<(String, String)>,
) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let p = e.path();
        let ft = std::fs::metadata(&p)?.file_type();
        if ft.is_dir() {
            if dir_is_maildir && matches!(name.as_str(), "cur" | "new" | "tmp") {
                continue;
            }
            let child_maildir = is_maildir(&p);
            // Maildir++: `.A.B` beside the INBOX's cur/new/tmp.
            if rel.is_empty()
                && child_maildir
                && let Some(n) = maildirpp_name(&name)
            {
                sources.push(Source {
                    mailbox: n,
                    kind: Kind::Maildir(p.clone()),
                });
                continue;
            }
            let mut parts = rel.to_vec();
            parts.push(mbox_level_name(&name));
            if child_maildir {
                sources.push(Source {
                    mailbox: mailbox_name(&parts),
                    kind: Kind::Maildir(p.clone()),
                });
            }
            // Mailbox names have at most 32 levels; deeper (a symbolic link loop, say)
            // is not followed.
            if parts.len() < 32 {
                walk(&p, &parts, child_maildir, sources, passed)?;
            } else {
                passed.push((p.display().to_string(), "deeper than 32 levels".into()));
            }
        } else if ft.is_file() {
            if MAILDIR_META.contains(&name.as_str())
                || name.starts_with("dovecot")
                || name.starts_with(".mbsyncstate")
            {
                continue;
            }
            let empty_mbox = name.ends_with(".mbox") && std::fs::metadata(&p)?.len() == 0;
            if starts_with_from(&p) || empty_mbox {
                let mut parts = rel.to_vec();
                parts.push(mbox_level_name(name.strip_suffix(".mbox").unwrap_or(&name)));
                sources.push(Source {
                    mailbox: mailbox_name(&parts),
                    kind: Kind::Mbox(p),
                });
            } else {
                passed.push((p.display().to_string(), "not an mbox file".into()));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- the journal

/// The record of what this import (account + source path) has appended; see the
/// module notes.
struct Journal {
    file: std::fs::File,
    done: HashSet<String>,
    /// Keys begun but not recorded done, with their (mailbox id, first possible UID).
    pending: Vec<(i64, u32, Vec<String>)>,
}

impl Journal {
    fn open(
        data_dir: &Path,
        account: &Account,
        source: &Path,
        fresh: bool,
    ) -> Result<(Journal, PathBuf)> {
        let dir = data_dir.join("import-state");
        std::fs::create_dir_all(&dir)?;
        let source = std::fs::canonicalize(source)?;
        let mut h = Sha256::new();
        h.update(account.address.to_string().as_bytes());
        h.update([0]);
        h.update(source.as_os_str().as_encoded_bytes());
        let path = dir.join(format!("{}.journal", &hex::encode(h.finalize())[..32]));
        if fresh {
            let _ = std::fs::remove_file(&path);
        }
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let mut done = HashSet::new();
        let mut begun = Vec::new();
        for line in text.lines() {
            let mut w = line.split(' ');
            match w.next() {
                Some("D") => {
                    if let Some(k) = w.next() {
                        done.insert(k.to_string());
                    }
                }
                Some("P") => {
                    let (Some(Ok(mb)), Some(Ok(uid))) = (
                        w.next().map(str::parse::<i64>),
                        w.next().map(str::parse::<u32>),
                    ) else {
                        continue;
                    };
                    begun.push((mb, uid, w.map(str::to_string).collect::<Vec<_>>()));
                }
                _ => {}
            }
        }
        let pending = begun
            .into_iter()
            .map(|(mb, uid, keys)| {
                (
                    mb,
                    uid,
                    keys.into_iter()
                        .filter(|k| !done.contains(k))
                        .collect::<Vec<_>>(),
                )
            })
            .filter(|(_, _, keys)| !keys.is_empty())
            .collect();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok((
            Journal {
                file,
                done,
                pending,
            },
            path,
        ))
    }

    /// Records a group of keys about to be appended; durable before it returns.
    fn begin(&mut self, mailbox: i64, uid_from: u32, keys: &[String]) -> Result<()> {
        writeln!(self.file, "P {mailbox} {uid_from} {}", keys.join(" "))?;
        self.file.sync_data()?;
        Ok(())
    }

    /// Records one key appended (not synced: a lost line is found again by `settle`).
    fn finish(&mut self, key: &str) -> Result<()> {
        writeln!(self.file, "D {key}")?;
        self.done.insert(key.to_string());
        Ok(())
    }

    /// Decides the keys of groups an interrupted run began: those whose message is in
    /// the mailbox (at or after the group's first UID) were imported.
    async fn settle(&mut self, store: &dyn Store) -> Result<()> {
        for (mailbox, uid_from, keys) in std::mem::take(&mut self.pending) {
            let snap = match store
                .mailbox_snapshot(wharf_store::MailboxId(mailbox))
                .await
            {
                Ok(s) => s,
                Err(wharf_store::Error::NotFound(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            let mut present: HashMap<String, usize> = HashMap::new();
            for m in snap.messages.iter().filter(|m| m.uid >= uid_from) {
                let raw = store.read_body(m.blob).await?;
                *present
                    .entry(base_key(&snap.mailbox.name, m.internal_date, &raw))
                    .or_default() += 1;
            }
            for k in keys {
                let base = k.split('#').next().unwrap_or("");
                if let Some(n) = present.get_mut(base)
                    && *n > 0
                {
                    *n -= 1;
                    self.finish(&k)?;
                }
            }
        }
        self.file.sync_data()?;
        Ok(())
    }
}

fn base_key(mailbox: &str, date: i64, raw: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(mailbox.as_bytes());
    h.update([0]);
    h.update(date.to_string().as_bytes());
    h.update([0]);
    h.update(raw);
    hex::encode(&h.finalize()[..16])
}

// ---------------------------------------------------------------- importing

/// One message read from a source, ready to append.
struct Item {
    key: String,
    message: NewMessage,
    size: u64,
}

/// Appends grouped messages of one mailbox, with the journal around them.
struct Importer<'a> {
    store: &'a dyn Store,
    journal: Journal,
    summary: Summary,
    progress: Progress,
    seen: HashMap<String, u32>,
    group: Vec<Item>,
    group_bytes: usize,
    mailbox: Option<Mailbox>,
    uid_from: u32,
    messages: u64,
    /// Set when the account cannot take more (quota, disk): the rest is skipped.
    stop: Option<String>,
}

const GROUP_MESSAGES: usize = 64;
const GROUP_BYTES: usize = 32 << 20;

impl Importer<'_> {
    async fn open_mailbox(&mut self, account: &Account, name: &str) -> Result<()> {
        self.flush().await?;
        let mb = match self.store.mailbox_get(account.id, name).await? {
            Some(m) => m,
            None => match self.store.mailbox_create(account.id, name, None).await {
                Ok(m) => m,
                Err(wharf_store::Error::AlreadyExists(_)) => self
                    .store
                    .mailbox_get(account.id, name)
                    .await?
                    .context("mailbox vanished")?,
                Err(e) => return Err(e).with_context(|| format!("creating mailbox {name:?}")),
            },
        };
        self.uid_from = mb.uidnext;
        self.mailbox = Some(mb);
        Ok(())
    }

    /// Takes one message: skipped, or queued into the current group.
    async fn add(
        &mut self,
        raw: Vec<u8>,
        date: Option<i64>,
        flags: Flags,
        keywords: Vec<String>,
        bytes: u64,
        what: impl FnOnce() -> String,
    ) -> Result<()> {
        let name = self
            .mailbox
            .as_ref()
            .map(|m| m.name.clone())
            .unwrap_or_default();
        self.progress.advance(bytes, self.messages, &name);
        if let Some(why) = &self.stop {
            let why = why.clone();
            self.summary.skip(&why, what);
            return Ok(());
        }
        if raw.is_empty() {
            self.summary.skip("empty message", what);
            return Ok(());
        }
        let date = date.unwrap_or_else(|| chrono::Utc::now().timestamp());
        let base = base_key(&name, date, &raw);
        let n = self.seen.entry(base.clone()).or_default();
        *n += 1;
        let key = format!("{base}#{n}");
        if self.journal.done.contains(&key) {
            self.summary
                .skip("already imported by an earlier run", what);
            return Ok(());
        }
        self.group_bytes += raw.len();
        self.group.push(Item {
            key,
            size: raw.len() as u64,
            message: NewMessage {
                raw,
                internal_date: Some(date),
                flags,
                keywords,
            },
        });
        if self.group.len() >= GROUP_MESSAGES || self.group_bytes >= GROUP_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        let group = std::mem::take(&mut self.group);
        self.group_bytes = 0;
        let Some(mb) = self.mailbox.clone() else {
            return Ok(());
        };
        if group.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = group.iter().map(|i| i.key.clone()).collect();
        self.journal.begin(mb.id.0, self.uid_from, &keys)?;
        if self.stop.is_none() {
            let messages: Vec<NewMessage> = group.iter().map(|i| i.message.clone()).collect();
            // The whole group in one transaction; if it is refused, one by one, so that
            // only the messages at fault are skipped.
            if let Ok(delivered) = self.store.append_batch(mb.id, messages).await {
                for (item, d) in group.iter().zip(&delivered) {
                    self.uid_from = self.uid_from.max(d.uid + 1);
                    self.journal.finish(&item.key)?;
                }
                *self.summary.imported.entry(mb.name.clone()).or_default() +=
                    delivered.len() as u64;
                self.messages += delivered.len() as u64;
                return Ok(());
            }
        }
        for item in group {
            if let Some(why) = &self.stop {
                let why = why.clone();
                self.summary
                    .skip(&why, || format!("{} ({} bytes)", mb.name, item.size));
                continue;
            }
            match self.store.append(mb.id, item.message).await {
                Ok(d) => {
                    self.uid_from = self.uid_from.max(d.uid + 1);
                    self.journal.finish(&item.key)?;
                    *self.summary.imported.entry(mb.name.clone()).or_default() += 1;
                    self.messages += 1;
                }
                Err(e @ (wharf_store::Error::OverQuota(_) | wharf_store::Error::NoSpace(_))) => {
                    let why = format!("not stored: {e}");
                    self.summary
                        .skip(&why, || format!("{} ({} bytes)", mb.name, item.size));
                    self.stop = Some(why);
                }
                Err(e) => {
                    let why = format!("refused by the store: {e}");
                    self.summary
                        .skip(&why, || format!("{} ({} bytes)", mb.name, item.size));
                }
            }
        }
        Ok(())
    }
}

fn mtime(meta: &std::fs::Metadata) -> Option<i64> {
    let t = meta.modified().ok()?;
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => Some(d.as_secs() as i64),
        Err(e) => Some(-(e.duration().as_secs() as i64)),
    }
}

fn header_date(raw: &[u8]) -> Option<i64> {
    let end = wharf_store::mime::header_end(raw);
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split('\n').peekable();
    while let Some(line) = lines.next() {
        if line.len() >= 5 && line[..5].eq_ignore_ascii_case("date:") {
            let mut v = line[5..].trim().to_string();
            while let Some(next) = lines.peek() {
                if next.starts_with([' ', '\t']) {
                    v.push(' ');
                    v.push_str(next.trim());
                    lines.next();
                } else {
                    break;
                }
            }
            let v = v.trim_end_matches('\r').trim();
            // Drop a trailing comment such as "(UTC)".
            let v = v.split(" (").next().unwrap_or(v);
            return chrono::DateTime::parse_from_rfc2822(v)
                .ok()
                .map(|d| d.timestamp());
        }
    }
    None
}

/// A Maildir file with its sort key: (has no UID, UID, base name), path, info, in new/.
type OrderedFile = ((u8, u32, String), PathBuf, String, bool);

/// The files of one Maildir folder, in the order they go in.
fn maildir_files(dir: &Path, summary: &mut Summary) -> Result<Vec<(PathBuf, String, bool)>> {
    let uidlist = std::fs::read_to_string(dir.join("dovecot-uidlist"))
        .map(|t| parse_dovecot_uidlist(&t))
        .unwrap_or_default();
    let mut files: Vec<OrderedFile> = Vec::new();
    for sub in ["new", "cur"] {
        let d = dir.join(sub);
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let e = e?;
            if !e.file_type()?.is_file() {
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let (base, info) = match name.split_once(':') {
                Some((b, i)) => (b.to_string(), i.to_string()),
                None => (name.clone(), String::new()),
            };
            let order = match uidlist.get(&base).copied().or_else(|| mbsync_uid(&base)) {
                Some(uid) => (0, uid, base.clone()),
                None => (1, 0, base.clone()),
            };
            files.push((order, e.path(), info, sub == "new"));
        }
    }
    if let Ok(rd) = std::fs::read_dir(dir.join("tmp")) {
        for e in rd.flatten() {
            summary.skip("in tmp/ (a delivery that never finished)", || {
                e.path().display().to_string()
            });
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files.into_iter().map(|(_, p, i, n)| (p, i, n)).collect())
}

async fn import_maildir(imp: &mut Importer<'_>, dir: &Path) -> Result<()> {
    let keywords = std::fs::read_to_string(dir.join("dovecot-keywords"))
        .map(|t| parse_dovecot_keywords(&t))
        .unwrap_or_else(|_| vec![None; 26]);
    let files = maildir_files(dir, &mut imp.summary)?;
    // A folder mbsync writes has its state file; its messages carry mbsync's X-TUID.
    let mbsync = dir.join(".mbsyncstate").exists();
    for (path, info, _new) in files {
        let what = || path.display().to_string();
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            // Renamed by a client since the listing (a flag change): gone under us.
            Err(_) => {
                imp.summary.skip("file vanished while importing", what);
                continue;
            }
        };
        if meta.len() > MAX_MESSAGE as u64 {
            imp.summary.skip("larger than 256 MiB", what);
            continue;
        }
        let raw = match std::fs::read(&path) {
            Ok(r) => r,
            Err(e) => {
                imp.summary.skip(&format!("unreadable: {}", e.kind()), what);
                continue;
            }
        };
        let (flags, kw) = maildir_flags(&info, &keywords);
        let mut raw = from_file(raw);
        if mbsync {
            raw = super::without_field(raw, "x-tuid");
        }
        // Dovecot keeps a message's internal date as its file's mtime.
        let date = mtime(&meta).or_else(|| header_date(&raw));
        imp.add(raw, date, flags, kw, meta.len(), || {
            path.display().to_string()
        })
        .await?;
    }
    Ok(())
}

async fn import_mbox(imp: &mut Importer<'_>, file: &Path) -> Result<()> {
    let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mut r = std::io::BufReader::with_capacity(1 << 20, f);
    let mut from_line: Option<String> = None;
    let mut region: Vec<u8> = Vec::new();
    let mut oversize = false;
    let mut index = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut r)
            .take(MAX_MESSAGE as u64 + 1)
            .read_until(b'\n', &mut line)
            .with_context(|| format!("reading {}", file.display()))?;
        let at_end = n == 0;
        // A `From ` line separates messages only if it carries a date (as mutt's
        // is_from decides): an unquoted "From here" in a body written by a sloppy
        // writer stays text.
        let separator = line.starts_with(b"From ")
            && (from_line.is_none()
                || parse_from_line_date(String::from_utf8_lossy(&line).trim_end()).is_some());
        if at_end || separator {
            if let Some(fl) = from_line.take() {
                index += 1;
                let what = || format!("{} message {index}", file.display());
                let bytes = (fl.len() + region.len()) as u64;
                if oversize {
                    imp.progress.advance(bytes, imp.messages, "");
                    imp.summary.skip("larger than 256 MiB", what);
                } else {
                    let m = parse_mbox_message(&region);
                    let raw = from_file(m.raw);
                    let date = parse_from_line_date(fl.trim_end()).or_else(|| header_date(&raw));
                    imp.add(raw, date, m.flags, m.keywords, bytes, what).await?;
                }
            }
            if at_end {
                break;
            }
            from_line = Some(String::from_utf8_lossy(&line).into_owned());
            region.clear();
            oversize = false;
            continue;
        }
        if from_line.is_none() {
            // Text before the first `From ` line: not a message.
            continue;
        }
        if oversize || region.len() + line.len() > MAX_MESSAGE {
            oversize = true;
            region.clear();
            continue;
        }
        region.extend_from_slice(&line);
    }
    Ok(())
}

fn tree_bytes(sources: &[Source]) -> u64 {
    let mut total = 0;
    for s in sources {
        match &s.kind {
            Kind::Mbox(p) => total += std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
            Kind::Maildir(d) => {
                for sub in ["new", "cur"] {
                    if let Ok(rd) = std::fs::read_dir(d.join(sub)) {
                        for e in rd.flatten() {
                            total += e.metadata().map(|m| m.len()).unwrap_or(0);
                        }
                    }
                }
            }
        }
    }
    total
}

/// Runs the import; returns what it did (also when it stopped over quota).
pub async fn run(
    store: &dyn Store,
    data_dir: &Path,
    account: &Account,
    path: &Path,
    opts: &ImportOptions,
) -> Result<Summary> {
    let (sources, passed) = find_sources(path, opts)?;
    let (mut journal, _) = Journal::open(data_dir, account, path, opts.fresh)?;
    journal.settle(store).await?;
    let mut imp = Importer {
        store,
        journal,
        summary: Summary::default(),
        progress: Progress::new("importing", tree_bytes(&sources)),
        seen: HashMap::new(),
        group: Vec::new(),
        group_bytes: 0,
        mailbox: None,
        uid_from: 0,
        messages: 0,
        stop: None,
    };
    for (p, why) in passed {
        imp.summary.skip(&format!("file passed over: {why}"), || p);
    }
    for s in &sources {
        imp.open_mailbox(account, &s.mailbox).await?;
        // Folders are kept even when empty.
        imp.summary
            .imported
            .entry(
                imp.mailbox
                    .as_ref()
                    .map(|m| m.name.clone())
                    .unwrap_or_default(),
            )
            .or_default();
        match &s.kind {
            Kind::Maildir(d) => import_maildir(&mut imp, d).await?,
            Kind::Mbox(f) => import_mbox(&mut imp, f).await?,
        }
    }
    imp.flush().await?;
    imp.journal.file.sync_data()?;
    imp.progress.finish();
    Ok(imp.summary)
}
