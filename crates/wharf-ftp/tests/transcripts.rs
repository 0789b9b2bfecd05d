//! End-to-end transcripts over raw sockets: what the server says, command by command.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use wharf_ftp::Config;

#[test]
fn login_and_session_basics() {
    let s = TestServer::start(Config::default());
    let mut c = s.raw();
    let feat = c.expect("FEAT", 211);
    for f in [
        "AUTH TLS",
        "PBSZ",
        "PROT",
        "EPSV",
        "REST STREAM",
        "SIZE",
        "MDTM",
        "UTF8",
        "MLST type*;",
    ] {
        assert!(feat.contains(f), "FEAT lacks {f}: {feat}");
    }
    c.expect("RETR x", 530);
    c.expect("PASS x", 503);
    c.expect("BOGUS", 500);
    c.expect("REIN", 502);
    c.expect("ACCT x", 502);
    c.expect("TYPE Q", 501);
    c.expect("TYPE E", 504);
    // A wrong password, then the right one.
    c.expect("USER alice@example.test", 331);
    c.expect("PASS wrong", 530);
    c.expect("CWD /", 530);
    c.expect("USER alice@example.test", 331);
    c.expect(&format!("PASS {PASSWORD}"), 230);
    c.expect("USER bob@example.test", 503);
    assert!(c.expect("PWD", 257).contains("\"/\""));
    assert!(c.expect("MKD sub dir", 257).contains("\"/sub dir\""));
    c.expect("MKD sub dir", 550);
    c.expect("CWD sub dir", 250);
    assert!(c.expect("XPWD", 257).contains("\"/sub dir\""));
    c.expect("CDUP", 250);
    c.expect("CWD nowhere", 550);
    c.expect("SYST", 215);
    c.expect("NOOP", 200);
    c.expect("TYPE I", 200);
    c.expect("MODE S", 200);
    c.expect("MODE B", 504);
    c.expect("STRU F", 200);
    c.expect("ALLO 100", 202);
    c.expect("OPTS UTF8 ON", 200);
    // A no-op: the file area has no modes (lftp mirror -R sends it after each upload).
    c.expect("SITE CHMOD 644 x", 200);
    c.expect("SITE CHMOD rwx x", 501);
    c.expect("SITE CHMOD 644", 501);
    c.expect("SITE EXEC ls", 502);
    c.expect("SITE HELP", 214);
    c.expect("HELP", 214);
    c.expect("STAT", 211);
    c.expect("ABOR", 225);
    c.expect("RNTO x", 503);
    c.expect("RMD sub dir", 250);
    c.expect("QUIT", 221);
}

#[test]
fn over_long_lines_and_bare_lf_keep_the_session() {
    let s = TestServer::start(Config::default());
    let mut c = s.raw();
    c.send_bytes(&vec![b'A'; 100_000]);
    c.send_bytes(b"\r\n");
    let (code, _) = c.reply();
    assert_eq!(code, 500);
    c.send_bytes(b"NOOP\n");
    assert_eq!(c.reply().0, 200);
    // Telnet IP + DM before a command (RFC 959 §4.1.3) are ignored.
    c.send_bytes(b"\xff\xf4\xff\xf2NOOP\r\n");
    assert_eq!(c.reply().0, 200);
}

#[test]
fn files_round_trip_with_rename_size_mdtm_and_listings() {
    let s = TestServer::start(Config::default());
    let mut c = s.raw_login("alice");
    c.expect("TYPE I", 200);
    let body = pattern(300_000);
    c.store("STOR", "a.bin", &body);
    assert!(
        std::fs::read(s.home("alice").join("a.bin")).unwrap() == body,
        "stored file differs"
    );
    assert_eq!(c.expect("SIZE a.bin", 213), "213 300000");
    c.expect("MFMT 20200102030405 a.bin", 213);
    assert_eq!(c.expect("MDTM a.bin", 213), "213 20200102030405");
    c.expect("RNFR a.bin", 350);
    c.expect("RNTO b.bin", 250);
    c.expect("SIZE a.bin", 550);
    assert!(c.retr("b.bin") == body, "downloaded file differs");

    let mut data = c.epsv();
    c.expect("MLSD", 150);
    let mut listing = String::new();
    data.read_to_string(&mut listing).unwrap();
    assert_eq!(c.reply().0, 226);
    assert!(
        listing.contains("type=file;size=300000;modify=20200102030405;perm=adfrw;")
            && listing.contains(" b.bin\r\n"),
        "{listing}"
    );
    let mlst = c.expect("MLST b.bin", 250);
    assert!(
        mlst.contains(" type=file;size=300000;") && mlst.contains(" /b.bin"),
        "{mlst}"
    );

    let mut data = c.epsv();
    c.expect("LIST -la", 150);
    let mut listing = String::new();
    data.read_to_string(&mut listing).unwrap();
    assert_eq!(c.reply().0, 226);
    assert!(
        listing.starts_with("-rw-r--r--")
            && listing.contains("300000")
            && listing.ends_with(" b.bin\r\n"),
        "{listing}"
    );

    let stat = c.expect("STAT /", 212);
    assert!(stat.contains("b.bin"), "{stat}");

    c.expect("LIST nowhere", 550);
    c.expect("DELE b.bin", 250);
    c.expect("DELE b.bin", 550);
}

#[test]
fn rest_resumes_downloads_and_uploads_byte_exact() {
    let s = TestServer::start(Config::default());
    let mut c = s.raw_login("alice");
    c.expect("TYPE I", 200);
    let body = pattern(1_000_003);
    c.store("STOR", "big", &body);

    // Download resume.
    c.expect("REST 600001", 350);
    assert!(c.retr("big") == body[600_001..], "resumed download differs");
    // REST is used once: the next RETR is whole again.
    assert_eq!(c.retr("big").len(), body.len());

    // Upload resume: the first part, then REST + STOR of the rest.
    c.store("STOR", "up", &body[..400_000]);
    c.expect("REST 400000", 350);
    c.store("STOR", "up", &body[400_000..]);
    assert!(
        std::fs::read(s.home("alice").join("up")).unwrap() == body,
        "resumed upload differs"
    );

    // APPE extends.
    c.store("APPE", "log", b"one\n");
    c.store("APPE", "log", b"two\n");
    assert_eq!(
        std::fs::read(s.home("alice").join("log")).unwrap(),
        b"one\ntwo\n"
    );

    // REST past the end of the file for an upload is refused.
    c.expect("REST 99", 350);
    let _data = c.epsv();
    c.expect("STOR log", 550);
}

#[test]
fn abort_mid_download_then_the_session_goes_on() {
    let s = TestServer::start(Config::default());
    let mut c = s.raw_login("alice");
    c.expect("TYPE I", 200);
    let body = pattern(32 << 20);
    std::fs::write(s.home("alice").join("huge"), &body).unwrap();

    let mut data = c.epsv();
    c.expect("RETR huge", 150);
    let mut first = vec![0u8; 64 * 1024];
    data.read_exact(&mut first).unwrap();
    assert_eq!(first, body[..first.len()]);
    // STAT during the transfer answers at once.
    let stat = c.expect("STAT", 213);
    assert!(stat.contains("bytes so far"), "{stat}");
    c.send("ABOR");
    let (code, _) = c.reply();
    assert_eq!(code, 426);
    assert_eq!(c.reply().0, 226);
    drop(data);
    c.expect("NOOP", 200);
    // The next transfer on the same control connection is whole and exact.
    assert!(c.retr("huge") == body, "download after ABOR differs");
}

#[test]
fn abort_mid_upload_leaves_no_file() {
    let s = TestServer::start(Config::default());
    let mut c = s.raw_login("alice");
    c.expect("TYPE I", 200);
    let mut data = c.epsv();
    c.expect("STOR partial", 150);
    data.write_all(&pattern(100_000)).unwrap();
    c.send("ABOR");
    assert_eq!(c.reply().0, 426);
    assert_eq!(c.reply().0, 226);
    drop(data);
    c.expect("SIZE partial", 550);
    let leftovers: Vec<_> = std::fs::read_dir(s.home("alice")).unwrap().collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // An upload whose client vanishes mid-way leaves nothing either (the data
    // connection just closes: that is the end of the file in stream mode, so the
    // aborted case is the ABOR above); the session is still usable.
    c.store("STOR", "whole", b"done");
    assert_eq!(
        std::fs::read(s.home("alice").join("whole")).unwrap(),
        b"done"
    );
}

#[test]
fn path_escape_attempts_stay_inside_the_home() {
    let s = TestServer::start(Config::default());
    // Bob has a secret; alice tries to reach it.
    let mut b = s.raw_login("bob");
    b.store("STOR", "secret", b"bob's");
    let bob_dir = s.home("bob");
    let bob_id = bob_dir.file_name().unwrap().to_string_lossy().to_string();
    let outside = s.dir.path().join("outside.txt");
    std::fs::write(&outside, b"outside").unwrap();

    let mut c = s.raw_login("alice");
    for attempt in [
        format!("../{bob_id}/secret"),
        format!("/../{bob_id}/secret"),
        format!("../../files/{bob_id}/secret"),
        "../../../outside.txt".into(),
        "/../../../../../../etc/passwd".into(),
        "..\\..\\..\\etc\\passwd".into(),
        "%2e%2e/%2e%2e/etc/passwd".into(),
        "....//....//etc/passwd".into(),
    ] {
        c.expect(&format!("SIZE {attempt}"), 550);
        let _data = c.epsv();
        c.expect(&format!("RETR {attempt}"), 550);
    }
    // `..` at the root stays at the root.
    c.expect("CWD ../../..", 250);
    assert!(c.expect("PWD", 257).contains("\"/\""));
    // NUL, overlong UTF-8 and reserved names are refused outright.
    c.send_bytes(b"RETR a\0b\r\n");
    assert_eq!(c.reply().0, 553);
    c.send_bytes(b"RETR \xc0\xae\xc0\xae/x\r\n");
    assert_eq!(c.reply().0, 501);
    c.expect("MKD .wharf-upload-x", 553);
    // A symlink planted in the home is not followed.
    std::os::unix::fs::symlink(&bob_dir, s.home("alice").join("link")).unwrap();
    std::os::unix::fs::symlink(&outside, s.home("alice").join("out")).unwrap();
    c.expect("CWD link", 550);
    c.expect("SIZE link/secret", 550);
    c.expect("SIZE out", 550);
    let _data = c.epsv();
    c.expect("RETR out", 550);
    let _data = c.epsv();
    c.expect("STOR link/new", 550);
    assert!(!bob_dir.join("new").exists());
    assert_eq!(std::fs::read(bob_dir.join("secret")).unwrap(), b"bob's");
}

#[test]
fn port_bounce_is_refused() {
    let s = TestServer::start(Config::default());
    let mut c = s.raw_login("alice");
    c.expect("PORT 10,0,0,1,200,0", 501);
    c.expect("PORT 127,0,0,1,0,25", 501);
    c.expect("EPRT |1|192.0.2.1|5000|", 501);
    c.expect("EPRT |1|127.0.0.1|80|", 501);
    c.expect("EPRT |3|x|1|", 522);
    c.expect("PORT 127,0,0,1,200,0", 200);
    c.expect("EPSV ALL", 200);
    c.expect("PASV", 503);
    c.expect("PORT 127,0,0,1,200,0", 503);
}

#[test]
fn passive_port_refuses_other_client_addresses() {
    let s = TestServer::start(Config::default());
    let mut c = s.raw_login("alice");
    std::fs::write(s.home("alice").join("f"), b"data").unwrap();
    let text = c.expect("EPSV", 229);
    let port: u16 = text
        .split("|||")
        .nth(1)
        .unwrap()
        .split('|')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // A third party (another loopback address; Linux routes all of 127/8) connects
    // first: it gets nothing.
    let Some(thief) = socket_from("127.0.0.2", port) else {
        return; // cannot emulate a second address here
    };
    let mut real = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.expect("RETR f", 150);
    let mut got = Vec::new();
    real.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"data");
    assert_eq!(c.reply().0, 226);
    thief
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 16];
    let mut thief = thief;
    assert!(
        !matches!(thief.read(&mut buf), Ok(n) if n > 0),
        "the thief got data"
    );
}

fn socket_from(src: &str, port: u16) -> Option<TcpStream> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
    let src: SocketAddr = format!("{src}:0").parse().ok()?;
    sock.bind(&src.into()).ok()?;
    sock.connect(&SocketAddr::from(([127, 0, 0, 1], port)).into())
        .ok()?;
    Some(sock.into())
}

#[test]
fn ascii_type_converts_line_ends_both_ways() {
    let s = TestServer::start(Config::default());
    let mut c = s.raw_login("alice");
    c.expect("TYPE A", 200);
    c.store("STOR", "t.txt", b"one\r\ntwo\r\nbare\rcr\r\n");
    assert_eq!(
        std::fs::read(s.home("alice").join("t.txt")).unwrap(),
        b"one\ntwo\nbare\rcr\n"
    );
    assert_eq!(c.retr("t.txt"), b"one\r\ntwo\r\nbare\rcr\r\n");
    c.expect("TYPE I", 200);
    assert_eq!(c.retr("t.txt"), b"one\ntwo\nbare\rcr\n");
}

#[test]
fn quota_stops_an_upload_and_removes_it() {
    let s = TestServer::start(Config {
        quota_bytes: 100_000,
        ..Config::default()
    });
    let mut c = s.raw_login("alice");
    c.expect("TYPE I", 200);
    c.store("STOR", "fits", &pattern(60_000));
    let mut data = c.epsv();
    c.expect("STOR toobig", 150);
    // The server may stop reading once it refuses; ignore write errors.
    let _ = data.write_all(&pattern(200_000));
    drop(data);
    assert_eq!(c.reply().0, 552);
    c.expect("SIZE toobig", 550);
    assert_eq!(std::fs::read_dir(s.home("alice")).unwrap().count(), 1);
    c.expect("NOOP", 200);
}

#[test]
fn require_tls_refuses_plaintext_login() {
    let s = TestServer::start(Config {
        require_tls: true,
        ..Config::default()
    });
    let mut c = s.raw();
    let text = c.expect("USER alice@example.test", 530);
    assert!(text.contains("AUTH TLS"), "{text}");
    c.expect("PBSZ 0", 503);
    c.expect("PROT P", 503);
}

#[test]
fn anonymous_area_is_read_only() {
    let pub_dir = tempfile::tempdir().unwrap();
    std::fs::write(pub_dir.path().join("readme"), b"hello").unwrap();
    let s = TestServer::start(Config {
        anonymous_root: Some(pub_dir.path().to_path_buf()),
        ..Config::default()
    });
    let mut c = s.raw();
    c.expect("USER anonymous", 331);
    c.expect("PASS guest@", 230);
    assert_eq!(c.retr("readme"), b"hello");
    let _data = c.epsv();
    c.expect("STOR x", 550);
    c.expect("MKD d", 550);
    c.expect("DELE readme", 550);
    c.expect("RNFR readme", 550);

    // Off by default.
    let s = TestServer::start(Config::default());
    let mut c = s.raw();
    c.expect("USER anonymous", 530);
}

#[test]
fn users_do_not_see_each_other() {
    let s = TestServer::start(Config::default());
    let mut a = s.raw_login("alice");
    a.store("STOR", "mine", b"alice");
    let mut b = s.raw_login("bob");
    b.expect("SIZE mine", 550);
    let mut data = b.epsv();
    b.expect("NLST", 150);
    let mut names = String::new();
    data.read_to_string(&mut names).unwrap();
    assert_eq!(b.reply().0, 226);
    assert_eq!(names, "");
}

#[test]
fn stou_names_its_file() {
    let s = TestServer::start(Config::default());
    let mut c = s.raw_login("alice");
    let mut data = c.epsv();
    let text = c.expect("STOU", 150);
    data.write_all(b"u").unwrap();
    drop(data);
    assert_eq!(c.reply().0, 226);
    let name = text.split("FILE: ").nth(1).unwrap().trim().to_string();
    assert_eq!(std::fs::read(s.home("alice").join(&name)).unwrap(), b"u");
}

#[test]
fn abor_sent_as_urgent_data_is_seen() {
    // ftplib and other clients send ABOR with MSG_OOB (RFC 959 §4.1.3 "Synch"); the
    // urgent byte must stay in the stream.
    let s = TestServer::start(Config::default());
    let mut c = s.raw_login("alice");
    c.expect("NOOP", 200);
    let sock = socket2::SockRef::from(&c.writer);
    sock.send_out_of_band(b"ABOR\r\n").unwrap();
    assert_eq!(c.reply().0, 225);
    c.expect("NOOP", 200);
}

#[test]
fn passive_ports_and_advertised_address_follow_the_config() {
    let s = TestServer::start(Config {
        passive_ports: Some("40100-40103".to_string().try_into().unwrap()),
        passive_address: Some("203.0.113.9".parse().unwrap()),
        ..Config::default()
    });
    let mut c = s.raw_login("alice");
    for _ in 0..6 {
        let pasv = c.expect("PASV", 227);
        assert!(pasv.contains("(203,0,113,9,"), "{pasv}");
        let nums: Vec<u16> = pasv
            .split('(')
            .nth(1)
            .unwrap()
            .trim_end_matches(").")
            .split(',')
            .map(|n| n.parse().unwrap())
            .collect();
        let port = nums[4] * 256 + nums[5];
        assert!((40100..=40103).contains(&port), "{port}");
        let text = c.expect("EPSV", 229);
        let port: u16 = text
            .split("|||")
            .nth(1)
            .unwrap()
            .split('|')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((40100..=40103).contains(&port), "{port}");
    }
    // The advertised address is only a label: EPSV still works for a transfer.
    std::fs::write(s.home("alice").join("f"), b"ranged").unwrap();
    assert_eq!(c.retr("f"), b"ranged");
}

#[test]
fn ipv6_control_connection_uses_epsv_and_eprt() {
    use std::net::TcpListener;
    let s = TestServer::start(Config::default());
    // Serve the same server on [::1] too, if this machine has IPv6 loopback.
    let Ok(probe) = TcpListener::bind("[::1]:0") else {
        return;
    };
    drop(probe);
    let addr6 = s.listen_v6();
    let mut c = Raw::connect(addr6);
    assert_eq!(c.reply().0, 220);
    c.expect("USER alice@example.test", 331);
    c.expect(&format!("PASS {PASSWORD}"), 230);
    std::fs::write(s.home("alice").join("f6"), b"over v6").unwrap();
    c.expect("PASV", 425);
    c.expect("EPSV 1", 522);
    assert_eq!(c.retr("f6"), b"over v6");
    // Active over IPv6: EPRT |2|::1|port|.
    let l = TcpListener::bind("[::1]:0").unwrap();
    let port = l.local_addr().unwrap().port();
    c.expect(&format!("EPRT |2|::1|{port}|"), 200);
    c.expect("RETR f6", 150);
    let (mut data, _) = l.accept().unwrap();
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"over v6");
    assert_eq!(c.reply().0, 226);
    c.expect("EPRT |2|::2|5000|", 501);
}

#[test]
fn rate_limited_transfers_are_still_exact() {
    let s = TestServer::start(Config {
        max_rate: 4 << 20,
        ..Config::default()
    });
    let mut c = s.raw_login("alice");
    c.expect("TYPE I", 200);
    let body = pattern(1 << 20);
    c.store("STOR", "r", &body);
    assert!(c.retr("r") == body, "rate-limited download differs");
}

#[test]
fn idle_control_connection_is_closed_with_421() {
    let s = TestServer::start(Config {
        idle_timeout_secs: 1,
        ..Config::default()
    });
    let mut c = s.raw();
    // No command: the server gives up on us.
    let (code, _) = c.reply();
    assert_eq!(code, 421);
}

#[test]
fn data_connection_that_never_comes_is_425() {
    let s = TestServer::start(Config {
        data_timeout_secs: 1,
        ..Config::default()
    });
    let mut c = s.raw_login("alice");
    std::fs::write(s.home("alice").join("f"), b"x").unwrap();
    // No PASV/PORT at all.
    c.expect("RETR f", 425);
    // PASV, but the client never connects.
    c.expect("EPSV", 229);
    c.expect("RETR f", 425);
    // Active, to a port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    c.expect(&format!("EPRT |1|127.0.0.1|{port}|"), 200);
    c.expect("RETR f", 425);
    // The session is fine afterwards.
    assert_eq!(c.retr("f"), b"x");
}

#[test]
fn utf8_names_round_trip() {
    // RFC 2640: path names are UTF-8 on the wire and on disk.
    let s = TestServer::start(Config::default());
    let mut c = s.raw_login("alice");
    c.expect("OPTS UTF8 ON", 200);
    c.expect("MKD Café ☕", 257);
    c.expect("CWD Café ☕", 250);
    c.store("STOR", "résumé 日本.txt", b"utf8");
    assert!(c.expect("PWD", 257).contains("\"/Café ☕\""));
    let mut data = c.epsv();
    c.expect("NLST", 150);
    let mut names = String::new();
    data.read_to_string(&mut names).unwrap();
    assert_eq!(c.reply().0, 226);
    assert_eq!(names, "résumé 日本.txt\r\n");
    assert_eq!(
        std::fs::read(s.home("alice").join("Café ☕/résumé 日本.txt")).unwrap(),
        b"utf8"
    );
}
