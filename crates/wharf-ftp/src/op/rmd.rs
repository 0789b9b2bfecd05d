//! RMD (RFC 959 §4.1.3): removes an empty directory.

use crate::reply::code;
use crate::session::{Outcome, Session};

impl Session<'_> {
    pub(crate) async fn handle_rmd(&mut self, arg: &str) -> Outcome {
        let (owner, area, path) = match self.writable_target(arg).await {
            Ok(t) => t,
            Err(done) => return done,
        };
        if self.cwd.starts_with(&path) {
            return self
                .answer(
                    code::FILE_UNAVAILABLE,
                    "Cannot remove the current directory.",
                )
                .await;
        }
        match area.rmdir(owner, &path).await {
            Ok(()) => {
                self.answer(
                    code::FILE_ACTION_OK,
                    "Remove directory operation successful.",
                )
                .await
            }
            Err(e) => self.answer_reply(crate::error::file_error(&e)).await,
        }
    }
}
