//! Session transcripts without sockets: a tiny in-memory driver feeds raw client bytes
//! (at every chunk size) through the same framing and state machine as the real one.

use super::*;
use crate::config::SubmissionConfig;
use crate::proto::{Frame, LineReader};
use crate::testing::MemStore;
use wharf_store::{AccountId, Error};

const SIZES: [usize; 10] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

struct Opts {
    config: Config,
    tls: bool,
    can_starttls: bool,
    mode: Mode,
    submission: SubmissionConfig,
    peer: &'static str,
    hooks: crate::hooks::Hooks,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            config: Config::default(),
            tls: false,
            can_starttls: true,
            mode: Mode::Exchanger,
            submission: SubmissionConfig {
                auth_failure_delay_ms: 0,
                ..Default::default()
            },
            peer: "192.0.2.9:4567",
            hooks: Default::default(),
        }
    }
}

impl Opts {
    /// Submission over TLS.
    fn submission() -> Opts {
        Opts {
            mode: Mode::Submission,
            tls: true,
            can_starttls: false,
            ..Default::default()
        }
    }
}

/// Runs a whole session over `input` fed `chunk` bytes at a time; returns what the
/// server wrote, with queue ids and dates masked so runs compare equal.
async fn transcript(store: &Arc<MemStore>, opts: &Opts, input: &[u8], chunk: usize) -> String {
    let mut shared = Shared::new(
        store.clone(),
        "mx.example.test".into(),
        opts.config.clone(),
        opts.mode,
        opts.submission.clone(),
    );
    shared.hooks = opts.hooks.clone();
    let shared = Arc::new(shared);
    let mut session = Session::new(
        shared,
        ConnInfo {
            id: 1,
            peer: opts.peer.parse().unwrap(),
            tls: opts.tls,
            can_starttls: opts.can_starttls,
        },
    );
    let mut out = Vec::new();
    session.greeting().write_to(&mut out);
    let mut lines = LineReader::new(opts.config.max_line_len);
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut pending: Option<Next> = None;
    'outer: loop {
        // Next framing mode first: a receiver in progress eats bytes before commands.
        match pending.take() {
            Some(Next::Data(mut rx)) => {
                let n = rx.feed(&buf);
                buf.drain(..n);
                if rx.is_done() {
                    let step = session.data_received(rx).await;
                    if apply(step, &mut out, &mut pending, &mut session, &mut buf) {
                        break 'outer;
                    }
                    continue;
                }
                pending = Some(Next::Data(rx));
            }
            Some(Next::Chunk(mut rx)) => {
                let n = rx.feed(&buf);
                buf.drain(..n);
                if rx.is_done() {
                    let step = session.chunk_received(rx.finish()).await;
                    if apply(step, &mut out, &mut pending, &mut session, &mut buf) {
                        break 'outer;
                    }
                    continue;
                }
                pending = Some(Next::Chunk(rx));
            }
            Some(other) => pending = Some(other),
            None => {
                let (n, frame) = lines.next(&buf);
                let step = match frame {
                    Frame::Line(l) => {
                        let l = l.to_vec();
                        buf.drain(..n);
                        Some(session.handle_line(&l).await)
                    }
                    Frame::TooLong => {
                        buf.drain(..n);
                        Some(session.line_too_long())
                    }
                    Frame::Incomplete => {
                        buf.drain(..n);
                        None
                    }
                };
                if let Some(step) = step {
                    if apply(step, &mut out, &mut pending, &mut session, &mut buf) {
                        break 'outer;
                    }
                    continue;
                }
            }
        }
        if fed >= input.len() {
            break;
        }
        let end = (fed + chunk).min(input.len());
        buf.extend_from_slice(&input[fed..end]);
        fed = end;
    }
    mask(&String::from_utf8_lossy(&out))
}

/// Writes the replies; handles STARTTLS as the driver would (drop buffered plaintext).
/// Returns true when the session closes.
fn apply(
    step: Step,
    out: &mut Vec<u8>,
    pending: &mut Option<Next>,
    session: &mut Session,
    buf: &mut Vec<u8>,
) -> bool {
    for r in &step.replies {
        r.write_to(out);
    }
    match step.next {
        Next::Command => false,
        Next::Close => true,
        Next::StartTls => {
            // Everything the client sent after STARTTLS was plaintext: the driver drops
            // what is buffered, and the rest would be fed to the TLS handshake.
            out.extend_from_slice(format!("<TLS, discarded {}>\r\n", buf.len()).as_bytes());
            buf.clear();
            session.tls_started();
            true
        }
        next => {
            *pending = Some(next);
            false
        }
    }
}

fn mask(s: &str) -> String {
    s.lines()
        .map(|l| match l.find("queued as ") {
            Some(i) => format!("{}queued as ID", &l[..i]),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs at every chunk size, checks they agree, returns the transcript.
async fn run(store: &Arc<MemStore>, opts: &Opts, input: &str) -> String {
    run_bytes(store, opts, input.as_bytes()).await
}

async fn run_bytes(store: &Arc<MemStore>, opts: &Opts, input: &[u8]) -> String {
    let before = store.delivered().len();
    let queued_before = store.queued().len();
    let first = transcript(store, opts, input, 512).await;
    let delivered = store.delivered().len() - before;
    let queued = store.queued().len() - queued_before;
    for size in SIZES {
        let n = store.delivered().len();
        assert_eq!(
            transcript(store, opts, input, size).await,
            first,
            "chunk size {size}"
        );
        assert_eq!(
            store.delivered().len() - n,
            delivered,
            "deliveries at chunk size {size}"
        );
    }
    // Keep only the first run's deliveries, so tests can count them.
    store
        .inner
        .lock()
        .unwrap()
        .delivered
        .truncate(before + delivered);
    store
        .inner
        .lock()
        .unwrap()
        .queued
        .truncate(queued_before + queued);
    first
}

/// The reply lines after the greeting, one per entry.
fn replies(t: &str) -> Vec<&str> {
    t.lines().skip(1).collect()
}

const EHLO: &str = "EHLO client.example\r\n";

fn ehlo_lines(t: &str) -> usize {
    t.lines()
        .filter(|l| l.starts_with("250-") || *l == "250 HELP")
        .count()
}

#[tokio::test]
async fn greeting_and_ehlo() {
    let store = MemStore::new();
    let t = run(&store, &Opts::default(), EHLO).await;
    assert_eq!(
        t,
        "220 mx.example.test ESMTP Wharf\n\
         250-mx.example.test\n250-PIPELINING\n250-SIZE 36700160\n250-8BITMIME\n\
         250-ENHANCEDSTATUSCODES\n250-STARTTLS\n250-SMTPUTF8\n250-CHUNKING\n\
         250-BINARYMIME\n250-DSN\n250 HELP"
    );
    let no_tls = Opts {
        can_starttls: false,
        ..Opts::default()
    };
    let t = run(&store, &no_tls, EHLO).await;
    assert!(!t.contains("STARTTLS"));
}

#[tokio::test]
async fn helo_gets_a_plain_reply_and_no_extensions() {
    let store = MemStore::new();
    let t = run(
        &store,
        &Opts::default(),
        "HELO c\r\nMAIL FROM:<a@b.test> SIZE=10\r\nMAIL FROM:<a@b.test>\r\n",
    )
    .await;
    assert_eq!(
        replies(&t),
        [
            "250 mx.example.test",
            "555 5.5.4 Unsupported parameter (parameters need EHLO)",
            "250 2.1.0 Sender ok"
        ]
    );
}

#[tokio::test]
async fn one_message_delivered_with_trace_headers() {
    let store = MemStore::new();
    let input = format!(
        "{EHLO}MAIL FROM:<sender@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n\
         Subject: hi\r\n\r\n..dot\r\n.\r\nQUIT\r\n"
    );
    let t = run(&store, &Opts::default(), &input).await;
    let r = replies(&t);
    assert_eq!(
        r[r.len() - 5..],
        [
            "250 2.1.0 Sender ok",
            "250 2.1.5 Recipient ok",
            "354 End data with <CR><LF>.<CR><LF>",
            "250 2.0.0 Ok: queued as ID",
            "221 2.0.0 Bye"
        ]
    );
    let d = store.delivered();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].0, vec![AccountId(1)]);
    let raw = String::from_utf8(d[0].1.clone()).unwrap();
    assert!(raw.starts_with("Return-Path: <sender@remote.test>\r\nReceived: from client.example ([192.0.2.9])\r\n\tby mx.example.test (Wharf) with ESMTP id "), "{raw}");
    assert!(raw.contains("\r\n\tfor <alice@example.test>; "), "{raw}");
    assert!(raw.ends_with("\r\nSubject: hi\r\n\r\n.dot\r\n"), "{raw}");
}

#[tokio::test]
async fn pipelined_transactions_answer_in_order() {
    let store = MemStore::new();
    let input = format!(
        "{EHLO}MAIL FROM:<>\r\nRCPT TO:<nobody@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n\
         x\r\n.\r\nMAIL FROM:<s@r.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\ny\r\n.\r\nQUIT\r\n"
    );
    let t = run(&store, &Opts::default(), &input).await;
    let r = replies(&t);
    assert_eq!(
        r[ehlo_lines(&t)..],
        [
            "250 2.1.0 Sender ok",
            "550 5.1.1 No such user here",
            "250 2.1.5 Recipient ok",
            "354 End data with <CR><LF>.<CR><LF>",
            "250 2.0.0 Ok: queued as ID",
            "250 2.1.0 Sender ok",
            "250 2.1.5 Recipient ok",
            "354 End data with <CR><LF>.<CR><LF>",
            "250 2.0.0 Ok: queued as ID",
            "221 2.0.0 Bye"
        ]
    );
    assert_eq!(store.delivered().len(), 2);
}

#[tokio::test]
async fn commands_out_of_sequence() {
    let store = MemStore::new();
    let input = format!(
        "MAIL FROM:<>\r\nSTARTTLS\r\n{EHLO}RCPT TO:<alice@example.test>\r\nDATA\r\nBDAT 3\r\nabcMAIL FROM:<>\r\nMAIL FROM:<>\r\n\
         DATA\r\nRSET\r\nRCPT TO:<alice@example.test>\r\nQUIT\r\n"
    );
    let t = run(&store, &Opts::default(), &input).await;
    let r = replies(&t);
    let n = ehlo_lines(&t);
    assert_eq!(
        r[..2],
        [
            "503 5.5.1 Send HELO/EHLO first",
            "503 5.5.1 Send HELO/EHLO first"
        ]
    );
    assert_eq!(
        r[2 + n..],
        [
            "503 5.5.1 Need MAIL command",
            "503 5.5.1 Need MAIL command",
            "503 5.5.1 Need MAIL command",
            "250 2.1.0 Sender ok",
            "503 5.5.1 Nested MAIL command",
            "554 5.5.1 No valid recipients",
            "250 2.0.0 Ok",
            "503 5.5.1 Need MAIL command",
            "221 2.0.0 Bye"
        ]
    );
}

#[tokio::test]
async fn recipients_policy() {
    let store = MemStore::new();
    let input = format!(
        "{EHLO}MAIL FROM:<s@r.test>\r\n\
         RCPT TO:<someone@elsewhere.test>\r\n\
         RCPT TO:<ghost@example.test>\r\n\
         RCPT TO:<ext@example.test>\r\n\
         RCPT TO:<u@[192.0.2.1]>\r\n\
         RCPT TO:<postmaster>\r\n\
         RCPT TO:<PostMaster@Example.TEST>\r\n\
         RCPT TO:<team@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;team@example.test\r\n\
         RCPT TO:<ALICE@example.test>\r\n\
         DATA\r\nhello\r\n.\r\n"
    );
    // Forwarding off, so that the alias with only a remote target is refused (the
    // default forwards it: exchanger_forwards_off_site_alias_targets_unless_turned_off).
    let mut opts = Opts::default();
    opts.config.forward_off_site_aliases = false;
    let t = run(&store, &opts, &input).await;
    let r = replies(&t);
    assert_eq!(
        r[ehlo_lines(&t)..],
        [
            "250 2.1.0 Sender ok",
            "550 5.7.1 Relaying denied",
            "550 5.1.1 No such user here",
            "550 5.3.0 Address forwards to remote addresses only; forwarding is not available",
            "550 5.7.1 Relaying denied",
            "250 2.1.5 Recipient ok",
            "250 2.1.5 Recipient ok",
            "250 2.1.5 Recipient ok",
            "250 2.1.5 Recipient ok",
            "354 End data with <CR><LF>.<CR><LF>",
            "250 2.0.0 Ok: queued as ID"
        ]
    );
    // Postmaster twice, team = alice + bob, alice again: one delivery, three accounts.
    let d = store.delivered();
    assert_eq!(d.len(), 1);
    let mut ids = d[0].0.clone();
    ids.sort();
    assert_eq!(ids, vec![AccountId(1), AccountId(2), AccountId(3)]);
    // Several recipients: no "for" clause.
    assert!(!String::from_utf8_lossy(&d[0].1).contains("for <"));
}

#[tokio::test]
async fn too_many_recipients() {
    let store = MemStore::new();
    let mut opts = Opts::default();
    opts.config.max_recipients = 2;
    let input = format!(
        "{EHLO}MAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\n\
         RCPT TO:<postmaster@example.test>\r\n"
    );
    let t = run(&store, &opts, &input).await;
    assert_eq!(t.lines().last(), Some("452 4.5.3 Too many recipients"));
}

#[tokio::test]
async fn recipient_overshoot_is_not_an_error() {
    let store = MemStore::new();
    let mut opts = Opts::default();
    opts.config.max_recipients = 1;
    opts.config.max_errors = 3;
    let mut input = format!("{EHLO}MAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\n");
    for _ in 0..10 {
        input.push_str("RCPT TO:<bob@example.test>\r\n");
    }
    input.push_str("DATA\r\nx\r\n.\r\n");
    let t = run(&store, &opts, &input).await;
    assert_eq!(t.matches("452 4.5.3 Too many recipients").count(), 10);
    assert!(t.ends_with("250 2.0.0 Ok: queued as ID"), "{t}");
}

#[tokio::test]
async fn size_limits() {
    let store = MemStore::new();
    let mut opts = Opts::default();
    opts.config.max_message_size = 100;
    let big = "x".repeat(60);
    let input = format!(
        "{EHLO}MAIL FROM:<> SIZE=101\r\nMAIL FROM:<> SIZE=100\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n\
         {big}\r\n{big}\r\n.\r\nNOOP\r\n"
    );
    let t = run(&store, &opts, &input).await;
    let r = replies(&t);
    assert_eq!(
        r[ehlo_lines(&t)..],
        [
            "552 5.3.4 Message size exceeds fixed maximum message size",
            "250 2.1.0 Sender ok",
            "250 2.1.5 Recipient ok",
            "354 End data with <CR><LF>.<CR><LF>",
            "552 5.3.4 Message size exceeds fixed maximum message size",
            "250 2.0.0 Ok"
        ]
    );
    assert!(store.delivered().is_empty());
}

#[tokio::test]
async fn quota_at_rcpt_and_at_end_of_data() {
    let store = MemStore::new();
    store.set_quota("alice", Some(1000), None);
    store.set_quota("bob", None, Some(5));
    store.set_usage(2, 0, 5);
    let body = "y".repeat(600);
    let input = format!(
        "{EHLO}MAIL FROM:<>\r\nRCPT TO:<bob@example.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n{body}\r\n.\r\n\
         MAIL FROM:<> SIZE=2000\r\nRCPT TO:<alice@example.test>\r\n"
    );
    store.set_usage(1, 500, 1);
    let t = run(&store, &Opts::default(), &input).await;
    let r = replies(&t);
    assert_eq!(
        r[ehlo_lines(&t)..],
        [
            "250 2.1.0 Sender ok",
            "452 4.2.2 Mailbox full",
            "250 2.1.5 Recipient ok",
            "354 End data with <CR><LF>.<CR><LF>",
            "552 5.2.2 Mailbox full: message exceeds quota",
            "250 2.1.0 Sender ok",
            "452 4.2.2 Mailbox full",
        ]
    );
    assert!(store.delivered().is_empty());
}

/// The store checks quota again in the transaction that delivers (another session may
/// have filled the mailbox after RCPT), and a full disk is temporary: 452 4.3.1, not 5xx.
#[tokio::test]
async fn quota_and_full_disk_found_by_the_store_at_delivery() {
    let input = format!("{EHLO}MAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nx\r\n.\r\n");
    for (error, reply) in [
        (
            (|| Error::OverQuota("alice@example.test".into())) as fn() -> Error,
            "552 5.2.2 Mailbox full: message exceeds quota",
        ),
        (
            || Error::NoSpace("below min_free_space".into()),
            "452 4.3.1 Insufficient system storage, try again later",
        ),
        (
            || Error::from(std::io::Error::from_raw_os_error(28)),
            "452 4.3.1 Insufficient system storage, try again later",
        ),
    ] {
        let store = MemStore::new();
        store.inner.lock().unwrap().deliver_error = Some(error);
        let t = run(&store, &Opts::default(), &input).await;
        assert_eq!(t.lines().last(), Some(reply), "{t}");
    }
}

#[tokio::test]
async fn store_failure_is_a_temporary_error() {
    let store = MemStore::new();
    store.inner.lock().unwrap().fail_deliver = true;
    let input = format!("{EHLO}MAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nx\r\n.\r\n");
    let t = run(&store, &Opts::default(), &input).await;
    assert_eq!(
        t.lines().last(),
        Some("451 4.3.0 Local error in processing, try again later")
    );
}

#[tokio::test]
async fn smuggled_message_is_refused_whole() {
    let store = MemStore::new();
    let input = format!(
        "{EHLO}MAIL FROM:<a@r.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nhi\n.\n\
         MAIL FROM:<ceo@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nforged\r\n.\r\nNOOP\r\n"
    );
    let t = run(&store, &Opts::default(), &input).await;
    let r = replies(&t);
    assert_eq!(
        r[ehlo_lines(&t) + 2..],
        [
            "354 End data with <CR><LF>.<CR><LF>",
            "550 5.5.2 Error: bare <CR> or <LF> received",
            "250 2.0.0 Ok"
        ]
    );
    assert!(store.delivered().is_empty());
}

#[tokio::test]
async fn bdat_chunks() {
    let store = MemStore::new();
    let input = format!(
        "{EHLO}MAIL FROM:<> BODY=BINARYMIME\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n\
         BDAT 8\r\nA: b\r\n\r\nBDAT 3\r\nx\ny\
         BDAT 0 LAST\r\nNOOP\r\n"
    );
    let t = run(&store, &Opts::default(), &input).await;
    let r = replies(&t);
    assert_eq!(
        r[ehlo_lines(&t)..],
        [
            "250 2.1.0 Sender ok",
            "250 2.1.5 Recipient ok",
            "503 5.5.1 BODY=BINARYMIME requires BDAT",
            "250 2.0.0 8 octets received",
            "250 2.0.0 3 octets received",
            "250 2.0.0 Ok: queued as ID",
            "250 2.0.0 Ok"
        ]
    );
    let d = store.delivered();
    assert!(
        d[0].1.ends_with(b"\r\nA: b\r\n\r\nx\ny"),
        "{:?}",
        String::from_utf8_lossy(&d[0].1)
    );
}

#[tokio::test]
async fn bdat_refusals_still_read_the_chunk() {
    let store = MemStore::new();
    let mut opts = Opts::default();
    opts.config.max_message_size = 10;
    let input = format!(
        "{EHLO}BDAT 6\r\nRSET\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\nBDAT 6\r\nQUIT\r\nBDAT 5 LAST\r\nhelloBDAT 3\r\nabcNOOP\r\n\
         MAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\nBDAT 2\r\nabDATA\r\nBDAT 3 LAST\r\na\nb"
    );
    let t = run(&store, &opts, &input).await;
    let r = replies(&t);
    assert_eq!(
        r[ehlo_lines(&t)..],
        [
            "503 5.5.1 Need MAIL command",
            "250 2.1.0 Sender ok",
            "250 2.1.5 Recipient ok",
            "250 2.0.0 6 octets received",
            "552 5.3.4 Message size exceeds fixed maximum message size",
            "503 5.5.1 Need MAIL command",
            "250 2.0.0 Ok",
            "250 2.1.0 Sender ok",
            "250 2.1.5 Recipient ok",
            "250 2.0.0 2 octets received",
            "503 5.5.1 DATA after BDAT",
            "550 5.5.2 Error: bare <CR> or <LF> received",
        ]
    );
    assert!(store.delivered().is_empty());
}

#[tokio::test]
async fn bdat_with_a_bad_size_closes() {
    let store = MemStore::new();
    let t = run(
        &store,
        &Opts::default(),
        &format!("{EHLO}BDAT many\r\nNOOP\r\n"),
    )
    .await;
    assert!(t.ends_with("501 5.5.4 Syntax: BDAT count [LAST]\n421 4.7.0 mx.example.test Too many errors, closing"), "{t}");
}

#[tokio::test]
async fn smtputf8() {
    let store = MemStore::new();
    let input = format!(
        "{EHLO}MAIL FROM:<jörg@bücher.test>\r\nMAIL FROM:<jörg@bücher.test> SMTPUTF8\r\n\
         RCPT TO:<jörg@example.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nx\r\n.\r\n\
         MAIL FROM:<a@b.test>\r\nRCPT TO:<jörg@example.test>\r\n"
    );
    let t = run(&store, &Opts::default(), &input).await;
    let r = replies(&t);
    assert_eq!(
        r[ehlo_lines(&t)..],
        [
            "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter",
            "250 2.1.0 Sender ok",
            "550 5.1.1 No such user here",
            "250 2.1.5 Recipient ok",
            "354 End data with <CR><LF>.<CR><LF>",
            "250 2.0.0 Ok: queued as ID",
            "250 2.1.0 Sender ok",
            "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter",
        ]
    );
    let raw = String::from_utf8(store.delivered()[0].1.clone()).unwrap();
    assert!(raw.starts_with("Return-Path: <jörg@bücher.test>\r\n"));
    assert!(raw.contains(" with UTF8SMTP id "));
}

#[tokio::test]
async fn starttls_discards_pipelined_plaintext_and_resets() {
    let store = MemStore::new();
    let input =
        format!("{EHLO}STARTTLS\r\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<alice@example.test>\r\n");
    for size in SIZES {
        let t = transcript(&store, &Opts::default(), input.as_bytes(), size).await;
        let r = replies(&t);
        let n = ehlo_lines(&t);
        assert_eq!(r[n], "220 2.0.0 Ready to start TLS");
        // Nothing pipelined behind STARTTLS was executed; what was buffered was dropped.
        assert!(r[n + 1].starts_with("<TLS, discarded "), "{t}");
        assert_eq!(r.len(), n + 2, "{t}");
    }

    // After the handshake: EHLO again, no STARTTLS offered, a second STARTTLS is 503.
    let tls = Opts {
        tls: true,
        can_starttls: false,
        ..Opts::default()
    };
    let t = run(&store, &tls, &format!("MAIL FROM:<>\r\n{EHLO}STARTTLS\r\n")).await;
    assert!(!t.contains("STARTTLS\n"));
    let r = replies(&t);
    assert_eq!(r[0], "503 5.5.1 Send HELO/EHLO first");
    assert_eq!(r.last(), Some(&"503 5.5.1 TLS already active"));
}

#[tokio::test]
async fn starttls_in_a_transaction_and_without_certificate() {
    let store = MemStore::new();
    let t = run(
        &store,
        &Opts::default(),
        &format!("{EHLO}MAIL FROM:<>\r\nSTARTTLS\r\n"),
    )
    .await;
    assert_eq!(
        t.lines().last(),
        Some("503 5.5.1 Mail transaction in progress")
    );
    let no_cert = Opts {
        can_starttls: false,
        ..Opts::default()
    };
    let t = run(&store, &no_cert, &format!("{EHLO}STARTTLS\r\n")).await;
    assert_eq!(t.lines().last(), Some("502 5.5.1 STARTTLS not implemented"));
}

#[tokio::test]
async fn other_verbs() {
    let store = MemStore::new();
    let input = "VRFY alice\r\nEXPN team\r\nHELP\r\nNOOP\r\nSEND FROM:<a@b.test>\r\nSOML\r\nSAML\r\nTURN\r\nFOO\r\nRSET\r\nQUIT\r\nNOOP\r\n";
    let t = run(&store, &Opts::default(), input).await;
    assert_eq!(
        replies(&t),
        [
            "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery",
            "502 5.5.1 EXPN not implemented",
            "214-2.0.0 Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS",
            "214 2.0.0 See RFC 5321; mail for this host only, no relaying",
            "250 2.0.0 Ok",
            "502 5.5.1 SEND not implemented",
            "502 5.5.1 SOML not implemented",
            "502 5.5.1 SAML not implemented",
            "502 5.5.1 TURN not implemented",
            "500 5.5.2 Command unrecognized",
            "250 2.0.0 Ok",
            "221 2.0.0 Bye",
        ]
    );
}

#[tokio::test]
async fn too_many_errors_closes() {
    let store = MemStore::new();
    let mut opts = Opts::default();
    opts.config.max_errors = 3;
    let t = run(&store, &opts, "FOO\r\nBAR\r\nNOOP\r\nBAZ\r\nNOOP\r\n").await;
    assert_eq!(
        replies(&t),
        [
            "500 5.5.2 Command unrecognized",
            "500 5.5.2 Command unrecognized",
            "250 2.0.0 Ok",
            "500 5.5.2 Command unrecognized",
            "421 4.7.0 mx.example.test Too many errors, closing",
        ]
    );
}

#[tokio::test]
async fn junk_commands_count_as_errors_past_the_limit() {
    let store = MemStore::new();
    let mut opts = Opts::default();
    opts.config.max_errors = 2;
    opts.config.max_junk_commands = 2;
    let t = run(&store, &opts, "NOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\n").await;
    assert_eq!(
        replies(&t),
        [
            "250 2.0.0 Ok",
            "250 2.0.0 Ok",
            "250 2.0.0 Ok",
            "250 2.0.0 Ok",
            "421 4.7.0 mx.example.test Too many errors, closing"
        ]
    );
    // A delivered message starts the junk count over.
    let input = format!(
        "NOOP\r\nNOOP\r\n{EHLO}MAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nx\r\n.\r\n\
         NOOP\r\nNOOP\r\nQUIT\r\n"
    );
    let t = run(&store, &opts, &input).await;
    assert!(
        t.ends_with("250 2.0.0 Ok\n250 2.0.0 Ok\n221 2.0.0 Bye"),
        "{t}"
    );
}

#[tokio::test]
async fn long_command_lines() {
    let store = MemStore::new();
    let mut opts = Opts::default();
    opts.config.max_line_len = 512;
    let long = format!("NOOP {}\r\nNOOP\r\n", "x".repeat(600));
    let t = run(&store, &opts, &long).await;
    assert_eq!(replies(&t), ["500 5.5.2 Line too long", "250 2.0.0 Ok"]);
}

#[tokio::test]
async fn long_data_lines() {
    let store = MemStore::new();
    let mut opts = Opts::default();
    opts.config.max_data_line_len = 50;
    let input = format!(
        "{EHLO}MAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n{}\r\n.\r\nNOOP\r\n",
        "z".repeat(51)
    );
    let t = run(&store, &opts, &input).await;
    assert!(
        t.ends_with("550 5.6.0 Message line longer than 50 octets\n250 2.0.0 Ok"),
        "{t}"
    );
}

#[tokio::test]
async fn nul_around_the_dot_does_not_end_data() {
    let store = MemStore::new();
    let input = format!(
        "{EHLO}MAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\na\r\n\0.\r\n.\0\r\nQUIT\r\n.\r\n"
    );
    let t = run(&store, &Opts::default(), &input).await;
    assert!(t.ends_with("250 2.0.0 Ok: queued as ID"), "{t}");
    let raw = store.delivered()[0].1.clone();
    assert!(raw.ends_with(b"\r\na\r\n\0.\r\n\0\r\nQUIT\r\n"));
}

// ---- submission (RFC 6409, RFC 4954) ----

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

fn plain(user: &str, pw: &str) -> String {
    b64(&format!("\0{user}\0{pw}"))
}

#[tokio::test]
async fn submission_offers_auth_only_where_passwords_are_safe() {
    let store = MemStore::new();
    let t = run(&store, &Opts::submission(), EHLO).await;
    assert!(
        t.contains("250-AUTH PLAIN LOGIN\r\n") || t.contains("250-AUTH PLAIN LOGIN\n"),
        "{t}"
    );
    // Plain, not loopback: no AUTH; AUTH and MAIL ask for STARTTLS first.
    let opts = Opts {
        mode: Mode::Submission,
        ..Default::default()
    };
    let t = run(
        &store,
        &opts,
        &format!(
            "{EHLO}AUTH PLAIN {}\r\nMAIL FROM:<alice@example.test>\r\n",
            plain("alice@example.test", "alice-pw")
        ),
    )
    .await;
    assert!(!t.contains("AUTH PLAIN LOGIN"), "{t}");
    assert!(
        t.contains(
            "530 5.7.0 Must issue a STARTTLS command first\n530 5.7.0 Must issue a STARTTLS"
        ),
        "{t}"
    );
    // Plain from loopback: offered (allow_loopback_plaintext defaults to true).
    let opts = Opts {
        mode: Mode::Submission,
        peer: "127.0.0.1:5000",
        ..Default::default()
    };
    let t = run(&store, &opts, EHLO).await;
    assert!(t.contains("AUTH PLAIN LOGIN"), "{t}");
    // ... unless the config says no.
    let mut opts = opts;
    opts.submission.allow_loopback_plaintext = false;
    opts.can_starttls = false;
    let t = run(&store, &opts, &format!("{EHLO}AUTH LOGIN\r\n")).await;
    assert!(!t.contains("AUTH PLAIN LOGIN"), "{t}");
    assert!(
        t.ends_with("538 5.7.11 Encryption required for requested authentication mechanism"),
        "{t}"
    );
    // The mail exchanger never offers AUTH, even over TLS.
    let opts = Opts {
        tls: true,
        ..Default::default()
    };
    let t = run(
        &store,
        &opts,
        &format!(
            "{EHLO}AUTH PLAIN {}\r\n",
            plain("alice@example.test", "alice-pw")
        ),
    )
    .await;
    assert!(!t.contains("AUTH PLAIN LOGIN"), "{t}");
    assert!(t.ends_with("502 5.5.1 AUTH not implemented"), "{t}");
}

#[tokio::test]
async fn submission_auth_plain_then_relay_to_the_queue() {
    let store = MemStore::new();
    let input = format!(
        "{EHLO}MAIL FROM:<alice@example.test>\r\nAUTH PLAIN {}\r\nMAIL FROM:<alice@example.test> RET=HDRS ENVID=e1\r\n\
         RCPT TO:<carol@remote.example> NOTIFY=FAILURE,DELAY\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n\
         From: alice@example.test\r\nTo: carol@remote.example\r\nBcc: secret@remote.example\r\nSubject: hi\r\n\r\nHello\r\n.\r\nQUIT\r\n",
        plain("alice@example.test", "alice-pw")
    );
    let t = run(&store, &Opts::submission(), &input).await;
    let r = replies(&t);
    let tail: Vec<_> = r
        .iter()
        .skip_while(|l| l.starts_with("250-") || l.starts_with("250 HELP"))
        .copied()
        .collect();
    assert_eq!(
        tail,
        [
            "530 5.7.0 Authentication required",
            "235 2.7.0 Authentication successful",
            "250 2.1.0 Sender ok",
            "250 2.1.5 Recipient ok",
            "250 2.1.5 Recipient ok",
            "354 End data with <CR><LF>.<CR><LF>",
            "250 2.0.0 Ok: queued as ID",
            "221 2.0.0 Bye",
        ],
        "{t}"
    );
    // The remote recipient is queued once, with its DSN parameters ...
    let queued = store.queued();
    assert_eq!(queued.len(), 1);
    let (raw, env) = &queued[0];
    assert_eq!(env.sender, "alice@example.test");
    assert_eq!(env.ret.as_deref(), Some("HDRS"));
    assert_eq!(env.envid.as_deref(), Some("e1"));
    assert_eq!(env.recipients.len(), 1);
    assert_eq!(env.recipients[0].address, "carol@remote.example");
    assert_eq!(env.recipients[0].notify.as_deref(), Some("FAILURE,DELAY"));
    // ... fixed up (RFC 6409 §8): Received with ESMTPSA, Date and Message-ID added,
    // Bcc gone, and no Return-Path (that is for final delivery).
    let raw = String::from_utf8_lossy(raw);
    assert!(raw.starts_with("Received: from client.example ([192.0.2.9])\r\n\tby mx.example.test (Wharf) with ESMTPSA id "), "{raw}");
    assert!(raw.contains("\r\nDate: "), "{raw}");
    assert!(raw.contains("\r\nMessage-ID: <"), "{raw}");
    assert!(!raw.contains("Bcc") && !raw.contains("secret@"), "{raw}");
    assert!(!raw.contains("Return-Path"), "{raw}");
    assert!(raw.ends_with("\r\n\r\nHello\r\n"), "{raw}");
    // The local recipient got it at once, with a Return-Path.
    let delivered = store.delivered();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].0, vec![AccountId(2)]);
    let local = String::from_utf8_lossy(&delivered[0].1);
    assert!(
        local.starts_with("Return-Path: <alice@example.test>\r\nReceived: "),
        "{local}"
    );
    assert!(!local.contains("secret@"), "{local}");
}

#[tokio::test]
async fn submission_auth_login_with_challenges_and_cancel() {
    let store = MemStore::new();
    let input = format!(
        "{EHLO}AUTH LOGIN\r\n*\r\nAUTH LOGIN\r\n{}\r\n{}\r\nAUTH LOGIN\r\nMAIL FROM:<team@example.test>\r\n",
        b64("bob@example.test"),
        b64("bob-pw")
    );
    let t = run(&store, &Opts::submission(), &input).await;
    let r: Vec<_> = replies(&t)
        .into_iter()
        .filter(|l| !l.starts_with("250-") && *l != "250 HELP")
        .collect();
    assert_eq!(
        r,
        [
            "334 VXNlcm5hbWU6",
            "501 5.0.0 Authentication cancelled",
            "334 VXNlcm5hbWU6",
            "334 UGFzc3dvcmQ6",
            "235 2.7.0 Authentication successful",
            "503 5.5.1 Already authenticated",
            // bob may send as the alias team@, which reaches him.
            "250 2.1.0 Sender ok",
        ],
        "{t}"
    );
}

#[tokio::test]
async fn submission_bad_credentials_535_then_421() {
    let store = MemStore::new();
    let bad = plain("alice@example.test", "wrong");
    let input = format!(
        "{EHLO}AUTH PLAIN {bad}\r\nAUTH PLAIN\r\n{bad}\r\nAUTH PLAIN {}\r\nNOOP\r\n",
        plain("nobody@example.test", "x")
    );
    let t = run(&store, &Opts::submission(), &input).await;
    let r: Vec<_> = replies(&t)
        .into_iter()
        .filter(|l| !l.starts_with("250-") && *l != "250 HELP")
        .collect();
    assert_eq!(
        r,
        [
            "535 5.7.8 Authentication credentials invalid",
            "334 ",
            "535 5.7.8 Authentication credentials invalid",
            "535 5.7.8 Authentication credentials invalid",
            "421 4.7.0 mx.example.test Too many failed logins, closing",
        ],
        "{t}"
    );
    // Bad base64 and malformed PLAIN are syntax errors, not credential failures.
    let t = run(
        &store,
        &Opts::submission(),
        &format!(
            "{EHLO}AUTH PLAIN !!!\r\nAUTH PLAIN {}\r\nAUTH CRAM-MD5\r\n",
            b64("nonul")
        ),
    )
    .await;
    assert!(t.contains("501 5.5.2 Cannot decode response\n501 5.5.4 Malformed PLAIN response\n504 5.5.4 Unrecognized authentication type"), "{t}");
}

#[tokio::test]
async fn submission_per_ip_throttle_refuses_before_checking() {
    let store = MemStore::new();
    let mut opts = Opts::submission();
    opts.submission.max_auth_failures_per_ip = 2;
    opts.submission.max_auth_failures = 10;
    let bad = plain("alice@example.test", "wrong");
    let good = plain("alice@example.test", "alice-pw");
    let t = run(
        &store,
        &opts,
        &format!("{EHLO}AUTH PLAIN {bad}\r\nAUTH PLAIN {bad}\r\nAUTH PLAIN {good}\r\n"),
    )
    .await;
    assert!(t.ends_with("535 5.7.8 Authentication credentials invalid\n454 4.7.0 Too many failed logins, try again later"), "{t}");
    // Per account, from any address.
    let mut opts = Opts::submission();
    opts.submission.max_auth_failures_per_account = 1;
    let t = run(
        &store,
        &opts,
        &format!("{EHLO}AUTH PLAIN {bad}\r\nAUTH PLAIN {good}\r\n"),
    )
    .await;
    assert!(
        t.ends_with("454 4.7.0 Too many failed logins, try again later"),
        "{t}"
    );
}

#[tokio::test]
async fn submission_sender_must_belong_to_the_user() {
    let store = MemStore::new();
    let input = format!(
        "{EHLO}AUTH PLAIN {}\r\nMAIL FROM:<bob@example.test>\r\nMAIL FROM:<>\r\nMAIL FROM:<alice@elsewhere.test>\r\nMAIL FROM:<ALICE@example.test>\r\nRCPT TO:<nobody@example.test>\r\n",
        plain("alice@example.test", "alice-pw")
    );
    let t = run(&store, &Opts::submission(), &input).await;
    assert!(
        t.ends_with(
            "235 2.7.0 Authentication successful\n\
             553 5.7.1 Sender address rejected: not owned by the authenticated user\n\
             553 5.7.1 Sender address rejected: not owned by the authenticated user\n\
             553 5.7.1 Sender address rejected: not owned by the authenticated user\n\
             250 2.1.0 Sender ok\n\
             550 5.1.1 No such user here"
        ),
        "{t}"
    );
}

#[tokio::test]
async fn submission_queues_off_site_alias_targets_with_orcpt() {
    let store = MemStore::new();
    let input = format!(
        "{EHLO}AUTH PLAIN {}\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<ext@example.test>\r\nDATA\r\nSubject: x\r\n\r\nx\r\n.\r\n",
        plain("alice@example.test", "alice-pw")
    );
    let t = run(&store, &Opts::submission(), &input).await;
    assert!(t.ends_with("250 2.0.0 Ok: queued as ID"), "{t}");
    let q = store.queued();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].1.recipients[0].address, "someone@elsewhere.test");
    assert_eq!(
        q[0].1.recipients[0].orcpt.as_deref(),
        Some("rfc822;ext@example.test")
    );
    assert!(store.delivered().is_empty());
}

#[tokio::test]
async fn submission_starttls_forgets_authentication() {
    let store = MemStore::new();
    let opts = Opts {
        mode: Mode::Submission,
        peer: "127.0.0.1:5000",
        ..Default::default()
    };
    let t = run(
        &store,
        &opts,
        &format!(
            "{EHLO}AUTH PLAIN {}\r\nSTARTTLS\r\n",
            plain("alice@example.test", "alice-pw")
        ),
    )
    .await;
    assert!(t.contains("235 2.7.0"), "{t}");
    assert!(
        t.ends_with("220 2.0.0 Ready to start TLS\n<TLS, discarded 0>"),
        "{t}"
    );
}

// ---- mail-authentication hooks ----

struct FakeSigner;

impl crate::hooks::DkimSigner for FakeSigner {
    fn sign(&self, domain: &str, message: &[u8]) -> Option<Vec<u8>> {
        // Signs what it is given: the fixed-up message (Date already there).
        let has_date = message.windows(6).any(|w| w == b"Date: ");
        Some(format!("DKIM-Signature: d={domain}; date-seen={has_date}\r\n").into_bytes())
    }
}

struct FakeCheck;

#[async_trait::async_trait]
impl crate::hooks::InboundCheck for FakeCheck {
    async fn connect(&self, _: std::net::IpAddr) -> Option<String> {
        None
    }
    async fn message(
        &self,
        _: std::net::IpAddr,
        helo: &str,
        from: &str,
        message: &[u8],
        host: &str,
    ) -> crate::hooks::InboundVerdict {
        let text = String::from_utf8_lossy(message);
        if text.contains("From: evil") {
            return crate::hooks::InboundVerdict {
                reject: Some("5.7.1 DMARC policy says reject".into()),
                ..Default::default()
            };
        }
        crate::hooks::InboundVerdict {
            prepend: format!(
                "Authentication-Results: {host}; spf=pass smtp.mailfrom={from} smtp.helo={helo}\r\n"
            )
            .into_bytes(),
            reject: None,
            cleaned: Some(text.replace("X-Forged: yes\r\n", "").into_bytes()),
        }
    }
}

#[tokio::test]
async fn submission_signs_with_the_sender_domain() {
    let store = MemStore::new();
    let mut opts = Opts::submission();
    opts.hooks.signer = Some(Arc::new(FakeSigner));
    let input = format!(
        "{EHLO}AUTH PLAIN {}\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<x@remote.example>\r\nDATA\r\nSubject: s\r\n\r\nb\r\n.\r\n",
        plain("alice@example.test", "alice-pw")
    );
    let t = run(&store, &opts, &input).await;
    assert!(t.ends_with("250 2.0.0 Ok: queued as ID"), "{t}");
    let raw = String::from_utf8(store.queued()[0].0.clone()).unwrap();
    let after_received = raw
        .split_once("\r\nDKIM-Signature: ")
        .map(|x| x.1)
        .unwrap_or("");
    assert!(
        after_received.starts_with("d=example.test; date-seen=true\r\nSubject: s\r\n"),
        "{raw}"
    );
}

#[tokio::test]
async fn exchanger_applies_the_inbound_verdict() {
    let store = MemStore::new();
    let opts = Opts {
        hooks: crate::hooks::Hooks {
            inbound: Some(Arc::new(FakeCheck)),
            ..Default::default()
        },
        ..Default::default()
    };
    let mail = |from: &str| {
        format!(
            "{EHLO}MAIL FROM:<s@remote.example>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nFrom: {from}\r\nX-Forged: yes\r\n\r\nb\r\n.\r\n"
        )
    };
    let t = run(&store, &opts, &mail("evil@remote.example")).await;
    assert!(t.ends_with("550 5.7.1 DMARC policy says reject"), "{t}");
    assert!(store.delivered().is_empty());
    let t = run(&store, &opts, &mail("good@remote.example")).await;
    assert!(t.ends_with("250 2.0.0 Ok: queued as ID"), "{t}");
    let raw = String::from_utf8(store.delivered()[0].1.clone()).unwrap();
    assert!(raw.contains("\r\nAuthentication-Results: mx.example.test; spf=pass smtp.mailfrom=s@remote.example smtp.helo=client.example\r\nFrom: good@remote.example\r\n\r\nb\r\n"), "{raw}");
}

#[tokio::test]
async fn exchanger_forwards_off_site_alias_targets_unless_turned_off() {
    let store = MemStore::new();
    let input = format!(
        "{EHLO}MAIL FROM:<s@remote.example>\r\nRCPT TO:<ext@example.test>\r\nDATA\r\nSubject: fwd\r\n\r\nb\r\n.\r\n"
    );
    let mut off = Opts::default();
    off.config.forward_off_site_aliases = false;
    let t = run(&store, &off, &input).await;
    assert!(t.contains("550 5.3.0"), "{t}");
    assert!(store.queued().is_empty());
    let t = run(&store, &Opts::default(), &input).await;
    assert!(t.ends_with("250 2.0.0 Ok: queued as ID"), "{t}");
    let q = store.queued();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].1.sender, "s@remote.example");
    assert_eq!(q[0].1.recipients[0].address, "someone@elsewhere.test");
    assert_eq!(
        q[0].1.recipients[0].orcpt.as_deref(),
        Some("rfc822;ext@example.test")
    );
    let raw = String::from_utf8_lossy(&q[0].0);
    assert!(
        raw.starts_with("Received: from client.example ") && raw.ends_with("\r\n\r\nb\r\n"),
        "{raw}"
    );
    assert!(store.delivered().is_empty());
}

#[tokio::test]
async fn mail_loops_are_refused_at_100_received_fields() {
    let store = MemStore::new();
    let hops = |n: usize| "Received: from x by y; date\r\n".repeat(n);
    let msg = |n: usize| {
        format!(
            "{EHLO}MAIL FROM:<s@remote.example>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n{}Subject: loop\r\n\r\nb\r\n.\r\n",
            hops(n)
        )
    };
    let t = run(&store, &Opts::default(), &msg(100)).await;
    assert!(
        t.ends_with("554 5.4.6 Too many hops: mail loop detected"),
        "{t}"
    );
    assert!(store.delivered().is_empty());
    let t = run(&store, &Opts::default(), &msg(99)).await;
    assert!(t.ends_with("250 2.0.0 Ok: queued as ID"), "{t}");
}
