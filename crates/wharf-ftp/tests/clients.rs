//! End-to-end with real clients: the `suppaftp` crate (passive, active, explicit FTPS
//! with PROT P) and `curl` (plain, `--ssl-reqd`, active `-P -`, implicit `ftps://`,
//! resume `-C -`).

mod common;

use common::*;
use std::io::Cursor;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use suppaftp::types::FileType;
use suppaftp::{FtpStream, Mode, RustlsConnector, RustlsFtpStream};
use wharf_ftp::Config;

fn suppaftp_roundtrip<T: suppaftp::TlsStream>(
    ftp: &mut suppaftp::ImplFtpStream<T>,
    home: &std::path::Path,
) {
    ftp.login("alice@example.test", PASSWORD).unwrap();
    ftp.transfer_type(FileType::Binary).unwrap();
    let body = pattern(2_000_000);
    ftp.mkdir("dir").unwrap();
    ftp.cwd("dir").unwrap();
    assert_eq!(ftp.pwd().unwrap(), "/dir");
    ftp.put_file("f.bin", &mut Cursor::new(body.clone()))
        .unwrap();
    assert_eq!(ftp.size("f.bin").unwrap(), body.len());
    assert!(
        ftp.retr_as_buffer("f.bin").unwrap().into_inner() == body,
        "download differs"
    );
    assert!(
        std::fs::read(home.join("dir/f.bin")).unwrap() == body,
        "stored file differs"
    );
    ftp.resume_transfer(1_500_000).unwrap();
    assert!(
        ftp.retr_as_buffer("f.bin").unwrap().into_inner() == body[1_500_000..],
        "resumed download differs"
    );
    let list = ftp.list(None).unwrap();
    assert_eq!(list.len(), 1);
    assert!(
        list[0].ends_with(" f.bin") && list[0].contains("2000000"),
        "{list:?}"
    );
    assert_eq!(ftp.nlst(None).unwrap(), vec!["f.bin".to_string()]);
    let mlsd = ftp.mlsd(None).unwrap();
    assert!(mlsd[0].contains("type=file;size=2000000;"), "{mlsd:?}");
    ftp.rename("f.bin", "g.bin").unwrap();
    ftp.append_file("g.bin", &mut Cursor::new(b"tail".to_vec()))
        .unwrap();
    assert_eq!(ftp.size("g.bin").unwrap(), body.len() + 4);
    ftp.rm("g.bin").unwrap();
    ftp.cdup().unwrap();
    ftp.rmdir("dir").unwrap();
    assert!(ftp.nlst(None).unwrap().is_empty());
    ftp.quit().unwrap();
}

#[test]
fn suppaftp_passive() {
    let s = TestServer::start(Config::default());
    let mut ftp = FtpStream::connect(s.addr).unwrap();
    suppaftp_roundtrip(&mut ftp, &s.home("alice"));
}

#[test]
fn suppaftp_active() {
    let s = TestServer::start(Config::default());
    let mut ftp = FtpStream::connect(s.addr)
        .unwrap()
        .active_mode(Duration::from_secs(30));
    ftp.set_mode(Mode::Active);
    suppaftp_roundtrip(&mut ftp, &s.home("alice"));
}

#[test]
fn suppaftp_extended_passive() {
    let s = TestServer::start(Config::default());
    let mut ftp = FtpStream::connect(s.addr).unwrap();
    ftp.set_mode(Mode::ExtendedPassive);
    suppaftp_roundtrip(&mut ftp, &s.home("alice"));
}

fn rustls_connector(cert: &std::path::Path) -> RustlsConnector {
    let pem = std::fs::read(cert).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    RustlsConnector::from(Arc::new(config))
}

#[test]
fn suppaftp_explicit_ftps_with_prot_p() {
    let s = TestServer::start(Config {
        require_tls: true,
        ..Config::default()
    });
    let ftp = RustlsFtpStream::connect(s.addr).unwrap();
    let mut ftp = ftp
        .into_secure(rustls_connector(&s.cert), "localhost")
        .unwrap();
    suppaftp_roundtrip(&mut ftp, &s.home("alice"));
}

#[test]
fn suppaftp_explicit_ftps_active() {
    let s = TestServer::start(Config::default());
    let ftp = RustlsFtpStream::connect(s.addr)
        .unwrap()
        .active_mode(Duration::from_secs(30));
    let mut ftp = ftp
        .into_secure(rustls_connector(&s.cert), "localhost")
        .unwrap();
    ftp.set_mode(Mode::Active);
    suppaftp_roundtrip(&mut ftp, &s.home("alice"));
}

fn curl(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "60"])
        .args(args)
        .output()
        .expect("curl is installed");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn user() -> String {
    format!("alice@example.test:{PASSWORD}")
}

/// Upload, list, download, resume and delete with curl; `extra` selects the mode.
fn curl_roundtrip(s: &TestServer, base: &str, extra: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src.bin");
    // Past 4 MiB, so that the upload also runs in the big-upload steps.
    let body = pattern(6_000_000);
    std::fs::write(&src, &body).unwrap();
    let u = user();
    let run = |args: &[&str]| {
        let mut all: Vec<&str> = vec!["--user", &u];
        all.extend_from_slice(extra);
        all.extend_from_slice(args);
        let (ok, out, err) = curl(&all);
        assert!(ok, "curl {all:?} failed: {err}");
        out
    };
    run(&[
        "--ftp-create-dirs",
        "-T",
        src.to_str().unwrap(),
        &format!("{base}sub/up.bin"),
    ]);
    assert!(
        std::fs::read(s.home("alice").join("sub/up.bin")).unwrap() == body,
        "upload differs"
    );
    let listing = run(&[&format!("{base}sub/")]);
    assert!(
        listing.contains("6000000") && listing.trim_end().ends_with("up.bin"),
        "{listing}"
    );
    let names = run(&["-l", &format!("{base}sub/")]);
    assert_eq!(names.lines().collect::<Vec<_>>(), ["up.bin"]);
    let dst = tmp.path().join("dst.bin");
    run(&["-o", dst.to_str().unwrap(), &format!("{base}sub/up.bin")]);
    assert!(std::fs::read(&dst).unwrap() == body, "download differs");
    // Resume a partial download (REST).
    std::fs::write(&dst, &body[..1_234_567]).unwrap();
    run(&[
        "-C",
        "-",
        "-o",
        dst.to_str().unwrap(),
        &format!("{base}sub/up.bin"),
    ]);
    assert!(
        std::fs::read(&dst).unwrap() == body,
        "resumed download differs"
    );
    run(&["-Q", "-DELE sub/up.bin", base]);
    assert!(!s.home("alice").join("sub/up.bin").exists());
}

#[test]
fn curl_passive_plain() {
    let s = TestServer::start(Config::default());
    let base = s.url("");
    curl_roundtrip(&s, &base, &[]);
}

#[test]
fn curl_active_plain() {
    let s = TestServer::start(Config::default());
    let base = s.url("");
    curl_roundtrip(&s, &base, &["-P", "-"]);
}

#[test]
fn curl_explicit_ftps_ssl_reqd() {
    let s = TestServer::start(Config {
        require_tls: true,
        ..Config::default()
    });
    let base = s.url("");
    curl_roundtrip(&s, &base, &["--ssl-reqd", "-k"]);
    // (Active mode under TLS is covered with suppaftp and ftplib: curl 7.88 does not
    // start TLS on an accepted data connection.)
    // Without TLS the same server refuses the login.
    let (ok, _, err) = curl(&["--user", &user(), &base]);
    assert!(!ok, "plaintext login was accepted: {err}");
}

#[test]
fn curl_implicit_ftps() {
    let s = TestServer::start(Config::default());
    let base = format!("ftps://127.0.0.1:{}/", s.implicit_addr.port());
    curl_roundtrip(&s, &base, &["-k"]);
}
