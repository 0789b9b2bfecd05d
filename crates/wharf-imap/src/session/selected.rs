//! The selected mailbox as this session sees it: messages in sequence-number order, and
//! how it catches up with the store.
//!
//! Invariants:
//! - `messages` is in strictly increasing UID order; message n is `messages[n - 1]`.
//! - A message leaves `messages` only when this session reports its EXPUNGE (or
//!   VANISHED); until then it stays, marked `gone`, so sequence numbers hold still while
//!   a FETCH, STORE or SEARCH runs (RFC 9051 §7.5.1).
//! - New messages are appended at the end and announced with EXISTS before any response
//!   that uses their numbers.
//! - `keywords` is what the client was told in FLAGS / PERMANENTFLAGS; a keyword it has
//!   not been told of is announced (FLAGS, then PERMANENTFLAGS) before any FETCH that
//!   carries it (RFC 9051 §7.3.5, RFC 3501 §7.2.6).

use super::Enabled;
use crate::proto::command::SequenceSet;
use std::collections::HashSet;
use wharf_store::{Change, Flags, MailboxId, MailboxSnapshot, MessageMeta, ModSeq, Uid};

/// One message of the view.
#[derive(Debug, Clone)]
pub struct ViewMessage {
    pub meta: MessageMeta,
    /// Expunged in the store, not yet reported to this client.
    pub gone: bool,
}

/// A selected (or examined) mailbox.
#[derive(Debug)]
pub struct Selected {
    pub id: MailboxId,
    pub name: String,
    pub read_only: bool,
    pub uidvalidity: u32,
    pub uidnext: Uid,
    pub highest_modseq: ModSeq,
    pub messages: Vec<ViewMessage>,
    /// This session's \Recent messages (see [`super::claim_recent`]).
    pub recent: HashSet<Uid>,
    /// The RECENT count this client was last told (SELECT, or a later RECENT response).
    pub reported_recent: usize,
    /// A change event said the store differs from the view.
    pub dirty: bool,
    /// The saved search result `$` (RFC 5182), as UIDs so that expunges cannot shift it.
    pub saved: Vec<Uid>,
    /// Keywords announced to the client in FLAGS (and PERMANENTFLAGS), in order.
    pub keywords: Vec<String>,
    /// The store's HIGHESTMODSEQ the view has caught up with (every change up to it is
    /// in `messages`); unlike `highest_modseq` not raised by this session's own STOREs,
    /// so a catch-up from it misses nothing (see `changes.rs`).
    pub synced: ModSeq,
}

/// The system flags, always in FLAGS and PERMANENTFLAGS.
const SYSTEM_FLAGS: &str = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";

impl Selected {
    pub fn new(snapshot: MailboxSnapshot, read_only: bool) -> Selected {
        let m = snapshot.mailbox;
        let mut keywords: Vec<String> = Vec::new();
        for k in snapshot.messages.iter().flat_map(|m| &m.keywords) {
            if !keywords.iter().any(|x| x.eq_ignore_ascii_case(k)) {
                keywords.push(k.clone());
            }
        }
        Selected {
            id: m.id,
            name: m.name,
            read_only,
            uidvalidity: m.uidvalidity,
            uidnext: m.uidnext,
            highest_modseq: m.highest_modseq,
            messages: snapshot
                .messages
                .into_iter()
                .map(|meta| ViewMessage { meta, gone: false })
                .collect(),
            recent: HashSet::new(),
            reported_recent: 0,
            dirty: false,
            saved: Vec::new(),
            keywords,
            synced: m.highest_modseq,
        }
    }

    /// The FLAGS response and the PERMANENTFLAGS response code's line for the flags
    /// announced so far (RFC 9051 §7.3.5, §7.1).
    pub fn flags_lines(&self) -> (String, String) {
        let kw: String = self.keywords.iter().map(|k| format!(" {k}")).collect();
        let flags = format!("FLAGS ({SYSTEM_FLAGS}{kw})");
        let permanent = if self.read_only {
            "OK [PERMANENTFLAGS ()] Read-only mailbox".to_string()
        } else {
            format!("OK [PERMANENTFLAGS ({SYSTEM_FLAGS}{kw} \\*)] Flags permitted")
        };
        (flags, permanent)
    }

    /// Announces keywords the client has not been told of yet: FLAGS, and for a
    /// read-write mailbox PERMANENTFLAGS, written before any FETCH that carries them
    /// (RFC 9051 §7.3.5, RFC 3501 §7.2.6: the client records the FLAGS update).
    pub fn announce_keywords<'a>(
        &mut self,
        keywords: impl IntoIterator<Item = &'a String>,
        out: &mut Vec<u8>,
    ) {
        let mut added = false;
        for k in keywords {
            if !self.keywords.iter().any(|x| x.eq_ignore_ascii_case(k)) {
                self.keywords.push(k.clone());
                added = true;
            }
        }
        if added {
            let (flags, permanent) = self.flags_lines();
            out.extend_from_slice(format!("* {flags}\r\n").as_bytes());
            if !self.read_only {
                out.extend_from_slice(format!("* {permanent}\r\n").as_bytes());
            }
        }
    }

    /// Whether a change event is about this mailbox.
    pub fn concerns(&self, ch: &Change) -> bool {
        match ch {
            Change::Appended { mailbox, .. }
            | Change::FlagsChanged { mailbox, .. }
            | Change::Expunged { mailbox, .. } => *mailbox == self.id,
            Change::MailboxesChanged { .. } => false,
        }
    }

    pub fn has_pending_expunges(&self) -> bool {
        self.messages.iter().any(|m| m.gone)
    }

    pub fn exists(&self) -> u32 {
        self.messages.len() as u32
    }

    /// Largest UID in the view (for `*` in UID sets), 0 if empty.
    pub fn max_uid(&self) -> Uid {
        self.messages.last().map(|m| m.meta.uid).unwrap_or(0)
    }

    /// Index (0-based) of the message with this UID.
    pub fn index_of(&self, uid: Uid) -> Option<usize> {
        self.messages
            .binary_search_by_key(&uid, |m| m.meta.uid)
            .ok()
    }

    /// Indexes of the messages a set names, in order, each once. Numbers beyond the view
    /// are left out; for message numbers the caller checks [`Selected::seq_in_range`].
    pub fn resolve(&self, set: &SequenceSet, uid: bool) -> Vec<usize> {
        let n = self.messages.len();
        let mut idx: Vec<usize> = Vec::new();
        if uid {
            let largest = self.max_uid();
            for (lo, hi) in set.ranges(largest) {
                let start = self.messages.partition_point(|m| m.meta.uid < lo);
                let end = self.messages.partition_point(|m| m.meta.uid <= hi);
                idx.extend(start..end);
            }
        } else {
            for (lo, hi) in set.ranges(n as u32) {
                let lo = (lo.max(1) as usize).min(n + 1);
                let hi = (hi as usize).min(n);
                if lo <= hi {
                    idx.extend(lo - 1..hi);
                }
            }
        }
        idx.sort_unstable();
        idx.dedup();
        idx
    }

    /// RFC 9051 §9: a message number beyond the mailbox is an error (BAD).
    pub fn seq_in_range(&self, set: &SequenceSet) -> bool {
        let n = self.messages.len() as u32;
        set.0.iter().all(|&(a, b)| {
            [a, b].iter().all(|x| match x {
                crate::proto::SeqNum::Num(v) => *v <= n,
                crate::proto::SeqNum::Star => n > 0,
            })
        })
    }

    /// The FLAGS list of a message (with \Recent for IMAP4rev1 sessions).
    pub fn flags_string(&self, m: &MessageMeta, rev2: bool) -> String {
        let mut parts: Vec<&str> = m.flags.names().collect();
        for k in &m.keywords {
            parts.push(k);
        }
        if !rev2 && self.recent.contains(&m.uid) {
            parts.push("\\Recent");
        }
        format!("({})", parts.join(" "))
    }

    /// Untagged FETCH for a flag change (with UID and, under CONDSTORE, MODSEQ, which
    /// RFC 7162 §3.2.4/§3.1.4 require in unsolicited FETCHes).
    pub fn flag_fetch(&self, seq: usize, m: &MessageMeta, enabled: Enabled) -> String {
        let mut s = format!(
            "{seq} FETCH (UID {} FLAGS {}",
            m.uid,
            self.flags_string(m, enabled.rev2)
        );
        if enabled.condstore {
            s.push_str(&format!(" MODSEQ ({})", m.modseq));
        }
        s.push(')');
        s
    }

    /// Replaces flag data of a message after this session changed it; true if the flags
    /// differ from what the view had.
    pub fn update_flags(
        &mut self,
        uid: Uid,
        flags: Flags,
        keywords: Vec<String>,
        modseq: ModSeq,
    ) -> bool {
        self.highest_modseq = self.highest_modseq.max(modseq);
        match self.index_of(uid) {
            Some(i) => {
                let m = &mut self.messages[i].meta;
                let changed = m.flags != flags || m.keywords != keywords;
                m.flags = flags;
                m.keywords = keywords;
                m.modseq = modseq;
                changed
            }
            None => false,
        }
    }

    /// Removes messages this session expunged itself and reports them.
    pub fn remove_reported(&mut self, uids: &[Uid], enabled: Enabled, out: &mut Vec<u8>) {
        let gone: HashSet<Uid> = uids.iter().copied().collect();
        self.report_removals(|m| gone.contains(&m.meta.uid), enabled, out);
    }

    fn report_removals(
        &mut self,
        is_gone: impl Fn(&ViewMessage) -> bool,
        enabled: Enabled,
        out: &mut Vec<u8>,
    ) {
        let mut vanished: Vec<Uid> = Vec::new();
        let mut i = 0;
        while i < self.messages.len() {
            if is_gone(&self.messages[i]) {
                let uid = self.messages[i].meta.uid;
                self.messages.remove(i);
                self.recent.remove(&uid);
                if enabled.qresync {
                    vanished.push(uid);
                } else {
                    out.extend_from_slice(format!("* {} EXPUNGE\r\n", i + 1).as_bytes());
                }
            } else {
                i += 1;
            }
        }
        if !vanished.is_empty() {
            // RFC 7162 §3.2.10: after ENABLE QRESYNC, VANISHED replaces EXPUNGE.
            out.extend_from_slice(
                format!("* VANISHED {}\r\n", uid_set_string(&vanished)).as_bytes(),
            );
        }
    }

    /// Writes RECENT when the number of messages recent for this session differs from
    /// what the client was last told. RFC 3501 §7.3.2: RECENT counts the messages with
    /// \Recent for this session; new mail another session already claimed does not
    /// change it (an EXAMINE session gets EXISTS alone), an expunge of a recent message
    /// does. Dovecot sends it on the same condition. Not under IMAP4rev2 (RFC 9051
    /// removed \Recent).
    pub fn report_recent(&mut self, enabled: Enabled, out: &mut Vec<u8>) {
        if !enabled.rev2 && self.recent.len() != self.reported_recent {
            self.reported_recent = self.recent.len();
            out.extend_from_slice(format!("* {} RECENT\r\n", self.reported_recent).as_bytes());
        }
    }

    /// Takes a message's current flags, keywords and modseq into the view's copy `vm`;
    /// true when the client is to be told (a FETCH of its flags): the flags or keywords
    /// differ, or only the modseq does and CONDSTORE is on.
    pub fn refresh_meta(vm: &mut MessageMeta, f: &MessageMeta, enabled: Enabled) -> bool {
        if f.flags == vm.flags && f.keywords == vm.keywords && f.modseq == vm.modseq {
            return false;
        }
        let flags_differ = f.flags != vm.flags || f.keywords != vm.keywords;
        vm.flags = f.flags;
        vm.keywords.clone_from(&f.keywords);
        vm.modseq = f.modseq;
        flags_differ || enabled.condstore
    }

    /// Writes a FETCH of the flags of each message at these view indices that is not
    /// gone, in the order given.
    pub fn report_flag_changes(&self, indices: &[usize], enabled: Enabled, out: &mut Vec<u8>) {
        for &i in indices {
            let m = &self.messages[i];
            if !m.gone {
                let line = self.flag_fetch(i + 1, &m.meta, enabled);
                out.extend_from_slice(format!("* {line}\r\n").as_bytes());
            }
        }
    }

    /// Appends new messages (UIDs above the view's largest) to the view, marks those
    /// of them the caller claimed (`recent`) \Recent for this session, and writes EXISTS
    /// when the count changed, then RECENT (see [`Self::report_recent`]).
    pub fn append_new(
        &mut self,
        new: impl IntoIterator<Item = MessageMeta>,
        recent: &[Uid],
        enabled: Enabled,
        out: &mut Vec<u8>,
    ) {
        let before = self.messages.len();
        let mut new_uids = Vec::new();
        for f in new {
            new_uids.push(f.uid);
            self.messages.push(ViewMessage {
                meta: f,
                gone: false,
            });
        }
        // Claimed by the caller for exactly these new UIDs.
        self.recent
            .extend(recent.iter().filter(|u| new_uids.contains(u)));
        if self.messages.len() != before {
            out.extend_from_slice(format!("* {} EXISTS\r\n", self.messages.len()).as_bytes());
        }
        self.report_recent(enabled, out);
    }

    /// Merges a fresh snapshot into the view, writing EXISTS, RECENT, FETCH (flags) and,
    /// when allowed, EXPUNGE/VANISHED responses.
    pub fn apply(
        &mut self,
        snapshot: MailboxSnapshot,
        allow_expunge: bool,
        enabled: Enabled,
        out: &mut Vec<u8>,
        recent: &[Uid],
    ) {
        self.dirty = false;
        let fresh = snapshot.messages;
        // New keywords (set by another session, or on new mail) first.
        self.announce_keywords(fresh.iter().flat_map(|f| &f.keywords), out);
        // Mark expunged messages; report flag changes of the others.
        let mut j = 0;
        let mut changed: Vec<usize> = Vec::new();
        for (i, vm) in self.messages.iter_mut().enumerate() {
            while j < fresh.len() && fresh[j].uid < vm.meta.uid {
                j += 1;
            }
            if j < fresh.len() && fresh[j].uid == vm.meta.uid {
                if Self::refresh_meta(&mut vm.meta, &fresh[j], enabled) {
                    changed.push(i);
                }
            } else {
                vm.gone = true;
            }
        }
        self.report_flag_changes(&changed, enabled, out);
        // New messages: UIDs above the view's largest (taken before removals).
        let max = self.max_uid();
        if allow_expunge {
            self.report_removals(|m| m.gone, enabled, out);
        }
        self.append_new(
            fresh.into_iter().filter(|f| f.uid > max),
            recent,
            enabled,
            out,
        );
        self.uidnext = snapshot.mailbox.uidnext.max(self.uidnext);
        self.highest_modseq = snapshot.mailbox.highest_modseq.max(self.highest_modseq);
        self.synced = snapshot.mailbox.highest_modseq;
    }
}

/// A UID list as a compact sequence set (`1:3,7`), sorted.
pub fn uid_set_string(uids: &[Uid]) -> String {
    let mut v = uids.to_vec();
    v.sort_unstable();
    v.dedup();
    ordered_set_string(&v)
}

/// A sequence set that keeps the order of `ids`: only ascending runs become ranges
/// (`2,4,3,1,5:6`), so a client reading it left to right gets the sorted order (RFC
/// 5267 §3.1: ALL is in the requested sort order). For ascending ids it is the usual
/// compressed set.
pub fn ordered_set_string(ids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < ids.len() {
        let start = ids[i];
        let mut end = start;
        while i + 1 < ids.len() && ids[i + 1] == end.wrapping_add(1) {
            i += 1;
            end = ids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::SeqNum;
    use wharf_store::{AccountId, BlobId, Mailbox};

    fn meta(uid: Uid, flags: Flags, modseq: ModSeq) -> MessageMeta {
        MessageMeta {
            uid,
            flags,
            keywords: vec![],
            modseq,
            size: 10,
            internal_date: 0,
            blob: BlobId(uid as i64),
        }
    }

    fn snap(msgs: Vec<MessageMeta>) -> MailboxSnapshot {
        MailboxSnapshot {
            mailbox: Mailbox {
                id: MailboxId(1),
                account: AccountId(1),
                name: "INBOX".into(),
                uidvalidity: 7,
                uidnext: msgs.last().map(|m| m.uid + 1).unwrap_or(1),
                highest_modseq: msgs.iter().map(|m| m.modseq).max().unwrap_or(1),
                special_use: None,
                subscribed: true,
            },
            messages: msgs,
        }
    }

    #[test]
    fn expunges_are_held_back_then_reported_in_order() {
        let mut s = Selected::new(
            snap(vec![
                meta(1, Flags::default(), 1),
                meta(2, Flags::default(), 1),
                meta(3, Flags::default(), 1),
            ]),
            false,
        );
        let mut out = Vec::new();
        // Messages 1 and 3 expunged elsewhere, 4 arrived.
        s.apply(
            snap(vec![
                meta(2, Flags::default(), 1),
                meta(4, Flags::default(), 2),
            ]),
            false,
            Enabled::default(),
            &mut out,
            &[4],
        );
        assert_eq!(
            String::from_utf8_lossy(&out),
            "* 4 EXISTS\r\n* 1 RECENT\r\n"
        );
        assert_eq!(s.exists(), 4, "numbers hold still");
        out.clear();
        s.apply(
            snap(vec![
                meta(2, Flags::default(), 1),
                meta(4, Flags::default(), 2),
            ]),
            true,
            Enabled::default(),
            &mut out,
            &[],
        );
        assert_eq!(
            String::from_utf8_lossy(&out),
            "* 1 EXPUNGE\r\n* 2 EXPUNGE\r\n"
        );
        assert_eq!(
            s.messages.iter().map(|m| m.meta.uid).collect::<Vec<_>>(),
            vec![2, 4]
        );
    }

    /// RFC 3501 §7.3.2: RECENT counts the messages recent for this session, and is
    /// sent when that count changes (as Dovecot does): new mail that another session
    /// already claimed is announced by EXISTS alone (imapdiff recent.imap:18), and an
    /// expunge of a recent message lowers the count.
    #[test]
    fn recent_is_sent_when_this_sessions_count_changes() {
        let mut s = Selected::new(snap(vec![meta(1, Flags::default(), 1)]), true);
        s.recent.insert(1);
        s.reported_recent = 1;
        let mut out = Vec::new();
        let two = || {
            snap(vec![
                meta(1, Flags::default(), 1),
                meta(2, Flags::default(), 2),
                meta(3, Flags::default(), 3),
            ])
        };
        s.apply(two(), false, Enabled::default(), &mut out, &[]);
        assert_eq!(String::from_utf8_lossy(&out), "* 3 EXISTS\r\n");
        out.clear();
        s.apply(
            snap(vec![
                meta(2, Flags::default(), 2),
                meta(3, Flags::default(), 3),
            ]),
            true,
            Enabled::default(),
            &mut out,
            &[],
        );
        assert_eq!(
            String::from_utf8_lossy(&out),
            "* 1 EXPUNGE\r\n* 0 RECENT\r\n"
        );
    }

    #[test]
    fn flag_changes_and_vanished_under_qresync() {
        let mut s = Selected::new(
            snap(vec![
                meta(5, Flags::default(), 1),
                meta(6, Flags::default(), 1),
            ]),
            false,
        );
        let mut out = Vec::new();
        let en = Enabled {
            condstore: true,
            qresync: true,
            rev2: true,
            utf8: false,
        };
        s.apply(snap(vec![meta(6, Flags::SEEN, 3)]), true, en, &mut out, &[]);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "* 2 FETCH (UID 6 FLAGS (\\Seen) MODSEQ (3))\r\n* VANISHED 5\r\n"
        );
    }

    #[test]
    fn resolving_sets() {
        let s = Selected::new(
            snap(vec![
                meta(3, Flags::default(), 1),
                meta(9, Flags::default(), 1),
                meta(20, Flags::default(), 1),
            ]),
            false,
        );
        let set = |v: Vec<(SeqNum, SeqNum)>| SequenceSet(v);
        use SeqNum::*;
        assert_eq!(s.resolve(&set(vec![(Num(2), Star)]), false), vec![1, 2]);
        assert_eq!(s.resolve(&set(vec![(Num(4), Num(10))]), true), vec![1]);
        // RFC 9051 §6.4.8: n:* in UIDs includes the largest even if n is bigger.
        assert_eq!(s.resolve(&set(vec![(Num(500), Star)]), true), vec![2]);
        assert!(!s.seq_in_range(&set(vec![(Num(4), Num(4))])));
        assert_eq!(uid_set_string(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
    }
}
