//! DKIM signing of outbound mail (RFC 6376) with per-domain keys kept as files.
//!
//! Each domain gets two key pairs, generated the first time the domain signs a message or
//! its DNS records are asked for:
//!
//! | algorithm | selector | published at |
//! |---|---|---|
//! | `rsa-sha256`, 2048-bit (RFC 8301 §3.2: at least 1024, 2048 recommended) | `<selector>` | `<selector>._domainkey.<domain>` |
//! | `ed25519-sha256` (RFC 8463) | `<selector>-ed25519` | `<selector>-ed25519._domainkey.<domain>` |
//!
//! Every message is signed with both. RFC 8463 §4 asks signers to add an RSA signature
//! next to the Ed25519 one because many verifiers do not know Ed25519 yet; a verifier that
//! sees one good signature passes the message (RFC 6376 §6.1), so publishing only the RSA
//! record is enough to start with.
//!
//! ## Storage (implementation notes)
//!
//! - `data_dir/dkim/<domain>.key`: the two private keys as PKCS#8 PEM blocks (RSA first,
//!   then Ed25519), readable by `openssl pkey`. Mode 0600, directory 0700.
//! - `data_dir/dkim/<domain>.json`: metadata: domain, creation time and, per key, the
//!   algorithm, selector and public key. It is written after the `.key` file and is the
//!   commit point: a `.key` without its `.json` is a generation cut short and is replaced.
//! - Both are written to a temporary file, fsynced, renamed into place, and the directory
//!   is fsynced, so a crash never leaves a half-written key.
//! - Generation holds an exclusive `flock` on `data_dir/dkim/.lock`, so the server and a
//!   concurrent `wharf dkim show` never generate two different keys for one domain.
//! - Loaded keys are cached in memory for the life of the [`Signer`].
//!
//! The store has a `dkim_keys` table, but the `Store` trait offers no methods for it;
//! files keep this crate independent of the store and are what `opendkim` users expect.

use crate::{Error, Result, is_domain_name};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter as _;
use mail_auth::dkim::{Canonicalization, DkimSigner, Done};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// RSA modulus size for new keys (RFC 8301 §3.2).
const RSA_BITS: usize = 2048;

/// Header fields covered by the signature, in the spirit of RFC 6376 §5.4.1: those that
/// carry the message's meaning to a reader. `From` is listed twice: the second entry never
/// matches an existing field, so the signature also covers "no further From:", which stops
/// a second From: from being added above a signed message (RFC 6376 §8.15, "oversigning").
/// Fields that are absent when signing are signed as absent, so they cannot be added later
/// either. List-* fields are left out: mailing lists add them legitimately.
const SIGNED_HEADERS: &[&str] = &[
    "From",
    "From",
    "Sender",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "To",
    "Cc",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-ID",
    "Content-Description",
    "In-Reply-To",
    "References",
];

/// One DNS TXT record to publish for a domain's DKIM key (RFC 6376 §3.6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecord {
    /// `rsa` or `ed25519`.
    pub algorithm: &'static str,
    /// The selector (`s=` in signatures).
    pub selector: String,
    /// The owner name, `<selector>._domainkey.<domain>` (no trailing dot).
    pub name: String,
    /// The TXT value, e.g. `v=DKIM1; k=rsa; p=MIIBIj...`.
    pub value: String,
}

impl DnsRecord {
    /// The record as a zone-file line, with the value cut into quoted strings of at most
    /// 255 octets as one TXT record needs (RFC 1035 §3.3.14; an RSA-2048 key is longer).
    pub fn zone_line(&self) -> String {
        let mut line = format!("{}. IN TXT (", self.name);
        // The value is ASCII (base64 and tag names), so byte chunks are char chunks.
        for chunk in self.value.as_bytes().chunks(255) {
            line.push_str(" \"");
            line.push_str(&String::from_utf8_lossy(chunk));
            line.push('"');
        }
        line.push_str(" )");
        line
    }
}

/// Signs outbound mail with the sending domain's DKIM keys. Cheap to share: wrap it in an
/// `Arc`; signing takes `&self`.
pub struct Signer {
    dir: PathBuf,
    selector: String,
    keys: Mutex<HashMap<String, Arc<DomainKeys>>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Signer")
            .field("dir", &self.dir)
            .field("selector", &self.selector)
            .finish_non_exhaustive()
    }
}

/// The loaded keys of one domain.
struct DomainKeys {
    rsa: DkimSigner<RsaKey<Sha256>, Done>,
    ed25519: DkimSigner<Ed25519Key, Done>,
    records: Vec<DnsRecord>,
}

/// `<domain>.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyMeta {
    domain: String,
    /// Seconds since the Unix epoch.
    created: u64,
    /// In the order of the PEM blocks in `<domain>.key`.
    keys: Vec<KeyEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    /// `rsa` or `ed25519`.
    algorithm: String,
    selector: String,
    /// Base64 of what goes into `p=`: SubjectPublicKeyInfo DER for RSA (what OpenDKIM and
    /// `openssl rsa -pubout` publish), the raw 32-byte key for Ed25519 (RFC 8463 §4.2).
    public_key: String,
}

impl Signer {
    /// A signer that keeps its keys in `data_dir/dkim/` and gives newly generated keys the
    /// selector `selector` (RSA) and `<selector>-ed25519`. Nothing is read or created until
    /// a domain is first used.
    pub fn new(data_dir: &Path, selector: &str) -> Signer {
        Signer {
            dir: data_dir.join("dkim"),
            selector: selector.to_string(),
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// Signs `message` (a complete RFC 5322 message with CRLF line endings, as it will be
    /// transmitted) for `domain`, normally the domain of its `From:` address so that DMARC
    /// aligns (RFC 7489 §3.1.1). Returns the `DKIM-Signature:` header fields, folded and
    /// CRLF-terminated, to put in front of the message unchanged.
    ///
    /// Generates the domain's keys on first use (a fraction of a second, blocking).
    pub fn sign(&self, domain: &str, message: &[u8]) -> Result<Vec<u8>> {
        let keys = self.keys_for(domain)?;
        let rsa = keys
            .rsa
            .sign(message)
            .map_err(|e| Error::Dkim(e.to_string()))?;
        let ed = keys
            .ed25519
            .sign(message)
            .map_err(|e| Error::Dkim(e.to_string()))?;
        let mut out = Vec::with_capacity(1024);
        ed.write_header(&mut out);
        rsa.write_header(&mut out);
        Ok(out)
    }

    /// The DNS TXT record of the domain's RSA key: `(name, value)`, e.g.
    /// `("wharf._domainkey.example.com", "v=DKIM1; k=rsa; p=MIIB...")`. This is the one a
    /// domain must publish; [`Signer::dns_records`] also gives the Ed25519 one.
    pub fn dns_record(&self, domain: &str) -> Result<(String, String)> {
        let keys = self.keys_for(domain)?;
        let rsa = keys
            .records
            .iter()
            .find(|r| r.algorithm == "rsa")
            .ok_or_else(|| Error::Dkim("no RSA key".into()))?;
        Ok((rsa.name.clone(), rsa.value.clone()))
    }

    /// Every DNS TXT record of the domain's keys (RSA first, then Ed25519), for
    /// `wharf dkim show DOMAIN`.
    pub fn dns_records(&self, domain: &str) -> Result<Vec<DnsRecord>> {
        Ok(self.keys_for(domain)?.records.clone())
    }

    /// Loads (or generates) the keys of `domain` now, e.g. at start-up for every local
    /// domain, so the first message does not wait for key generation.
    pub fn ensure_keys(&self, domain: &str) -> Result<()> {
        self.keys_for(domain).map(|_| ())
    }

    fn keys_for(&self, domain: &str) -> Result<Arc<DomainKeys>> {
        let domain = normalize_domain(domain)?;
        // The cache mutex is held through loading and generation: a second caller for the
        // same domain waits for the first instead of generating another key.
        let mut cache = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(keys) = cache.get(&domain) {
            return Ok(keys.clone());
        }
        let keys = Arc::new(self.load_or_generate(&domain)?);
        cache.insert(domain, keys.clone());
        Ok(keys)
    }

    fn load_or_generate(&self, domain: &str) -> Result<DomainKeys> {
        create_private_dir(&self.dir)?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(".lock"))?;
        // Exclusive across processes (flock); released when `lock` is dropped.
        lock.lock()?;
        let key_path = self.dir.join(format!("{domain}.key"));
        let meta_path = self.dir.join(format!("{domain}.json"));
        if meta_path.exists() {
            return load(domain, &key_path, &meta_path);
        }
        if !is_domain_name(&self.selector) || self.selector.ends_with('.') {
            return Err(Error::InvalidSelector(self.selector.clone()));
        }
        let (pem, meta) = generate(domain, &self.selector)?;
        write_private_file(&key_path, pem.as_bytes())?;
        let json = serde_json::to_vec_pretty(&meta).map_err(|e| Error::Dkim(e.to_string()))?;
        write_private_file(&meta_path, &json)?;
        tracing::info!(domain, selector = %self.selector, "generated DKIM keys");
        load(domain, &key_path, &meta_path)
    }
}

/// The domain of the (first) address in the message's `From:` header, lower-cased: the
/// domain to sign for so that DMARC aligns (RFC 7489 §3.1.1). `None` when there is no
/// parseable From address. The outbound queue signs only when this is one of our domains.
pub fn author_domain(message: &[u8]) -> Option<String> {
    let parsed = mail_auth::AuthenticatedMessage::parse(message)?;
    let from = parsed.from.first()?;
    let (_, domain) = from.rsplit_once('@')?;
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    (!domain.is_empty()).then_some(domain)
}

/// Lower-cases and validates a signing domain; it becomes part of a file name, so only
/// LDH labels pass (no `/`, no `..`).
fn normalize_domain(domain: &str) -> Result<String> {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    if !is_domain_name(&d) || d.contains('_') {
        return Err(Error::InvalidDomain(domain.to_string()));
    }
    Ok(d)
}

/// New RSA and Ed25519 keys for `domain`: the `.key` file text and the metadata.
fn generate(domain: &str, selector: &str) -> Result<(String, KeyMeta)> {
    use rsa::pkcs1::DecodeRsaPrivateKey as _;
    use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _};
    let crypto = |e: &dyn std::fmt::Display| Error::Dkim(e.to_string());

    let rsa_pair =
        mail_auth::dkim::generate::DkimKeyPair::generate_rsa(RSA_BITS).map_err(|e| crypto(&e))?;
    let rsa_key =
        rsa::RsaPrivateKey::from_pkcs1_der(rsa_pair.private_key()).map_err(|e| crypto(&e))?;
    let rsa_pkcs8 = rsa_key.to_pkcs8_der().map_err(|e| crypto(&e))?;
    let rsa_spki = rsa_key
        .to_public_key()
        .to_public_key_der()
        .map_err(|e| crypto(&e))?;

    let ed_pkcs8 = Ed25519Key::generate_pkcs8().map_err(|e| crypto(&e))?;
    let ed_public = Ed25519Key::from_pkcs8_der(&ed_pkcs8)
        .map_err(|e| crypto(&e))?
        .public_key();

    let mut pem = pem_block(rsa_pkcs8.as_bytes());
    pem.push_str(&pem_block(&ed_pkcs8));
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let meta = KeyMeta {
        domain: domain.to_string(),
        created,
        keys: vec![
            KeyEntry {
                algorithm: "rsa".into(),
                selector: selector.to_string(),
                public_key: BASE64.encode(rsa_spki.as_bytes()),
            },
            KeyEntry {
                algorithm: "ed25519".into(),
                selector: format!("{selector}-ed25519"),
                public_key: BASE64.encode(&ed_public),
            },
        ],
    };
    Ok((pem, meta))
}

/// Reads `<domain>.key` and `<domain>.json` and builds the signers. The public keys are
/// derived again from the private ones and must match the metadata: a mismatch means the
/// files were edited or mixed up, and signing with a key whose record is not the published
/// one would only produce failing signatures.
fn load(domain: &str, key_path: &Path, meta_path: &Path) -> Result<DomainKeys> {
    use rsa::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};
    let bad = |path: &Path, reason: String| Error::BadKeyFile {
        path: path.to_path_buf(),
        reason,
    };
    let meta: KeyMeta = serde_json::from_slice(&std::fs::read(meta_path)?)
        .map_err(|e| bad(meta_path, e.to_string()))?;
    let pem = std::fs::read(key_path).map_err(|e| bad(key_path, e.to_string()))?;
    let blocks: Vec<PrivatePkcs8KeyDer<'static>> = PrivatePkcs8KeyDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad(key_path, e.to_string()))?;
    if blocks.len() != meta.keys.len() {
        return Err(bad(
            key_path,
            "number of keys differs from the .json".into(),
        ));
    }

    let mut rsa = None;
    let mut ed25519 = None;
    let mut records = Vec::new();
    for (der, entry) in blocks.iter().zip(&meta.keys) {
        if !is_domain_name(&entry.selector) {
            return Err(bad(meta_path, format!("bad selector {:?}", entry.selector)));
        }
        let derived = match entry.algorithm.as_str() {
            "rsa" => {
                let key = rsa::RsaPrivateKey::from_pkcs8_der(der.secret_pkcs8_der())
                    .map_err(|e| bad(key_path, e.to_string()))?;
                let spki = key
                    .to_public_key()
                    .to_public_key_der()
                    .map_err(|e| bad(key_path, e.to_string()))?;
                let signing = RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(der.clone_key()))
                    .map_err(|e| bad(key_path, e.to_string()))?;
                rsa = Some(
                    DkimSigner::from_key(signing)
                        .domain(domain)
                        .selector(entry.selector.as_str())
                        .headers(SIGNED_HEADERS.iter().copied())
                        .header_canonicalization(Canonicalization::Relaxed)
                        .body_canonicalization(Canonicalization::Relaxed),
                );
                BASE64.encode(spki.as_bytes())
            }
            "ed25519" => {
                let signing = Ed25519Key::from_pkcs8_der(der.secret_pkcs8_der())
                    .map_err(|e| bad(key_path, e.to_string()))?;
                let public = BASE64.encode(signing.public_key());
                ed25519 = Some(
                    DkimSigner::from_key(signing)
                        .domain(domain)
                        .selector(entry.selector.as_str())
                        .headers(SIGNED_HEADERS.iter().copied())
                        .header_canonicalization(Canonicalization::Relaxed)
                        .body_canonicalization(Canonicalization::Relaxed),
                );
                public
            }
            other => return Err(bad(meta_path, format!("unknown algorithm {other:?}"))),
        };
        if derived != entry.public_key {
            return Err(bad(
                key_path,
                format!(
                    "{} key does not match the public key in the .json",
                    entry.algorithm
                ),
            ));
        }
        let algorithm = if entry.algorithm == "rsa" {
            "rsa"
        } else {
            "ed25519"
        };
        records.push(DnsRecord {
            algorithm,
            selector: entry.selector.clone(),
            name: format!("{}._domainkey.{domain}", entry.selector),
            // RFC 6376 §3.6.1 tags; k= defaults to rsa but is spelled out for readers.
            value: format!("v=DKIM1; k={algorithm}; p={derived}"),
        });
    }
    match (rsa, ed25519) {
        (Some(rsa), Some(ed25519)) => Ok(DomainKeys {
            rsa,
            ed25519,
            records,
        }),
        _ => Err(bad(meta_path, "needs one rsa and one ed25519 key".into())),
    }
}

/// DER as a PKCS#8 PEM block (RFC 7468 §10), 64 base64 characters a line.
fn pem_block(der: &[u8]) -> String {
    let b64 = BASE64.encode(der);
    let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    Ok(())
}

/// Writes `data` to `path` durably with mode 0600: temporary file, fsync, rename, fsync of
/// the directory.
fn write_private_file(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(data)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names_are_checked_before_they_reach_the_file_system() {
        assert_eq!(normalize_domain("Example.COM.").unwrap(), "example.com");
        for bad in ["../x", "a/b", "", "x..y", "_x.example"] {
            assert!(normalize_domain(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn author_domain_is_the_from_domain() {
        let msg = b"To: x@y.example\r\nFrom: \"Alice\" <Alice@Example.COM>\r\n\r\nbody";
        assert_eq!(author_domain(msg).as_deref(), Some("example.com"));
        assert_eq!(author_domain(b"To: x@y.example\r\n\r\nbody"), None);
        assert_eq!(author_domain(b""), None);
    }

    #[test]
    fn zone_line_splits_long_values() {
        let r = DnsRecord {
            algorithm: "rsa",
            selector: "s".into(),
            name: "s._domainkey.example.com".into(),
            value: "p=".to_string() + &"A".repeat(400),
        };
        let line = r.zone_line();
        assert!(line.starts_with("s._domainkey.example.com. IN TXT ( \""));
        let strings: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
        assert_eq!(strings.len(), 2);
        assert_eq!(strings[0].len(), 255);
        assert_eq!(strings.concat(), r.value);
    }

    #[test]
    fn pem_round_trip() {
        let der: Vec<u8> = (0..=255u8).cycle().take(700).collect();
        let pem = pem_block(&der);
        assert!(pem.lines().all(|l| l.len() <= 64 || l.starts_with("-----")));
        let parsed = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).unwrap();
        assert_eq!(parsed.secret_pkcs8_der(), &der[..]);
    }
}
