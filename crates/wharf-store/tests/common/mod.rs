//! Fixtures shared by the store's integration tests: a fresh store in a temporary
//! directory with the domain example.test and its users, and message builders.
// Each test binary includes this module and uses only part of it.
#![allow(dead_code)]

use std::sync::Arc;
use wharf_store::*;

pub fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

/// A fresh store with example.test and alice@example.test (password "pw-a").
pub async fn store_with_alice() -> (tempfile::TempDir, Arc<SqliteStore>, Account) {
    let (dir, store, alice, _) = store_with(&["alice@example.test"]).await;
    (dir, store, alice)
}

/// A fresh store with example.test, alice@ ("pw-a") and bob@ ("pw-b").
pub async fn store_with_users() -> (tempfile::TempDir, Arc<SqliteStore>, Account, Account) {
    let (dir, store, alice, bob) = store_with(&["alice@example.test", "bob@example.test"]).await;
    (dir, store, alice, bob.expect("bob"))
}

async fn store_with(
    users: &[&str],
) -> (
    tempfile::TempDir,
    Arc<SqliteStore>,
    Account,
    Option<Account>,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store
        .domain_add(&DomainName::parse("example.test").unwrap())
        .await
        .unwrap();
    let mut accounts = Vec::new();
    for (i, user) in users.iter().enumerate() {
        let password = if i == 0 { "pw-a" } else { "pw-b" };
        accounts.push(
            store
                .user_add(&addr(user), &Secret::new(password))
                .await
                .unwrap(),
        );
    }
    let mut accounts = accounts.into_iter();
    let first = accounts.next().expect("at least one user");
    (dir, store, first, accounts.next())
}

/// A message with these exact bytes, no flags, internal date 2023-11-14.
pub fn raw_message(raw: Vec<u8>) -> NewMessage {
    NewMessage {
        raw,
        internal_date: Some(1_700_000_000),
        flags: Flags::default(),
        keywords: vec![],
    }
}

/// Body files anywhere under the blob root (which the store makes at open: a missing
/// one is a failure, not a count of zero).
pub fn blob_files(dir: &std::path::Path) -> usize {
    fn count(p: &std::path::Path) -> usize {
        std::fs::read_dir(p)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                if e.file_type().unwrap().is_dir() {
                    count(&e.path())
                } else {
                    1
                }
            })
            .sum()
    }
    count(&dir.join("blobs"))
}
