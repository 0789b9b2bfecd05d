//! Wharf's POP3 service: RFC 1939 with the extension mechanism (RFC 2449: CAPA, extended
//! response codes, PIPELINING, EXPIRE), STLS (RFC 2595), AUTH (RFC 5034) with PLAIN and
//! LOGIN, and POP3S (RFC 8314) when the listener hands over a TLS connection.
//!
//! Layout, outermost first:
//! - [`server`]: the tokio driver ([`Server`], a `wharf_net::Service`);
//! - `session`: the state machine (AUTHORIZATION / TRANSACTION, UPDATE at QUIT) and the
//!   per-state command table;
//! - `op`: one handler per verb;
//! - [`parse`], [`sasl`], [`maildrop`], [`reply`]: pure code without I/O.
//!
//! Implementation notes (what the rest of the crate relies on):
//! - The maildrop is the account's INBOX as it was at login, minus messages IMAP flagged
//!   `\Deleted`; message numbers never change during a session.
//! - Nothing is written to the store before UPDATE. DELE marks, RETR notes retrieval;
//!   QUIT in TRANSACTION expunges the marked messages (IMAP sessions see the expunge
//!   events) and sets `\Seen` on the retrieved ones. Any other end changes nothing.
//! - One session per maildrop: a second login gets `-ERR [IN-USE]` (see [`lock`]).
//! - UIDL is `<uidvalidity>.<uid>` of the INBOX: unique and stable forever.
//! - Passwords in the clear only over TLS, from loopback, or when the config allows.
#![forbid(unsafe_code)]

pub mod config;
pub mod lock;
pub mod maildrop;
mod op;
pub mod parse;
mod prefetch;
pub mod reply;
pub mod sasl;
pub mod server;
mod session;
#[cfg(test)]
mod transcript_tests;

pub use config::Config;
pub use server::Server;
pub use session::{Action, Phase, allowed_in};
