//! Adapters from `wharf-mailauth` (DKIM signing, SPF/DKIM/DMARC checks, DNSBL) to the
//! SMTP crate's hooks, so that the protocol crate depends on no other crate of ours.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use wharf_mailauth::{Config, Signer, Verifier, strip_forged_results};
use wharf_smtp::hooks::{DkimSigner, Hooks, InboundCheck, InboundVerdict};

/// Signs submitted mail for the sender's domain.
struct MailAuthSigner {
    signer: Signer,
}

impl DkimSigner for MailAuthSigner {
    fn sign(&self, domain: &str, message: &[u8]) -> Option<Vec<u8>> {
        self.signer
            .sign(domain, message)
            .map_err(|e| tracing::warn!(domain, "DKIM signing failed: {e}"))
            .ok()
    }
}

/// SPF, DKIM and DMARC on the mail exchanger, and DNSBL at connect.
struct MailAuthInbound {
    verifier: Verifier,
    config: Config,
}

#[async_trait::async_trait]
impl InboundCheck for MailAuthInbound {
    async fn connect(&self, peer: IpAddr) -> Option<String> {
        // Local injectors are trusted, as OpenDKIM/OpenDMARC's default IgnoreHosts.
        if peer.is_loopback() || self.config.dnsbl_zones.is_empty() {
            return None;
        }
        let zone = self.verifier.dnsbl(peer, &self.config.dnsbl_zones).await?;
        Some(format!("Client host {peer} is listed by {zone}"))
    }

    async fn message(
        &self,
        peer: IpAddr,
        helo: &str,
        mail_from: &str,
        message: &[u8],
        host: &str,
    ) -> InboundVerdict {
        if !self.config.verify || peer.is_loopback() {
            return InboundVerdict::default();
        }
        let v = self
            .verifier
            .check(peer, helo, mail_from, message, host)
            .await;
        InboundVerdict {
            reject: (v.reject && self.config.dmarc_reject).then(|| v.reject_text()),
            // RFC 8601 §5: forged results claiming to be ours are removed.
            cleaned: match strip_forged_results(message, host) {
                Cow::Owned(m) => Some(m),
                Cow::Borrowed(_) => None,
            },
            prepend: v.header.into_bytes(),
        }
    }
}

/// `"ip:port"` or `"ip"` (port 53).
pub fn nameservers(list: &[String]) -> anyhow::Result<Vec<SocketAddr>> {
    list.iter()
        .map(|s| {
            s.parse::<SocketAddr>()
                .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                .map_err(|_| anyhow::anyhow!("key `dns.nameservers`: {s:?} is not ip or ip:port"))
        })
        .collect()
}

/// The signer, for `wharf dkim show` and for the hooks.
pub fn signer(data_dir: &std::path::Path, config: &Config) -> Signer {
    Signer::new(data_dir, &config.dkim_selector)
}

/// Builds the SMTP hooks from `[mailauth]` and `[dns]`.
pub fn hooks(data_dir: &std::path::Path, config: &Config, dns: &[String]) -> anyhow::Result<Hooks> {
    let signer = config.dkim_sign.then(|| {
        Arc::new(MailAuthSigner {
            signer: signer(data_dir, config),
        }) as Arc<dyn DkimSigner>
    });
    let verifier = Verifier::new(nameservers(dns)?)
        .map_err(|e| anyhow::anyhow!("setting up the DNS resolver for mail authentication: {e}"))?
        .with_timeout(config.timeout());
    Ok(Hooks {
        signer,
        inbound: Some(Arc::new(MailAuthInbound {
            verifier,
            config: config.clone(),
        })),
    })
}
