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
/// latency, and a session should not hold two large bodies at once.
const PREFETCH_MAX: u64 = 1024 * 1024;

pub async fn handle_retr(
    server: &Server,
    t: &mut Transaction,
    n: u32,
    out: &mut Vec<u8>,
) -> Result<Action, Pop3Error> {
    let entry = t.maildrop.get(n)?;
    let (uid, size, blob) = (entry.uid, entry.size, entry.blob);
    let prefetched = match t.prefetch.take() {
        Some(p) => p.take(n, blob).await,
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
    // Read the next live message while this one travels (see `prefetch`).
    if let Some((next, e)) = t.maildrop.next_live(n)
        && e.size <= PREFETCH_MAX
    {
        t.prefetch = Some(Prefetch::start(&server.store, next, e.blob));
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
