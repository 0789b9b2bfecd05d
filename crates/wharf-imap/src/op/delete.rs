//! DELETE (RFC 9051 §6.3.5). INBOX cannot be deleted; children stay (and are listed
//! under a \NonExistent parent).

use crate::session::{Done, ImapError, OpResult, Session};

pub async fn handle_delete(s: &mut Session, raw: &str) -> OpResult {
    let name = s.mailbox_name(raw)?;
    if name == "INBOX" {
        return Err(ImapError::no_code("CANNOT", "INBOX cannot be deleted"));
    }
    let account = super::account(s)?;
    s.ctx.store.mailbox_delete(account.id, &name).await?;
    Ok(Done::text("DELETE completed"))
}
