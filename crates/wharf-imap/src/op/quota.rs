//! GETQUOTA and GETQUOTAROOT (RFC 9208): one quota root, "", for the whole account,
//! with STORAGE (in units of 1024 octets) and MESSAGE resources when the account has
//! them. SETQUOTA is refused: quotas are the operator's (`wharf user` commands).

use crate::session::{Done, ImapError, OpResult, Session};

async fn quota_line(s: &Session) -> Result<String, ImapError> {
    let account = super::account(s)?;
    let fresh = s
        .ctx
        .store
        .user_get(&account.address)
        .await?
        .unwrap_or(account);
    let usage = s.ctx.store.usage(fresh.id).await?;
    let mut res = Vec::new();
    if let Some(q) = fresh.quota_bytes {
        res.push(format!(
            "STORAGE {} {}",
            usage.bytes.div_ceil(1024),
            q / 1024
        ));
    }
    if let Some(q) = fresh.quota_messages {
        res.push(format!("MESSAGE {} {q}", usage.messages));
    }
    Ok(format!("QUOTA \"\" ({})", res.join(" ")))
}

pub async fn handle_getquota(s: &mut Session, root: &str) -> OpResult {
    if !root.is_empty() {
        return Err(ImapError::no_code("NONEXISTENT", "No such quota root"));
    }
    let line = quota_line(s).await?;
    s.untagged(&line);
    Ok(Done::text("GETQUOTA completed"))
}

pub async fn handle_getquotaroot(s: &mut Session, raw: &str) -> OpResult {
    let name = s.mailbox_name(raw)?;
    let account = super::account(s)?;
    if s.ctx.store.mailbox_get(account.id, &name).await?.is_none() {
        return Err(ImapError::no_code("NONEXISTENT", "No such mailbox"));
    }
    let mut data = b"QUOTAROOT ".to_vec();
    s.write_mailbox(&mut data, &name);
    data.extend_from_slice(b" \"\"");
    s.untagged_bytes(&data);
    let line = quota_line(s).await?;
    s.untagged(&line);
    Ok(Done::text("GETQUOTAROOT completed"))
}
