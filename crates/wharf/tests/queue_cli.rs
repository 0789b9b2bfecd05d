//! `wharf queue` against a data directory whose queue was filled through the store.

use std::process::Command;
use wharf_store::queue::{QueueEnvelope, QueueRecipientSpec};
use wharf_store::{SqliteStore, Store};

fn wharf(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(args)
        .env("WHARF_DATA_DIR", dir)
        .env("WHARF_HOSTNAME", "mx.example.test")
        .output()
        .expect("run wharf")
}

fn stdout(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "wharf failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[tokio::test]
async fn list_show_retry_delete() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let store = SqliteStore::open(dir.path()).unwrap();
        store
            .queue_add(
                wharf_store::queue::QueueId::generate(),
                b"Subject: outbound\r\nFrom: alice@example.test\r\n\r\nbody\r\n".to_vec(),
                QueueEnvelope {
                    sender: "alice@example.test".into(),
                    envid: Some("E1".into()),
                    recipients: vec![
                        QueueRecipientSpec {
                            address: "x@far.test".into(),
                            orcpt: None,
                            notify: None,
                        },
                        QueueRecipientSpec {
                            address: "y@far.test".into(),
                            orcpt: None,
                            notify: None,
                        },
                    ],
                    ..Default::default()
                },
            )
            .await
            .unwrap()
    };
    let list = stdout(&wharf(dir.path(), &["queue", "list"]));
    assert!(
        list.starts_with(&format!(
            "{id}\talice@example.test\tx@far.test,y@far.test\tnext="
        )),
        "{list}"
    );
    let show = stdout(&wharf(dir.path(), &["queue", "show", &id.to_string()]));
    assert!(show.contains("envid: E1"), "{show}");
    assert!(
        show.contains("recipient: y@far.test\tstate=pending\tattempts=0"),
        "{show}"
    );
    assert!(show.contains("Subject: outbound"), "{show}");
    assert!(!show.contains("body"), "only headers are shown: {show}");
    assert_eq!(
        stdout(&wharf(dir.path(), &["queue", "retry", "--all"])),
        "2 recipient(s) due now\n"
    );
    assert_eq!(
        stdout(&wharf(dir.path(), &["queue", "retry", &id.to_string()])),
        "2 recipient(s) due now\n"
    );
    stdout(&wharf(dir.path(), &["queue", "delete", &id.to_string()]));
    assert_eq!(stdout(&wharf(dir.path(), &["queue", "list"])), "");

    for args in [
        vec!["queue", "show", &*id.to_string()],
        vec!["queue", "delete", &*id.to_string()],
        vec!["queue", "retry", "zz-not-hex"],
        vec!["queue", "retry"],
    ] {
        let o = wharf(dir.path(), &args);
        assert!(!o.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.trim().is_empty(), "{args:?}: no error text");
    }
}
