//! The file area that FTP serves: one home tree per account, shown to its owner as `/`.
//!
//! Protocol crates reach files only through the [`FileArea`] trait and name them only
//! with [`VPath`], a virtual path that cannot hold `..`, `/`, NUL, control characters or
//! the reserved temporary-file prefix. [`LocalFileArea`] keeps the trees on the local
//! disk under `<data_dir>/files/<account id>/`; an object-store backend can implement the
//! same trait later.
//!
//! Implementation notes (invariants [`LocalFileArea`] keeps):
//! - No path leaves the home: a `VPath` has only plain names, and every existing
//!   component on the way is checked with `symlink_metadata`; a symlink anywhere in the
//!   path is treated as absent (FTP cannot create symlinks, so one would have been
//!   planted from outside). Listings never show symlinks.
//! - A replacing upload ([`WriteMode::Replace`]) goes to a hidden temporary file in the
//!   same directory and is renamed over the target only by [`Upload::commit`], after
//!   `fsync` of the file and followed by `fsync` of the directory. Readers never see a
//!   half-written file; an aborted or dropped upload leaves nothing behind.
//! - Uploads are flushed while they arrive, not all at the end: each time
//!   [`WRITEBACK_EVERY`] more bytes are written, an `fdatasync` of the file starts in the
//!   background (one at a time), so that the final `fsync` before the reply has at most
//!   about that much left to write, and a big upload costs about the slower of network
//!   and disk instead of their sum. Its outcome is the upload's: an error there fails the
//!   commit. This changes when data reaches the disk, not what a reply promises.
//! - Appends and restarted uploads ([`WriteMode::Append`], [`WriteMode::At`]) write in
//!   place, on purpose: the client asked to extend what is there. What was written before
//!   an abort stays, which is what lets a client resume again.
//! - Names starting with [`RESERVED_PREFIX`] are Wharf's own (temporary uploads); they
//!   are hidden from listings and cannot be named by clients.
//! - Quota is reserved, not checked once per session: an upload with a quota joins its
//!   home's ledger when it opens (the first one measures the home, with no other upload of
//!   this process starting meanwhile) and reserves every write against it before the
//!   bytes reach the disk, under one lock, so parallel uploads of one owner cannot pass
//!   the quota together (six parallel 600 kB uploads against 1,000,000 bytes stored 3 MB
//!   when each session checked alone). A replacing upload that is aborted gives its bytes
//!   back; otherwise the ledger is settled when the owner's last upload ends and the next
//!   one measures again. Within one server process: several nodes sharing a tree would
//!   need the ledger in the database.
//! - A full disk is [`FileError::NoSpace`] (FTP 452), not the owner's quota (552), and so
//!   is free space below the `[limits] min_free_space` reserve ([`LocalFileArea::set_min_free`]):
//!   uploads stop there, deletes go on.

use crate::AccountId;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncWriteExt};

/// Longest single name, in octets (what Linux file systems allow).
pub const MAX_NAME_LEN: usize = 255;
/// Longest virtual path, in octets.
pub const MAX_PATH_LEN: usize = 4096;
/// Deepest directory nesting a path may have.
pub const MAX_DEPTH: usize = 64;
/// Names with this prefix are Wharf's own temporary files.
pub const RESERVED_PREFIX: &str = ".wharf-";
/// An upload starts writing back to disk each time this much more has arrived (see the
/// module notes), so that little is left to flush when it ends.
const WRITEBACK_EVERY: u64 = 32 << 20;

/// What can go wrong in the file area. Protocol crates map each kind onto their reply
/// (FTP: 550, 553, 552, 451...).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("no such file or directory")]
    NotFound,
    #[error("file exists")]
    AlreadyExists,
    #[error("not a directory")]
    NotADirectory,
    #[error("is a directory")]
    IsADirectory,
    #[error("directory not empty")]
    NotEmpty,
    /// The name or path cannot be used (bad characters, reserved, too long, `/`).
    #[error("{0}")]
    InvalidName(String),
    /// The operation would exceed the owner's storage allowance.
    #[error("storage quota exceeded")]
    QuotaExceeded,
    /// The file system is full (or below the configured free-space reserve).
    #[error("insufficient storage space")]
    NoSpace,
    /// The area is read-only (the anonymous area).
    #[error("read-only file area")]
    ReadOnly,
    /// A restart offset beyond the end of the file.
    #[error("offset beyond end of file")]
    BadOffset,
    #[error("I/O error: {0}")]
    Io(io::Error),
}

impl From<io::Error> for FileError {
    fn from(e: io::Error) -> FileError {
        match e.kind() {
            io::ErrorKind::NotFound => FileError::NotFound,
            io::ErrorKind::AlreadyExists => FileError::AlreadyExists,
            io::ErrorKind::NotADirectory => FileError::NotADirectory,
            io::ErrorKind::IsADirectory => FileError::IsADirectory,
            io::ErrorKind::DirectoryNotEmpty => FileError::NotEmpty,
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                FileError::ReadOnly
            }
            io::ErrorKind::InvalidInput => FileError::InvalidName(e.to_string()),
            // ENOSPC, and EDQUOT (the file system's own quota for the server's user): the
            // server is out of room, which is not the owner's quota (RFC 959: 452).
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => FileError::NoSpace,
            _ => FileError::Io(e),
        }
    }
}

/// Result of a file-area operation.
pub type FileResult<T> = std::result::Result<T, FileError>;

/// Checks one path component: not empty, not `.` or `..`, no `/`, NUL or control
/// character, not reserved, at most [`MAX_NAME_LEN`] octets.
pub fn validate_name(name: &str) -> FileResult<()> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(FileError::InvalidName(format!(
            "{name:?} is not a file name"
        )));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(FileError::InvalidName("file name too long".into()));
    }
    if name.chars().any(|c| c == '/' || c.is_control()) {
        return Err(FileError::InvalidName(
            "file name contains '/' or a control character".into(),
        ));
    }
    if name.starts_with(RESERVED_PREFIX) {
        return Err(FileError::InvalidName(format!(
            "names starting with {RESERVED_PREFIX} are reserved"
        )));
    }
    Ok(())
}

/// A path inside one home tree: a list of validated names, root = empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct VPath {
    parts: Vec<String>,
}

impl VPath {
    pub fn root() -> VPath {
        VPath::default()
    }

    pub fn is_root(&self) -> bool {
        self.parts.is_empty()
    }

    pub fn components(&self) -> &[String] {
        &self.parts
    }

    /// The last component; `None` for the root.
    pub fn name(&self) -> Option<&str> {
        self.parts.last().map(String::as_str)
    }

    /// The containing directory (the root is its own parent).
    pub fn parent(&self) -> VPath {
        let mut parts = self.parts.clone();
        parts.pop();
        VPath { parts }
    }

    /// This path with one more validated component.
    pub fn join(&self, name: &str) -> FileResult<VPath> {
        validate_name(name)?;
        if self.parts.len() >= MAX_DEPTH {
            return Err(FileError::InvalidName("path too deep".into()));
        }
        let mut parts = self.parts.clone();
        parts.push(name.to_string());
        Ok(VPath { parts })
    }

    /// Whether `self` is `other` or lies below it.
    pub fn starts_with(&self, other: &VPath) -> bool {
        self.parts.len() >= other.parts.len() && self.parts[..other.parts.len()] == other.parts
    }

    /// Resolves a client's path argument against the current directory, the way a
    /// chrooted Unix FTP server does: a leading `/` starts at the home's root, empty
    /// components and `.` are skipped, `..` goes up and stops at the root (so `/../..`
    /// is `/`). Every remaining name is validated.
    pub fn resolve(cwd: &VPath, arg: &str) -> FileResult<VPath> {
        if arg.len() > MAX_PATH_LEN {
            return Err(FileError::InvalidName("path too long".into()));
        }
        let mut parts = if arg.starts_with('/') {
            Vec::new()
        } else {
            cwd.parts.clone()
        };
        for part in arg.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                name => {
                    validate_name(name)?;
                    if parts.len() >= MAX_DEPTH {
                        return Err(FileError::InvalidName("path too deep".into()));
                    }
                    parts.push(name.to_string());
                }
            }
        }
        Ok(VPath { parts })
    }
}

impl fmt::Display for VPath {
    /// `/a/b`; the root is `/`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.parts.is_empty() {
            return f.write_str("/");
        }
        for p in &self.parts {
            write!(f, "/{p}")?;
        }
        Ok(())
    }
}

/// Kind of a directory entry (symlinks and special files are never shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
}

/// One file or directory, as listings and `stat` report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's own name (`/` for the root).
    pub name: String,
    pub kind: EntryKind,
    /// Size in octets (0 for directories).
    pub size: u64,
    /// Last modification, Unix seconds (UTC).
    pub modified: i64,
    /// A token that stays the same for the same file across names (RFC 3659 `unique`).
    pub unique: String,
}

/// How an upload treats an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Write a new file and replace the target atomically on commit.
    Replace,
    /// Append in place (created if missing).
    Append,
    /// Write in place from this offset, truncating there first (a resumed upload).
    At(u64),
}

/// An upload in progress. Dropping it without [`Upload::commit`] is an abort.
#[async_trait::async_trait]
pub trait Upload: Send {
    /// Writes the next bytes. Fails with [`FileError::QuotaExceeded`] (writing nothing
    /// of `data`) when the owner's quota would be passed, counting every upload of the
    /// owner in flight.
    async fn write(&mut self, data: &[u8]) -> FileResult<()>;
    /// Bytes written so far by this upload.
    fn written(&self) -> u64;
    /// Makes the upload durable (fsync) and visible; returns the bytes written.
    async fn commit(self: Box<Self>) -> FileResult<u64>;
    /// Gives up: a replacing upload leaves no trace; an in-place one keeps what was
    /// written (synced).
    async fn abort(self: Box<Self>);
}

/// A file opened for reading, positioned at the requested offset.
pub struct Download {
    pub reader: Box<dyn AsyncRead + Send + Unpin>,
    /// Size of the whole file.
    pub size: u64,
    /// Where `reader` starts (the requested offset, clamped to `size`).
    pub offset: u64,
    /// The same file as a local descriptor, for zero-copy sends (`sendfile`) by callers
    /// that can use one; `None` for backends that are not local files. Read the bytes
    /// either from `reader` or from here (at `offset`), not both.
    pub file: Option<std::fs::File>,
}

/// Per-owner file trees. Every method is safe to call concurrently.
#[async_trait::async_trait]
pub trait FileArea: Send + Sync + 'static {
    /// Creates the owner's home if it does not exist yet.
    async fn ensure_home(&self, owner: AccountId) -> FileResult<()>;
    /// Whether the area refuses every change.
    fn read_only(&self) -> bool;
    async fn stat(&self, owner: AccountId, path: &VPath) -> FileResult<Entry>;
    /// The entries of a directory, sorted by name, at most `max` of them.
    async fn list(&self, owner: AccountId, dir: &VPath, max: usize) -> FileResult<Vec<Entry>>;
    async fn mkdir(&self, owner: AccountId, path: &VPath) -> FileResult<()>;
    /// Removes an empty directory.
    async fn rmdir(&self, owner: AccountId, path: &VPath) -> FileResult<()>;
    /// Removes a file.
    async fn delete(&self, owner: AccountId, path: &VPath) -> FileResult<()>;
    /// Renames a file or directory; an existing file at `to` is replaced, an existing
    /// directory is not.
    async fn rename(&self, owner: AccountId, from: &VPath, to: &VPath) -> FileResult<()>;
    /// Sets a file's modification time (Unix seconds).
    async fn set_modified(&self, owner: AccountId, path: &VPath, unix: i64) -> FileResult<()>;
    /// Octets used by the owner's files.
    async fn usage(&self, owner: AccountId) -> FileResult<u64>;
    /// Opens a file for reading from `offset` (clamped to the file's size).
    async fn open_read(&self, owner: AccountId, path: &VPath, offset: u64) -> FileResult<Download>;
    /// Starts an upload. `quota` bounds what the owner's files may use, this upload and
    /// every other one of the owner in flight included (see the module notes); `None` =
    /// unbounded. Refused at once when the owner is at the quota already.
    async fn open_write(
        &self,
        owner: AccountId,
        path: &VPath,
        mode: WriteMode,
        quota: Option<u64>,
    ) -> FileResult<Box<dyn Upload>>;
}

/// The embedded backend: trees on the local disk.
pub struct LocalFileArea {
    root: PathBuf,
    /// Every owner sees `root` itself (the anonymous area) instead of `root/<id>`.
    shared: bool,
    read_only: bool,
    /// Bytes an upload writes between two early writebacks ([`WRITEBACK_EVERY`]).
    writeback_every: u64,
    /// Quota ledgers of the homes with uploads in flight (see the module notes).
    ledgers: Arc<Mutex<HashMap<PathBuf, Ledger>>>,
    /// Held while an upload with a quota joins or starts its home's ledger.
    opening: tokio::sync::Mutex<()>,
    /// Uploads are refused while the file system has less free space than this.
    min_free: std::sync::atomic::AtomicU64,
}

/// What a home with uploads in flight uses: `base` measured when the first of them
/// opened, plus every byte reserved since.
struct Ledger {
    base: u64,
    added: u64,
    uploads: usize,
}

/// One upload's place in its home's ledger; dropping it ends the upload there.
struct Reservation {
    ledgers: Arc<Mutex<HashMap<PathBuf, Ledger>>>,
    home: PathBuf,
    quota: u64,
}

impl Reservation {
    /// Reserves `n` more bytes, or refuses without reserving any.
    fn take(&self, n: u64) -> FileResult<()> {
        let mut ledgers = self.ledgers.lock().unwrap_or_else(|e| e.into_inner());
        let l = ledgers
            .get_mut(&self.home)
            .ok_or_else(|| FileError::Io(io::Error::other("quota ledger missing")))?;
        if l.base.saturating_add(l.added).saturating_add(n) > self.quota {
            return Err(FileError::QuotaExceeded);
        }
        l.added += n;
        Ok(())
    }

    /// Gives back bytes that never stayed on disk (an aborted replacing upload).
    fn give_back(&self, n: u64) {
        let mut ledgers = self.ledgers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = ledgers.get_mut(&self.home) {
            l.added = l.added.saturating_sub(n);
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut ledgers = self.ledgers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = ledgers.get_mut(&self.home) {
            l.uploads -= 1;
            if l.uploads == 0 {
                ledgers.remove(&self.home);
            }
        }
    }
}

/// Free octets for unprivileged users on the file system holding `path`.
pub fn free_space(path: &Path) -> io::Result<u64> {
    let st = rustix::fs::statvfs(path).map_err(io::Error::from)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

impl LocalFileArea {
    /// Per-account homes under `root/<account id>/`; `root` is created if missing.
    pub fn new(root: impl Into<PathBuf>) -> io::Result<Arc<LocalFileArea>> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        Ok(Arc::new(LocalFileArea {
            root,
            shared: false,
            read_only: false,
            writeback_every: WRITEBACK_EVERY,
            ledgers: Arc::default(),
            opening: tokio::sync::Mutex::new(()),
            min_free: std::sync::atomic::AtomicU64::new(0),
        }))
    }

    /// One tree that every owner sees as its `/` (e.g. the anonymous area). It must exist.
    pub fn shared(root: impl Into<PathBuf>, read_only: bool) -> io::Result<Arc<LocalFileArea>> {
        let root = root.into();
        if !std::fs::metadata(&root)?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is not a directory", root.display()),
            ));
        }
        Ok(Arc::new(LocalFileArea {
            root,
            shared: true,
            read_only,
            writeback_every: WRITEBACK_EVERY,
            ledgers: Arc::default(),
            opening: tokio::sync::Mutex::new(()),
            min_free: std::sync::atomic::AtomicU64::new(0),
        }))
    }

    /// Refuses uploads ([`FileError::NoSpace`]) while the file system holding the area
    /// has less than `octets` free (`[limits] min_free_space`), so that a full disk
    /// still leaves room for the database to record deletes.
    pub fn set_min_free(&self, octets: u64) {
        self.min_free
            .store(octets, std::sync::atomic::Ordering::Relaxed);
    }

    /// Joins (or starts) the ledger of `home` for an upload under `quota`.
    async fn reserve(&self, home: &Path, quota: u64) -> FileResult<Reservation> {
        let _opening = self.opening.lock().await;
        let reservation = Reservation {
            ledgers: self.ledgers.clone(),
            home: home.to_path_buf(),
            quota,
        };
        {
            let mut ledgers = self.ledgers.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(l) = ledgers.get_mut(home) {
                if l.base.saturating_add(l.added) >= quota {
                    return Err(FileError::QuotaExceeded);
                }
                l.uploads += 1;
                return Ok(reservation);
            }
        }
        // No upload of this home is in flight, and none can start while we hold
        // `opening`: what the disk holds now is the whole story.
        let dir = home.to_path_buf();
        let used = blocking(move || match dir_usage(&dir, 0) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e.into()),
        })
        .await?;
        if used >= quota {
            return Err(FileError::QuotaExceeded);
        }
        self.ledgers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                home.to_path_buf(),
                Ledger {
                    base: used,
                    added: 0,
                    uploads: 1,
                },
            );
        Ok(reservation)
    }

    /// [`FileError::NoSpace`] when the free space is under the reserve.
    async fn check_free(&self) -> FileResult<()> {
        let min = self.min_free.load(std::sync::atomic::Ordering::Relaxed);
        if min == 0 {
            return Ok(());
        }
        let root = self.root.clone();
        let free = blocking(move || Ok(free_space(&root)?)).await?;
        if free < min {
            tracing::warn!(
                free,
                min_free_space = min,
                "upload refused: low on disk space"
            );
            return Err(FileError::NoSpace);
        }
        Ok(())
    }

    fn home(&self, owner: AccountId) -> PathBuf {
        if self.shared {
            self.root.clone()
        } else {
            self.root.join(owner.0.to_string())
        }
    }

    fn writable(&self) -> FileResult<()> {
        if self.read_only {
            Err(FileError::ReadOnly)
        } else {
            Ok(())
        }
    }
}

/// Maps a virtual path to the real one, refusing any symlink on the way. Components
/// past the first missing one are not checked (they cannot exist).
fn real_path(home: &Path, path: &VPath) -> FileResult<PathBuf> {
    let mut real = home.to_path_buf();
    let mut exists = true;
    for part in path.components() {
        real.push(part);
        if exists {
            match std::fs::symlink_metadata(&real) {
                Ok(m) if m.file_type().is_symlink() => return Err(FileError::NotFound),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => exists = false,
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(real)
}

fn unix_secs(t: io::Result<SystemTime>) -> i64 {
    match t {
        Ok(t) => match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs() as i64),
        },
        Err(_) => 0,
    }
}

fn entry_of(name: String, meta: &std::fs::Metadata) -> Option<Entry> {
    use std::os::unix::fs::MetadataExt;
    let ft = meta.file_type();
    let kind = if ft.is_dir() {
        EntryKind::Dir
    } else if ft.is_file() {
        EntryKind::File
    } else {
        return None;
    };
    Some(Entry {
        name,
        kind,
        size: if kind == EntryKind::File {
            meta.len()
        } else {
            0
        },
        modified: unix_secs(meta.modified()),
        unique: format!("{:x}g{:x}", meta.dev(), meta.ino()),
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> FileResult<T> + Send + 'static,
) -> FileResult<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(FileError::Io(io::Error::other(e.to_string()))),
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn dir_usage(dir: &Path, depth: usize) -> io::Result<u64> {
    let mut total = 0u64;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let ft = entry.file_type()?;
        if ft.is_file() {
            total = total.saturating_add(entry.metadata()?.len());
        } else if ft.is_dir() && depth < MAX_DEPTH + 1 {
            total = total.saturating_add(dir_usage(&entry.path(), depth + 1)?);
        }
    }
    Ok(total)
}

#[async_trait::async_trait]
impl FileArea for LocalFileArea {
    async fn ensure_home(&self, owner: AccountId) -> FileResult<()> {
        let home = self.home(owner);
        blocking(move || match std::fs::symlink_metadata(&home) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(FileError::NotADirectory),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&home)?;
                if let Some(parent) = home.parent() {
                    sync_dir(parent)?;
                }
                Ok(())
            }
            Err(e) => Err(e.into()),
        })
        .await
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    async fn stat(&self, owner: AccountId, path: &VPath) -> FileResult<Entry> {
        let home = self.home(owner);
        let path = path.clone();
        blocking(move || {
            let real = real_path(&home, &path)?;
            let meta = std::fs::symlink_metadata(&real)?;
            let name = path.name().unwrap_or("/").to_string();
            entry_of(name, &meta).ok_or(FileError::NotFound)
        })
        .await
    }

    async fn list(&self, owner: AccountId, dir: &VPath, max: usize) -> FileResult<Vec<Entry>> {
        let home = self.home(owner);
        let dir = dir.clone();
        blocking(move || {
            let real = real_path(&home, &dir)?;
            if !std::fs::symlink_metadata(&real)?.is_dir() {
                return Err(FileError::NotADirectory);
            }
            let mut out = Vec::new();
            for entry in std::fs::read_dir(&real)? {
                let entry = entry?;
                // Names that are not UTF-8 cannot be shown (RFC 2640 paths are UTF-8).
                let Ok(name) = entry.file_name().into_string() else {
                    continue;
                };
                if name.starts_with(RESERVED_PREFIX) {
                    continue;
                }
                let Ok(meta) = entry.metadata() else { continue };
                if let Some(e) = entry_of(name, &meta) {
                    out.push(e);
                }
                if out.len() >= max {
                    break;
                }
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        })
        .await
    }

    async fn mkdir(&self, owner: AccountId, path: &VPath) -> FileResult<()> {
        self.writable()?;
        if path.is_root() {
            return Err(FileError::AlreadyExists);
        }
        let home = self.home(owner);
        let path = path.clone();
        blocking(move || {
            let real = real_path(&home, &path)?;
            std::fs::create_dir(&real)?;
            if let Some(parent) = real.parent() {
                sync_dir(parent)?;
            }
            Ok(())
        })
        .await
    }

    async fn rmdir(&self, owner: AccountId, path: &VPath) -> FileResult<()> {
        self.writable()?;
        if path.is_root() {
            return Err(FileError::InvalidName(
                "cannot remove the home directory".into(),
            ));
        }
        let home = self.home(owner);
        let path = path.clone();
        blocking(move || {
            let real = real_path(&home, &path)?;
            if !std::fs::symlink_metadata(&real)?.is_dir() {
                return Err(FileError::NotADirectory);
            }
            std::fs::remove_dir(&real)?;
            Ok(())
        })
        .await
    }

    async fn delete(&self, owner: AccountId, path: &VPath) -> FileResult<()> {
        self.writable()?;
        let home = self.home(owner);
        let path = path.clone();
        blocking(move || {
            let real = real_path(&home, &path)?;
            let meta = std::fs::symlink_metadata(&real)?;
            if meta.is_dir() {
                return Err(FileError::IsADirectory);
            }
            std::fs::remove_file(&real)?;
            Ok(())
        })
        .await
    }

    async fn rename(&self, owner: AccountId, from: &VPath, to: &VPath) -> FileResult<()> {
        self.writable()?;
        if from.is_root() || to.is_root() {
            return Err(FileError::InvalidName(
                "cannot rename the home directory".into(),
            ));
        }
        if to.starts_with(from) {
            return Err(FileError::InvalidName(
                "cannot move a directory into itself".into(),
            ));
        }
        let home = self.home(owner);
        let (from, to) = (from.clone(), to.clone());
        blocking(move || {
            let src = real_path(&home, &from)?;
            let dst = real_path(&home, &to)?;
            std::fs::symlink_metadata(&src)?;
            match std::fs::symlink_metadata(&dst) {
                Ok(m) if m.is_dir() => return Err(FileError::AlreadyExists),
                _ => {}
            }
            std::fs::rename(&src, &dst)?;
            if let Some(parent) = dst.parent() {
                sync_dir(parent)?;
            }
            Ok(())
        })
        .await
    }

    async fn set_modified(&self, owner: AccountId, path: &VPath, unix: i64) -> FileResult<()> {
        self.writable()?;
        let home = self.home(owner);
        let path = path.clone();
        blocking(move || {
            let real = real_path(&home, &path)?;
            if std::fs::symlink_metadata(&real)?.is_dir() {
                return Err(FileError::IsADirectory);
            }
            let t = if unix >= 0 {
                UNIX_EPOCH + Duration::from_secs(unix as u64)
            } else {
                UNIX_EPOCH - Duration::from_secs(unix.unsigned_abs())
            };
            std::fs::OpenOptions::new()
                .write(true)
                .open(&real)?
                .set_modified(t)?;
            Ok(())
        })
        .await
    }

    async fn usage(&self, owner: AccountId) -> FileResult<u64> {
        let home = self.home(owner);
        blocking(move || match dir_usage(&home, 0) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e.into()),
        })
        .await
    }

    async fn open_read(&self, owner: AccountId, path: &VPath, offset: u64) -> FileResult<Download> {
        let home = self.home(owner);
        let path = path.clone();
        let (file, dup, size) = blocking(move || {
            use std::io::{Seek, SeekFrom};
            let real = real_path(&home, &path)?;
            let mut file = std::fs::File::open(&real)?;
            let meta = file.metadata()?;
            if meta.is_dir() {
                return Err(FileError::IsADirectory);
            }
            if !meta.is_file() {
                return Err(FileError::NotFound);
            }
            let size = meta.len();
            file.seek(SeekFrom::Start(offset.min(size)))?;
            let dup = file.try_clone().ok();
            Ok((file, dup, size))
        })
        .await?;
        let mut file = tokio::fs::File::from_std(file);
        // Bigger reads per blocking hop: streaming throughput.
        file.set_max_buf_size(1 << 20);
        Ok(Download {
            reader: Box::new(file),
            size,
            offset: offset.min(size),
            file: dup,
        })
    }

    async fn open_write(
        &self,
        owner: AccountId,
        path: &VPath,
        mode: WriteMode,
        quota: Option<u64>,
    ) -> FileResult<Box<dyn Upload>> {
        self.writable()?;
        let Some(name) = path.name() else {
            return Err(FileError::IsADirectory);
        };
        let name = name.to_string();
        self.check_free().await?;
        let home = self.home(owner);
        let reservation = match quota {
            Some(q) => Some(self.reserve(&home, q).await?),
            None => None,
        };
        let path = path.clone();
        let (file, temp, target) = blocking(move || {
            let target = real_path(&home, &path)?;
            let dir = target.parent().ok_or(FileError::NotFound)?.to_path_buf();
            if !std::fs::symlink_metadata(&dir)?.is_dir() {
                return Err(FileError::NotADirectory);
            }
            match std::fs::symlink_metadata(&target) {
                Ok(m) if !m.is_file() => return Err(FileError::IsADirectory),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            match mode {
                WriteMode::Replace => {
                    let temp = dir.join(format!(
                        "{RESERVED_PREFIX}upload-{:016x}-{}",
                        rand::random::<u64>(),
                        name.len()
                    ));
                    let file = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&temp)?;
                    Ok((file, Some(temp), target))
                }
                WriteMode::Append => {
                    let file = std::fs::OpenOptions::new()
                        .append(true)
                        .create(true)
                        .open(&target)?;
                    Ok((file, None, target))
                }
                WriteMode::At(offset) => {
                    use std::io::{Seek, SeekFrom};
                    // RFC 959 REST: a restart point is inside a file that exists; one
                    // that does not is refused here, without creating an empty file.
                    let mut file = match std::fs::OpenOptions::new()
                        .write(true)
                        .truncate(false)
                        .open(&target)
                    {
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {
                            return Err(FileError::BadOffset);
                        }
                        r => r?,
                    };
                    if offset > file.metadata()?.len() {
                        return Err(FileError::BadOffset);
                    }
                    file.set_len(offset)?;
                    file.seek(SeekFrom::Start(offset))?;
                    Ok((file, None, target))
                }
            }
        })
        .await?;
        Ok(Box::new(LocalUpload::new(
            file,
            temp,
            target,
            reservation,
            self.writeback_every,
        )?))
    }
}

/// An upload to the local disk (see the module notes for its durability rules).
struct LocalUpload {
    file: Option<tokio::fs::File>,
    /// Another descriptor of the same open file, for the early writeback.
    early: Arc<std::fs::File>,
    /// The early writeback in progress, if any: at most one at a time.
    writeback: Option<tokio::task::JoinHandle<io::Result<()>>>,
    /// Bytes written between two early writebacks.
    writeback_every: u64,
    /// What `written` was when the last early writeback started.
    written_at_writeback: u64,
    /// The temporary file of a replacing upload; `None` once committed or removed, and
    /// for in-place writes.
    temp: Option<PathBuf>,
    target: PathBuf,
    written: u64,
    /// The upload's place in its owner's quota ledger, when there is a quota.
    reservation: Option<Reservation>,
}

impl LocalUpload {
    fn new(
        file: std::fs::File,
        temp: Option<PathBuf>,
        target: PathBuf,
        reservation: Option<Reservation>,
        writeback_every: u64,
    ) -> io::Result<LocalUpload> {
        let early = Arc::new(file.try_clone()?);
        let mut file = tokio::fs::File::from_std(file);
        file.set_max_buf_size(1 << 20);
        Ok(LocalUpload {
            file: Some(file),
            early,
            writeback: None,
            writeback_every,
            written_at_writeback: 0,
            temp,
            target,
            written: 0,
            reservation,
        })
    }

    /// Starts an `fdatasync` of what has been written so far, in the background, once
    /// `writeback_every` bytes have come since the last one started and it has ended.
    async fn start_writeback(&mut self) -> FileResult<()> {
        if self.written - self.written_at_writeback < self.writeback_every {
            return Ok(());
        }
        if let Some(done) = self.writeback.take_if(|w| w.is_finished()) {
            // Ended: this does not wait. Its error is the upload's (see `sync`).
            done.await.map_err(|e| io::Error::other(e.to_string()))??;
        }
        if self.writeback.is_some() {
            return Ok(());
        }
        let file = Arc::clone(&self.early);
        self.written_at_writeback = self.written;
        self.writeback = Some(tokio::task::spawn_blocking(move || file.sync_data()));
        Ok(())
    }

    async fn sync(&mut self) -> FileResult<()> {
        if let Some(file) = self.file.as_mut() {
            file.flush().await?;
            // The early writeback's error must fail the upload: the descriptors share
            // one open file, and Linux reports a writeback error once per open file, so
            // the `sync_all` below would not see an error that `sync_data` already took.
            if let Some(running) = self.writeback.take() {
                running
                    .await
                    .map_err(|e| io::Error::other(e.to_string()))??;
            }
            file.sync_all().await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Upload for LocalUpload {
    async fn write(&mut self, data: &[u8]) -> FileResult<()> {
        if self.file.is_none() {
            return Err(FileError::Io(io::Error::other("upload already finished")));
        }
        // Reserved before the bytes reach the disk (see the module notes).
        if let Some(r) = &self.reservation {
            r.take(data.len() as u64)?;
        }
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| FileError::Io(io::Error::other("upload already finished")))?;
        if let Err(e) = file.write_all(data).await {
            // Part of `data` may be on disk; keep it counted (the ledger errs high).
            return Err(e.into());
        }
        self.written += data.len() as u64;
        self.start_writeback().await
    }

    fn written(&self) -> u64 {
        self.written
    }

    async fn commit(mut self: Box<Self>) -> FileResult<u64> {
        self.sync().await?;
        self.file = None;
        if let Some(temp) = self.temp.clone() {
            let target = self.target.clone();
            blocking(move || {
                std::fs::rename(&temp, &target)?;
                if let Some(dir) = target.parent() {
                    sync_dir(dir)?;
                }
                Ok(())
            })
            .await?;
            self.temp = None;
        }
        Ok(self.written)
    }

    async fn abort(mut self: Box<Self>) {
        if self.temp.is_none() {
            // In place: keep what arrived, durably, so the client can resume from it.
            if let Err(e) = self.sync().await {
                tracing::warn!(file = %self.target.display(), "sync after aborted upload: {e}");
            }
        }
        self.file = None;
        if let Some(temp) = self.temp.take() {
            let _ = tokio::fs::remove_file(&temp).await;
            if let Some(r) = &self.reservation {
                r.give_back(self.written);
            }
        }
    }
}

impl Drop for LocalUpload {
    fn drop(&mut self) {
        // An upload dropped mid-way (its task cancelled) must not leave a temp file.
        if let Some(temp) = self.temp.take() {
            let _ = std::fs::remove_file(temp);
            if let Some(r) = &self.reservation {
                r.give_back(self.written);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    const A: AccountId = AccountId(7);

    fn p(s: &str) -> VPath {
        VPath::resolve(&VPath::root(), s).unwrap()
    }

    #[test]
    fn resolve_stays_inside_the_home() {
        let cwd = p("/a/b");
        for (arg, want) in [
            ("c", "/a/b/c"),
            ("/c", "/c"),
            ("..", "/a"),
            ("../..", "/"),
            ("../../../../etc/passwd", "/etc/passwd"),
            ("/../../..", "/"),
            ("./x/./y//z/", "/a/b/x/y/z"),
            ("", "/a/b"),
            ("%2e%2e/%2e%2e", "/a/b/%2e%2e/%2e%2e"),
            ("..\\..", "/a/b/..\\.."),
        ] {
            assert_eq!(
                VPath::resolve(&cwd, arg).unwrap().to_string(),
                want,
                "{arg}"
            );
        }
    }

    #[test]
    fn resolve_refuses_bad_names() {
        for arg in [
            "a\0b",
            "x/\u{1}",
            "dir/.wharf-upload-1",
            &"n".repeat(256),
            &"d/".repeat(65),
        ] {
            assert!(
                matches!(
                    VPath::resolve(&VPath::root(), arg),
                    Err(FileError::InvalidName(_))
                ),
                "{arg:?}"
            );
        }
    }

    #[tokio::test]
    async fn homes_are_separate_and_created_on_demand() {
        let dir = tempfile::tempdir().unwrap();
        let area = LocalFileArea::new(dir.path()).unwrap();
        area.ensure_home(A).await.unwrap();
        area.ensure_home(AccountId(8)).await.unwrap();
        let mut up = area
            .open_write(A, &p("f"), WriteMode::Replace, None)
            .await
            .unwrap();
        up.write(b"hello").await.unwrap();
        up.commit().await.unwrap();
        assert_eq!(area.stat(A, &p("f")).await.unwrap().size, 5);
        assert!(matches!(
            area.stat(AccountId(8), &p("f")).await,
            Err(FileError::NotFound)
        ));
        assert!(dir.path().join("7/f").exists());
    }

    #[tokio::test]
    async fn replace_is_invisible_until_commit_and_abort_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let area = LocalFileArea::new(dir.path()).unwrap();
        area.ensure_home(A).await.unwrap();
        let mut up = area
            .open_write(A, &p("f"), WriteMode::Replace, None)
            .await
            .unwrap();
        up.write(b"partial").await.unwrap();
        assert!(matches!(
            area.stat(A, &p("f")).await,
            Err(FileError::NotFound)
        ));
        assert!(area.list(A, &VPath::root(), 100).await.unwrap().is_empty());
        up.abort().await;
        assert_eq!(std::fs::read_dir(dir.path().join("7")).unwrap().count(), 0);

        // Dropping without commit is an abort too.
        let mut up = area
            .open_write(A, &p("g"), WriteMode::Replace, None)
            .await
            .unwrap();
        up.write(b"x").await.unwrap();
        drop(up);
        assert_eq!(std::fs::read_dir(dir.path().join("7")).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn uploads_written_back_early_commit_every_byte_or_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // Early writeback every 4 bytes instead of every 32 MiB.
        let area = Arc::new(LocalFileArea {
            root: dir.path().into(),
            shared: false,
            read_only: false,
            writeback_every: 4,
            ledgers: Arc::default(),
            opening: tokio::sync::Mutex::new(()),
            min_free: std::sync::atomic::AtomicU64::new(0),
        });
        area.ensure_home(A).await.unwrap();
        let mut expected = Vec::new();
        let mut up = area
            .open_write(A, &p("f"), WriteMode::Replace, None)
            .await
            .unwrap();
        for i in 0..50u8 {
            up.write(&[i; 3]).await.unwrap();
            expected.extend_from_slice(&[i; 3]);
        }
        assert_eq!(up.commit().await.unwrap(), 150);
        assert_eq!(std::fs::read(dir.path().join("7/f")).unwrap(), expected);

        let mut up = area
            .open_write(A, &p("g"), WriteMode::Replace, None)
            .await
            .unwrap();
        for _ in 0..10 {
            up.write(b"xyz").await.unwrap();
        }
        up.abort().await;
        assert_eq!(std::fs::read_dir(dir.path().join("7")).unwrap().count(), 1);

        let mut up = area
            .open_write(A, &p("f"), WriteMode::Append, None)
            .await
            .unwrap();
        for _ in 0..10 {
            up.write(b"xyz").await.unwrap();
        }
        up.abort().await;
        expected.extend_from_slice(&b"xyz".repeat(10));
        assert_eq!(std::fs::read(dir.path().join("7/f")).unwrap(), expected);
    }

    #[tokio::test]
    async fn an_early_writeback_starts_each_time_enough_has_been_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = std::fs::File::create(&path).unwrap();
        let mut up = LocalUpload::new(file, None, path.clone(), None, 10).unwrap();
        up.write(&[1; 9]).await.unwrap();
        assert!(up.writeback.is_none(), "9 bytes: not yet");
        up.write(&[2; 1]).await.unwrap();
        assert!(up.writeback.is_some());
        assert_eq!(up.written_at_writeback, 10);
        while !up.writeback.as_ref().unwrap().is_finished() {
            tokio::task::yield_now().await;
        }
        up.write(&[3; 4]).await.unwrap();
        assert_eq!(up.written_at_writeback, 10, "4 more bytes: not yet");
        up.write(&[4; 6]).await.unwrap();
        assert_eq!(
            up.written_at_writeback, 20,
            "the ended one gave way to a new one"
        );
        assert_eq!(Box::new(up).commit().await.unwrap(), 20);
        let mut expected = vec![1; 9];
        expected.extend_from_slice(&[2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4]);
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }

    #[tokio::test]
    async fn append_and_restart_write_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let area = LocalFileArea::new(dir.path()).unwrap();
        area.ensure_home(A).await.unwrap();
        let mut up = area
            .open_write(A, &p("f"), WriteMode::Append, None)
            .await
            .unwrap();
        up.write(b"abc").await.unwrap();
        up.commit().await.unwrap();
        let mut up = area
            .open_write(A, &p("f"), WriteMode::Append, None)
            .await
            .unwrap();
        up.write(b"def").await.unwrap();
        up.abort().await;
        let mut up = area
            .open_write(A, &p("f"), WriteMode::At(4), None)
            .await
            .unwrap();
        up.write(b"XY").await.unwrap();
        up.commit().await.unwrap();
        assert_eq!(std::fs::read(dir.path().join("7/f")).unwrap(), b"abcdXY");
        assert!(matches!(
            area.open_write(A, &p("f"), WriteMode::At(99), None).await,
            Err(FileError::BadOffset)
        ));
    }

    #[tokio::test]
    async fn allowance_stops_an_upload() {
        let dir = tempfile::tempdir().unwrap();
        let area = LocalFileArea::new(dir.path()).unwrap();
        area.ensure_home(A).await.unwrap();
        let mut up = area
            .open_write(A, &p("f"), WriteMode::Replace, Some(5))
            .await
            .unwrap();
        up.write(b"1234").await.unwrap();
        assert!(matches!(
            up.write(b"56").await,
            Err(FileError::QuotaExceeded)
        ));
        assert_eq!(up.written(), 4);
        up.abort().await;
        assert_eq!(area.usage(A).await.unwrap(), 0);
    }

    /// Six parallel 600 kB uploads of one owner against a 1,000,000-byte quota: each
    /// session alone saw room for its file, and 3 MB were stored.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn parallel_uploads_share_one_quota() {
        let dir = tempfile::tempdir().unwrap();
        let area = LocalFileArea::new(dir.path()).unwrap();
        area.ensure_home(A).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..6 {
            let area = area.clone();
            tasks.push(tokio::spawn(async move {
                let mut up = area
                    .open_write(A, &p(&format!("f{i}")), WriteMode::Replace, Some(1_000_000))
                    .await?;
                for _ in 0..60 {
                    if let Err(e) = up.write(&[b'x'; 10_000]).await {
                        up.abort().await;
                        return Err(e);
                    }
                    tokio::task::yield_now().await;
                }
                up.commit().await
            }));
        }
        let mut stored = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(n) => stored += n,
                Err(FileError::QuotaExceeded) => {}
                Err(e) => panic!("unexpected {e}"),
            }
        }
        // Room for one: at most one completes (racing ones may also all run out).
        assert!(stored == 600_000 || stored == 0, "{stored} stored");
        assert_eq!(area.usage(A).await.unwrap(), stored);
        // Settled: the next upload measures again and sees what is left.
        let mut up = area
            .open_write(A, &p("g"), WriteMode::Replace, Some(1_000_000))
            .await
            .unwrap();
        up.write(&vec![b'y'; 1_000_000 - stored as usize])
            .await
            .unwrap();
        assert!(matches!(
            up.write(b"z").await,
            Err(FileError::QuotaExceeded)
        ));
        up.commit().await.unwrap();
        assert!(matches!(
            area.open_write(A, &p("h"), WriteMode::Replace, Some(1_000_000))
                .await
                .err(),
            Some(FileError::QuotaExceeded)
        ));
    }

    /// REST past the end (or into a file that does not exist) then STOR: refused, and
    /// no empty file is left.
    #[tokio::test]
    async fn restart_past_the_end_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let area = LocalFileArea::new(dir.path()).unwrap();
        area.ensure_home(A).await.unwrap();
        assert!(matches!(
            area.open_write(A, &p("new"), WriteMode::At(100), None)
                .await
                .err(),
            Some(FileError::BadOffset)
        ));
        assert!(matches!(
            area.stat(A, &p("new")).await,
            Err(FileError::NotFound)
        ));
        let mut up = area
            .open_write(A, &p("old"), WriteMode::Replace, None)
            .await
            .unwrap();
        up.write(b"12345").await.unwrap();
        up.commit().await.unwrap();
        assert!(matches!(
            area.open_write(A, &p("old"), WriteMode::At(6), None)
                .await
                .err(),
            Some(FileError::BadOffset)
        ));
        assert_eq!(area.stat(A, &p("old")).await.unwrap().size, 5);
    }

    #[tokio::test]
    async fn a_full_disk_is_not_the_owners_quota() {
        assert!(matches!(
            FileError::from(io::Error::from_raw_os_error(28)),
            FileError::NoSpace
        ));
        let dir = tempfile::tempdir().unwrap();
        let area = LocalFileArea::new(dir.path()).unwrap();
        area.ensure_home(A).await.unwrap();
        // A reserve larger than any disk: uploads are refused, deletes still work.
        let mut up = area
            .open_write(A, &p("f"), WriteMode::Replace, None)
            .await
            .unwrap();
        up.write(b"x").await.unwrap();
        up.commit().await.unwrap();
        area.set_min_free(u64::MAX);
        assert!(matches!(
            area.open_write(A, &p("g"), WriteMode::Replace, None)
                .await
                .err(),
            Some(FileError::NoSpace)
        ));
        area.delete(A, &p("f")).await.unwrap();
    }

    #[tokio::test]
    async fn symlinks_are_not_followed_or_listed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"s").unwrap();
        let area = LocalFileArea::new(dir.path()).unwrap();
        area.ensure_home(A).await.unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("7/link")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("7/f")).unwrap();
        assert!(matches!(
            area.stat(A, &p("link/secret")).await,
            Err(FileError::NotFound)
        ));
        assert!(matches!(
            area.open_read(A, &p("f"), 0).await,
            Err(FileError::NotFound)
        ));
        assert!(matches!(
            area.open_write(A, &p("link/new"), WriteMode::Replace, None)
                .await,
            Err(FileError::NotFound)
        ));
        assert!(area.list(A, &VPath::root(), 100).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn directory_operations() {
        let dir = tempfile::tempdir().unwrap();
        let area = LocalFileArea::new(dir.path()).unwrap();
        area.ensure_home(A).await.unwrap();
        area.mkdir(A, &p("d")).await.unwrap();
        assert!(matches!(
            area.mkdir(A, &p("d")).await,
            Err(FileError::AlreadyExists)
        ));
        let mut up = area
            .open_write(A, &p("d/f"), WriteMode::Replace, None)
            .await
            .unwrap();
        up.write(b"12345").await.unwrap();
        up.commit().await.unwrap();
        assert!(matches!(
            area.rmdir(A, &p("d")).await,
            Err(FileError::NotEmpty)
        ));
        assert!(matches!(
            area.rename(A, &p("d"), &p("d/e")).await,
            Err(FileError::InvalidName(_))
        ));
        area.rename(A, &p("d/f"), &p("g")).await.unwrap();
        let mut r = area.open_read(A, &p("g"), 2).await.unwrap();
        let mut s = String::new();
        r.reader.read_to_string(&mut s).await.unwrap();
        assert_eq!((s.as_str(), r.size), ("345", 5));
        area.rmdir(A, &p("d")).await.unwrap();
        assert!(matches!(
            area.delete(A, &p("d")).await,
            Err(FileError::NotFound)
        ));
        area.set_modified(A, &p("g"), 1_000_000_000).await.unwrap();
        assert_eq!(area.stat(A, &p("g")).await.unwrap().modified, 1_000_000_000);
        area.delete(A, &p("g")).await.unwrap();
        assert_eq!(area.usage(A).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn shared_read_only_area_refuses_changes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pub"), b"x").unwrap();
        let area = LocalFileArea::shared(dir.path(), true).unwrap();
        assert_eq!(area.stat(A, &p("pub")).await.unwrap().size, 1);
        assert!(matches!(
            area.delete(A, &p("pub")).await,
            Err(FileError::ReadOnly)
        ));
        assert!(matches!(
            area.open_write(A, &p("n"), WriteMode::Replace, None).await,
            Err(FileError::ReadOnly)
        ));
    }
}
