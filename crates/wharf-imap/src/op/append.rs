//! APPEND (RFC 9051 §6.3.12) with UIDPLUS APPENDUID (RFC 4315), APPENDLIMIT
//! (RFC 7889) and CATENATE (RFC 4469, assembled in `catenate.rs`). Over-limit literals
//! were refused while framing, before being read.

use crate::proto::{AppendMessage, split_flags};
use crate::session::selected::uid_set_string;
use crate::session::{Done, ImapError, OpResult, Session};
use wharf_store::NewMessage;

/// RFC 5322 lines end in CRLF; the store keeps messages so. Bare LFs become CRLF.
pub fn normalize_crlf(raw: Vec<u8>) -> Vec<u8> {
    let bare = raw
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || raw[i - 1] != b'\r'));
    if !bare {
        return raw;
    }
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32);
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// Re-encodes, in a message APPENDed as a literal8, every non-multipart part whose
/// Content-Transfer-Encoding is `binary` to base64, as Dovecot does at save
/// (cmd-append.c runs a literal8 through its istream-binary-converter): the part's
/// `Content-Transfer-Encoding: binary` field becomes `Content-Transfer-Encoding: base64`
/// where it stood, and its body becomes base64 in lines of 76 characters joined by
/// CRLF, with no CRLF after the last (the CRLF before a boundary stays the
/// boundary's). Other parts, and messages without such a part, are kept byte for byte.
///
/// Why: RFC 9051 §4.3 forbids NUL in a `{n}` literal, so a binary part's BODY[],
/// BODY[TEXT] or RFC822 could otherwise only be sent altered (NUL as 0x80, see
/// `session/section.rs`); base64 is the MIME form every client decodes, and BINARY[]
/// still gives the exact octets (RFC 3516 §4.2 decodes base64). RFC 3516 §4.4 lets a
/// server that cannot keep binary content refuse it; converting keeps the content.
pub fn binary_parts_to_base64(raw: Vec<u8>) -> Vec<u8> {
    let summary = wharf_store::mime::summarize(&raw);
    let mut edits: Vec<(usize, usize, Vec<u8>)> = Vec::new();
    collect_binary_parts(&summary.root, &raw, &mut edits);
    if edits.is_empty() {
        return raw;
    }
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 2);
    let mut at = 0;
    for (start, end, with) in edits {
        out.extend_from_slice(&raw[at..start]);
        out.extend_from_slice(&with);
        at = end;
    }
    out.extend_from_slice(&raw[at..]);
    out
}

/// The edits (ascending, disjoint ranges of `raw` and their replacements) that
/// [`binary_parts_to_base64`] makes for `part` and the parts inside it.
fn collect_binary_parts(
    part: &wharf_store::mime::Part,
    raw: &[u8],
    edits: &mut Vec<(usize, usize, Vec<u8>)>,
) {
    if part.media_type == "multipart" {
        // Dovecot leaves `binary` on a multipart as it is (some MUAs write it there).
        for child in &part.children {
            collect_binary_parts(child, raw, edits);
        }
        return;
    }
    let (hs, bs, end) = (
        part.header_start as usize,
        part.body_start as usize,
        part.end as usize,
    );
    if let Some((fs, fe)) = binary_cte_field(raw, hs, bs.min(raw.len())) {
        use base64::Engine;
        let body = &raw[bs.min(end)..end.min(raw.len())];
        let b64 = base64::engine::general_purpose::STANDARD.encode(body);
        let mut encoded = Vec::with_capacity(b64.len() + b64.len() / 38);
        for (i, line) in b64.as_bytes().chunks(76).enumerate() {
            if i > 0 {
                encoded.extend_from_slice(b"\r\n");
            }
            encoded.extend_from_slice(line);
        }
        edits.push((fs, fe, b"Content-Transfer-Encoding: base64\r\n".to_vec()));
        edits.push((bs.min(end), end.min(raw.len()), encoded));
        return;
    }
    if let Some(inner) = &part.message {
        collect_binary_parts(&inner.root, raw, edits);
    }
}

/// The range of the first one-line `Content-Transfer-Encoding: binary` field (CRLF
/// included) in the header `raw[start..end]`, as Dovecot recognises it: the value is
/// exactly `binary` (any case) and the field is not folded.
fn binary_cte_field(raw: &[u8], start: usize, end: usize) -> Option<(usize, usize)> {
    let header = raw.get(start..end)?;
    let mut pos = 0;
    while pos < header.len() {
        let line_end = header[pos..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|i| pos + i + 2)
            .unwrap_or(header.len());
        let line = &header[pos..line_end];
        let folded_next = header
            .get(line_end)
            .is_some_and(|&b| b == b' ' || b == b'\t');
        if let Some(colon) = line.iter().position(|&b| b == b':')
            && line[..colon].eq_ignore_ascii_case(b"content-transfer-encoding")
            && !folded_next
        {
            let value = line[colon + 1..].trim_ascii_start();
            let value = value.strip_suffix(b"\r\n").unwrap_or(value);
            if value.eq_ignore_ascii_case(b"binary") {
                return Some((start + pos, start + line_end));
            }
        }
        pos = line_end;
    }
    None
}

/// Refuses what would go over the account's quota (RFC 9208 §4.3 OVERQUOTA).
pub async fn check_quota(s: &Session, bytes: u64, messages: u64) -> Result<(), ImapError> {
    let account = super::account(s)?;
    let fresh = s
        .ctx
        .store
        .user_get(&account.address)
        .await?
        .unwrap_or(account);
    if fresh.quota_bytes.is_none() && fresh.quota_messages.is_none() {
        return Ok(());
    }
    let usage = s.ctx.store.usage(fresh.id).await?;
    let over_bytes = fresh.quota_bytes.is_some_and(|q| usage.bytes + bytes > q);
    let over_msgs = fresh
        .quota_messages
        .is_some_and(|q| usage.messages + messages > q);
    if over_bytes || over_msgs {
        return Err(ImapError::no_code("OVERQUOTA", "Quota exceeded"));
    }
    Ok(())
}

/// After this session wrote into the selected mailbox: look at the store again before
/// the tagged reply, whether or not the change event has arrived yet.
pub fn mark_dirty(s: &mut Session, mailbox: wharf_store::MailboxId) {
    if let crate::session::State::Selected { mailbox: sel, .. } = &mut s.state
        && sel.id == mailbox
    {
        sel.dirty = true;
    }
}

pub async fn handle_append(
    s: &mut Session,
    raw_name: &str,
    mut messages: Vec<AppendMessage>,
) -> OpResult {
    let name = s.mailbox_name(raw_name)?;
    // RFC 4469: CATENATE messages are built from their parts first.
    super::catenate::assemble(s, &name, &mut messages).await?;
    let account = super::account(s)?;
    let limit = s.ctx.config.append_limit;
    if messages.iter().any(|m| m.message.len() as u64 > limit) {
        return Err(ImapError::no_code("TOOBIG", "Message exceeds APPENDLIMIT"));
    }
    if messages.iter().any(|m| m.message.is_empty()) {
        return Err(ImapError::no("Empty message"));
    }
    let store = s.ctx.store.clone();
    // RFC 9051 §6.3.12: a missing mailbox is NO [TRYCREATE].
    let mailbox = store
        .mailbox_get(account.id, &name)
        .await?
        .ok_or_else(|| ImapError::no_code("TRYCREATE", "No such mailbox"))?;
    let total: u64 = messages.iter().map(|m| m.message.len() as u64).sum();
    check_quota(s, total, messages.len() as u64).await?;
    let mut uids = Vec::new();
    let mut uidvalidity = mailbox.uidvalidity;
    for m in messages {
        let (flags, keywords) = split_flags(&m.flags);
        let r = store
            .append(
                mailbox.id,
                NewMessage {
                    // RFC 3516 §4.3: a literal8 is binary content; its bare LFs are
                    // data (a binary part's octets), not line ends to repair.
                    raw: if m.binary {
                        binary_parts_to_base64(m.message)
                    } else {
                        normalize_crlf(m.message)
                    },
                    internal_date: m.date,
                    flags,
                    keywords,
                },
            )
            .await;
        match r {
            Ok(d) => {
                uidvalidity = d.uidvalidity;
                uids.push(d.uid);
            }
            Err(e) => {
                // RFC 3502 §6.3.11: all or nothing; take back what went in.
                if !uids.is_empty() {
                    let _ = store.expunge(mailbox.id, &uids).await;
                }
                return Err(e.into());
            }
        }
    }
    mark_dirty(s, mailbox.id);
    Ok(Done::code(
        format!("APPENDUID {uidvalidity} {}", uid_set_string(&uids)),
        "APPEND completed",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_lf_becomes_crlf() {
        assert_eq!(normalize_crlf(b"a\nb\r\nc\n".to_vec()), b"a\r\nb\r\nc\r\n");
        assert_eq!(normalize_crlf(b"\nx".to_vec()), b"\r\nx");
        assert_eq!(normalize_crlf(b"a\r\n".to_vec()), b"a\r\n");
    }

    /// tests/imapdiff/messages/binary.bin APPENDed as a literal8: Dovecot 2.3.19 stores
    /// (and answers BODY[] with) this base64 form, 253 octets (tests/imapdiff/expected/
    /// binary.txt).
    #[test]
    fn binary_part_becomes_base64_as_dovecot_stores_it() {
        let head = "From: Eve <eve@example.test>\r\nTo: alice@example.test\r\n\
                    Subject: binary content\r\nDate: Wed, 9 Feb 1994 12:00:00 +0000\r\n\
                    MIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n";
        let mut raw = format!("{head}Content-Transfer-Encoding: binary\r\n\r\n").into_bytes();
        raw.extend_from_slice(b"before\0after\xff\xfe\r\nsecond line\0\r\n");
        let out = binary_parts_to_base64(raw);
        let want = format!(
            "{head}Content-Transfer-Encoding: base64\r\n\r\nYmVmb3JlAGFmdGVy//4NCnNlY29uZCBsaW5lAA0K"
        );
        assert_eq!(String::from_utf8_lossy(&out), want);
        assert_eq!(out.len(), 253);
        assert!(!out.contains(&0));
    }

    /// In a multipart only the binary leaf changes; base64 lines are 76 characters; the
    /// CRLF before the boundary stays; a `binary` multipart and other parts are kept.
    #[test]
    fn only_binary_leaves_are_converted() {
        let body: Vec<u8> = (0..100u8).collect();
        let mut raw = b"Content-Type: multipart/mixed; boundary=b\r\n\
Content-Transfer-Encoding: BINARY\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\0\r\n--b\r\n\
Content-Transfer-Encoding:   Binary\r\nContent-Type: application/x\r\n\r\n"
            .to_vec();
        raw.extend_from_slice(&body);
        raw.extend_from_slice(b"\r\n--b--\r\n");
        let out = binary_parts_to_base64(raw.clone());
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&body);
        let mut want = b"Content-Type: multipart/mixed; boundary=b\r\n\
Content-Transfer-Encoding: BINARY\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\0\r\n--b\r\n\
Content-Transfer-Encoding: base64\r\nContent-Type: application/x\r\n\r\n"
            .to_vec();
        want.extend_from_slice(&b64.as_bytes()[..76]);
        want.extend_from_slice(b"\r\n");
        want.extend_from_slice(&b64.as_bytes()[76..]);
        want.extend_from_slice(b"\r\n--b--\r\n");
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&want)
        );
        // Nothing to convert: the same octets.
        let plain = b"Subject: x\r\nContent-Transfer-Encoding: 8bit\r\n\r\nx\0y\r\n".to_vec();
        assert_eq!(binary_parts_to_base64(plain.clone()), plain);
        // A folded field is not Dovecot's one-line `binary`: kept.
        let folded = b"Content-Transfer-Encoding:\r\n binary\r\n\r\nx\0y".to_vec();
        assert_eq!(binary_parts_to_base64(folded.clone()), folded);
    }
}
