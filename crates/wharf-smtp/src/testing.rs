//! An in-memory stand-in for the store, for session tests without sockets or disk. It
//! implements the directory lookups and delivery the SMTP session uses; every other
//! method answers `Internal` (the session never calls them).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use wharf_store::*;

#[derive(Default)]
pub struct MemStore {
    pub inner: Mutex<Inner>,
}

#[derive(Default)]
pub struct Inner {
    pub domains: Vec<DomainName>,
    pub accounts: Vec<Account>,
    /// alias key -> targets
    pub aliases: HashMap<String, Vec<String>>,
    pub usage: HashMap<AccountId, Usage>,
    /// Every delivery: accounts and the raw message.
    pub delivered: Vec<(Vec<AccountId>, Vec<u8>)>,
    /// Make `deliver` fail.
    pub fail_deliver: bool,
    /// Make `deliver` fail with this error (what the real store finds in its transaction).
    pub deliver_error: Option<fn() -> Error>,
    /// Every `queue_add`: raw message and envelope.
    pub queued: Vec<(Vec<u8>, queue::QueueEnvelope)>,
}

impl MemStore {
    /// A store with domain `example.test`, users alice, bob and postmaster, and an
    /// alias `team` -> alice, bob, and `ext` -> someone@elsewhere.test.
    pub fn new() -> Arc<MemStore> {
        let s = MemStore::default();
        {
            let mut i = s.inner.lock().unwrap();
            i.domains.push(DomainName::parse("example.test").unwrap());
            for (n, name) in ["alice", "bob", "postmaster"].iter().enumerate() {
                i.accounts.push(Account {
                    id: AccountId(n as i64 + 1),
                    address: Address::parse(&format!("{name}@example.test")).unwrap(),
                    quota_bytes: None,
                    quota_messages: None,
                });
            }
            i.aliases.insert(
                "team@example.test".into(),
                vec!["alice@example.test".into(), "bob@example.test".into()],
            );
            i.aliases.insert(
                "ext@example.test".into(),
                vec!["someone@elsewhere.test".into()],
            );
        }
        Arc::new(s)
    }

    pub fn set_quota(&self, name: &str, bytes: Option<u64>, messages: Option<u64>) {
        let mut i = self.inner.lock().unwrap();
        let a = i
            .accounts
            .iter_mut()
            .find(|a| a.address.local() == name)
            .unwrap();
        a.quota_bytes = bytes;
        a.quota_messages = messages;
    }

    pub fn set_usage(&self, id: i64, bytes: u64, messages: u64) {
        self.inner
            .lock()
            .unwrap()
            .usage
            .insert(AccountId(id), Usage { bytes, messages });
    }

    pub fn queued(&self) -> Vec<(Vec<u8>, queue::QueueEnvelope)> {
        self.inner.lock().unwrap().queued.clone()
    }

    pub fn delivered(&self) -> Vec<(Vec<AccountId>, Vec<u8>)> {
        self.inner.lock().unwrap().delivered.clone()
    }
}

fn nope<T>() -> Result<T> {
    Err(Error::Internal("not in MemStore".into()))
}

#[async_trait::async_trait]
impl Store for MemStore {
    async fn domain_add(&self, _: &DomainName) -> Result<()> {
        nope()
    }
    async fn domain_list(&self) -> Result<Vec<DomainName>> {
        Ok(self.inner.lock().unwrap().domains.clone())
    }
    async fn domain_del(&self, _: &DomainName) -> Result<()> {
        nope()
    }
    async fn is_local_domain(&self, d: &DomainName) -> Result<bool> {
        Ok(self.inner.lock().unwrap().domains.contains(d))
    }
    async fn user_add(&self, _: &Address, _: &Secret) -> Result<Account> {
        nope()
    }
    async fn user_list(&self) -> Result<Vec<Account>> {
        Ok(self.inner.lock().unwrap().accounts.clone())
    }
    async fn user_del(&self, _: &Address) -> Result<()> {
        nope()
    }
    async fn user_passwd(&self, _: &Address, _: &Secret) -> Result<()> {
        nope()
    }
    async fn user_get(&self, a: &Address) -> Result<Option<Account>> {
        let i = self.inner.lock().unwrap();
        Ok(i.accounts
            .iter()
            .find(|x| x.address.key() == a.key())
            .cloned())
    }
    async fn user_set_quota(&self, _: &Address, _: Option<u64>, _: Option<u64>) -> Result<()> {
        nope()
    }
    /// Every account's password is its local part followed by `-pw`.
    async fn authenticate(&self, a: &Address, pw: &Secret) -> Result<Option<Account>> {
        let i = self.inner.lock().unwrap();
        Ok(i.accounts
            .iter()
            .find(|x| {
                x.address.key() == a.key() && pw.expose() == format!("{}-pw", x.address.local())
            })
            .cloned())
    }
    async fn usage(&self, id: AccountId) -> Result<Usage> {
        Ok(self
            .inner
            .lock()
            .unwrap()
            .usage
            .get(&id)
            .copied()
            .unwrap_or_default())
    }
    async fn alias_add(&self, _: &Address, _: &[Address]) -> Result<()> {
        nope()
    }
    async fn alias_list(&self) -> Result<Vec<(Address, Vec<Address>)>> {
        nope()
    }
    async fn alias_del(&self, _: &Address) -> Result<()> {
        nope()
    }
    async fn resolve(&self, a: &Address) -> Result<Resolution> {
        let i = self.inner.lock().unwrap();
        if !i.domains.contains(&a.domain()) {
            return Ok(Resolution::NotLocal);
        }
        if let Some(acc) = i.accounts.iter().find(|x| x.address.key() == a.key()) {
            return Ok(Resolution::Local {
                accounts: vec![acc.clone()],
                forward: vec![],
            });
        }
        if let Some(targets) = i.aliases.get(&a.key()) {
            let mut accounts = Vec::new();
            let mut forward = Vec::new();
            for t in targets {
                match i.accounts.iter().find(|x| &x.address.key() == t) {
                    Some(acc) => accounts.push(acc.clone()),
                    None => forward.push(t.clone()),
                }
            }
            return Ok(Resolution::Local { accounts, forward });
        }
        Ok(Resolution::Unknown)
    }
    async fn mailbox_list(&self, _: AccountId) -> Result<Vec<Mailbox>> {
        nope()
    }
    async fn mailbox_get(&self, _: AccountId, _: &str) -> Result<Option<Mailbox>> {
        nope()
    }
    async fn mailbox_create(
        &self,
        _: AccountId,
        _: &str,
        _: Option<SpecialUse>,
    ) -> Result<Mailbox> {
        nope()
    }
    async fn mailbox_delete(&self, _: AccountId, _: &str) -> Result<()> {
        nope()
    }
    async fn mailbox_rename(&self, _: AccountId, _: &str, _: &str) -> Result<()> {
        nope()
    }
    async fn mailbox_subscribe(&self, _: AccountId, _: &str, _: bool) -> Result<()> {
        nope()
    }
    async fn mailbox_snapshot(&self, _: MailboxId) -> Result<MailboxSnapshot> {
        nope()
    }
    async fn deliver(&self, accounts: &[AccountId], message: NewMessage) -> Result<Vec<Delivered>> {
        let mut i = self.inner.lock().unwrap();
        if i.fail_deliver {
            return Err(Error::Io(std::io::Error::other("disk on fire")));
        }
        if let Some(e) = i.deliver_error {
            return Err(e());
        }
        i.delivered.push((accounts.to_vec(), message.raw));
        Ok(accounts
            .iter()
            .map(|&account| Delivered {
                account,
                mailbox: MailboxId(1),
                uid: 1,
                uidvalidity: 1,
            })
            .collect())
    }
    async fn append(&self, _: MailboxId, _: NewMessage) -> Result<Delivered> {
        nope()
    }
    async fn store_flags(&self, _: MailboxId, _: FlagUpdate) -> Result<FlagResult> {
        nope()
    }
    async fn expunge(&self, _: MailboxId, _: &[Uid]) -> Result<Vec<Uid>> {
        nope()
    }
    async fn copy(&self, _: MailboxId, _: &[Uid], _: MailboxId) -> Result<(u32, Vec<(Uid, Uid)>)> {
        nope()
    }
    async fn move_messages(
        &self,
        _: MailboxId,
        _: &[Uid],
        _: MailboxId,
    ) -> Result<(u32, Vec<(Uid, Uid)>)> {
        nope()
    }
    async fn read_body(&self, _: BlobId) -> Result<Vec<u8>> {
        nope()
    }
    async fn summary(&self, _: BlobId) -> Result<Arc<MessageSummary>> {
        nope()
    }
    async fn expunged_since(&self, _: MailboxId, _: ModSeq) -> Result<Vec<Uid>> {
        nope()
    }
    async fn queue_add(
        &self,
        id: queue::QueueId,
        raw: Vec<u8>,
        env: queue::QueueEnvelope,
    ) -> Result<queue::QueueId> {
        self.inner.lock().unwrap().queued.push((raw, env));
        Ok(id)
    }
    async fn queue_due(
        &self,
        _: i64,
        _: usize,
        _: &[queue::QueueId],
    ) -> Result<Vec<queue::QueueEntry>> {
        nope()
    }
    async fn queue_next_due(&self) -> Result<Option<i64>> {
        nope()
    }
    async fn queue_update(&self, _: queue::QueueId, _: Vec<queue::RecipientUpdate>) -> Result<()> {
        nope()
    }
    async fn queue_list(&self) -> Result<Vec<queue::QueueEntry>> {
        nope()
    }
    async fn queue_get(&self, _: queue::QueueId) -> Result<Option<queue::QueueEntry>> {
        nope()
    }
    async fn queue_retry(&self, _: Option<queue::QueueId>) -> Result<usize> {
        nope()
    }
    async fn queue_delete(&self, _: queue::QueueId) -> Result<()> {
        nope()
    }
    async fn addresses_of(&self, id: AccountId) -> Result<Vec<Address>> {
        let i = self.inner.lock().unwrap();
        let Some(acc) = i.accounts.iter().find(|a| a.id == id) else {
            return Ok(vec![]);
        };
        let mut out = vec![acc.address.clone()];
        for (alias, targets) in &i.aliases {
            if targets.contains(&acc.address.key()) {
                out.push(Address::parse(alias).unwrap());
            }
        }
        Ok(out)
    }
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Change> {
        tokio::sync::broadcast::channel(1).1
    }
}
