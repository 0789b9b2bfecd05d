//! Errors that know their FTP reply: file-area failures map onto RFC 959 codes here,
//! in one place, so every handler answers the same way for the same trouble.

use crate::reply::{Reply, code};
use wharf_store::files::FileError;

/// The reply for a failed file-area operation.
pub fn file_error(e: &FileError) -> Reply {
    match e {
        FileError::NotFound => Reply::new(code::FILE_UNAVAILABLE, "No such file or directory."),
        FileError::AlreadyExists => Reply::new(code::FILE_UNAVAILABLE, "File exists."),
        FileError::NotADirectory => Reply::new(code::FILE_UNAVAILABLE, "Not a directory."),
        FileError::IsADirectory => Reply::new(code::FILE_UNAVAILABLE, "Is a directory."),
        FileError::NotEmpty => Reply::new(code::FILE_UNAVAILABLE, "Directory not empty."),
        // RFC 959 §4.2.2: 553 Requested action not taken. File name not allowed.
        FileError::InvalidName(why) => Reply::new(
            code::NAME_NOT_ALLOWED,
            format!("File name not allowed: {why}."),
        ),
        FileError::QuotaExceeded => Reply::new(
            code::EXCEEDED_STORAGE,
            "Exceeded storage allocation (quota); the partial upload was removed.",
        ),
        // RFC 959 §4.2.2: 452, the server's disk is full (or below its reserve).
        FileError::NoSpace => Reply::new(
            code::INSUFFICIENT_STORAGE,
            "Insufficient storage space in system.",
        ),
        FileError::ReadOnly => Reply::new(code::FILE_UNAVAILABLE, "Permission denied."),
        FileError::BadOffset => Reply::new(
            code::FILE_UNAVAILABLE,
            "Restart offset is beyond the end of the file.",
        ),
        FileError::Io(err) => {
            tracing::warn!("file area error: {err}");
            Reply::new(code::LOCAL_ERROR, "Local error in processing.")
        }
    }
}
