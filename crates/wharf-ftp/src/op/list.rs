//! LIST, NLST (RFC 959 §4.1.3) and MLSD (RFC 3659 §7): directory listings over the data
//! connection. A missing path is an error before any data connection is opened.

use crate::listing::{list_line, mlsx_line};
use crate::reply::code;
use crate::session::{Outcome, Session};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use wharf_store::files::{Entry, EntryKind};

/// Most entries a listing shows.
pub const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    List,
    Nlst,
    Mlsd,
}

impl Session<'_> {
    pub(crate) async fn handle_list(&mut self, kind: Kind, arg: Option<String>) -> Outcome {
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
        let entries: Vec<Entry> = match area.stat(owner, &path).await {
            Ok(e) if e.kind == EntryKind::Dir => match area.list(owner, &path, MAX_ENTRIES).await {
                Ok(list) => list,
                Err(e) => return self.answer_reply(crate::error::file_error(&e)).await,
            },
            // RFC 3659 §7.2.1: MLSD on a file is an error; LIST/NLST show the one file.
            Ok(_) if kind == Kind::Mlsd => {
                return self
                    .answer(code::FILE_UNAVAILABLE, "Not a directory.")
                    .await;
            }
            Ok(e) => vec![e],
            Err(e) => return self.answer_reply(crate::error::file_error(&e)).await,
        };
        let now = chrono::Utc::now().timestamp();
        let mut body = String::new();
        for e in &entries {
            let line = match kind {
                Kind::List => list_line(e, now),
                Kind::Nlst => e.name.clone(),
                Kind::Mlsd => mlsx_line(e, &self.facts, writable, &e.name),
            };
            body.push_str(&line);
            body.push_str("\r\n");
        }
        let Some(data) = self
            .open_data("Here comes the directory listing.".into())
            .await?
        else {
            return Ok(crate::session::Flow::Continue);
        };
        let progress = Arc::new(AtomicU64::new(0));
        let transfer = crate::data::send(
            crate::data::Source::bytes(body.into_bytes()),
            data,
            false,
            self.limits(),
            progress.clone(),
        );
        let end = self.supervise(transfer, &progress).await?;
        self.finish_transfer(end, "Directory send OK.").await?;
        Ok(crate::session::Flow::Continue)
    }
}
