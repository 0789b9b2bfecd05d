//! Background upkeep of a serving store: body files that no row references are swept,
//! a little at a time; new mail is refused while the disk is below its free-space
//! reserve; the WAL is cut back after large batches.
//!
//! Implementation notes:
//! - A crash between writing a body file (fsynced first) and the COMMIT that points to it
//!   leaves an orphan (51 after five `kill -9` under load). Only `wharf serve` sweeps
//!   them ([`SqliteStore::start_maintenance`]): opening the store (every CLI command)
//!   walks nothing. The sweep runs shortly after start and then every
//!   [`SWEEP_EVERY`], on its own thread and connection, reading directories in batches of
//!   [`SWEEP_BATCH`] entries with a pause between batches, and asks the database about
//!   each candidate by its unique name (an index lookup, nothing held in memory). A file
//!   younger than [`ORPHAN_GRACE`] is never touched: its COMMIT may still be coming.
//! - `[limits] min_free_space`: while the file system holding `data_dir` has less free
//!   than this, new mail (delivery, APPEND, the outbound queue) is refused with
//!   [`Error::NoSpace`] before its body is written; reads, flag changes, expunges and
//!   deletes go on, in the room the reserve keeps for them (SQLite needs WAL space to
//!   record a delete).
//! - A ballast file (`data_dir/space.reserve`, 2% of the file system, at most 8 MiB),
//!   written by `serve` while there is room: when something else fills the disk to the
//!   last block, the writer deletes it before its next batch, so that flag changes,
//!   expunges and deletes (which need WAL space, and IMAP SELECT records `\Recent`) can
//!   still be recorded. The upkeep writes it again once there is room.
//! - The WAL: SQLite's automatic checkpoints reuse the WAL file but never shrink it, and
//!   a reader holding an old snapshot lets it grow (19 MB for 14 MB of mail, measured on
//!   a full disk). After a batch the writer checks the WAL's size and, past
//!   [`WAL_TRUNCATE_AT`] or [`WAL_TRUNCATE_EVERY`] after the last time, runs
//!   `wal_checkpoint(TRUNCATE)` with a short busy timeout (a long reader only postpones
//!   it); `journal_size_limit` caps what is left after any other checkpoint.

use super::{SqliteStore, open_conn};
use crate::{Error, Result};
use rusqlite::{Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Orphaned body files younger than this are left alone.
pub(super) const ORPHAN_GRACE: Duration = Duration::from_secs(15 * 60);
/// The first sweep after `serve` starts, then one every [`SWEEP_EVERY`].
const SWEEP_FIRST: Duration = Duration::from_secs(5);
const SWEEP_EVERY: Duration = Duration::from_secs(10 * 60);
/// Directory entries looked at between two pauses of the sweep.
const SWEEP_BATCH: usize = 500;
const SWEEP_PAUSE: Duration = Duration::from_millis(20);
/// The WAL is truncated after a batch when it is larger than this...
pub(super) const WAL_TRUNCATE_AT: u64 = 8 << 20;
/// ...or when it holds anything and the last truncation is this old.
pub(super) const WAL_TRUNCATE_EVERY: Duration = Duration::from_secs(60);
/// What a WAL is cut back to after any checkpoint (`PRAGMA journal_size_limit`).
pub(super) const WAL_SIZE_LIMIT: u64 = 4 << 20;
/// The default reserve when the configuration names none: 1% of the file system, at
/// most 100 MiB.
pub const DEFAULT_MIN_FREE_CAP: u64 = 100 << 20;

/// The ballast file in `data_dir` (see the module notes).
const BALLAST: &str = "space.reserve";
const BALLAST_MAX: u64 = 8 << 20;

fn ballast_size(data_dir: &Path) -> u64 {
    disk_space(data_dir)
        .map(|(_, size)| (size / 50).min(BALLAST_MAX))
        .unwrap_or(BALLAST_MAX)
}

/// Writes the ballast file if it is missing and there is ample room (four times its size
/// besides the reserve).
pub(super) fn ensure_ballast(data_dir: &Path, reserve: &Reserve) {
    let path = data_dir.join(BALLAST);
    if path.exists() {
        return;
    }
    let size = ballast_size(data_dir);
    let room = disk_space(data_dir)
        .is_ok_and(|(free, _)| free > reserve.get().saturating_add(size.saturating_mul(4)));
    if !room {
        return;
    }
    let written = (|| -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&path)?;
        let zeros = vec![0u8; 1 << 20];
        let mut left = size;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            f.write_all(&zeros[..n])?;
            left -= n as u64;
        }
        f.sync_all()
    })();
    if let Err(e) = written {
        tracing::warn!("writing the space reserve file {}: {e}", path.display());
        let _ = std::fs::remove_file(&path);
    }
}

/// Deletes the ballast file when the disk is (next to) full, so the next batch has room
/// to record deletes. One `stat` per batch while the file is there.
pub(super) fn release_ballast_if_full(data_dir: &Path) {
    let path = data_dir.join(BALLAST);
    let Ok(meta) = std::fs::metadata(&path) else {
        return;
    };
    let full = disk_space(data_dir).is_ok_and(|(free, _)| free < meta.len());
    if full && std::fs::remove_file(&path).is_ok() {
        tracing::warn!(
            "disk full: released the {} octet space reserve file so that deletes can be recorded",
            meta.len()
        );
    }
}

/// Free octets for unprivileged users, and the size, of the file system holding `path`.
pub fn disk_space(path: &Path) -> std::io::Result<(u64, u64)> {
    let st = rustix::fs::statvfs(path).map_err(std::io::Error::from)?;
    Ok((
        st.f_bavail.saturating_mul(st.f_frsize),
        st.f_blocks.saturating_mul(st.f_frsize),
    ))
}

/// The default `min_free_space` for the file system holding `path`: 1% of its size or
/// [`DEFAULT_MIN_FREE_CAP`], whichever is smaller.
pub fn default_min_free(path: &Path) -> u64 {
    match disk_space(path) {
        Ok((_, size)) => (size / 100).min(DEFAULT_MIN_FREE_CAP),
        Err(_) => DEFAULT_MIN_FREE_CAP,
    }
}

/// The free-space reserve, shared by the store's writers and its indexer.
#[derive(Default)]
pub(super) struct Reserve {
    min_free: AtomicU64,
}

impl Reserve {
    pub(super) fn set(&self, octets: u64) {
        self.min_free.store(octets, Ordering::Relaxed);
    }

    pub(super) fn get(&self) -> u64 {
        self.min_free.load(Ordering::Relaxed)
    }

    /// [`Error::NoSpace`] while `dir`'s file system has less free than the reserve plus
    /// `more` (what the write is about to add).
    pub(super) fn check(&self, dir: &Path, more: u64) -> Result<()> {
        let min = self.get();
        if min == 0 {
            return Ok(());
        }
        let (free, _) = disk_space(dir)?;
        if free < min.saturating_add(more) {
            return Err(Error::NoSpace(format!(
                "{free} octets free, below the reserve of {min} (min_free_space)"
            )));
        }
        Ok(())
    }
}

/// Free space the body indexer leaves alone: it backs off while less than twice the
/// reserve (at least twice [`INDEX_FLOOR`]) is free, so that after a user has freed
/// room it is not the index that takes it (the index is about 3.4 times the text it
/// covers); SEARCH decodes unindexed messages meanwhile.
const INDEX_FLOOR: u64 = 32 << 20;

impl Reserve {
    /// Whether the indexer may write now (see [`INDEX_FLOOR`]).
    pub(super) fn room_to_index(&self, dir: &Path) -> bool {
        let want = self.get().max(INDEX_FLOOR).saturating_mul(2);
        match disk_space(dir) {
            Ok((free, _)) => free >= want,
            Err(_) => true,
        }
    }
}

/// Truncates the WAL if it is large, or has not been truncated for a while. Runs on the
/// writer thread between batches (never inside a transaction); a reader that holds an
/// old snapshot makes it give up within `busy`, to try again after a later batch.
pub(super) fn trim_wal(conn: &Connection, db_path: &Path, last: &mut Instant) {
    let wal = PathBuf::from(format!("{}-wal", db_path.display()));
    let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    let due = size > WAL_TRUNCATE_AT || (size > 0 && last.elapsed() >= WAL_TRUNCATE_EVERY);
    if !due {
        return;
    }
    *last = Instant::now();
    let _ = conn.busy_timeout(Duration::from_millis(50));
    let r: rusqlite::Result<(i64, i64, i64)> =
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        });
    let _ = conn.busy_timeout(Duration::from_secs(30));
    match r {
        Ok((0, _, _)) => tracing::debug!(wal_octets = size, "WAL truncated"),
        Ok(_) => tracing::debug!(wal_octets = size, "WAL truncation postponed: a reader"),
        Err(e) => tracing::debug!("WAL truncation postponed: {e}"),
    }
}

impl SqliteStore {
    /// Sets `[limits] min_free_space` (octets; 0 = no reserve). Use [`default_min_free`]
    /// for the documented default.
    pub fn set_min_free_space(&self, octets: u64) {
        self.reserve.set(octets);
    }

    /// Starts the background upkeep of a serving store (only `wharf serve` calls this):
    /// the orphan sweep, shortly after start and then every ten minutes. The thread holds
    /// the store weakly and ends with it.
    pub fn start_maintenance(self: &Arc<Self>) {
        let data_dir = self.data_dir();
        ensure_ballast(&data_dir, &self.reserve);
        let store = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("wharf-store-upkeep".into())
            .spawn(move || {
                let mut wait = SWEEP_FIRST;
                loop {
                    std::thread::sleep(wait);
                    wait = SWEEP_EVERY;
                    let Some(s) = store.upgrade() else { return };
                    let (db_path, root) = (s.db_path.clone(), s.blob_root.clone());
                    ensure_ballast(&s.data_dir(), &s.reserve);
                    drop(s);
                    match sweep_orphans(&db_path, &root, ORPHAN_GRACE, &store) {
                        Ok(0) => tracing::debug!("orphan sweep: nothing to remove"),
                        Ok(n) => {
                            tracing::info!("orphan sweep: removed {n} unreferenced body files")
                        }
                        Err(e) => tracing::warn!("orphan sweep: {e}"),
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("store upkeep not started ({e}); orphaned bodies stay");
        }
    }

    /// The data directory (where `wharf.db` is).
    fn data_dir(&self) -> PathBuf {
        self.db_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// Runs one orphan sweep now (tests, and `start_maintenance`); returns how many files
    /// it removed.
    pub fn sweep_orphans_now(self: &Arc<Self>, grace: Duration) -> Result<usize> {
        sweep_orphans(&self.db_path, &self.blob_root, grace, &Arc::downgrade(self))
    }
}

/// Deletes body files under `root` that no `blobs` row names and that are older than
/// `grace`, in batches (see the module notes). Stops early when the store is dropped.
fn sweep_orphans(
    db_path: &Path,
    root: &Path,
    grace: Duration,
    store: &std::sync::Weak<SqliteStore>,
) -> Result<usize> {
    let conn = open_conn(db_path)?;
    let cutoff = SystemTime::now() - grace;
    let mut removed = 0;
    let mut seen = 0usize;
    // Bodies live two levels down (day/bucket/name); older stores used one (xx/name).
    let mut dirs = vec![(root.to_path_buf(), 0)];
    while let Some((dir, depth)) = dirs.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        for entry in entries {
            seen += 1;
            if seen.is_multiple_of(SWEEP_BATCH) {
                if store.strong_count() == 0 {
                    return Ok(removed);
                }
                std::thread::sleep(SWEEP_PAUSE);
            }
            let entry = entry?;
            let path = entry.path();
            let ft = entry.file_type()?;
            if ft.is_dir() {
                if depth < 2 {
                    dirs.push((path, depth + 1));
                }
                continue;
            }
            if !ft.is_file() {
                continue;
            }
            let old = entry
                .metadata()?
                .modified()
                .map(|m| m < cutoff)
                .unwrap_or(false);
            if !old {
                continue;
            }
            let rel = path
                .strip_prefix(root)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let file = entry.file_name().to_string_lossy().into_owned();
            // The file's name in its row: the path under the root, or (older layout) the
            // bare name; both map back to this path.
            let known: Option<i64> = conn
                .prepare_cached("SELECT 1 FROM blobs WHERE name = ?1 OR name = ?2")?
                .query_row([&rel, &file], |r| r.get(0))
                .optional()?;
            // Bodies are never directly in the root: anything there is not ours.
            if known.is_some() || depth == 0 {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Address, DomainName, FlagOp, FlagUpdate, Flags, NewMessage, Secret, Store};

    fn msg(i: usize) -> NewMessage {
        NewMessage {
            raw: format!(
                "Subject: m{i}\r\nFrom: a@example.test\r\n\r\n{}\r\n",
                "x".repeat(i)
            )
            .into_bytes(),
            internal_date: None,
            flags: Flags::default(),
            keywords: vec![],
        }
    }

    /// A WAL grown large is cut back to nothing by the writer after a batch (it used to
    /// stay at its largest size: 19 MB for 14 MB of mail).
    #[tokio::test]
    async fn a_large_wal_is_truncated_after_a_batch() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let wal = dir.path().join("wharf.db-wal");
        // Grow the WAL past the threshold inside one transaction, while a reader holds
        // a snapshot (so no checkpoint can empty it meanwhile).
        let reader = Connection::open(dir.path().join("wharf.db")).unwrap();
        reader
            .execute_batch("BEGIN; SELECT count(*) FROM blobs;")
            .unwrap();
        store
            .write(|ctx| {
                ctx.conn.execute_batch(
                    "CREATE TABLE IF NOT EXISTS wal_filler (x BLOB);
                     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
                     INSERT INTO wal_filler SELECT randomblob(4000) FROM n;",
                )?;
                Ok(())
            })
            .await
            .unwrap();
        let grown = std::fs::metadata(&wal).unwrap().len();
        assert!(grown > WAL_TRUNCATE_AT, "WAL only {grown}");
        // The reader is gone: the next batch ends with the WAL truncated.
        reader.execute_batch("COMMIT").unwrap();
        drop(reader);
        store
            .write(|ctx| {
                ctx.conn.execute_batch("DELETE FROM wal_filler")?;
                Ok(())
            })
            .await
            .unwrap();
        let after = std::fs::metadata(&wal).unwrap().len();
        assert!(
            after <= WAL_SIZE_LIMIT,
            "WAL still {after} octets (was {grown})"
        );
    }

    /// Fault injection for a full disk without root: the database may not grow past its
    /// size (SQLITE_FULL, what a full disk gives). Concurrent deliveries get NoSpace
    /// (SMTP 452 4.3.1), never "no transaction is active", and the writer stays usable:
    /// flags, expunges, and new mail once room is made.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_full_database_refuses_mail_and_the_writer_stays_usable() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        store
            .domain_add(&DomainName::parse("example.test").unwrap())
            .await
            .unwrap();
        let alice = store
            .user_add(
                &Address::parse("alice@example.test").unwrap(),
                &Secret::new("pw"),
            )
            .await
            .unwrap();
        for i in 0..20 {
            store.deliver(&[alice.id], msg(i)).await.unwrap();
        }
        let inbox = store.mailbox_get(alice.id, "INBOX").await.unwrap().unwrap();
        store
            .write(|ctx| {
                let pages: i64 = ctx.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
                ctx.conn
                    .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))?;
                Ok(())
            })
            .await
            .unwrap();
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move { store.deliver(&[alice.id], msg(i * 40)).await })
            })
            .collect();
        let mut full = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => {}
                Err(Error::NoSpace(_)) => full += 1,
                Err(e) => panic!("a full database gave {e}"),
            }
        }
        assert!(full > 0, "the database never filled up");
        // Reads, flags and expunges go on at full.
        let snap = store.mailbox_snapshot(inbox.id).await.unwrap();
        let uids: Vec<_> = snap.messages.iter().map(|m| m.uid).collect();
        store
            .store_flags(
                inbox.id,
                FlagUpdate {
                    uids: uids.clone(),
                    op: FlagOp::Add,
                    flags: Flags::DELETED,
                    keywords: vec![],
                    unchanged_since: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(store.expunge(inbox.id, &uids).await.unwrap(), uids);
        // Room made: mail is taken again, by the same writer.
        store.deliver(&[alice.id], msg(1)).await.unwrap();
    }
}
