//! RETR (RFC 959 §4.1.3), with REST STREAM restarts (RFC 3659 §5). Streams the file in
//! bounded chunks; under TYPE A converts LF to CRLF.

use crate::command::TransferType;
use crate::reply::code;
use crate::session::{Flow, Outcome, Session};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

impl Session<'_> {
    pub(crate) async fn handle_retr(&mut self, arg: &str, rest: Option<u64>) -> Outcome {
        let Some((owner, area, _)) = self.fs() else {
            return self.answer(code::NOT_LOGGED_IN, "Not logged in.").await;
        };
        let path = match self.path(arg) {
            Ok(p) => p,
            Err(r) => return self.answer_reply(r).await,
        };
        let offset = rest.unwrap_or(0);
        let download = match area.open_read(owner, &path, offset).await {
            Ok(d) => d,
            Err(e) => return self.answer_reply(crate::error::file_error(&e)).await,
        };
        let ascii = self.transfer_type == TransferType::Ascii;
        let opening = format!(
            "Opening {} mode data connection for {} ({} bytes).",
            if ascii { "ASCII" } else { "BINARY" },
            path.name().unwrap_or("/"),
            download.size
        );
        let Some(data) = self.open_data(opening).await? else {
            return Ok(Flow::Continue);
        };
        let progress = Arc::new(AtomicU64::new(0));
        let source = crate::data::Source {
            len: Some(download.size - download.offset),
            file: download.file.map(|f| (f, download.offset, download.size)),
            reader: download.reader,
        };
        let transfer = crate::data::send(source, data, ascii, self.limits(), progress.clone());
        let end = self.supervise(transfer, &progress).await?;
        self.finish_transfer(end, "Transfer complete.").await?;
        Ok(Flow::Continue)
    }
}
