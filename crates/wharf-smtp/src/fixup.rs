//! Message fix-ups at submission (RFC 6409 §8): a message from a mail user agent may
//! lack fields that a message in transit must have. We add `Date:` (§8.2) and
//! `Message-ID:` (§8.3) when missing, and remove `Bcc:` (RFC 5322 §3.6.3: the blind
//! recipients must not be shown to the others; the envelope already carries them).
//!
//! Pure and bounded: it looks only at the header block (up to the first empty line) and
//! copies the body untouched.

/// Fixes a submitted message. `hostname` names the Message-ID's right side.
pub fn fixup(message: &[u8], hostname: &str, now: chrono::DateTime<chrono::Utc>) -> Vec<u8> {
    let (header, body) = split_header(message);
    let mut out = Vec::with_capacity(message.len() + 128);
    let mut has_date = false;
    let mut has_id = false;
    let mut skipping = false;
    for line in header_lines(header) {
        let continuation = line.first().is_some_and(|&b| b == b' ' || b == b'\t');
        if continuation {
            if !skipping {
                out.extend_from_slice(line);
            }
            continue;
        }
        let name = field_name(line);
        skipping = name.is_some_and(|n| n.eq_ignore_ascii_case(b"bcc"));
        if skipping {
            continue;
        }
        match name {
            Some(n) if n.eq_ignore_ascii_case(b"date") => has_date = true,
            Some(n) if n.eq_ignore_ascii_case(b"message-id") => has_id = true,
            _ => {}
        }
        out.extend_from_slice(line);
    }
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.extend_from_slice(b"\r\n");
    }
    if !has_date {
        out.extend_from_slice(format!("Date: {}\r\n", now.to_rfc2822()).as_bytes());
    }
    if !has_id {
        out.extend_from_slice(format!("Message-ID: {}\r\n", message_id(hostname)).as_bytes());
    }
    out.extend_from_slice(body);
    out
}

/// [`fixup`] at the current time.
pub fn fixup_now(message: &[u8], hostname: &str) -> Vec<u8> {
    fixup(message, hostname, chrono::Utc::now())
}

/// How many `Received:` fields the header holds (loop detection, RFC 5321 §6.3).
pub fn count_received(message: &[u8]) -> usize {
    let (header, _) = split_header(message);
    header_lines(header)
        .filter_map(field_name)
        .filter(|n| n.eq_ignore_ascii_case(b"received"))
        .count()
}

/// The author and sender addresses a message's header claims: every mailbox of every
/// `From:` field and of every `Sender:` field (RFC 5322 §3.6.2), each as
/// (field name, address as `local@domain`, or `None` when a mailbox has no usable
/// address). Group markers are left out. Submission checks these against the addresses
/// the authenticated user may send as (anti-spoofing).
pub fn header_senders(message: &[u8]) -> Vec<(&'static str, Option<String>)> {
    let (header, _) = split_header(message);
    let mut fields: Vec<(&'static str, Vec<u8>)> = Vec::new();
    let mut current: Option<usize> = None;
    for line in header_lines(header) {
        let continuation = line.first().is_some_and(|&b| b == b' ' || b == b'\t');
        if continuation {
            if let Some(i) = current {
                fields[i].1.extend_from_slice(line);
            }
            continue;
        }
        current = None;
        let Some(name) = field_name(line) else {
            continue;
        };
        let which = if name.eq_ignore_ascii_case(b"from") {
            "From"
        } else if name.eq_ignore_ascii_case(b"sender") {
            "Sender"
        } else {
            continue;
        };
        let colon = memchr::memchr(b':', line).unwrap_or(line.len() - 1);
        fields.push((which, line[colon + 1..].to_vec()));
        current = Some(fields.len() - 1);
    }
    let mut out = Vec::new();
    for (which, value) in fields {
        // RFC 5322 §2.2.3: unfolding removes the CRLFs of folded lines.
        let value: Vec<u8> = value
            .into_iter()
            .filter(|&b| b != b'\r' && b != b'\n')
            .collect();
        let value = String::from_utf8_lossy(&value);
        for a in wharf_store::mime::parse_address_list(&value) {
            match (&a.mailbox, &a.host) {
                // A group's start (name, no host) or end (nothing) marker.
                (_, None) => continue,
                (Some(m), Some(h))
                    if h != wharf_store::mime::MISSING_DOMAIN
                        && h != wharf_store::mime::SYNTAX_ERROR
                        && m != wharf_store::mime::MISSING_MAILBOX =>
                {
                    out.push((which, Some(format!("{m}@{h}"))))
                }
                _ => out.push((which, None)),
            }
        }
    }
    out
}

/// A new globally unique Message-ID (RFC 5322 §3.6.4): random left side, our host name
/// on the right.
pub fn message_id(hostname: &str) -> String {
    let r: u128 = rand::random();
    let host: String = hostname
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
        .collect();
    let host = if host.is_empty() {
        "localhost".to_string()
    } else {
        host
    };
    format!("<{:x}.{r:032x}@{host}>", chrono::Utc::now().timestamp())
}

/// Splits at the empty line that ends the header: (header lines with their CRLFs,
/// the rest starting with that empty line). No empty line: all header.
fn split_header(message: &[u8]) -> (&[u8], &[u8]) {
    if message.starts_with(b"\r\n") {
        return (&[], message);
    }
    match memchr::memmem::find(message, b"\r\n\r\n") {
        Some(i) => message.split_at(i + 2),
        None => (message, &[]),
    }
}

/// Lines of the header, each with its CRLF (the last may lack one).
fn header_lines(header: &[u8]) -> impl Iterator<Item = &[u8]> {
    header.split_inclusive(|&b| b == b'\n')
}

/// The field name of a header line (RFC 5322 §2.2: printable ASCII but colon).
fn field_name(line: &[u8]) -> Option<&[u8]> {
    let colon = memchr::memchr(b':', line)?;
    let name = &line[..colon];
    let name = name.strip_suffix(b" ").unwrap_or(name);
    (!name.is_empty() && name.iter().all(|&b| (33..=126).contains(&b))).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn fix(m: &str) -> String {
        String::from_utf8(fixup(m.as_bytes(), "mx.example.test", now())).unwrap()
    }

    #[test]
    fn adds_date_and_message_id_when_missing() {
        let out = fix("From: a@example.test\r\nSubject: hi\r\n\r\nbody\r\n");
        assert!(out.starts_with("From: a@example.test\r\nSubject: hi\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\nMessage-ID: <"), "{out}");
        assert!(out.contains("@mx.example.test>\r\n\r\nbody\r\n"), "{out}");
    }

    #[test]
    fn keeps_existing_fields() {
        let m = "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nmessage-id: <x@y>\r\n\r\nbody\r\n";
        assert_eq!(fix(m), m);
    }

    #[test]
    fn removes_bcc_with_its_continuation_lines() {
        let m = "Date: x\r\nMessage-ID: <a@b>\r\nBcc: hidden@example.net,\r\n\tother@example.net\r\nTo: t@example.net\r\nBCC : x@y\r\n\r\nBcc: in body stays\r\n";
        assert_eq!(
            fix(m),
            "Date: x\r\nMessage-ID: <a@b>\r\nTo: t@example.net\r\n\r\nBcc: in body stays\r\n"
        );
    }

    #[test]
    fn header_only_and_empty_messages() {
        let out = fix("Subject: x\r\n");
        assert!(out.starts_with("Subject: x\r\nDate: "), "{out}");
        let out = fix("\r\nbody\r\n");
        assert!(
            out.starts_with("Date: ") && out.ends_with("\r\n\r\nbody\r\n"),
            "{out}"
        );
    }

    #[test]
    fn received_fields_are_counted_in_the_header_only() {
        let m = "Received: a\r\n\tfolded\r\nreceived: b\r\nSubject: x\r\n\r\nReceived: body\r\n";
        assert_eq!(count_received(m.as_bytes()), 2);
        assert_eq!(count_received(b"\r\nReceived: x\r\n"), 0);
    }

    #[test]
    fn header_senders_are_every_from_and_sender_mailbox() {
        let m = b"From: Bob <bob@example.test>,\r\n carol@example.test (Carol)\r\nSender: alice@example.test\r\nTo: x@y.test\r\nReply-To: z@z.test\r\n\r\nFrom: body@example.test\r\n";
        assert_eq!(
            header_senders(m),
            vec![
                ("From", Some("bob@example.test".into())),
                ("From", Some("carol@example.test".into())),
                ("Sender", Some("alice@example.test".into())),
            ]
        );
        assert_eq!(header_senders(b"Subject: none\r\n\r\n"), vec![]);
        // A mailbox without a domain, or a phrase alone, is no usable address.
        assert_eq!(header_senders(b"from: bob\r\n\r\n"), vec![("From", None)]);
        assert_eq!(
            header_senders(b"From: Undisclosed: ;\r\nFROM : <a@b.test>\r\n\r\n"),
            vec![("From", Some("a@b.test".into()))]
        );
    }

    #[test]
    fn message_ids_are_unique_and_clean() {
        assert_ne!(message_id("h"), message_id("h"));
        assert!(message_id("a b<c>").ends_with("@abc>"));
    }
}
