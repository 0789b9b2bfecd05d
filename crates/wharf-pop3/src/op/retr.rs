//! RETR msg (RFC 1939 §5): the whole message, byte-stuffed, ended by a `.` line.
//!
//! The message becomes "retrieved": UPDATE sets `\Seen` on it (so IMAP shows it read)
//! and the EXPIRE policy may then remove it. Nothing is written to the store before
//! UPDATE, so a dropped connection leaves the message as it was.

use crate::prefetch::Prefetch;
use crate::reply::{Pop3Error, dot_stuffed, ok};
use crate::server::Server;
use crate::session::{Action, Transaction};

/// Messages larger than this are not read ahead: their transfer time dwarfs the store's
/// latency, and a session should not hold several large bodies at once.
const PREFETCH_MAX: u64 = 1024 * 1024;

/// How many messages are read ahead at most (so at most 4 MiB held per session).
const PREFETCH_WINDOW: usize = 4;

pub async fn handle_retr(
    server: &Server,
    t: &mut Transaction,
    n: u32,
    out: &mut Vec<u8>,
) -> Result<Action, Pop3Error> {
    let entry = t.maildrop.get(n)?;
    let (uid, size, blob) = (entry.uid, entry.size, entry.blob);
    // Read-aheads for messages before `n` are of no use any more; one for `n` is.
    while t.read_ahead.front().is_some_and(|p| p.n() < n) {
        t.read_ahead.pop_front();
    }
    let prefetched = match t.read_ahead.pop_front() {
        Some(p) if p.n() == n => p.take(n, blob).await,
        Some(p) => {
            // The client went back: keep the reads ahead of it.
            t.read_ahead.push_front(p);
            None
        }
        None => None,
    };
    let body = match prefetched {
        Some(result) => result.map_err(|e| read_error(n, e))?,
        None => read_message(server, blob, n).await?,
    };
    if body.len() as u64 != size {
        // LIST promised `size` octets (RFC 1939 §5); say so loudly if the store disagrees.
        tracing::warn!(
            uid,
            listed = size,
            actual = body.len(),
            "pop3: stored size differs"
        );
    }
    ok(out, &format!("{} octets", body.len()));
    dot_stuffed(out, &body);
    t.maildrop.set_retrieved(n);
    // Read the next live messages while this one travels (see `prefetch`).
    let mut last = t.read_ahead.back().map_or(n, |p| p.n().max(n));
    while t.read_ahead.len() < PREFETCH_WINDOW {
        match t.maildrop.next_live(last) {
            Some((next, e)) if e.size <= PREFETCH_MAX => {
                t.read_ahead
                    .push_back(Prefetch::start(&server.store, next, e.blob));
                last = next;
            }
            _ => break,
        }
    }
    Ok(Action::Continue)
}

/// Reads a message body; a message that vanished since login (expunged over IMAP) is an
/// ordinary `-ERR`, not a server failure.
pub(crate) async fn read_message(
    server: &Server,
    blob: wharf_store::BlobId,
    n: u32,
) -> Result<Vec<u8>, Pop3Error> {
    server
        .store
        .read_body(blob)
        .await
        .map_err(|e| read_error(n, e))
}

fn read_error(n: u32, e: wharf_store::Error) -> Pop3Error {
    match e {
        wharf_store::Error::NotFound(_) => gone(n),
        wharf_store::Error::Io(e) if e.kind() == std::io::ErrorKind::NotFound => gone(n),
        e => e.into(),
    }
}

fn gone(n: u32) -> Pop3Error {
    Pop3Error::new(format!("Message {n} was removed by another session"))
}
