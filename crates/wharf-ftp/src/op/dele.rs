//! DELE (RFC 959 §4.1.3): removes a file.

use crate::reply::code;
use crate::session::{Outcome, Session};

impl Session<'_> {
    pub(crate) async fn handle_dele(&mut self, arg: &str) -> Outcome {
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
        match area.delete(owner, &path).await {
            Ok(()) => {
                self.answer(code::FILE_ACTION_OK, "Delete operation successful.")
                    .await
            }
            Err(e) => self.answer_reply(crate::error::file_error(&e)).await,
        }
    }
}
