//! DELE (RFC 959 §4.1.3): removes a file.

use crate::reply::code;
use crate::session::{Outcome, Session};

impl Session<'_> {
    pub(crate) async fn handle_dele(&mut self, arg: &str) -> Outcome {
        let (owner, area, path) = match self.writable_target(arg).await {
            Ok(t) => t,
            Err(done) => return done,
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
