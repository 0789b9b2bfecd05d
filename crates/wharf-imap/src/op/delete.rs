//! DELETE (RFC 9051 §6.3.5). INBOX cannot be deleted; children stay (and are listed
//! under a \NonExistent parent).

use crate::session::{Done, ImapError, OpResult, Session, State};

pub async fn handle_delete(s: &mut Session, raw: &str) -> OpResult {
    let name = s.mailbox_name(raw)?;
    if name == "INBOX" {
        return Err(ImapError::no_code("CANNOT", "INBOX cannot be deleted"));
    }
    let account = super::account(s)?;
    s.ctx.store.mailbox_delete(account.id, &name).await?;
    // Deleting the mailbox this session has selected leaves the selected state (there
    // is nothing left to show); other sessions get BYE at their next command.
    if let State::Selected { mailbox, .. } = &s.state
        && mailbox.name == name
    {
        s.state = State::Authenticated { account };
        if s.enabled.qresync || s.enabled.rev2 {
            s.untagged("OK [CLOSED] Mailbox deleted");
        }
    }
    Ok(Done::text("DELETE completed"))
}
