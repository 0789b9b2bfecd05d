//! SELECT and EXAMINE (RFC 9051 §6.3.2, §6.3.3), with CONDSTORE (RFC 7162 §3.1.8) and
//! QRESYNC (§3.2.5) parameters.

use crate::proto::QResync;
use crate::proto::encode;
use crate::session::selected::{Selected, uid_set_string};
use crate::session::{Done, ImapError, OpResult, Session, State};

pub async fn handle_select(
    s: &mut Session,
    raw_name: &str,
    read_only: bool,
    condstore: bool,
    qresync: Option<QResync>,
) -> OpResult {
    let name = s.mailbox_name(raw_name)?;
    let account = super::account(s)?;
    if qresync.is_some() && !s.enabled.qresync {
        return Err(ImapError::bad("QRESYNC must be enabled first"));
    }
    // RFC 9051 §6.3.2: a SELECT deselects the current mailbox first, even if it fails,
    // and says so with CLOSED (for rev1 sessions only under QRESYNC, RFC 7162 §3.2.11).
    if let State::Selected { .. } = s.state {
        s.state = State::Authenticated {
            account: account.clone(),
        };
        if s.enabled.qresync || s.enabled.rev2 {
            s.untagged("OK [CLOSED] Previous mailbox closed");
        }
    }
    if condstore {
        s.enabled.condstore = true;
    }
    let store = s.ctx.store.clone();
    let mailbox = store
        .mailbox_get(account.id, &name)
        .await?
        .ok_or_else(|| ImapError::no_code("NONEXISTENT", "No such mailbox"))?;
    let snapshot = store.mailbox_snapshot(mailbox.id).await?;
    let mut sel = Selected::new(snapshot, read_only);
    // RFC 3501 §2.3.2: the messages no session was told of yet are \Recent here.
    let uids: Vec<u32> = sel.messages.iter().map(|m| m.meta.uid).collect();
    sel.recent = crate::session::claim_recent(&store, sel.id, &uids, read_only)
        .await?
        .into_iter()
        .collect();

    let (flags, permanent) = sel.flags_lines();
    let mut lines = vec![flags, permanent];
    lines.push(format!("{} EXISTS", sel.exists()));
    if !s.enabled.rev2 {
        lines.push(format!("{} RECENT", sel.recent.len()));
        sel.reported_recent = sel.recent.len();
        if let Some(i) = sel
            .messages
            .iter()
            .position(|m| !m.meta.flags.contains(wharf_store::Flags::SEEN))
        {
            lines.push(format!("OK [UNSEEN {}] First unseen", i + 1));
        }
    }
    lines.push(format!("OK [UIDVALIDITY {}] UIDs valid", sel.uidvalidity));
    lines.push(format!("OK [UIDNEXT {}] Predicted next UID", sel.uidnext));
    if s.enabled.condstore {
        lines.push(format!("OK [HIGHESTMODSEQ {}] Highest", sel.highest_modseq));
    }
    for l in &lines {
        s.untagged(l);
    }
    if s.enabled.rev2 {
        // RFC 9051 §6.3.2: the LIST response names the mailbox as stored.
        let mut data = b"LIST () \"/\" ".to_vec();
        encode::mailbox(&mut data, &sel.name, true);
        s.untagged_bytes(&data);
    }
    if let Some(q) = qresync.filter(|q| q.uidvalidity == sel.uidvalidity) {
        // RFC 7162 §3.2.5.2: what vanished and what changed since the client's modseq.
        let mut gone = store.expunged_since(sel.id, q.modseq).await?;
        if let Some(known) = &q.known_uids {
            gone.retain(|&u| known.contains(u, u32::MAX));
        }
        if !gone.is_empty() {
            s.untagged(&format!("VANISHED (EARLIER) {}", uid_set_string(&gone)));
        }
        let enabled = s.enabled;
        let changed: Vec<String> = sel
            .messages
            .iter()
            .enumerate()
            .filter(|(_, m)| m.meta.modseq > q.modseq)
            .map(|(i, m)| sel.flag_fetch(i + 1, &m.meta, enabled))
            .collect();
        for l in changed {
            s.untagged(&l);
        }
    }
    s.state = State::Selected {
        account,
        mailbox: Box::new(sel),
    };
    Ok(if read_only {
        Done::code("READ-ONLY", "EXAMINE completed")
    } else {
        Done::code("READ-WRITE", "SELECT completed")
    })
}
