//! Store errors. Protocol crates map these onto their own replies (a `NotFound` mailbox
//! is IMAP `NO [NONEXISTENT]`, an `Io` error is SMTP `451 4.3.0`, and so on).

/// Result of a store operation.
pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The named thing does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The named thing exists already.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The input is not acceptable (bad syntax, a name that cannot be used).
    #[error("{0}")]
    Invalid(String),
    /// The operation is refused in the current state (e.g. deleting a domain in use).
    #[error("{0}")]
    Refused(String),
    /// The data directory was written by a newer Wharf.
    #[error(
        "data directory schema version {found} is newer than this wharf supports ({supported}); upgrade wharf"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    /// The write would take an account past its quota (bytes or messages); checked in
    /// the transaction that writes, so concurrent writers cannot pass it together.
    #[error("{0} is over its storage quota")]
    OverQuota(String),
    /// The file system holding the store is full, or below `[limits] min_free_space`:
    /// new mail and uploads are refused (SMTP 452 4.3.1, IMAP NO, FTP 452) while reads
    /// and deletes go on.
    #[error("not enough disk space: {0}")]
    NoSpace(String),
    #[error("I/O error: {0}")]
    Io(std::io::Error),
    #[error("database error: {0}")]
    Db(rusqlite::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Whether a retry later may succeed (disk, database or internal trouble), as
    /// opposed to a permanent problem with the request itself.
    pub fn is_temporary(&self) -> bool {
        matches!(
            self,
            Error::Io(_) | Error::Db(_) | Error::Internal(_) | Error::NoSpace(_)
        )
    }
}

/// `ENOSPC` and `EDQUOT` (Linux): the file system, or the store's user on it, is full.
pub(crate) fn is_no_space(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull || matches!(e.raw_os_error(), Some(28 | 122))
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        if is_no_space(&e) {
            Error::NoSpace(e.to_string())
        } else {
            Error::Io(e)
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        match &e {
            // SQLITE_FULL: the database (its WAL) could not grow.
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull => {
                Error::NoSpace(e.to_string())
            }
            _ => Error::Db(e),
        }
    }
}
