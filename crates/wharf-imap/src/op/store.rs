//! STORE and UID STORE (RFC 9051 §6.4.6, §6.4.9), with UNCHANGEDSINCE (RFC 7162 §3.1.3).

use crate::proto::{Flag, SequenceSet, split_flags};
use crate::session::selected::uid_set_string;
use crate::session::{Done, ImapError, OpResult, Session, State};
use wharf_store::{FlagOp, FlagUpdate};

pub async fn handle_store(
    s: &mut Session,
    uid: bool,
    set: &SequenceSet,
    op: FlagOp,
    silent: bool,
    flags: &[Flag],
    unchanged_since: Option<u64>,
) -> OpResult {
    if unchanged_since.is_some() {
        s.enabled.condstore = true;
    }
    let enabled = s.enabled;
    let store = s.ctx.store.clone();
    let State::Selected { mailbox: sel, .. } = &mut s.state else {
        return Err(ImapError::bad("No mailbox selected"));
    };
    if sel.read_only {
        return Err(ImapError::no_code("READ-ONLY", "Mailbox is read-only"));
    }
    if !uid && !sel.seq_in_range(set) {
        return Err(ImapError::bad("Invalid message number"));
    }
    if flags.iter().any(|f| matches!(f, Flag::Extension(_))) {
        return Err(ImapError::bad("Unknown system flag"));
    }
    let idx = sel.resolve(set, uid);
    let uids: Vec<u32> = idx.iter().map(|&i| sel.messages[i].meta.uid).collect();
    if uids.is_empty() {
        return Ok(Done::text("STORE completed"));
    }
    let (sys, keywords) = split_flags(flags);
    let result = store
        .store_flags(
            sel.id,
            FlagUpdate {
                uids,
                op,
                flags: sys,
                keywords,
                unchanged_since,
            },
        )
        .await?;
    let mut changed = Vec::new();
    for (u, f, k, m) in result.updated {
        if sel.update_flags(u, f, k, m) {
            changed.push(u);
        }
        if !silent && let Some(i) = sel.index_of(u) {
            let line = sel.flag_fetch(i + 1, &sel.messages[i].meta, enabled);
            s.out.extend_from_slice(format!("* {line}\r\n").as_bytes());
        }
    }
    let mailbox_id = sel.id;
    let modified: Vec<u32> = if uid {
        result.failed_unchanged
    } else {
        result
            .failed_unchanged
            .iter()
            .filter_map(|&u| sel.index_of(u).map(|i| i as u32 + 1))
            .collect()
    };
    if !changed.is_empty() {
        let account = super::account(s)?.id;
        s.expect_own(wharf_store::Change::FlagsChanged {
            account,
            mailbox: mailbox_id,
            uids: changed,
        });
    }
    if !modified.is_empty() {
        // RFC 7162 §3.1.3: MODIFIED lists what was not changed (numbers or UIDs).
        return Ok(Done::code(
            format!("MODIFIED {}", uid_set_string(&modified)),
            "Conditional STORE failed for some messages",
        ));
    }
    Ok(Done::text("STORE completed"))
}
