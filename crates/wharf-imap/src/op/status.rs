//! STATUS (RFC 9051 §6.3.11), with HIGHESTMODSEQ (RFC 7162), SIZE (RFC 8438) and
//! APPENDLIMIT (RFC 7889). Also writes the STATUS lines of LIST-STATUS (RFC 5819).

use crate::proto::StatusItem;
use crate::session::{Done, ImapError, OpResult, Session, State};
use wharf_store::Mailbox;

/// `STATUS name (...)` data for one mailbox.
pub async fn status_data(
    s: &Session,
    mailbox: &Mailbox,
    items: &[StatusItem],
) -> Result<Vec<u8>, ImapError> {
    // Counted by the store, not from every message's metadata (issue 11).
    let counts = s.ctx.store.mailbox_counts(mailbox.id).await?;
    let recent = match &s.state {
        State::Selected { mailbox: sel, .. } if sel.id == mailbox.id => sel.recent.len(),
        // RFC 3501 §6.3.10: how many messages the next SELECT would show as recent
        // (looked at, not claimed).
        _ if items.contains(&StatusItem::Recent) => {
            let from = s.ctx.store.claim_recent(mailbox.id, None).await?;
            let snap = s.ctx.store.mailbox_snapshot(mailbox.id).await?;
            snap.messages.iter().filter(|m| m.uid >= from).count()
        }
        _ => 0,
    };
    let mut parts = Vec::new();
    for item in items {
        let (name, value) = match item {
            StatusItem::Messages => ("MESSAGES", counts.messages),
            StatusItem::Recent => ("RECENT", recent as u64),
            StatusItem::UidNext => ("UIDNEXT", counts.mailbox.uidnext as u64),
            StatusItem::UidValidity => ("UIDVALIDITY", counts.mailbox.uidvalidity as u64),
            StatusItem::Unseen => ("UNSEEN", counts.unseen),
            StatusItem::Deleted => ("DELETED", counts.deleted),
            StatusItem::Size => ("SIZE", counts.size),
            StatusItem::HighestModSeq => ("HIGHESTMODSEQ", counts.mailbox.highest_modseq),
            StatusItem::AppendLimit => ("APPENDLIMIT", s.ctx.config.append_limit),
        };
        parts.push(format!("{name} {value}"));
    }
    let mut data = b"STATUS ".to_vec();
    s.write_mailbox(&mut data, &mailbox.name);
    data.extend_from_slice(format!(" ({})", parts.join(" ")).as_bytes());
    Ok(data)
}

pub async fn handle_status(s: &mut Session, raw: &str, items: &[StatusItem]) -> OpResult {
    let name = s.mailbox_name(raw)?;
    let account = super::account(s)?;
    let mailbox = s
        .ctx
        .store
        .mailbox_get(account.id, &name)
        .await?
        .ok_or_else(|| ImapError::no_code("NONEXISTENT", "No such mailbox"))?;
    if items.contains(&StatusItem::HighestModSeq) {
        // RFC 7162 §3.1: STATUS HIGHESTMODSEQ is a CONDSTORE-enabling command.
        s.enable_condstore();
    }
    let data = status_data(s, &mailbox, items).await?;
    s.untagged_bytes(&data);
    Ok(Done::text("STATUS completed"))
}
