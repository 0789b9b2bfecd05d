//! Catching the selected mailbox's view up from the store's changes since the view's
//! sync point (`Selected::synced`), instead of from a snapshot of every message.
//!
//! Issue 11: with several sessions on one mailbox every change event made each of the
//! others read the whole mailbox's metadata (`Store::mailbox_snapshot`) before its next
//! command's tagged reply; [`Selected::apply_changes`] needs only what changed after
//! `synced` (`Store::mailbox_changes_since`) and writes the same responses
//! [`Selected::apply`] writes for a snapshot taken at the same moment: FLAGS for new
//! keywords, FETCH for flag changes, EXPUNGE/VANISHED when allowed, EXISTS and RECENT.

use super::Enabled;
use super::selected::Selected;
use wharf_store::{MailboxChanges, Uid};

impl Selected {
    /// Merges the changes after `self.synced` into the view, writing the untagged
    /// responses for them; `recent` are the new UIDs claimed as \Recent for this
    /// session. Expunges are held back unless `allow_expunge` (RFC 9051 §7.5.1).
    pub fn apply_changes(
        &mut self,
        changes: MailboxChanges,
        allow_expunge: bool,
        enabled: Enabled,
        out: &mut Vec<u8>,
        recent: &[Uid],
    ) {
        self.dirty = false;
        // New keywords (set by another session, or on new mail) first (RFC 9051 §7.3.5).
        self.announce_keywords(
            changes
                .changed
                .iter()
                .flat_map(|f| &f.keywords)
                .chain(changes.expunged_flags.iter().flat_map(|e| &e.2)),
            out,
        );
        // New messages: UIDs above the view's largest (taken before removals).
        let max = self.max_uid();
        for uid in &changes.expunged {
            if let Some(i) = self.index_of(*uid) {
                self.messages[i].gone = true;
            }
        }
        // Issue 11: the flags an expunged message had last (say \Deleted set just before
        // the expunge), served until its EXPUNGE is reported (RFC 2180 §4.1, as Dovecot).
        for (uid, flags, keywords) in &changes.expunged_flags {
            if let Some(i) = self.index_of(*uid) {
                let vm = &mut self.messages[i].meta;
                vm.flags = *flags;
                vm.keywords = keywords.clone();
            }
        }
        // Flag changes of messages in the view, reported in message-number order.
        let mut flagged: Vec<usize> = Vec::new();
        let mut new = Vec::new();
        for f in changes.changed {
            if f.uid > max {
                new.push(f);
                continue;
            }
            let Some(i) = self.index_of(f.uid) else {
                continue;
            };
            if Self::refresh_meta(&mut self.messages[i].meta, &f, enabled) {
                flagged.push(i);
            }
        }
        self.report_flag_changes(&flagged, enabled, out);
        if allow_expunge && self.has_pending_expunges() {
            let gone: Vec<Uid> = self
                .messages
                .iter()
                .filter(|m| m.gone)
                .map(|m| m.meta.uid)
                .collect();
            self.remove_reported(&gone, enabled, out);
        }
        self.append_new(new, recent, enabled, out);
        self.uidnext = changes.mailbox.uidnext.max(self.uidnext);
        self.highest_modseq = changes.mailbox.highest_modseq.max(self.highest_modseq);
        self.synced = self.synced.max(changes.mailbox.highest_modseq);
    }
}

#[cfg(test)]
mod tests {
    //! The same histories through `apply` (a snapshot) and `apply_changes` (the changes
    //! since the view's sync point) give the same responses and the same view.
    use super::*;
    use wharf_store::{
        AccountId, BlobId, Flags, Mailbox, MailboxId, MailboxSnapshot, MessageMeta, ModSeq,
    };

    fn meta(uid: Uid, flags: u8, kw: &[&str], modseq: ModSeq) -> MessageMeta {
        MessageMeta {
            uid,
            flags: Flags(flags),
            keywords: kw.iter().map(|k| k.to_string()).collect(),
            modseq,
            size: 10,
            internal_date: 0,
            blob: BlobId(uid as i64),
        }
    }

    fn mailbox(uidnext: Uid, highest_modseq: ModSeq) -> Mailbox {
        Mailbox {
            id: MailboxId(1),
            account: AccountId(1),
            name: "INBOX".into(),
            uidvalidity: 1,
            uidnext,
            highest_modseq,
            special_use: None,
            subscribed: true,
        }
    }

    /// A tiny store: messages and expunge records with their modseqs.
    #[derive(Clone)]
    struct Model {
        msgs: Vec<MessageMeta>,
        expunged: Vec<(Uid, ModSeq)>,
        modseq: ModSeq,
        uidnext: Uid,
    }

    impl Model {
        fn snapshot(&self) -> MailboxSnapshot {
            MailboxSnapshot {
                mailbox: mailbox(self.uidnext, self.modseq),
                messages: self.msgs.clone(),
            }
        }
        fn since(&self, since: ModSeq) -> MailboxChanges {
            let mut expunged: Vec<Uid> = self
                .expunged
                .iter()
                .filter(|e| e.1 > since)
                .map(|e| e.0)
                .collect();
            expunged.sort_unstable();
            MailboxChanges {
                mailbox: mailbox(self.uidnext, self.modseq),
                changed: self
                    .msgs
                    .iter()
                    .filter(|m| m.modseq > since)
                    .cloned()
                    .collect(),
                expunged,
                expunged_flags: Vec::new(),
            }
        }
        fn append(&mut self, kw: &[&str]) {
            self.modseq += 1;
            self.msgs.push(meta(self.uidnext, 0, kw, self.modseq));
            self.uidnext += 1;
        }
        fn flags(&mut self, uid: Uid, flags: u8, kw: &[&str]) {
            self.modseq += 1;
            let m = self.msgs.iter_mut().find(|m| m.uid == uid).unwrap();
            m.flags = Flags(flags);
            m.keywords = kw.iter().map(|k| k.to_string()).collect();
            m.modseq = self.modseq;
        }
        fn expunge(&mut self, uid: Uid) {
            self.modseq += 1;
            self.msgs.retain(|m| m.uid != uid);
            self.expunged.push((uid, self.modseq));
        }
    }

    fn enabled(condstore: bool, qresync: bool, rev2: bool) -> Enabled {
        Enabled {
            condstore,
            qresync,
            rev2,
            ..Enabled::default()
        }
    }

    fn view_key(s: &Selected) -> Vec<(Uid, u8, Vec<String>, ModSeq, bool)> {
        s.messages
            .iter()
            .map(|m| {
                (
                    m.meta.uid,
                    m.meta.flags.0,
                    m.meta.keywords.clone(),
                    m.meta.modseq,
                    m.gone,
                )
            })
            .collect()
    }

    #[test]
    fn changes_give_the_responses_a_snapshot_gives() {
        let mut store = Model {
            msgs: Vec::new(),
            expunged: Vec::new(),
            modseq: 1,
            uidnext: 1,
        };
        for _ in 0..5 {
            store.append(&[]);
        }
        // (step, allow_expunge) pairs: each step changes the store, then both views sync.
        type Step = fn(&mut Model);
        let steps: Vec<(Step, bool)> = vec![
            (|_| {}, true),
            (|m| m.append(&[]), false),
            (|m| m.flags(2, 1, &[]), false),
            (|m| m.expunge(3), false), // held back
            (|m| m.flags(4, 4, &["$Work"]), false),
            (|_| {}, true), // now reported
            (|m| m.append(&["$New"]), true),
            (
                |m| {
                    m.append(&[]);
                    m.expunge(7);
                    m.expunge(1);
                    m.flags(5, 1, &["$Work"]);
                },
                true,
            ),
            (
                |m| {
                    let u = m.uidnext;
                    m.append(&[]);
                    m.expunge(u); // came and went between two syncs
                },
                true,
            ),
            (|m| m.flags(2, 1, &[]), true), // same flags, new modseq
        ];
        for en in [
            enabled(false, false, false),
            enabled(true, false, false),
            enabled(true, true, true),
        ] {
            let mut model = store.clone();
            let mut a = Selected::new(model.snapshot(), false);
            let mut b = Selected::new(model.snapshot(), false);
            for (k, (step, allow)) in steps.iter().enumerate() {
                step(&mut model);
                let max = a.max_uid();
                let recent: Vec<Uid> = model
                    .msgs
                    .iter()
                    .map(|m| m.uid)
                    .filter(|&u| u > max)
                    .collect();
                let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
                a.apply(model.snapshot(), *allow, en, &mut out_a, &recent);
                b.apply_changes(model.since(b.synced), *allow, en, &mut out_b, &recent);
                assert_eq!(
                    String::from_utf8_lossy(&out_a),
                    String::from_utf8_lossy(&out_b),
                    "step {k}, {en:?}"
                );
                assert_eq!(view_key(&a), view_key(&b), "step {k}");
                assert_eq!(a.keywords, b.keywords, "step {k}");
                assert_eq!(a.recent, b.recent, "step {k}");
                assert_eq!((a.uidnext, a.highest_modseq), (b.uidnext, b.highest_modseq));
                assert_eq!(b.synced, model.modseq);
            }
        }
    }

    /// This session's own STORE raises `highest_modseq` past a change of another
    /// session it has not seen yet; the catch-up from `synced` still brings that change.
    #[test]
    fn own_store_does_not_skip_another_sessions_change() {
        let mut model = Model {
            msgs: Vec::new(),
            expunged: Vec::new(),
            modseq: 1,
            uidnext: 1,
        };
        model.append(&[]);
        model.append(&[]);
        let mut s = Selected::new(model.snapshot(), false);
        model.flags(1, 4, &[]); // another session, not yet seen
        model.flags(2, 1, &[]); // this session's STORE, applied to the view at once
        assert!(s.update_flags(2, Flags(1), Vec::new(), model.modseq));
        let mut out = Vec::new();
        s.apply_changes(
            model.since(s.synced),
            true,
            enabled(false, false, true),
            &mut out,
            &[],
        );
        let out = String::from_utf8_lossy(&out);
        assert_eq!(out, "* 1 FETCH (UID 1 FLAGS (\\Flagged))\r\n");
    }
}
