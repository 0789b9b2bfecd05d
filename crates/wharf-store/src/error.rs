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
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Whether a retry later may succeed (disk, database or internal trouble), as
    /// opposed to a permanent problem with the request itself.
    pub fn is_temporary(&self) -> bool {
        matches!(self, Error::Io(_) | Error::Db(_) | Error::Internal(_))
    }
}
