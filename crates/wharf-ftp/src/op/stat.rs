//! STAT (RFC 959 §4.1.3): server status without an argument (also during a transfer,
//! answered by the transfer supervisor), or a listing over the control connection.

use crate::command::TransferType;
use crate::listing::list_line;
use crate::reply::{Reply, code};
use crate::session::{Outcome, Session, State};
use wharf_store::files::EntryKind;

impl Session<'_> {
    pub(crate) async fn handle_stat(&mut self, arg: Option<String>) -> Outcome {
        let Some(arg) = arg else {
            let user = match &self.state {
                State::LoggedIn(l) => format!("Logged in as {}", l.user),
                _ => "Not logged in".to_string(),
            };
            let lines = vec![
                "FTP server status:".to_string(),
                format!("Connected to {}", self.conn.peer().ip()),
                user,
                format!(
                    "TYPE: {}",
                    match self.transfer_type {
                        TransferType::Ascii => "ASCII",
                        TransferType::Image => "BINARY",
                    }
                ),
                format!(
                    "Control connection is {}",
                    if self.conn.is_tls() { "TLS" } else { "plain" }
                ),
                format!(
                    "Data connections are {}",
                    if self.prot_private {
                        "private (TLS)"
                    } else {
                        "clear"
                    }
                ),
                "No data connection".into(),
                "End of status".into(),
            ];
            return self
                .answer_reply(Reply::multi(code::SYSTEM_STATUS, lines))
                .await;
        };
        let Some((owner, area, _)) = self.fs() else {
            return self.answer(code::NOT_LOGGED_IN, "Not logged in.").await;
        };
        let path = match self.path(&arg) {
            Ok(p) => p,
            Err(r) => return self.answer_reply(r).await,
        };
        let now = chrono::Utc::now().timestamp();
        let (reply_code, entries) = match area.stat(owner, &path).await {
            Ok(e) if e.kind == EntryKind::Dir => {
                match area.list(owner, &path, super::list::MAX_ENTRIES).await {
                    Ok(list) => (code::DIRECTORY_STATUS, list),
                    Err(e) => return self.answer_reply(crate::error::file_error(&e)).await,
                }
            }
            Ok(e) => (code::FILE_STATUS, vec![e]),
            Err(e) => return self.answer_reply(crate::error::file_error(&e)).await,
        };
        let mut lines = vec![format!("Status of {path}:")];
        lines.extend(entries.iter().map(|e| list_line(e, now)));
        lines.push("End of status".into());
        self.answer_reply(Reply::multi(reply_code, lines)).await
    }
}
