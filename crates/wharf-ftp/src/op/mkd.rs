//! MKD (RFC 959 §4.1.3): 257 with the new directory's absolute path.

use crate::reply::{code, quote_path};
use crate::session::{Outcome, Session};

impl Session<'_> {
    pub(crate) async fn handle_mkd(&mut self, arg: &str) -> Outcome {
        let (owner, area, path) = match self.writable_target(arg).await {
            Ok(t) => t,
            Err(done) => return done,
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
