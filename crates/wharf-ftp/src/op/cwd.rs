//! CWD, CDUP and PWD (RFC 959 §4.1.1, §4.1.3).

use crate::reply::{code, quote_path};
use crate::session::{Outcome, Session};
use wharf_store::files::EntryKind;

impl Session<'_> {
    pub(crate) async fn handle_cwd(&mut self, arg: &str) -> Outcome {
        let Some((owner, area, _)) = self.fs() else {
            return self.answer(code::NOT_LOGGED_IN, "Not logged in.").await;
        };
        let path = match self.path(arg) {
            Ok(p) => p,
            Err(r) => return self.answer_reply(r).await,
        };
        match area.stat(owner, &path).await {
            Ok(e) if e.kind == EntryKind::Dir => {
                self.cwd = path;
                self.answer(code::FILE_ACTION_OK, "Directory successfully changed.")
                    .await
            }
            Ok(_) => {
                self.answer(code::FILE_UNAVAILABLE, "Not a directory.")
                    .await
            }
            Err(e) => self.answer_reply(crate::error::file_error(&e)).await,
        }
    }

    pub(crate) async fn handle_cdup(&mut self) -> Outcome {
        self.cwd = self.cwd.parent();
        self.answer(code::FILE_ACTION_OK, "Directory successfully changed.")
            .await
    }

    pub(crate) async fn handle_pwd(&mut self) -> Outcome {
        let text = format!(
            "{} is the current directory.",
            quote_path(&self.cwd.to_string())
        );
        self.answer(code::PATH_CREATED, text).await
    }
}
