//! Maildrop locks: RFC 1939 §8 lets a server refuse a second session on a maildrop that
//! is in use, and RFC 2449 §8.1.1 names the refusal `[IN-USE]`.
//!
//! We refuse rather than share, because two sessions that both number the messages and
//! both DELE would each believe their own view; one session per maildrop keeps "message
//! numbers fixed for the session" true without surprises.
//!
//! The registry lives in this process, keyed by the store instance and the mailbox id,
//! so every POP3 listener of one `wharf` (pop3 and pop3s, however many `Server`s the
//! binary builds) shares it. IMAP sessions do not take the lock: they may expunge
//! meanwhile, which POP3 tolerates (RETR of such a message answers `-ERR`). Several
//! `wharf` nodes on one PostgreSQL store would need the lock in the store instead.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};
use wharf_store::{DynStore, MailboxId};

type Key = (usize, MailboxId);

fn registry() -> &'static Mutex<HashSet<Key>> {
    static LOCKS: OnceLock<Mutex<HashSet<Key>>> = OnceLock::new();
    LOCKS.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Holds a maildrop until dropped (QUIT, disconnect, timeout or shutdown).
#[derive(Debug)]
pub struct MaildropLock {
    key: Key,
}

impl MaildropLock {
    /// Takes the lock of `mailbox`, or `None` when another session holds it.
    pub fn try_acquire(store: &DynStore, mailbox: MailboxId) -> Option<MaildropLock> {
        // The address of the store instance tells stores apart (tests run several in
        // one process); it is only compared, never dereferenced.
        let key = (Arc::as_ptr(store) as *const () as usize, mailbox);
        let inserted = registry()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key);
        // Built only once the registry is unlocked: a MaildropLock's drop takes the lock.
        inserted.then(|| MaildropLock { key })
    }
}

impl Drop for MaildropLock {
    fn drop(&mut self) {
        registry()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}
