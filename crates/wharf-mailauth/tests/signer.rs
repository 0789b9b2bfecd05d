//! DKIM key storage: generation on first use, reuse across restarts, file permissions,
//! refusal of damaged or mismatched key files.

use std::os::unix::fs::PermissionsExt;
use wharf_mailauth::{Error, Signer};

const MSG: &[u8] = b"From: a@example.com\r\nTo: b@example.org\r\nSubject: s\r\n\r\nbody\r\n";

#[test]
fn keys_are_generated_once_kept_private_and_reused_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = Signer::new(dir.path(), "wharf");
    let (name, value) = first.dns_record("Example.COM").unwrap();
    assert_eq!(name, "wharf._domainkey.example.com");
    assert!(value.starts_with("v=DKIM1; k=rsa; p=MII"), "{value}");

    let records = first.dns_records("example.com").unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[1].name, "wharf-ed25519._domainkey.example.com");
    assert!(records[1].value.starts_with("v=DKIM1; k=ed25519; p="));
    // Ed25519 public key: 32 bytes = 44 base64 characters (RFC 8463 §4.2).
    assert_eq!(records[1].value.len(), "v=DKIM1; k=ed25519; p=".len() + 44);

    let key = dir.path().join("dkim/example.com.key");
    let json = dir.path().join("dkim/example.com.json");
    for path in [&key, &json] {
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
    }
    let dir_mode = std::fs::metadata(dir.path().join("dkim"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
    let pem = std::fs::read_to_string(&key).unwrap();
    assert_eq!(pem.matches("-----BEGIN PRIVATE KEY-----").count(), 2);

    // A new Signer (a restart) with another configured selector keeps the stored key and
    // its selector: the published record stays valid.
    let second = Signer::new(dir.path(), "other");
    assert_eq!(second.dns_records("example.com").unwrap(), records);
    assert!(!dir.path().join("dkim/example.com.tmp").exists());
}

#[test]
fn signature_headers_name_domain_selectors_and_algorithms() {
    let dir = tempfile::tempdir().unwrap();
    let signer = Signer::new(dir.path(), "s1");
    let sig = String::from_utf8(signer.sign("example.com", MSG).unwrap()).unwrap();
    assert_eq!(sig.matches("DKIM-Signature:").count(), 2, "{sig}");
    assert!(sig.contains("a=ed25519-sha256"), "{sig}");
    assert!(sig.contains("a=rsa-sha256"), "{sig}");
    assert!(sig.contains("d=example.com"), "{sig}");
    assert!(sig.contains("s=s1;") || sig.contains("s=s1\r"), "{sig}");
    assert!(sig.contains("s=s1-ed25519"), "{sig}");
    assert!(sig.contains("c=relaxed/relaxed"), "{sig}");
    assert!(sig.ends_with("\r\n"));
    // Every line is CRLF-terminated and continuation lines are folded.
    for line in sig.split_terminator("\r\n") {
        assert!(!line.contains('\n'));
        assert!(
            line.starts_with("DKIM-Signature:") || line.starts_with([' ', '\t']),
            "{line:?}"
        );
    }
}

#[test]
fn bad_domains_and_selectors_are_refused_without_touching_files() {
    let dir = tempfile::tempdir().unwrap();
    let signer = Signer::new(dir.path(), "wharf");
    for bad in ["../../etc/passwd", "a/b", "", "x..y"] {
        assert!(
            matches!(signer.sign(bad, MSG), Err(Error::InvalidDomain(_))),
            "{bad}"
        );
    }
    let bad_selector = Signer::new(dir.path(), "bad selector");
    assert!(matches!(
        bad_selector.sign("example.com", MSG),
        Err(Error::InvalidSelector(_))
    ));
    assert!(!dir.path().join("dkim/example.com.key").exists());
}

#[test]
fn mismatched_key_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    Signer::new(dir.path(), "wharf")
        .ensure_keys("a.example")
        .unwrap();
    Signer::new(dir.path(), "wharf")
        .ensure_keys("b.example")
        .unwrap();
    // Someone copies b's private keys over a's: the public keys no longer match a's
    // metadata (what was published), so signing must fail loudly rather than produce
    // signatures that can never verify.
    std::fs::copy(
        dir.path().join("dkim/b.example.key"),
        dir.path().join("dkim/a.example.key"),
    )
    .unwrap();
    let err = Signer::new(dir.path(), "wharf")
        .sign("a.example", MSG)
        .unwrap_err();
    assert!(matches!(err, Error::BadKeyFile { .. }), "{err}");

    // Published metadata without its private keys: refused, not silently regenerated.
    Signer::new(dir.path(), "wharf")
        .ensure_keys("c.example")
        .unwrap();
    std::fs::remove_file(dir.path().join("dkim/c.example.key")).unwrap();
    let err = Signer::new(dir.path(), "wharf")
        .sign("c.example", MSG)
        .unwrap_err();
    assert!(matches!(err, Error::BadKeyFile { .. }), "{err}");

    std::fs::write(dir.path().join("dkim/b.example.json"), b"{not json").unwrap();
    let err = Signer::new(dir.path(), "wharf")
        .dns_record("b.example")
        .unwrap_err();
    assert!(matches!(err, Error::BadKeyFile { .. }), "{err}");
}

#[test]
fn key_without_metadata_is_an_interrupted_generation_and_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let signer = Signer::new(dir.path(), "wharf");
    let before = signer.dns_record("example.com").unwrap();
    std::fs::remove_file(dir.path().join("dkim/example.com.json")).unwrap();
    let after = Signer::new(dir.path(), "wharf")
        .dns_record("example.com")
        .unwrap();
    assert_eq!(before.0, after.0);
    assert_ne!(before.1, after.1, "a fresh key pair is generated");
}

#[test]
fn concurrent_first_use_generates_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let path = dir.path();
                // Separate Signers, as separate processes would be: only the file lock
                // keeps them from generating different keys.
                s.spawn(move || {
                    Signer::new(path, "wharf")
                        .dns_record("example.com")
                        .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(records.windows(2).all(|w| w[0] == w[1]), "{records:?}");
}
