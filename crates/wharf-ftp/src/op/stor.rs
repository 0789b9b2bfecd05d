//! STOR, APPE and STOU (RFC 959 §4.1.3; RFC 1123 §4.1.2.9 for STOU's reply).
//!
//! STOR writes to a temporary file that replaces the target only once every byte has
//! arrived and been fsynced, so the 226 means durable and nobody ever sees half a file.
//! APPE and REST+STOR write in place on purpose (the client is extending what is there).
//! With a quota, an upload that would pass it stops with 552 and a STOR's partial file
//! is removed (an APPE keeps what fit).

use crate::command::TransferType;
use crate::reply::code;
use crate::session::{Flow, Outcome, Session};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use wharf_store::files::{FileError, VPath, WriteMode};

pub(crate) enum Kind {
    Stor(String),
    Appe(String),
    Stou,
}

impl Session<'_> {
    pub(crate) async fn handle_stor(&mut self, kind: Kind, rest: Option<u64>) -> Outcome {
        let Some((owner, area, writable)) = self.fs() else {
            return self.answer(code::NOT_LOGGED_IN, "Not logged in.").await;
        };
        if !writable {
            return self
                .answer(code::FILE_UNAVAILABLE, "Permission denied.")
                .await;
        }
        let (path, mode) = match &kind {
            Kind::Stor(arg) | Kind::Appe(arg) => {
                let path = match self.path(arg) {
                    Ok(p) => p,
                    Err(r) => return self.answer_reply(r).await,
                };
                let mode = match (&kind, rest) {
                    (Kind::Appe(_), _) => WriteMode::Append,
                    (_, Some(n)) if n > 0 => WriteMode::At(n),
                    _ => WriteMode::Replace,
                };
                (path, mode)
            }
            Kind::Stou => match self.unique_name(owner, &*area).await {
                Some(p) => (p, WriteMode::Replace),
                None => {
                    return self
                        .answer(code::FILE_UNAVAILABLE, "Cannot find a unique name.")
                        .await;
                }
            },
        };
        // The area reserves every write against the quota, across this owner's sessions,
        // and refuses at once when the owner is at it already.
        let quota = match self.server.config.quota_bytes {
            0 => None,
            quota => Some(quota),
        };
        let upload = match area.open_write(owner, &path, mode, quota).await {
            Ok(u) => u,
            Err(e) => return self.answer_reply(crate::error::file_error(&e)).await,
        };
        let ascii = self.transfer_type == TransferType::Ascii;
        let name = path.name().unwrap_or("").to_string();
        let opening = match kind {
            // RFC 1123 §4.1.2.9: STOU names the file in its 1xx reply.
            Kind::Stou => format!("FILE: {name}"),
            _ => format!("Ok to send data for {name}."),
        };
        let Some(data) = self.open_data(opening).await? else {
            upload.abort().await;
            return Ok(Flow::Continue);
        };
        let progress = Arc::new(AtomicU64::new(0));
        let transfer = crate::data::receive(data, upload, ascii, self.limits(), progress.clone());
        let end = self.supervise(transfer, &progress).await?;
        self.finish_transfer(end, "Transfer complete.").await?;
        Ok(Flow::Continue)
    }

    /// A fresh name in the current directory for STOU.
    async fn unique_name(
        &self,
        owner: wharf_store::AccountId,
        area: &dyn wharf_store::files::FileArea,
    ) -> Option<VPath> {
        for _ in 0..16 {
            let name = format!("ftp-{:08x}", rand::random::<u32>());
            let path = self.cwd.join(&name).ok()?;
            if matches!(area.stat(owner, &path).await, Err(FileError::NotFound)) {
                return Some(path);
            }
        }
        None
    }
}
