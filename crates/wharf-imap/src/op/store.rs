//! STORE and UID STORE (RFC 9051 §6.4.6, §6.4.9), with UNCHANGEDSINCE (RFC 7162 §3.1.3).
//!
//! Order of the responses: a keyword new to the client is announced (FLAGS,
//! PERMANENTFLAGS) before the FETCH that carries it; then one FETCH per message with
//! its new flags (UID and, under CONDSTORE, MODSEQ included); with .SILENT and CONDSTORE
//! still `FETCH (UID u MODSEQ (m))` for every message whose MODSEQ changed (RFC 7162
//! §3.1.3). Messages expunged elsewhere, not yet reported, are not changed (RFC 2180
//! §4.2); as in Dovecot, STORE.SILENT ignores them and a STORE that owes their FETCH
//! ends `NO [EXPUNGEISSUED]` after storing the others, never OK with a FETCH missing.

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
        s.enable_condstore();
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
    let expunged = !silent && idx.iter().any(|&i| sel.messages[i].gone);
    let uids: Vec<u32> = idx
        .iter()
        .map(|&i| &sel.messages[i])
        .filter(|m| !m.gone)
        .map(|m| m.meta.uid)
        .collect();
    let expunge_issued = || {
        // RFC 2180 §4.2, RFC 5530.
        Err(ImapError::no_code(
            "EXPUNGEISSUED",
            "Some of the messages no longer exist",
        ))
    };
    if uids.is_empty() {
        return if expunged {
            expunge_issued()
        } else {
            Ok(Done::text("STORE completed"))
        };
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
    // RFC 9051 §7.3.5: new keywords are announced before a FETCH carries them.
    sel.announce_keywords(result.updated.iter().flat_map(|u| &u.2), &mut s.out);
    let mut changed = Vec::new();
    for (u, f, k, m) in result.updated {
        let Some(i) = sel.index_of(u) else { continue };
        let old_modseq = sel.messages[i].meta.modseq;
        if sel.update_flags(u, f, k, m) {
            changed.push(u);
        }
        let vm = &sel.messages[i].meta;
        if !silent {
            let line = sel.flag_fetch(i + 1, vm, enabled);
            s.out.extend_from_slice(format!("* {line}\r\n").as_bytes());
        } else if enabled.condstore && vm.modseq != old_modseq {
            // RFC 7162 §3.1.3: .SILENT does not silence the new MODSEQ.
            let line = format!("* {} FETCH (UID {} MODSEQ ({}))\r\n", i + 1, u, vm.modseq);
            s.out.extend_from_slice(line.as_bytes());
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
    if expunged {
        return expunge_issued();
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
