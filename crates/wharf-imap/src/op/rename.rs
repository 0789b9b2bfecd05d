//! RENAME (RFC 9051 §6.3.6). Renaming INBOX moves its messages to the new mailbox and
//! leaves INBOX empty; the store does that part.

use crate::session::{Done, ImapError, OpResult, Session};

pub async fn handle_rename(s: &mut Session, from: &str, to: &str) -> OpResult {
    let from = s.mailbox_name(from)?;
    let to = s.mailbox_name(to)?;
    super::create::check_name(&to)?;
    if to == "INBOX" {
        return Err(ImapError::no_code("ALREADYEXISTS", "INBOX always exists"));
    }
    let account = super::account(s)?;
    s.ctx.store.mailbox_rename(account.id, &from, &to).await?;
    Ok(Done::text("RENAME completed"))
}
