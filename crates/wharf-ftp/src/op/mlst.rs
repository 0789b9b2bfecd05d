//! MLST (RFC 3659 §7): facts about one file or directory, on the control connection.

use crate::listing::mlsx_line;
use crate::reply::{Reply, code};
use crate::session::{Outcome, Session};

impl Session<'_> {
    pub(crate) async fn handle_mlst(&mut self, arg: Option<String>) -> Outcome {
        let Some((owner, area, writable)) = self.fs() else {
            return self.answer(code::NOT_LOGGED_IN, "Not logged in.").await;
        };
        let path = match arg.as_deref() {
            Some(a) => match self.path(a) {
                Ok(p) => p,
                Err(r) => return self.answer_reply(r).await,
            },
            None => self.cwd.clone(),
        };
        match area.stat(owner, &path).await {
            Ok(entry) => {
                let name = path.to_string();
                // RFC 3659 §7.2: the entry line starts with a single space.
                let line = format!(" {}", mlsx_line(&entry, &self.facts, writable, &name));
                self.answer_reply(Reply::multi(
                    code::FILE_ACTION_OK,
                    vec![format!("Listing {name}"), line, "End".into()],
                ))
                .await
            }
            Err(e) => self.answer_reply(crate::error::file_error(&e)).await,
        }
    }
}
