//! EXPUNGE and UID EXPUNGE (RFC 9051 §6.4.3, §6.4.9; RFC 4315 §2.1).

use crate::proto::SequenceSet;
use crate::session::{Done, ImapError, OpResult, Session, State};
use wharf_store::Flags;

pub async fn handle_expunge(s: &mut Session, uids: Option<&SequenceSet>) -> OpResult {
    let enabled = s.enabled;
    let store = s.ctx.store.clone();
    let State::Selected { mailbox: sel, .. } = &mut s.state else {
        return Err(ImapError::bad("No mailbox selected"));
    };
    if sel.read_only {
        return Err(ImapError::no_code("READ-ONLY", "Mailbox is read-only"));
    }
    let max = sel.max_uid();
    let targets: Vec<u32> = sel
        .messages
        .iter()
        .filter(|m| m.meta.flags.contains(Flags::DELETED))
        .map(|m| m.meta.uid)
        .filter(|&u| uids.is_none_or(|set| set.contains(u, max)))
        .collect();
    if !targets.is_empty() {
        let removed = store.expunge(sel.id, &targets).await?;
        sel.remove_reported(&removed, enabled, &mut s.out);
        // RFC 3501 §7.3.2: the RECENT count fell with the expunged recent messages.
        sel.report_recent(enabled, &mut s.out);
        if !removed.is_empty() {
            let mailbox = sel.id;
            let account = super::account(s)?.id;
            s.expect_own(wharf_store::Change::Expunged {
                account,
                mailbox,
                uids: removed,
            });
        }
    }
    if enabled.condstore {
        // RFC 7162 §3.1.10: the expunge itself raised HIGHESTMODSEQ.
        let account = super::account(s)?;
        let sel = super::selected(s)?;
        let (id, name, known) = (sel.id, sel.name.clone(), sel.highest_modseq);
        let m = match store.mailbox_get(account.id, &name).await? {
            Some(mb) if mb.id == id => mb.highest_modseq.max(known),
            _ => known,
        };
        return Ok(Done::code(
            format!("HIGHESTMODSEQ {m}"),
            "EXPUNGE completed",
        ));
    }
    Ok(Done::text("EXPUNGE completed"))
}
