//! Delivery status notifications (RFC 3464 format, RFC 3461 semantics): the
//! multipart/report a sender gets when the queue gives up on (or is slow with) some of
//! its recipients.

/// RFC 3461 §4: xtext-encodes a value ("+" and "=" and anything outside 33..126 as
/// `+XX`). Non-ASCII octets are encoded too, so the result is always ASCII.
pub fn xtext(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (33..=126).contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

/// Decodes xtext; malformed escapes are kept as they are.
pub fn unxtext(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'+'
            && i + 2 < b.len()
            && let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// RFC 3464 §2.3.3 Action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Failed,
    Delayed,
    Delivered,
    Relayed,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Failed => "failed",
            Action::Delayed => "delayed",
            Action::Delivered => "delivered",
            Action::Relayed => "relayed",
        }
    }
}

/// One per-recipient block of the report.
#[derive(Debug, Clone)]
pub struct RecipientReport {
    pub address: String,
    /// The ORCPT parameter as queued, `type;xtext`.
    pub orcpt: Option<String>,
    pub action: Action,
    /// RFC 3463 status, e.g. `5.1.1`.
    pub status: String,
    /// The remote server's reply (or our reason), one line.
    pub diagnostic: Option<String>,
    pub remote_mta: Option<String>,
}

/// What the report is about.
pub struct Report<'a> {
    /// Our host name (Reporting-MTA, From: MAILER-DAEMON@).
    pub hostname: &'a str,
    /// The envelope sender the report goes to.
    pub to: &'a str,
    /// RFC 3461 ENVID as queued (xtext).
    pub envid: Option<&'a str>,
    /// When the message was queued.
    pub arrival: chrono::DateTime<chrono::Utc>,
    pub now: chrono::DateTime<chrono::Utc>,
    pub recipients: &'a [RecipientReport],
    /// The original message (with its headers).
    pub original: &'a [u8],
    /// RET=HDRS: return only the header.
    pub headers_only: bool,
}

/// Whether RFC 3461 NOTIFY asks for a report of this kind. No NOTIFY: failures are
/// reported, delays too (when the server sends delay warnings at all).
pub fn wanted(notify: Option<&str>, action: Action) -> bool {
    let Some(n) = notify else {
        return matches!(action, Action::Failed | Action::Delayed);
    };
    let n = n.to_ascii_uppercase();
    let has = |w: &str| n.split(',').any(|x| x.trim() == w);
    if has("NEVER") {
        return false;
    }
    match action {
        Action::Failed => has("FAILURE"),
        Action::Delayed => has("DELAY"),
        Action::Delivered | Action::Relayed => has("SUCCESS"),
    }
}

/// Builds the multipart/report (RFC 3462/6522) with a message/delivery-status part
/// (RFC 3464) and the original message or its header (RFC 3461 §4.3 RET).
pub fn build(r: &Report<'_>) -> Vec<u8> {
    let boundary = format!("{:x}/{}", rand::random::<u64>(), r.hostname);
    let any_failed = r.recipients.iter().any(|x| x.action == Action::Failed);
    let subject = if any_failed {
        "Undelivered Mail Returned to Sender"
    } else if r.recipients.iter().any(|x| x.action == Action::Delayed) {
        "Delayed Mail (still being retried)"
    } else {
        "Successful Mail Delivery Report"
    };
    let mut out = String::new();
    out.push_str(&format!(
        "From: Mail Delivery System <MAILER-DAEMON@{}>\r\n",
        r.hostname
    ));
    out.push_str(&format!("To: <{}>\r\n", r.to));
    out.push_str(&format!("Subject: {subject}\r\n"));
    out.push_str(&format!("Date: {}\r\n", r.now.to_rfc2822()));
    out.push_str(&format!(
        "Message-ID: {}\r\n",
        crate::fixup::message_id(r.hostname)
    ));
    // RFC 3834 §5: automatic replies must not be answered automatically.
    out.push_str("Auto-Submitted: auto-replied\r\n");
    out.push_str("MIME-Version: 1.0\r\n");
    out.push_str(&format!(
        "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\r\n"
    ));
    out.push_str("This is a MIME-encapsulated message.\r\n\r\n");
    // Part 1: for people.
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    ));
    out.push_str(&format!(
        "This is the mail system at host {}.\r\n\r\n",
        r.hostname
    ));
    if any_failed {
        out.push_str("I'm sorry to have to inform you that your message could not\r\nbe delivered to one or more recipients. It's attached below.\r\n\r\n");
    } else {
        out.push_str("Your message could not be delivered yet to one or more\r\nrecipients. Delivery will be retried; you do not need to resend it.\r\n\r\n");
    }
    for x in r.recipients {
        out.push_str(&format!(
            "<{}>: {}\r\n",
            x.address,
            x.diagnostic.as_deref().unwrap_or(x.action.as_str())
        ));
    }
    out.push_str("\r\n");
    // Part 2: RFC 3464 §2.2 per-message fields, then §2.3 per-recipient fields.
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
    ));
    out.push_str(&format!("Reporting-MTA: dns; {}\r\n", r.hostname));
    if let Some(envid) = r.envid {
        // RFC 3464 §2.2.1: the ENVID, decoded from xtext.
        out.push_str(&format!(
            "Original-Envelope-Id: {}\r\n",
            clean(&unxtext(envid))
        ));
    }
    out.push_str(&format!("Arrival-Date: {}\r\n", r.arrival.to_rfc2822()));
    for x in r.recipients {
        out.push_str("\r\n");
        if let Some(orcpt) = &x.orcpt {
            // RFC 3464 §2.3.1: Original-Recipient is the ORCPT, type and decoded value.
            let (kind, value) = orcpt.split_once(';').unwrap_or(("rfc822", orcpt));
            out.push_str(&format!(
                "Original-Recipient: {kind}; {}\r\n",
                clean(&unxtext(value))
            ));
        }
        out.push_str(&format!("Final-Recipient: rfc822; {}\r\n", x.address));
        out.push_str(&format!("Action: {}\r\n", x.action.as_str()));
        out.push_str(&format!("Status: {}\r\n", x.status));
        if let Some(mta) = &x.remote_mta {
            out.push_str(&format!("Remote-MTA: dns; {}\r\n", clean(mta)));
        }
        if let Some(d) = &x.diagnostic {
            out.push_str(&format!("Diagnostic-Code: smtp; {}\r\n", clean(d)));
        }
        out.push_str(&format!("Last-Attempt-Date: {}\r\n", r.now.to_rfc2822()));
    }
    out.push_str("\r\n");
    // Part 3: the message, or its header (RET=HDRS).
    let mut bytes = out.into_bytes();
    let header_end = memchr::memmem::find(r.original, b"\r\n\r\n").map(|i| i + 2);
    if r.headers_only {
        bytes.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n").as_bytes(),
        );
        bytes.extend_from_slice(&r.original[..header_end.unwrap_or(r.original.len())]);
    } else {
        bytes.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n").as_bytes(),
        );
        bytes.extend_from_slice(r.original);
    }
    if !bytes.ends_with(b"\r\n") {
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    bytes
}

/// One header line's worth of text: no control characters.
fn clean(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xtext_round_trip() {
        assert_eq!(xtext("a+b=c d"), "a+2Bb+3Dc+20d");
        assert_eq!(unxtext("a+2Bb+3Dc+20d"), "a+b=c d");
        assert_eq!(unxtext(&xtext("ü@x")), "ü@x");
        assert_eq!(unxtext("bad+Z"), "bad+Z");
    }

    #[test]
    fn notify_rules() {
        assert!(wanted(None, Action::Failed));
        assert!(wanted(None, Action::Delayed));
        assert!(!wanted(None, Action::Delivered));
        assert!(!wanted(Some("NEVER"), Action::Failed));
        assert!(wanted(Some("SUCCESS,FAILURE"), Action::Failed));
        assert!(!wanted(Some("SUCCESS,FAILURE"), Action::Delayed));
        assert!(wanted(Some("delay"), Action::Delayed));
        assert!(wanted(Some("SUCCESS"), Action::Relayed));
    }

    fn report(headers_only: bool) -> String {
        let t = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let rcpts = [RecipientReport {
            address: "bob@remote.test".into(),
            orcpt: Some("rfc822;Bob+40remote.test".into()),
            action: Action::Failed,
            status: "5.1.1".into(),
            diagnostic: Some("550 5.1.1 No such user".into()),
            remote_mta: Some("mx.remote.test".into()),
        }];
        String::from_utf8(build(&Report {
            hostname: "mx.example.test",
            to: "alice@example.test",
            envid: Some("id+2B1"),
            arrival: t,
            now: t,
            recipients: &rcpts,
            original: b"Subject: hello\r\nX-A: b\r\n\r\nsecret body\r\n",
            headers_only,
        }))
        .unwrap()
    }

    #[test]
    fn failure_report_fields() {
        let r = report(false);
        assert!(
            r.contains("Content-Type: multipart/report; report-type=delivery-status;"),
            "{r}"
        );
        assert!(r.contains("Auto-Submitted: auto-replied\r\n"));
        assert!(
            r.contains("\r\nReporting-MTA: dns; mx.example.test\r\nOriginal-Envelope-Id: id+1\r\n"),
            "{r}"
        );
        assert!(r.contains("\r\nOriginal-Recipient: rfc822; Bob@remote.test\r\nFinal-Recipient: rfc822; bob@remote.test\r\nAction: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.remote.test\r\nDiagnostic-Code: smtp; 550 5.1.1 No such user\r\n"), "{r}");
        assert!(r.contains("Content-Type: message/rfc822\r\n\r\nSubject: hello\r\nX-A: b\r\n\r\nsecret body\r\n"), "{r}");
        assert!(r.trim_end().ends_with("--"), "{r}");
    }

    #[test]
    fn ret_hdrs_returns_only_the_header() {
        let r = report(true);
        assert!(
            r.contains("Content-Type: text/rfc822-headers\r\n\r\nSubject: hello\r\nX-A: b\r\n"),
            "{r}"
        );
        assert!(!r.contains("secret body"), "{r}");
    }
}
