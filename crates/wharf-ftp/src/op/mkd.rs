//! MKD (RFC 959 §4.1.3): 257 with the new directory's absolute path.

use crate::reply::{code, quote_path};
use crate::session::{Outcome, Session};

impl Session<'_> {
    pub(crate) async fn handle_mkd(&mut self, arg: &str) -> Outcome {
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
        match area.mkdir(owner, &path).await {
            Ok(()) => {
                let text = format!("{} created.", quote_path(&path.to_string()));
                self.answer(code::PATH_CREATED, text).await
            }
            Err(e) => self.answer_reply(crate::error::file_error(&e)).await,
        }
    }
}
