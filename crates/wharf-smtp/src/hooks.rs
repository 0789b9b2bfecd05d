//! Seams for mail authentication, which lives in its own crate (`wharf-mailauth`): the
//! binary adapts it to these traits, so this crate depends on no other protocol crate.
//!
//! - [`DkimSigner`]: submission signs each message before it is stored or queued
//!   (RFC 6376), for the domain of the envelope sender.
//! - [`InboundCheck`]: the mail exchanger asks for a verdict at connect (DNSBL) and at
//!   the end of data (SPF, DKIM, DMARC), prepends the `Authentication-Results:` it gets
//!   (RFC 8601) and refuses the message when told to (e.g. DMARC p=reject, `550 5.7.1`).

use std::net::IpAddr;
use std::sync::Arc;

/// Signs outgoing mail.
pub trait DkimSigner: Send + Sync {
    /// Header fields (`DKIM-Signature: ...`, CRLF-terminated) to put in front of
    /// `message` for `domain`; `None` when the domain is not signed.
    fn sign(&self, domain: &str, message: &[u8]) -> Option<Vec<u8>>;
}

/// What the checks said about one received message.
#[derive(Debug, Clone, Default)]
pub struct InboundVerdict {
    /// Header fields to prepend (CRLF-terminated), e.g. `Authentication-Results:`.
    pub prepend: Vec<u8>,
    /// Refuse the message: the reply text after the code, starting with the enhanced
    /// status (e.g. `5.7.1 DMARC policy of example.org says reject`); sent with 550.
    pub reject: Option<String>,
    /// The message with forged `Authentication-Results:` of our authserv-id removed,
    /// when it differs from what was received.
    pub cleaned: Option<Vec<u8>>,
}

/// Checks on the mail exchanger.
#[async_trait::async_trait]
pub trait InboundCheck: Send + Sync {
    /// At connect: `Some(text)` refuses the client with `554 5.7.1 <text>` (DNSBL).
    async fn connect(&self, peer: IpAddr) -> Option<String>;
    /// At the end of data, before delivery.
    async fn message(
        &self,
        peer: IpAddr,
        helo: &str,
        mail_from: &str,
        message: &[u8],
        receiving_host: &str,
    ) -> InboundVerdict;
}

/// The hooks a server runs with; all optional.
#[derive(Clone, Default)]
pub struct Hooks {
    pub signer: Option<Arc<dyn DkimSigner>>,
    pub inbound: Option<Arc<dyn InboundCheck>>,
}
