//! RNFR and RNTO (RFC 959 §4.1.3): RNFR names an existing file or directory and must be
//! followed at once by RNTO (the session drops a pending RNFR on any other command).

use crate::reply::code;
use crate::session::{Outcome, Session};
use wharf_store::files::VPath;

impl Session<'_> {
    pub(crate) async fn handle_rnfr(&mut self, arg: &str) -> Outcome {
        let (owner, area, path) = match self.writable_target(arg).await {
            Ok(t) => t,
            Err(done) => return done,
        };
        match area.stat(owner, &path).await {
            Ok(_) if path.is_root() => {
                self.answer(code::FILE_UNAVAILABLE, "Cannot rename the root.")
                    .await
            }
            Ok(_) => {
                self.rename_from = Some(path);
                self.answer(code::PENDING_FURTHER_INFO, "Ready for RNTO.")
                    .await
            }
            Err(e) => self.answer_reply(crate::error::file_error(&e)).await,
        }
    }

    pub(crate) async fn handle_rnto(&mut self, from: VPath, arg: &str) -> Outcome {
        let Some((owner, area, _)) = self.fs() else {
            return self.answer(code::NOT_LOGGED_IN, "Not logged in.").await;
        };
        let to = match self.path(arg) {
            Ok(p) => p,
            Err(r) => return self.answer_reply(r).await,
        };
        match area.rename(owner, &from, &to).await {
            Ok(()) => {
                self.answer(code::FILE_ACTION_OK, "Rename successful.")
                    .await
            }
            Err(e) => self.answer_reply(crate::error::file_error(&e)).await,
        }
    }
}
