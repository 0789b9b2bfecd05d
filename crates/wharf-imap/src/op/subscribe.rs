//! SUBSCRIBE and UNSUBSCRIBE (RFC 9051 §6.3.7, §6.3.8).

use crate::session::{Done, OpResult, Session};

pub async fn handle_subscribe(s: &mut Session, raw: &str, on: bool) -> OpResult {
    let name = s.mailbox_name(raw)?;
    let account = super::account(s)?;
    s.ctx.store.mailbox_subscribe(account.id, &name, on).await?;
    Ok(Done::text(if on {
        "SUBSCRIBE completed"
    } else {
        "UNSUBSCRIBE completed"
    }))
}
