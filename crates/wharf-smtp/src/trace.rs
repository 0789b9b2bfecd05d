//! Trace headers added at final delivery: `Return-Path:` (RFC 5321 §4.4, the envelope
//! sender) and `Received:` (RFC 5321 §4.4 syntax, RFC 3848 / RFC 6531 §3.7.3 protocol
//! names), and the queue id that names a message in replies and logs.

use crate::session::{Helo, Transaction};
use std::net::IpAddr;
use wharf_store::queue::QueueId;

/// What the trace headers are made from.
pub struct TraceInfo<'a> {
    pub id: &'a str,
    pub hostname: &'a str,
    pub helo: &'a Helo,
    pub peer: IpAddr,
    pub tls: bool,
    pub tx: &'a Transaction,
    pub now: chrono::DateTime<chrono::Utc>,
    /// The client authenticated (RFC 3848 `A` suffix).
    pub authenticated: bool,
}

/// A new message's id (see [`QueueId`]): the one its 250 reply, its `Received:` field,
/// every log line and `wharf queue` show, and the key of its queue entry if it has one.
pub fn queue_id() -> QueueId {
    QueueId::generate()
}

/// RFC 5321 §4.1.3: `[192.0.2.1]` or `[IPv6:2001:db8::1]`.
pub fn address_literal(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => format!("[{v4}]"),
        IpAddr::V6(v6) => format!("[IPv6:{v6}]"),
    }
}

/// RFC 3848 and RFC 6531 §3.7.3 "with" values.
pub fn protocol(helo: &Helo, tls: bool, smtputf8: bool, auth: bool) -> &'static str {
    match (helo.esmtp, smtputf8, tls, auth) {
        (false, _, _, _) => "SMTP",
        (true, false, false, false) => "ESMTP",
        (true, false, true, false) => "ESMTPS",
        (true, false, false, true) => "ESMTPA",
        (true, false, true, true) => "ESMTPSA",
        (true, true, false, false) => "UTF8SMTP",
        (true, true, true, false) => "UTF8SMTPS",
        (true, true, false, true) => "UTF8SMTPA",
        (true, true, true, true) => "UTF8SMTPSA",
    }
}

/// `Return-Path:` then `Received:`, each ending in CRLF, folded as Postfix does.
pub fn headers(t: &TraceInfo<'_>) -> Vec<u8> {
    let mut out = format!("Return-Path: <{}>\r\n", t.tx.from).into_bytes();
    out.extend_from_slice(&received(t));
    out
}

/// `Return-Path:` alone (final delivery of a submitted message, whose `Received:` is
/// already in place).
pub fn return_path(tx: &Transaction) -> Vec<u8> {
    format!("Return-Path: <{}>\r\n", tx.from).into_bytes()
}

/// The `Received:` header alone, ending in CRLF.
pub fn received(t: &TraceInfo<'_>) -> Vec<u8> {
    // The client's name goes into a header: no control characters, and no 8-bit text
    // unless the transaction is SMTPUTF8 (RFC 6532 headers are allowed there).
    let utf8 = t.tx.params.smtputf8;
    let helo: String = t
        .helo
        .name
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c.is_ascii() || utf8 { c } else { '?' })
        .collect();
    let mut out = String::new();
    out.push_str(&format!(
        "Received: from {helo} ({})\r\n\tby {} (Wharf) with {} id {}",
        address_literal(t.peer),
        t.hostname,
        protocol(t.helo, t.tls, t.tx.params.smtputf8, t.authenticated),
        t.id,
    ));
    // RFC 5321 §7.2: "for" names the recipient only when there is exactly one, so a
    // copy does not reveal the other (perhaps Bcc) recipients.
    if let [only] = t.tx.recipients.as_slice() {
        out.push_str(&format!("\r\n\tfor <{}>", only.address));
    }
    out.push_str(&format!("; {}\r\n", t.now.to_rfc2822()));
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{MailParams, ReversePath};
    use crate::session::Recipient;
    use wharf_store::Address;

    fn tx(from: ReversePath, rcpts: &[&str], smtputf8: bool) -> Transaction {
        Transaction {
            from,
            params: MailParams {
                smtputf8,
                ..Default::default()
            },
            recipients: rcpts
                .iter()
                .map(|r| Recipient {
                    address: Address::parse(r).unwrap(),
                    params: Default::default(),
                })
                .collect(),
            accounts: vec![],
            remote: vec![],
        }
    }

    #[test]
    fn return_path_and_received() {
        let helo = Helo {
            name: "client.example".into(),
            esmtp: true,
        };
        let from = crate::proto::path::parse_mailbox("a@b.example").unwrap();
        let tx = tx(ReversePath::Mailbox(from), &["u@mx.example"], false);
        let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let h = headers(&TraceInfo {
            id: "ABC",
            hostname: "mx.example",
            helo: &helo,
            peer: "192.0.2.7".parse().unwrap(),
            tls: true,
            tx: &tx,
            now,
            authenticated: false,
        });
        assert_eq!(
            String::from_utf8(h).unwrap(),
            "Return-Path: <a@b.example>\r\n\
             Received: from client.example ([192.0.2.7])\r\n\
             \tby mx.example (Wharf) with ESMTPS id ABC\r\n\
             \tfor <u@mx.example>; Tue, 14 Nov 2023 22:13:20 +0000\r\n"
        );
    }

    #[test]
    fn null_sender_and_several_recipients() {
        let helo = Helo {
            name: "c".into(),
            esmtp: false,
        };
        let tx = tx(ReversePath::Null, &["u@mx.example", "v@mx.example"], false);
        let h = String::from_utf8(headers(&TraceInfo {
            id: "X",
            hostname: "mx",
            helo: &helo,
            peer: "::1".parse().unwrap(),
            tls: false,
            tx: &tx,
            now: chrono::Utc::now(),
            authenticated: false,
        }))
        .unwrap();
        assert!(h.starts_with("Return-Path: <>\r\nReceived: from c ([IPv6:::1])\r\n\tby mx (Wharf) with SMTP id X; "), "{h}");
        assert!(!h.contains("for <"));
    }

    #[test]
    fn helo_name_is_sanitised() {
        let helo = Helo {
            name: "bücher\u{7f}.test".into(),
            esmtp: true,
        };
        let info = |tx: &Transaction| {
            String::from_utf8(headers(&TraceInfo {
                id: "X",
                hostname: "mx",
                helo: &helo,
                peer: "192.0.2.1".parse().unwrap(),
                tls: false,
                tx,
                now: chrono::Utc::now(),
                authenticated: false,
            }))
            .unwrap()
        };
        assert!(info(&tx(ReversePath::Null, &[], false)).contains("from b?cher.test "));
        assert!(info(&tx(ReversePath::Null, &[], true)).contains("from bücher.test "));
    }

    #[test]
    fn protocol_names() {
        let e = Helo {
            name: "x".into(),
            esmtp: true,
        };
        assert_eq!(protocol(&e, false, false, false), "ESMTP");
        assert_eq!(protocol(&e, true, true, false), "UTF8SMTPS");
        assert_eq!(protocol(&e, true, false, true), "ESMTPSA");
        assert_eq!(protocol(&e, false, false, true), "ESMTPA");
        assert_eq!(protocol(&e, true, true, true), "UTF8SMTPSA");
        assert_eq!(
            address_literal("::ffff:10.0.0.1".parse().unwrap()),
            "[10.0.0.1]"
        );
    }

    #[test]
    fn queue_ids_differ() {
        assert_ne!(queue_id(), queue_id());
    }
}
