//! CREATE (RFC 9051 §6.3.4), with RFC 6154 §3 `USE (...)` (CREATE-SPECIAL-USE).

use crate::session::{Done, ImapError, OpResult, Session};
use wharf_store::SpecialUse;

/// Longest mailbox name accepted, in octets.
pub const MAX_NAME: usize = 512;

/// Names the store should never see: empty levels, wildcards, control characters.
pub fn check_name(name: &str) -> Result<(), ImapError> {
    if name.is_empty()
        || name.len() > MAX_NAME
        || name.starts_with('/')
        || name.contains("//")
        || name.chars().any(|c| c.is_control() || c == '*' || c == '%')
    {
        return Err(ImapError::no_code("CANNOT", "Invalid mailbox name"));
    }
    Ok(())
}

pub async fn handle_create(s: &mut Session, raw: &str, special_use: &[String]) -> OpResult {
    let name = s.mailbox_name(raw)?;
    check_name(&name)?;
    if name == "INBOX" {
        return Err(ImapError::no_code("ALREADYEXISTS", "INBOX always exists"));
    }
    let mut usage = None;
    for u in special_use {
        match SpecialUse::parse(u) {
            Some(x) if usage.is_none() => usage = Some(x),
            Some(_) => {
                return Err(ImapError::no_code(
                    "USEATTR",
                    "Only one special use per mailbox",
                ));
            }
            None => {
                return Err(ImapError::no_code(
                    "USEATTR",
                    format!("Unsupported use {u}"),
                ));
            }
        }
    }
    let account = super::account(s)?;
    s.ctx.store.mailbox_create(account.id, &name, usage).await?;
    Ok(Done::text("CREATE completed"))
}
