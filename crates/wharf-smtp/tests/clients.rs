//! Real SMTP clients against the in-process server: the `lettre` crate (plain and
//! STARTTLS) and `curl smtp://`.

mod common;

use common::TestServer;
use lettre::address::Envelope;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use wharf_smtp::Config;

fn envelope(from: &str, to: &[&str]) -> Envelope {
    Envelope::new(
        Some(from.parse().unwrap()),
        to.iter().map(|t| t.parse().unwrap()).collect(),
    )
    .unwrap()
}

fn transport(s: &TestServer, tls: Tls) -> AsyncSmtpTransport<Tokio1Executor> {
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(s.addr.port())
        .hello_name(ClientId::Domain("lettre.test".into()))
        .tls(tls)
        .build()
}

#[tokio::test]
async fn lettre_plain() {
    let s = TestServer::start(Config::default()).await;
    let mailer = transport(&s, Tls::None);
    let body = b"Subject: from lettre\r\n\r\nHello Alice\r\n.starts with a dot\r\n";
    let resp = mailer
        .send_raw(
            &envelope("sender@remote.test", &["alice@example.test"]),
            body,
        )
        .await
        .unwrap();
    assert_eq!(resp.code().to_string(), "250");
    let inbox = s.inbox("alice@example.test").await;
    assert_eq!(inbox.len(), 1);
    let raw = String::from_utf8(inbox[0].clone()).unwrap();
    assert!(
        raw.starts_with("Return-Path: <sender@remote.test>\r\nReceived: from lettre.test "),
        "{raw}"
    );
    // lettre always appends CRLF "." CRLF, so a body ending in CRLF gains an empty line.
    assert!(
        raw.ends_with("\r\nSubject: from lettre\r\n\r\nHello Alice\r\n.starts with a dot\r\n\r\n"),
        "{raw}"
    );
}

#[tokio::test]
async fn lettre_starttls_with_several_recipients() {
    let s = TestServer::start(Config::default()).await;
    let params = TlsParameters::builder("localhost".into())
        .dangerous_accept_invalid_certs(true)
        .build_rustls()
        .unwrap();
    let mailer = transport(&s, Tls::Required(params));
    mailer
        .send_raw(
            &envelope(
                "sender@remote.test",
                &["alice@example.test", "bob@example.test"],
            ),
            b"Subject: tls\r\n\r\nencrypted\r\n",
        )
        .await
        .unwrap();
    for user in ["alice@example.test", "bob@example.test"] {
        let inbox = s.inbox(user).await;
        assert_eq!(inbox.len(), 1, "{user}");
        let raw = String::from_utf8(inbox[0].clone()).unwrap();
        assert!(raw.contains(" with ESMTPS id "), "{raw}");
        assert!(
            !raw.contains("for <"),
            "two recipients: no 'for' clause: {raw}"
        );
    }
}

#[tokio::test]
async fn lettre_sees_unknown_recipients_refused() {
    let s = TestServer::start(Config::default()).await;
    let mailer = transport(&s, Tls::None);
    let err = mailer
        .send_raw(
            &envelope("a@remote.test", &["nobody@example.test"]),
            b"x\r\n",
        )
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err}");
    assert!(err.to_string().contains("5.1.1"), "{err}");
    let err = mailer
        .send_raw(
            &envelope("a@remote.test", &["victim@elsewhere.test"]),
            b"x\r\n",
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("5.7.1"), "{err}");
}

#[tokio::test]
async fn curl_smtp_upload() {
    let s = TestServer::start(Config::default()).await;
    let file = s.dir.path().join("mail.eml");
    std::fs::write(&file, "Subject: from curl\r\n\r\nline\r\n.dot line\r\n").unwrap();
    let url = format!("smtp://127.0.0.1:{}/curl.test", s.addr.port());
    let file2 = file.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args(["-sS", "--max-time", "30", &url])
            .args(["--mail-from", "sender@remote.test"])
            .args(["--mail-rcpt", "bob@example.test"])
            .arg("--upload-file")
            .arg(&file2)
            .output()
            .expect("curl is installed")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inbox = s.inbox("bob@example.test").await;
    assert_eq!(inbox.len(), 1);
    let raw = String::from_utf8(inbox[0].clone()).unwrap();
    assert!(
        raw.contains("Received: from curl.test ([127.0.0.1])"),
        "{raw}"
    );
    assert!(
        raw.ends_with("\r\nSubject: from curl\r\n\r\nline\r\n.dot line\r\n"),
        "{raw}"
    );
}

#[tokio::test]
async fn curl_sees_relay_denied() {
    let s = TestServer::start(Config::default()).await;
    let file = s.dir.path().join("mail.eml");
    std::fs::write(&file, "Subject: x\r\n\r\nx\r\n").unwrap();
    let url = format!("smtp://127.0.0.1:{}/curl.test", s.addr.port());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args(["-sS", "--max-time", "30", &url])
            .args(["--mail-from", "sender@remote.test"])
            .args(["--mail-rcpt", "victim@elsewhere.test"])
            .arg("--upload-file")
            .arg(&file)
            .output()
            .expect("curl is installed")
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("550"), "{err}");
}
