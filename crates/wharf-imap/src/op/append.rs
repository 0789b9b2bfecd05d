//! APPEND (RFC 9051 §6.3.12) with UIDPLUS APPENDUID (RFC 4315), APPENDLIMIT
//! (RFC 7889) and CATENATE (RFC 4469, assembled in `catenate.rs`). Over-limit literals
//! were refused while framing, before being read.

use crate::proto::{AppendMessage, split_flags};
use crate::session::selected::uid_set_string;
use crate::session::{Done, ImapError, OpResult, Session};
use wharf_store::NewMessage;

/// RFC 5322 lines end in CRLF; the store keeps messages so. Bare LFs become CRLF.
pub fn normalize_crlf(raw: Vec<u8>) -> Vec<u8> {
    let bare = raw
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || raw[i - 1] != b'\r'));
    if !bare {
        return raw;
    }
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32);
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// Refuses what would go over the account's quota (RFC 9208 §4.3 OVERQUOTA).
pub async fn check_quota(s: &Session, bytes: u64, messages: u64) -> Result<(), ImapError> {
    let account = super::account(s)?;
    let fresh = s
        .ctx
        .store
        .user_get(&account.address)
        .await?
        .unwrap_or(account);
    if fresh.quota_bytes.is_none() && fresh.quota_messages.is_none() {
        return Ok(());
    }
    let usage = s.ctx.store.usage(fresh.id).await?;
    let over_bytes = fresh.quota_bytes.is_some_and(|q| usage.bytes + bytes > q);
    let over_msgs = fresh
        .quota_messages
        .is_some_and(|q| usage.messages + messages > q);
    if over_bytes || over_msgs {
        return Err(ImapError::no_code("OVERQUOTA", "Quota exceeded"));
    }
    Ok(())
}

/// After this session wrote into the selected mailbox: look at the store again before
/// the tagged reply, whether or not the change event has arrived yet.
pub fn mark_dirty(s: &mut Session, mailbox: wharf_store::MailboxId) {
    if let crate::session::State::Selected { mailbox: sel, .. } = &mut s.state
        && sel.id == mailbox
    {
        sel.dirty = true;
    }
}

pub async fn handle_append(
    s: &mut Session,
    raw_name: &str,
    mut messages: Vec<AppendMessage>,
) -> OpResult {
    let name = s.mailbox_name(raw_name)?;
    // RFC 4469: CATENATE messages are built from their parts first.
    super::catenate::assemble(s, &name, &mut messages).await?;
    let account = super::account(s)?;
    let limit = s.ctx.config.append_limit;
    if messages.iter().any(|m| m.message.len() as u64 > limit) {
        return Err(ImapError::no_code("TOOBIG", "Message exceeds APPENDLIMIT"));
    }
    if messages.iter().any(|m| m.message.is_empty()) {
        return Err(ImapError::no("Empty message"));
    }
    let store = s.ctx.store.clone();
    // RFC 9051 §6.3.12: a missing mailbox is NO [TRYCREATE].
    let mailbox = store
        .mailbox_get(account.id, &name)
        .await?
        .ok_or_else(|| ImapError::no_code("TRYCREATE", "No such mailbox"))?;
    let total: u64 = messages.iter().map(|m| m.message.len() as u64).sum();
    check_quota(s, total, messages.len() as u64).await?;
    let mut uids = Vec::new();
    let mut uidvalidity = mailbox.uidvalidity;
    for m in messages {
        let (flags, keywords) = split_flags(&m.flags);
        let r = store
            .append(
                mailbox.id,
                NewMessage {
                    // RFC 3516 §4.3: a literal8 is binary content; its bare LFs are
                    // data (a binary part's octets), not line ends to repair.
                    raw: if m.binary {
                        m.message
                    } else {
                        normalize_crlf(m.message)
                    },
                    internal_date: m.date,
                    flags,
                    keywords,
                },
            )
            .await;
        match r {
            Ok(d) => {
                uidvalidity = d.uidvalidity;
                uids.push(d.uid);
            }
            Err(e) => {
                // RFC 3502 §6.3.11: all or nothing; take back what went in.
                if !uids.is_empty() {
                    let _ = store.expunge(mailbox.id, &uids).await;
                }
                return Err(e.into());
            }
        }
    }
    mark_dirty(s, mailbox.id);
    Ok(Done::code(
        format!("APPENDUID {uidvalidity} {}", uid_set_string(&uids)),
        "APPEND completed",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_lf_becomes_crlf() {
        assert_eq!(normalize_crlf(b"a\nb\r\nc\n".to_vec()), b"a\r\nb\r\nc\r\n");
        assert_eq!(normalize_crlf(b"\nx".to_vec()), b"\r\nx");
        assert_eq!(normalize_crlf(b"a\r\n".to_vec()), b"a\r\n");
    }
}
