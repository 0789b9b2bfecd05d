//! `wharf export ADDRESS --format maildir|mbox PATH`: every mailbox of an account out
//! to a Maildir++ tree (as Dovecot lays it out, with `dovecot-keywords` and
//! `dovecot-uidlist`, so Dovecot serves the same UIDs, flags and keywords) or to one
//! mboxrd file per mailbox (flags in `Status:` / `X-Status:` / `X-Keywords:`).
//!
//! Implementation notes:
//! - PATH must not exist or be an empty directory: an export never mixes with older files.
//! - Maildir file names: `DATE.MuidPpid.wharf,S=size,W=crlf-size:2,FLAGS`; the file's
//!   mtime is the internal date (Dovecot reads it so). Files go to `tmp/` first and are
//!   renamed into `cur/` once fsynced (the Maildir delivery rule).
//! - Every message is checked against what import would read back (see `mod.rs`); the
//!   summary counts those that would not come back byte-identical, and keywords that do
//!   not fit Maildir's 26 letters.

use super::progress::Progress;
use super::{FORWARDED, file_form, maildir_info, maildirpp_dir, mbox_entry};
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use wharf_store::{Account, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Maildir++ (Dovecot's layout): `cur/new/tmp` for INBOX, `.Folder.Sub/` for the rest.
    Maildir,
    /// One mboxrd file per mailbox: `INBOX.mbox`, `Folder/Sub.mbox`.
    Mbox,
}

#[derive(Default)]
pub struct Summary {
    pub messages: u64,
    pub mailboxes: u64,
    not_exact: Vec<String>,
    lost_keywords: Vec<String>,
}

impl Summary {
    pub fn print(&self) {
        println!(
            "exported {} messages from {} mailboxes",
            self.messages, self.mailboxes
        );
        if !self.not_exact.is_empty() {
            println!(
                "{} messages will not read back byte-identical (line ends or framing the format cannot hold):",
                self.not_exact.len()
            );
            for e in self.not_exact.iter().take(10) {
                println!("  {e}");
            }
        }
        if !self.lost_keywords.is_empty() {
            println!(
                "{} keywords not written (Maildir holds 26 keywords per folder):",
                self.lost_keywords.len()
            );
            for e in self.lost_keywords.iter().take(10) {
                println!("  {e}");
            }
        }
    }
}

fn prepare_target(path: &Path) -> Result<()> {
    match std::fs::read_dir(path) {
        Ok(mut rd) => {
            if rd.next().is_some() {
                bail!(
                    "{} is not empty: export into a new or empty directory",
                    path.display()
                );
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(path)
                .with_context(|| format!("creating {}", path.display()))?;
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))
}

fn systime(unix: i64) -> std::time::SystemTime {
    if unix >= 0 {
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix as u64)
    } else {
        std::time::UNIX_EPOCH - std::time::Duration::from_secs(unix.unsigned_abs())
    }
}

fn write_synced(path: &Path, data: &[u8], mtime: Option<i64>) -> Result<()> {
    let mut f =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    f.write_all(data)?;
    if let Some(t) = mtime {
        f.set_modified(systime(t))?;
    }
    f.sync_all()?;
    Ok(())
}

/// Writes files into `tmp/`, fsynced, with their mtimes, and renames them into `cur/`,
/// on a few threads at once.
async fn write_files(files: Vec<(PathBuf, PathBuf, Vec<u8>, i64)>) -> Result<()> {
    tokio::task::spawn_blocking(move || {
        let threads = files.len().clamp(1, 8);
        let mut chunks: Vec<Vec<_>> = (0..threads).map(|_| Vec::new()).collect();
        for (i, f) in files.into_iter().enumerate() {
            chunks[i % threads].push(f);
        }
        std::thread::scope(|s| {
            let handles: Vec<_> = chunks
                .into_iter()
                .map(|chunk| {
                    s.spawn(move || -> Result<()> {
                        for (tmp, cur, data, date) in chunk {
                            write_synced(&tmp, &data, Some(date))?;
                            std::fs::rename(&tmp, &cur)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            for h in handles {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a writer thread panicked"))??;
            }
            Ok(())
        })
    })
    .await?
}

pub async fn run(
    store: &dyn Store,
    account: &Account,
    format: Format,
    path: &Path,
) -> Result<Summary> {
    prepare_target(path)?;
    let mut mailboxes = store.mailbox_list(account.id).await?;
    mailboxes.sort_by(|a, b| a.name.cmp(&b.name));
    let mut summary = Summary::default();
    let mut snaps = Vec::new();
    for mb in &mailboxes {
        snaps.push(store.mailbox_snapshot(mb.id).await?);
    }
    let total: u64 = snaps.iter().map(|s| s.messages.len() as u64).sum();
    let mut progress = Progress::new("exporting", total);
    let pid = std::process::id();
    for snap in snaps {
        let name = snap.mailbox.name.clone();
        summary.mailboxes += 1;
        match format {
            Format::Maildir => {
                let dir = if name == "INBOX" {
                    path.to_path_buf()
                } else {
                    path.join(maildirpp_dir(&name))
                };
                for sub in ["cur", "new", "tmp"] {
                    std::fs::create_dir_all(dir.join(sub))?;
                }
                if name != "INBOX" {
                    // Maildir++: a folder says so with an empty `maildirfolder` file.
                    write_synced(&dir.join("maildirfolder"), b"", None)?;
                }
                // Keywords get letters a..z in the order they first appear.
                let mut letters: Vec<String> = Vec::new();
                for m in &snap.messages {
                    for k in &m.keywords {
                        if letters.len() < 26 && !letters.iter().any(|x| x.eq_ignore_ascii_case(k))
                        {
                            letters.push(k.clone());
                        }
                    }
                }
                let letter_of = |k: &str| {
                    letters
                        .iter()
                        .position(|x| x.eq_ignore_ascii_case(k))
                        .map(|i| (b'a' + i as u8) as char)
                };
                let mut uidlist = format!(
                    "3 V{} N{}\n",
                    snap.mailbox.uidvalidity, snap.mailbox.uidnext
                );
                // Files are written in chunks, the chunk's fsyncs side by side.
                let mut pending: Vec<(PathBuf, PathBuf, Vec<u8>, i64)> = Vec::new();
                for (i, m) in snap.messages.iter().enumerate() {
                    let stored = store.read_body(m.blob).await?;
                    let (form, exact) = file_form(&stored);
                    if !exact {
                        summary.not_exact.push(format!("{name} UID {}", m.uid));
                    }
                    let (info, lost) = maildir_info(m.flags, &m.keywords, letter_of);
                    for k in lost {
                        if !k.eq_ignore_ascii_case(FORWARDED) {
                            summary
                                .lost_keywords
                                .push(format!("{name} UID {}: {k}", m.uid));
                        }
                    }
                    let bare_lf = form
                        .iter()
                        .enumerate()
                        .filter(|&(i, &b)| b == b'\n' && (i == 0 || form[i - 1] != b'\r'))
                        .count();
                    // Dovecot's uidlist names a file by all of it but the `:2,` info.
                    let base = format!(
                        "{}.M{}P{pid}.wharf,S={},W={}",
                        m.internal_date.max(0),
                        m.uid,
                        form.len(),
                        form.len() + bare_lf
                    );
                    let file = format!("{base}:{info}");
                    pending.push((
                        dir.join("tmp").join(&file),
                        dir.join("cur").join(&file),
                        form,
                        m.internal_date,
                    ));
                    uidlist.push_str(&format!("{} :{base}\n", m.uid));
                    summary.messages += 1;
                    if pending.len() >= 64 || i + 1 == snap.messages.len() {
                        let n = pending.len() as u64;
                        write_files(std::mem::take(&mut pending)).await?;
                        progress.advance(n, summary.messages, &name);
                    }
                }
                let kw: String = letters
                    .iter()
                    .enumerate()
                    .map(|(i, k)| format!("{i} {k}\n"))
                    .collect();
                write_synced(&dir.join("dovecot-keywords"), kw.as_bytes(), None)?;
                write_synced(&dir.join("dovecot-uidlist"), uidlist.as_bytes(), None)?;
                sync_dir(&dir.join("cur"))?;
                sync_dir(&dir)?;
            }
            Format::Mbox => {
                let rel: PathBuf = super::mbox_file_levels(&name).collect();
                let file = path.join(rel);
                let parent = file.parent().unwrap_or(path).to_path_buf();
                std::fs::create_dir_all(&parent)?;
                let f = std::fs::File::create(&file)
                    .with_context(|| format!("creating {}", file.display()))?;
                let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
                for m in &snap.messages {
                    let stored = store.read_body(m.blob).await?;
                    let (entry, exact) = mbox_entry(&stored, m.internal_date, m.flags, &m.keywords);
                    if !exact {
                        summary.not_exact.push(format!("{name} UID {}", m.uid));
                    }
                    w.write_all(&entry)?;
                    summary.messages += 1;
                    progress.advance(1, summary.messages, &name);
                }
                let f = w.into_inner().map_err(|e| e.into_error())?;
                f.sync_all()?;
                sync_dir(&parent)?;
            }
        }
    }
    sync_dir(path)?;
    progress.finish();
    Ok(summary)
}
