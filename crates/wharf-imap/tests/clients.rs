//! Real IMAP clients against the in-process server: the `async-imap` crate and
//! `curl imap://` (plain, and STARTTLS with `--ssl-reqd`).

mod common;

use common::TestServer;
use futures::TryStreamExt;
use std::process::Command;
use tokio::net::TcpStream;
use wharf_imap::Config;

const MSG: &[u8] = b"From: Carol <carol@example.org>\r\n\
To: alice@example.test\r\n\
Subject: quarterly report\r\n\
Content-Type: multipart/alternative; boundary=\"alt\"\r\n\
\r\n\
--alt\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\
\r\n\
Numbers are up.\r\n\
--alt\r\n\
Content-Type: text/html; charset=us-ascii\r\n\
\r\n\
<p>Numbers are up.</p>\r\n\
--alt--\r\n";

async fn session(s: &TestServer) -> async_imap::Session<TcpStream> {
    let tcp = TcpStream::connect(s.addr).await.unwrap();
    let mut client = async_imap::Client::new(tcp);
    let greeting = client.read_response().await.unwrap().unwrap();
    assert!(format!("{:?}", greeting.parsed()).contains("Ok"));
    client
        .login("alice@example.test", "pw")
        .await
        .map_err(|(e, _)| e)
        .unwrap()
}

#[tokio::test]
async fn async_imap_select_fetch_store_search() {
    let s = TestServer::start(Config::default()).await;
    s.deliver("alice@example.test", MSG).await;
    let mut imap = session(&s).await;
    let caps = imap.capabilities().await.unwrap();
    assert!(caps.has_str("IDLE") && caps.has_str("UIDPLUS") && caps.has_str("MOVE"));
    let mbox = imap.select("INBOX").await.unwrap();
    assert_eq!(mbox.exists, 1);
    assert_eq!(mbox.uid_next, Some(2));
    assert!(mbox.uid_validity.is_some());

    let fetches: Vec<_> = imap
        .fetch("1", "(UID FLAGS ENVELOPE BODYSTRUCTURE BODY.PEEK[])")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(fetches.len(), 1);
    let f = &fetches[0];
    assert_eq!(f.uid, Some(1));
    assert_eq!(f.body(), Some(MSG));
    let env = f.envelope().unwrap();
    assert_eq!(env.subject.as_deref(), Some(&b"quarterly report"[..]));
    let from = &env.from.as_ref().unwrap()[0];
    assert_eq!(from.mailbox.as_deref(), Some(&b"carol"[..]));
    let bs = format!("{:?}", f.bodystructure().unwrap());
    assert!(
        bs.contains("Multipart") && bs.contains("alternative"),
        "{bs}"
    );
    // Delivered before anyone selected INBOX: \Recent for this first session, nothing else.
    let flags: Vec<_> = f.flags().collect();
    assert_eq!(flags, vec![async_imap::types::Flag::Recent], "{flags:?}");

    let updates: Vec<_> = imap
        .store("1", "+FLAGS (\\Flagged)")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(updates.len(), 1);
    let found = imap
        .search("FLAGGED BODY \"numbers are UP\"")
        .await
        .unwrap();
    assert_eq!(found.into_iter().collect::<Vec<_>>(), vec![1]);
    let found = imap.uid_search("UNFLAGGED").await.unwrap();
    assert!(found.is_empty());

    imap.append(
        "Sent",
        Some("(\\Seen)"),
        None,
        b"Subject: sent\r\n\r\nhi\r\n",
    )
    .await
    .unwrap();
    let st = imap.status("Sent", "(MESSAGES UNSEEN)").await.unwrap();
    assert_eq!(st.exists, 1);
    assert_eq!(st.unseen, Some(0));
    let names: Vec<_> = imap
        .list(Some(""), Some("*"))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let names: Vec<&str> = names.iter().map(|n| n.name()).collect();
    for want in ["INBOX", "Sent", "Drafts", "Trash", "Junk"] {
        assert!(names.contains(&want), "{names:?}");
    }
    imap.uid_mv("1", "Trash").await.unwrap();
    let st = imap.status("Trash", "(MESSAGES)").await.unwrap();
    assert_eq!(st.exists, 1);
    imap.logout().await.unwrap();
}

#[tokio::test]
async fn async_imap_idle_sees_a_delivery() {
    let s = TestServer::start(Config::default()).await;
    let mut imap = session(&s).await;
    imap.select("INBOX").await.unwrap();
    let mut idle = imap.idle();
    idle.init().await.unwrap();
    let (wait, _stop) = idle.wait_with_timeout(std::time::Duration::from_secs(20));
    let deliver = async {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        s.deliver("alice@example.test", MSG).await;
    };
    let (resp, ()) = tokio::join!(wait, deliver);
    match resp.unwrap() {
        async_imap::extensions::idle::IdleResponse::NewData(d) => {
            let text = format!("{:?}", d.parsed());
            assert!(text.contains("Exists(1)"), "{text}");
        }
        other => panic!("no new data: {other:?}"),
    }
    let mut imap = idle.done().await.unwrap();
    imap.noop().await.unwrap();
    imap.logout().await.unwrap();
}

fn curl(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn curl_lists_and_fetches() {
    let s = TestServer::start(Config::default()).await;
    s.deliver("alice@example.test", MSG).await;
    let base = format!("imap://127.0.0.1:{}", s.addr.port());
    let url = format!("{base}/");
    let (ok, out, err) =
        tokio::task::spawn_blocking(move || curl(&["-u", "alice@example.test:pw", &url]))
            .await
            .unwrap();
    assert!(ok, "{err}");
    assert!(out.contains("\"/\" INBOX"), "{out}");
    assert!(out.contains("\\Sent) \"/\" Sent"), "{out}");

    let url = format!("{base}/INBOX;UID=1");
    let (ok, out, err) =
        tokio::task::spawn_blocking(move || curl(&["-u", "alice@example.test:pw", &url]))
            .await
            .unwrap();
    assert!(ok, "{err}");
    assert_eq!(out.as_bytes(), MSG);

    // STARTTLS, required by the client (self-signed certificate: -k).
    let url = format!("{base}/INBOX;UID=1;SECTION=HEADER.FIELDS%20(SUBJECT)");
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        curl(&["--ssl-reqd", "-k", "-u", "alice@example.test:pw", &url])
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert_eq!(out, "Subject: quarterly report\r\n\r\n");

    // A wrong password fails.
    let url = format!("{base}/");
    let (ok, _, err) =
        tokio::task::spawn_blocking(move || curl(&["-u", "alice@example.test:nope", &url]))
            .await
            .unwrap();
    assert!(!ok);
    assert!(
        err.contains("Login denied") || err.contains("denied"),
        "{err}"
    );
}
