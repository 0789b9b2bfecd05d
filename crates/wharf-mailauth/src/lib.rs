//! Mail authentication for Wharf: what the mail system says about who sent a message.
//!
//! Two directions, two types:
//!
//! - [`Signer`] (outbound): DKIM-signs mail that leaves for the Internet (RFC 6376), with an
//!   RSA-SHA256 and an Ed25519-SHA256 signature (RFC 8463) per message. Keys are generated
//!   per domain on first use and kept as files under `data_dir/dkim/` (see [`signer`]).
//! - [`Verifier`] (inbound, on the mail exchanger): SPF (RFC 7208) for the HELO and MAIL FROM
//!   identities, DKIM verification, DMARC evaluation (RFC 7489, with the tree walk of its
//!   successor), the `Authentication-Results:` header to prepend (RFC 8601), and DNSBL
//!   look-ups (RFC 5782).
//!
//! The protocol work (canonicalization, record grammars, SPF's mechanism evaluation, DMARC
//! alignment) is done by Stalwart's `mail-auth` crate; this crate decides policy around it:
//! key storage, which headers are signed, time and count limits on what a remote message
//! can make us look up, how results are reported, and when DMARC says reject.
//!
//! Nothing in this crate touches the SMTP session: the SMTP crate calls [`Signer::sign`]
//! before outbound delivery and [`Verifier::check`] / [`Verifier::dnsbl`] from the MX
//! session; [`Config`] is the `[mailauth]` section of `wharf.toml`.

#![forbid(unsafe_code)]

mod config;
pub mod dnsbl;
pub mod results;
pub mod signer;
pub mod verifier;

pub use config::Config;
pub use results::strip_forged_results;
pub use signer::{DnsRecord, Signer, author_domain};
pub use verifier::{AuthResult, DkimCheck, DmarcCheck, DmarcPolicy, Verdict, Verifier};

/// What can go wrong in this crate. Verification never fails as a whole (a DNS failure is a
/// `temperror` result inside the [`Verdict`]); these errors are for signing, key storage and
/// resolver set-up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The domain is not a syntactically valid DNS name (RFC 1035 §2.3.1 LDH labels), so
    /// it can be neither a `d=` value nor part of a key file name.
    #[error("invalid domain name {0:?}")]
    InvalidDomain(String),
    /// The selector is not a valid `s=` value (RFC 6376 §3.1: sub-domain labels).
    #[error("invalid DKIM selector {0:?}")]
    InvalidSelector(String),
    /// Reading or writing the key files failed.
    #[error("DKIM key storage: {0}")]
    Io(#[from] std::io::Error),
    /// A key file exists but cannot be used (corrupt, or does not match its metadata).
    #[error("DKIM key file {path}: {reason}")]
    BadKeyFile {
        /// The file that could not be used.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// Key generation or signing failed inside the crypto library.
    #[error("DKIM: {0}")]
    Dkim(String),
    /// The DNS resolver could not be set up (e.g. unreadable resolv.conf).
    #[error("DNS resolver: {0}")]
    Resolver(String),
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Whether `name` is a plausible DNS domain name: 1-253 octets of dot-separated labels,
/// each 1-63 characters of letters, digits and hyphens, not starting or ending with a
/// hyphen (RFC 1035 §2.3.1, RFC 1123 §2.1 allows a leading digit); one trailing dot is
/// allowed. Underscores are accepted inside labels because DNSBL and `_domainkey` names
/// use them. Used to refuse names that could not be looked up or that would escape a
/// directory when used in a file name.
pub(crate) fn is_domain_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::is_domain_name;

    #[test]
    fn domain_names() {
        for ok in [
            "example.com",
            "a.b-c.example",
            "EXAMPLE.COM.",
            "x",
            "_dmarc.example.org",
        ] {
            assert!(is_domain_name(ok), "{ok}");
        }
        let long_label = "a".repeat(64);
        let long_name = ["abcdefghi"; 26].join(".");
        for bad in [
            "",
            ".",
            "..",
            "../etc",
            "a/b",
            "a..b",
            "-a.com",
            "a-.com",
            "exa mple.com",
            "[127.0.0.1]",
            long_label.as_str(),
            long_name.as_str(),
            "ex\u{e4}mple.com",
        ] {
            assert!(!is_domain_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn dkim_signatures_beyond_the_limit_are_not_parsed() {
        let sig =
            "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s; h=From; bh=AAAA; b=AAAA\r\n";
        let msg = format!("{}From: a@example.com\r\n\r\nbody\r\n", sig.repeat(50));
        let kept = super::fuzzing::message(msg.as_bytes());
        assert_eq!(kept, crate::verifier::MAX_DKIM_SIGNATURES);
        let few = format!("{}From: a@example.com\r\n\r\nbody\r\n", sig.repeat(3));
        assert_eq!(super::fuzzing::message(few.as_bytes()), 3);
        super::fuzzing::txt_records(b"v=spf1 include:%{l1r+}.example -all");
        super::fuzzing::txt_records(b"v=DMARC1; p=reject; rua=mailto:x@example.com");
    }
}

/// Entry points for the fuzz targets in `fuzz/fuzz_targets/mailauth_*.rs`: the parts of
/// verification that read untrusted bytes without needing DNS. Not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    use mail_auth::common::parse::TxtRecordParser;

    /// Everything the verifier parses out of a received message before any DNS look-up:
    /// the DKIM-signature limit, mail-auth's header and DKIM-Signature parsing (which also
    /// hashes the body for each signature), and the forged-results filter. Returns the
    /// number of DKIM signatures kept, which never exceeds the limit.
    pub fn message(data: &[u8]) -> usize {
        let limited =
            crate::verifier::limit_dkim_signatures(data, crate::verifier::MAX_DKIM_SIGNATURES);
        let kept = mail_auth::AuthenticatedMessage::parse(&limited)
            .map_or(0, |m| m.dkim_headers.len() + m.errors.len());
        let stripped = crate::strip_forged_results(data, "mx.example.org");
        assert!(stripped.len() <= data.len());
        kept
    }

    /// The DNS TXT record grammars a remote domain controls: SPF (RFC 7208 §4.5), DMARC
    /// (RFC 7489 §6.3), DKIM key records (RFC 6376 §3.6.1).
    pub fn txt_records(data: &[u8]) {
        let _ = mail_auth::spf::Spf::parse(data);
        let _ = mail_auth::dmarc::Dmarc::parse(data);
        let _ = mail_auth::common::verify::DomainKey::parse(data);
    }
}
