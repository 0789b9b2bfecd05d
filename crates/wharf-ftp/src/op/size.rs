//! SIZE and MDTM (RFC 3659 §3, §4) and MFMT (draft-somers-ftp-mfxx): file facts on the
//! control connection. SIZE reports the stored (binary) size whatever the TYPE.

use crate::command::format_time_val;
use crate::reply::code;
use crate::session::{Outcome, Session};
use wharf_store::files::EntryKind;

impl Session<'_> {
    pub(crate) async fn handle_size(&mut self, arg: &str) -> Outcome {
        let Some((owner, area, _)) = self.fs() else {
            return self.answer(code::NOT_LOGGED_IN, "Not logged in.").await;
        };
        let path = match self.path(arg) {
            Ok(p) => p,
            Err(r) => return self.answer_reply(r).await,
        };
        match area.stat(owner, &path).await {
            Ok(e) if e.kind == EntryKind::File => {
                self.answer(code::FILE_STATUS, e.size.to_string()).await
            }
            // RFC 3659 §4.2: SIZE of a non-file is 550.
            Ok(_) => {
                self.answer(code::FILE_UNAVAILABLE, "Not a plain file.")
                    .await
            }
            Err(e) => self.answer_reply(crate::error::file_error(&e)).await,
        }
    }

    pub(crate) async fn handle_mdtm(&mut self, arg: &str) -> Outcome {
        let Some((owner, area, _)) = self.fs() else {
            return self.answer(code::NOT_LOGGED_IN, "Not logged in.").await;
        };
        let path = match self.path(arg) {
            Ok(p) => p,
            Err(r) => return self.answer_reply(r).await,
        };
        match area.stat(owner, &path).await {
            Ok(e) if e.kind == EntryKind::File => {
                self.answer(code::FILE_STATUS, format_time_val(e.modified))
                    .await
            }
            Ok(_) => {
                self.answer(code::FILE_UNAVAILABLE, "Not a plain file.")
                    .await
            }
            Err(e) => self.answer_reply(crate::error::file_error(&e)).await,
        }
    }

    pub(crate) async fn handle_mfmt(&mut self, unix: i64, arg: &str) -> Outcome {
        let Some((owner, area, writable)) = self.fs() else {
            return self.answer(code::NOT_LOGGED_IN, "Not logged in.").await;
        };
        if !writable {
            return self
                .answer(code::FILE_UNAVAILABLE, "Permission denied.")
                .await;
        }
        let path = match self.path(arg) {
            Ok(p) => p,
            Err(r) => return self.answer_reply(r).await,
        };
        match area.set_modified(owner, &path, unix).await {
            Ok(()) => {
                let text = format!("Modify={}; {}", format_time_val(unix), arg);
                self.answer(code::FILE_STATUS, text).await
            }
            Err(e) => self.answer_reply(crate::error::file_error(&e)).await,
        }
    }
}
