//! COPY, MOVE and their UID forms (RFC 9051 §6.4.7, §6.4.8; RFC 6851; UIDPLUS COPYUID,
//! RFC 4315 §3).
//!
//! A set that names a message expunged elsewhere, not yet reported to this session, is
//! refused whole with `NO [EXPUNGEISSUED]` (RFC 2180 §4.4.1, as Dovecot does): copying
//! the rest and answering OK would leave the client believing every message went.

use crate::proto::SequenceSet;
use crate::session::selected::uid_set_string;
use crate::session::{Done, ImapError, OpResult, Session, State};

pub async fn handle_copy(
    s: &mut Session,
    uid: bool,
    set: &SequenceSet,
    raw_dest: &str,
    is_move: bool,
) -> OpResult {
    let dest_name = s.mailbox_name(raw_dest)?;
    let account = super::account(s)?;
    let enabled = s.enabled;
    let store = s.ctx.store.clone();
    let verb = if is_move { "MOVE" } else { "COPY" };
    let (src_id, uids, size) = {
        let sel = super::selected(s)?;
        if !uid && !sel.seq_in_range(set) {
            return Err(ImapError::bad("Invalid message number"));
        }
        if is_move && sel.read_only {
            return Err(ImapError::no_code("READ-ONLY", "Mailbox is read-only"));
        }
        let idx = sel.resolve(set, uid);
        let msgs: Vec<_> = idx.iter().map(|&i| &sel.messages[i]).collect();
        if msgs.iter().any(|m| m.gone) {
            return Err(ImapError::no_code(
                "EXPUNGEISSUED",
                "Some of the messages no longer exist; nothing was copied",
            ));
        }
        let size: u64 = msgs.iter().map(|m| m.meta.size).sum();
        (
            sel.id,
            msgs.iter().map(|m| m.meta.uid).collect::<Vec<_>>(),
            size,
        )
    };
    // RFC 9051 §6.4.7: a missing destination is NO [TRYCREATE].
    let dest = store
        .mailbox_get(account.id, &dest_name)
        .await?
        .ok_or_else(|| ImapError::no_code("TRYCREATE", "No such mailbox"))?;
    if uids.is_empty() {
        return Ok(Done::text(format!("{verb} completed, no messages")));
    }
    if dest.id != src_id || !is_move {
        super::append::check_quota(s, size, uids.len() as u64).await?;
    }
    let (uidvalidity, pairs) = if is_move {
        store.move_messages(src_id, &uids, dest.id).await?
    } else {
        store.copy(src_id, &uids, dest.id).await?
    };
    super::append::mark_dirty(s, dest.id);
    let mut pairs = pairs;
    pairs.sort_unstable();
    let src: Vec<u32> = pairs.iter().map(|p| p.0).collect();
    let dst: Vec<u32> = pairs.iter().map(|p| p.1).collect();
    let code = if pairs.is_empty() {
        None
    } else {
        Some(format!(
            "COPYUID {uidvalidity} {} {}",
            uid_set_string(&src),
            uid_set_string(&dst)
        ))
    };
    if !is_move {
        return Ok(Done {
            code,
            text: "COPY completed".into(),
        });
    }
    // RFC 6851 §4.3: COPYUID goes in an untagged OK before the expunges.
    if let Some(c) = &code {
        s.untagged(&format!("OK [{c}] Moved"));
    }
    let State::Selected { mailbox: sel, .. } = &mut s.state else {
        return Err(ImapError::bad("No mailbox selected"));
    };
    sel.remove_reported(&src, enabled, &mut s.out);
    // RFC 3501 §7.3.2: the RECENT count fell with the moved recent messages.
    sel.report_recent(enabled, &mut s.out);
    Ok(Done::text("MOVE completed"))
}
