//! The maildrop as one POP3 session sees it: the INBOX frozen at login, numbered from 1,
//! with the session's deletion marks.
//!
//! Invariants (RFC 1939 §5-§6):
//! - message numbers are fixed for the session: the list is taken once at login and never
//!   re-read, so a message IMAP expunges meanwhile keeps its number (RETR then fails);
//! - a message marked deleted is invisible to every command but RSET, and sizes and
//!   counts leave it out;
//! - nothing is changed in the store before UPDATE: [`Maildrop::update_plan`] says what
//!   QUIT must apply.

use crate::reply::Pop3Error;
use wharf_store::{BlobId, Flags, MailboxId, MailboxSnapshot, Uid};

/// One message of the maildrop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub uid: Uid,
    /// Exact octets RETR sends before byte-stuffing (RFC 1939 §5 LIST).
    pub size: u64,
    pub blob: BlobId,
    /// Unix seconds of delivery.
    pub internal_date: i64,
    /// `\Seen` when the session started.
    pub seen: bool,
    /// Marked by DELE in this session.
    pub deleted: bool,
    /// Sent in full by RETR in this session.
    pub retrieved: bool,
}

/// The session's view of the INBOX.
#[derive(Debug, Clone)]
pub struct Maildrop {
    pub mailbox: MailboxId,
    pub uidvalidity: u32,
    entries: Vec<Entry>,
}

/// What UPDATE must do to the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdatePlan {
    /// Messages to expunge: marked by DELE, or expired by the EXPIRE policy.
    pub expunge: Vec<Uid>,
    /// How many of those the EXPIRE policy added.
    pub expired: usize,
    /// Messages retrieved in this session that stay and are not yet `\Seen`.
    pub mark_seen: Vec<Uid>,
}

impl Maildrop {
    /// The maildrop of a snapshot. Messages flagged `\Deleted` (by IMAP) are left out:
    /// they are on their way out and a POP3 client must not download them.
    pub fn new(snapshot: &MailboxSnapshot) -> Maildrop {
        let entries = snapshot
            .messages
            .iter()
            .filter(|m| !m.flags.contains(Flags::DELETED))
            .map(|m| Entry {
                uid: m.uid,
                size: m.size,
                blob: m.blob,
                internal_date: m.internal_date,
                seen: m.flags.contains(Flags::SEEN),
                deleted: false,
                retrieved: false,
            })
            .collect();
        Maildrop {
            mailbox: snapshot.mailbox.id,
            uidvalidity: snapshot.mailbox.uidvalidity,
            entries,
        }
    }

    /// Every message with its number, deleted ones included.
    fn numbered(&self) -> impl Iterator<Item = (u32, &Entry)> {
        (1u32..).zip(self.entries.iter())
    }

    /// Messages not marked deleted, with their numbers.
    pub fn live(&self) -> impl Iterator<Item = (u32, &Entry)> {
        self.numbered().filter(|(_, e)| !e.deleted)
    }

    /// The first message after `n` that is not marked deleted (RETR's read-ahead).
    pub fn next_live(&self, n: u32) -> Option<(u32, &Entry)> {
        let start = n as usize; // index of message n + 1
        self.entries
            .get(start..)?
            .iter()
            .zip(n.checked_add(1)?..)
            .find(|(e, _)| !e.deleted)
            .map(|(e, m)| (m, e))
    }

    /// STAT: count and total size of the messages not marked deleted.
    pub fn stat(&self) -> (usize, u64) {
        self.live()
            .fold((0, 0), |(n, size), (_, e)| (n + 1, size + e.size))
    }

    /// Number of messages at login, deleted ones included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The message numbered `n`, if it exists and is not marked deleted.
    /// RFC 1939 §5: "may NOT refer to a message marked as deleted".
    pub fn get(&self, n: u32) -> Result<&Entry, Pop3Error> {
        let index = (n as usize).checked_sub(1).ok_or_else(|| no_such(n))?;
        match self.entries.get(index) {
            None => Err(no_such(n)),
            Some(e) if e.deleted => Err(Pop3Error::new(format!("Message {n} already deleted"))),
            Some(e) => Ok(e),
        }
    }

    /// DELE: marks a message.
    pub fn dele(&mut self, n: u32) -> Result<(), Pop3Error> {
        self.get(n)?;
        self.entries[n as usize - 1].deleted = true;
        Ok(())
    }

    /// RETR sent this message in full.
    pub fn set_retrieved(&mut self, n: u32) {
        if let Some(e) = (n as usize)
            .checked_sub(1)
            .and_then(|i| self.entries.get_mut(i))
        {
            e.retrieved = true;
        }
    }

    /// RSET: unmarks every message.
    pub fn rset(&mut self) {
        for e in &mut self.entries {
            e.deleted = false;
        }
    }

    /// The unique-id of a message (RFC 1939 §7 UIDL): `<uidvalidity>.<uid>`. Both numbers
    /// are never reused for the INBOX (store invariant), so the id is unique and stable
    /// forever; it is at most 21 printable octets (RFC 1939 allows 70).
    pub fn unique_id(&self, e: &Entry) -> String {
        format!("{}.{}", self.uidvalidity, e.uid)
    }

    /// What UPDATE applies, given the EXPIRE policy and the current time.
    ///
    /// RFC 2449 §6.7: EXPIRE is the minimum number of days a message stays on the server.
    /// We count from delivery (the store keeps no retrieval time) and only ever expire
    /// messages that were retrieved: sent by RETR in this session, or `\Seen` already
    /// (RETR of an earlier session, or read over IMAP). With `Some(0)` every retrieved
    /// message goes at the end of the session.
    pub fn update_plan(&self, expire_days: Option<u32>, now: i64) -> UpdatePlan {
        let mut plan = UpdatePlan::default();
        for e in &self.entries {
            let expired = !e.deleted
                && (e.retrieved || e.seen)
                && expire_days
                    .is_some_and(|days| now - e.internal_date >= i64::from(days) * 86_400);
            if e.deleted || expired {
                plan.expunge.push(e.uid);
                plan.expired += usize::from(expired);
            } else if e.retrieved && !e.seen {
                plan.mark_seen.push(e.uid);
            }
        }
        plan
    }
}

fn no_such(n: u32) -> Pop3Error {
    Pop3Error::new(format!("No such message: {n}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_store::{AccountId, Mailbox, MessageMeta};

    const DAY: i64 = 86_400;
    const NOW: i64 = 1_800_000_000;

    fn drop_of(msgs: &[(Uid, u64, Flags, i64)]) -> Maildrop {
        Maildrop::new(&MailboxSnapshot {
            mailbox: Mailbox {
                id: MailboxId(9),
                account: AccountId(1),
                name: "INBOX".into(),
                uidvalidity: 1234,
                uidnext: 100,
                highest_modseq: 1,
                special_use: None,
                subscribed: true,
            },
            messages: msgs
                .iter()
                .map(|&(uid, size, flags, date)| MessageMeta {
                    uid,
                    flags,
                    keywords: vec![],
                    modseq: 1,
                    size,
                    internal_date: date,
                    blob: BlobId(i64::from(uid)),
                })
                .collect(),
        })
    }

    #[test]
    fn imap_deleted_messages_are_not_offered_and_numbers_are_dense() {
        let d = drop_of(&[
            (3, 100, Flags::default(), NOW),
            (5, 200, Flags::DELETED, NOW),
            (8, 300, Flags::SEEN, NOW),
        ]);
        assert_eq!(d.stat(), (2, 400));
        assert_eq!(d.get(2).unwrap().uid, 8);
        assert_eq!(d.unique_id(d.get(2).unwrap()), "1234.8");
        assert_eq!(d.get(3).unwrap_err().text, "No such message: 3");
        assert_eq!(d.get(0).unwrap_err().text, "No such message: 0");
    }

    #[test]
    fn dele_hides_a_message_and_rset_brings_it_back() {
        let mut d = drop_of(&[
            (1, 10, Flags::default(), NOW),
            (2, 20, Flags::default(), NOW),
        ]);
        d.dele(1).unwrap();
        assert_eq!(d.stat(), (1, 20));
        assert_eq!(d.get(1).unwrap_err().text, "Message 1 already deleted");
        assert_eq!(d.dele(1).unwrap_err().text, "Message 1 already deleted");
        // Numbers do not shift after a deletion.
        assert_eq!(d.get(2).unwrap().uid, 2);
        assert_eq!(d.next_live(0).map(|(n, _)| n), Some(2));
        assert_eq!(d.next_live(1).map(|(n, _)| n), Some(2));
        assert_eq!(d.next_live(2).map(|(n, _)| n), None);
        assert_eq!(d.next_live(u32::MAX).map(|(n, _)| n), None);
        assert_eq!(d.live().map(|(n, _)| n).collect::<Vec<_>>(), vec![2]);
        d.rset();
        assert_eq!(d.stat(), (2, 30));
    }

    #[test]
    fn update_plan_without_expire_applies_only_dele() {
        let mut d = drop_of(&[
            (1, 10, Flags::SEEN, NOW - 400 * DAY),
            (2, 20, Flags::default(), NOW),
            (3, 30, Flags::default(), NOW),
        ]);
        d.dele(2).unwrap();
        d.set_retrieved(3);
        let plan = d.update_plan(None, NOW);
        assert_eq!(plan.expunge, vec![2]);
        assert_eq!(plan.expired, 0);
        assert_eq!(plan.mark_seen, vec![3]);
    }

    #[test]
    fn update_plan_expires_only_retrieved_messages_old_enough() {
        let mut d = drop_of(&[
            (1, 10, Flags::SEEN, NOW - 8 * DAY),      // seen, old: expires
            (2, 10, Flags::default(), NOW - 8 * DAY), // never retrieved: stays
            (3, 10, Flags::default(), NOW - 8 * DAY), // retrieved now, old: expires
            (4, 10, Flags::default(), NOW - DAY),     // retrieved now, young: stays, seen
            (5, 10, Flags::SEEN, NOW - 6 * DAY),      // seen, young: stays
        ]);
        d.set_retrieved(3);
        d.set_retrieved(4);
        let plan = d.update_plan(Some(7), NOW);
        assert_eq!(plan.expunge, vec![1, 3]);
        assert_eq!(plan.expired, 2);
        assert_eq!(plan.mark_seen, vec![4]);
    }

    #[test]
    fn expire_zero_deletes_what_was_retrieved() {
        let mut d = drop_of(&[
            (1, 10, Flags::default(), NOW),
            (2, 10, Flags::default(), NOW),
        ]);
        d.set_retrieved(2);
        let plan = d.update_plan(Some(0), NOW);
        assert_eq!(plan.expunge, vec![2]);
        assert!(plan.mark_seen.is_empty());
    }
}
