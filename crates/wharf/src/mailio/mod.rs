//! `wharf import` and `wharf export`: moving mail in from and out to mbox files and
//! Maildir / Maildir++ trees (Dovecot's, mutt's, mbsync's), through the [`Store`] trait
//! only.
//!
//! This module holds the pure format rules (line ends, mbox framing and its flag headers,
//! Maildir file names, folder names); `import.rs` and `export.rs` walk trees and talk to
//! the store.
//!
//! Implementation notes (what keeps a round trip byte-identical):
//! - The store keeps messages with CRLF line ends. Files are written in the Unix form
//!   (LF) when [`from_file`] of that form gives back the stored bytes exactly, and
//!   verbatim (CRLF) otherwise; [`from_file`] decides by the first line end of a message:
//!   CRLF means "keep as is", LF means "every bare LF is a line end" (as Dovecot serves
//!   an LF file). Export checks every message this way and counts the ones that cannot
//!   come back exact.
//! - mbox: the flag headers Wharf adds are always the last four header fields, in this
//!   order: `Status`, `X-Status`, `X-Keywords`, `Content-Length`. A message whose header
//!   ends so had them added by us and loses exactly those four on import (its own
//!   `Status:` elsewhere stays); any other message loses every header Dovecot hides in
//!   mbox (`mbox_hide_headers`: Status, X-Status, X-Keywords, X-UID, X-IMAP, X-IMAPbase,
//!   Content-Length), which are read for flags. `Content-Length` (the body's bytes as
//!   written) tells a message that ended without a newline from one that ended with one.

pub mod export;
pub mod import;
mod progress;

use wharf_store::Flags;

/// Most octets one message may have; bigger ones are skipped and reported.
pub const MAX_MESSAGE: usize = 256 << 20;

/// The keyword Maildir's `P` (passed) flag stands for.
pub const FORWARDED: &str = "$Forwarded";

/// Stored form (CRLF) to the Unix file form: every CRLF becomes LF.
pub fn to_lf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\r' && raw.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

/// A message as read from a file to the stored form: kept as is when its first line
/// ends in CRLF (a file written with CRLF), otherwise every bare LF becomes CRLF.
pub fn from_file(raw: Vec<u8>) -> Vec<u8> {
    match raw.iter().position(|&b| b == b'\n') {
        None => raw,
        Some(i) if i > 0 && raw[i - 1] == b'\r' => raw,
        Some(_) => {
            let mut out = Vec::with_capacity(raw.len() + raw.len() / 30);
            for (i, &b) in raw.iter().enumerate() {
                if b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
                    out.push(b'\r');
                }
                out.push(b);
            }
            out
        }
    }
}

/// The bytes to write for a stored message, and whether they read back exactly.
pub fn file_form(stored: &[u8]) -> (Vec<u8>, bool) {
    let lf = to_lf(stored);
    if from_file(lf.clone()) == stored {
        return (lf, true);
    }
    let exact = from_file(stored.to_vec()) == stored;
    (stored.to_vec(), exact)
}

// ---------------------------------------------------------------- Maildir

/// System flags and keywords of a Maildir info part (`2,` followed by letters).
/// `keyword_names` maps Dovecot's `a`..`z` to names (`dovecot-keywords`).
pub fn maildir_flags(info: &str, keyword_names: &[Option<String>]) -> (Flags, Vec<String>) {
    let mut flags = Flags::default();
    let mut keywords = Vec::new();
    let Some(letters) = info.strip_prefix("2,") else {
        return (flags, keywords);
    };
    for c in letters.chars() {
        match c {
            'D' => flags = flags.union(Flags::DRAFT),
            'F' => flags = flags.union(Flags::FLAGGED),
            'R' => flags = flags.union(Flags::ANSWERED),
            'S' => flags = flags.union(Flags::SEEN),
            'T' => flags = flags.union(Flags::DELETED),
            'P' => push_keyword(&mut keywords, FORWARDED),
            'a'..='z' => {
                if let Some(Some(name)) = keyword_names.get((c as u8 - b'a') as usize) {
                    push_keyword(&mut keywords, name);
                }
            }
            _ => {}
        }
    }
    (flags, keywords)
}

fn push_keyword(into: &mut Vec<String>, k: &str) {
    if !into.iter().any(|x| x.eq_ignore_ascii_case(k)) {
        into.push(k.to_string());
    }
}

/// The info letters for flags and keywords, in ASCII order as the Maildir spec asks;
/// `letter_of` gives a keyword's Dovecot letter. Returns the keywords that have none.
pub fn maildir_info(
    flags: Flags,
    keywords: &[String],
    letter_of: impl Fn(&str) -> Option<char>,
) -> (String, Vec<String>) {
    let mut letters: Vec<char> = Vec::new();
    let mut lost = Vec::new();
    for (f, c) in [
        (Flags::DRAFT, 'D'),
        (Flags::FLAGGED, 'F'),
        (Flags::ANSWERED, 'R'),
        (Flags::SEEN, 'S'),
        (Flags::DELETED, 'T'),
    ] {
        if flags.contains(f) {
            letters.push(c);
        }
    }
    for k in keywords {
        if k.eq_ignore_ascii_case(FORWARDED) {
            letters.push('P');
        }
        match letter_of(k) {
            Some(c) => letters.push(c),
            None => lost.push(k.clone()),
        }
    }
    letters.sort_unstable();
    letters.dedup();
    (
        format!("2,{}", letters.into_iter().collect::<String>()),
        lost,
    )
}

/// Dovecot's `dovecot-keywords`: lines `N name`, N from 0 (`a`) to 25 (`z`).
pub fn parse_dovecot_keywords(text: &str) -> Vec<Option<String>> {
    let mut out: Vec<Option<String>> = vec![None; 26];
    for line in text.lines() {
        let Some((n, name)) = line.split_once(' ') else {
            continue;
        };
        if let Ok(n) = n.parse::<usize>()
            && n < 26
            && !name.is_empty()
        {
            out[n] = Some(name.to_string());
        }
    }
    out
}

/// Dovecot's `dovecot-uidlist` (version 3, and 1): base file name -> UID, for ordering.
pub fn parse_dovecot_uidlist(text: &str) -> std::collections::HashMap<String, u32> {
    let mut map = std::collections::HashMap::new();
    let mut lines = text.lines();
    let version = lines.next().and_then(|h| h.split(' ').next()).unwrap_or("");
    for line in lines {
        let Some((uid, rest)) = line.split_once(' ') else {
            continue;
        };
        let Ok(uid) = uid.parse::<u32>() else {
            continue;
        };
        // v3: `UID [extensions] :name`; v1: `UID flags name`.
        let name = if version == "1" {
            rest.rsplit(' ').next()
        } else {
            rest.find(':').map(|i| &rest[i + 1..])
        };
        if let Some(name) = name {
            map.insert(name.to_string(), uid);
        }
    }
    map
}

/// The UID mbsync keeps in a file name (`,U=123`).
pub fn mbsync_uid(base: &str) -> Option<u32> {
    let i = base.find(",U=")?;
    let digits: String = base[i + 3..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// A Maildir++ folder directory name (`.A.B`, modified UTF-7) to a mailbox name (`A/B`).
pub fn maildirpp_name(dir: &str) -> Option<String> {
    let inner = dir.strip_prefix('.')?;
    if inner.is_empty() || inner == "." {
        return None;
    }
    let parts: Vec<String> = inner
        .split('.')
        .map(|p| {
            // `&AC4-` is how export writes a '.' inside one level's name (modified
            // UTF-7 proper never encodes printable ASCII, so it is decoded apart).
            p.split("&AC4-")
                .map(|piece| wharf_imap::proto::utf7::decode(piece).unwrap_or(piece.to_string()))
                .collect::<Vec<_>>()
                .join(".")
        })
        .collect();
    Some(parts.join("/"))
}

/// A mailbox name (`A/B`) to its Maildir++ directory (`.A.B`): each level in modified
/// UTF-7, a '.' inside a level written `&AC4-`.
pub fn maildirpp_dir(name: &str) -> String {
    let parts: Vec<String> = name
        .split(wharf_store::MAILBOX_DELIMITER)
        .map(|p| wharf_imap::proto::utf7::encode(p).replace('.', "&AC4-"))
        .collect();
    format!(".{}", parts.join("."))
}

// ---------------------------------------------------------------- mbox

/// The path levels of a mailbox's mbox file (`A/B` -> `A`, `B.mbox`). A level starting
/// with '.' (`..` among them: a mailbox name must not lead out of the export directory)
/// has that dot written `&AC4-`, and [`mbox_level_name`] turns it back.
pub fn mbox_file_levels(name: &str) -> impl Iterator<Item = String> + '_ {
    let n = name.split(wharf_store::MAILBOX_DELIMITER).count();
    name.split(wharf_store::MAILBOX_DELIMITER)
        .enumerate()
        .map(move |(i, level)| {
            let level = match level.strip_prefix('.') {
                Some(rest) => format!("&AC4-{rest}"),
                None => level.to_string(),
            };
            if i + 1 == n {
                format!("{level}.mbox")
            } else {
                level
            }
        })
}

/// A path level of an mbox tree back to a mailbox name level (see [`mbox_file_levels`]).
pub fn mbox_level_name(level: &str) -> String {
    match level.strip_prefix("&AC4-") {
        Some(rest) => format!(".{rest}"),
        None => level.to_string(),
    }
}

/// The header fields Dovecot keeps for itself in mbox files (`mbox_hide_headers`).
const MBOX_HIDDEN: &[&str] = &[
    "status",
    "x-status",
    "x-keywords",
    "x-uid",
    "x-imap",
    "x-imapbase",
    "content-length",
];

/// The block export adds, in order, as the last header fields.
const WHARF_BLOCK: [&str; 4] = ["status", "x-status", "x-keywords", "content-length"];

/// One header field: its byte range in the message (with its line end and folded lines)
/// and its lower-cased name.
struct Field {
    start: usize,
    end: usize,
    name: String,
}

/// The header fields and where the header ends (the offset of the empty line, or the
/// end of the message when it has none) and where the body starts.
fn header_fields(msg: &[u8]) -> (Vec<Field>, usize, usize) {
    let mut fields: Vec<Field> = Vec::new();
    let mut pos = 0;
    while pos < msg.len() {
        let end = msg[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(msg.len(), |i| pos + i + 1);
        let line = &msg[pos..end];
        let content = line
            .strip_suffix(b"\n")
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .unwrap_or(line);
        if content.is_empty() {
            return (fields, pos, end);
        }
        if matches!(content[0], b' ' | b'\t') {
            if let Some(last) = fields.last_mut() {
                last.end = end;
            }
        } else {
            let name = content
                .iter()
                .position(|&b| b == b':')
                .map(|i| {
                    String::from_utf8_lossy(&content[..i])
                        .trim()
                        .to_ascii_lowercase()
                })
                .unwrap_or_default();
            fields.push(Field {
                start: pos,
                end,
                name,
            });
        }
        pos = end;
    }
    (fields, msg.len(), msg.len())
}

fn field_value(msg: &[u8], f: &Field) -> String {
    let raw = String::from_utf8_lossy(&msg[f.start..f.end]);
    raw.split_once(':')
        .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The message without the header fields named `name` (lower case). mbsync keeps its
/// sync bookkeeping `X-TUID:` in the files it writes; it was never part of the mail.
pub fn without_field(msg: Vec<u8>, name: &str) -> Vec<u8> {
    let (fields, _, _) = header_fields(&msg);
    if !fields.iter().any(|f| f.name == name) {
        return msg;
    }
    let mut out = Vec::with_capacity(msg.len());
    let mut pos = 0;
    for f in fields.iter().filter(|f| f.name == name) {
        out.extend_from_slice(&msg[pos..f.start]);
        pos = f.end;
    }
    out.extend_from_slice(&msg[pos..]);
    out
}

/// What an mbox message's flag headers said.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MboxMessage {
    /// The message with the flag headers removed and `>From ` unquoted, as in the file
    /// (line ends not yet converted).
    pub raw: Vec<u8>,
    pub flags: Flags,
    pub keywords: Vec<String>,
}

/// Turns the bytes between one `From ` line and the next (or the end of the file) into
/// a message: body cut by a valid `Content-Length`, else the separating blank line
/// dropped; mboxrd `>From ` quoting undone; flag headers read and removed.
pub fn parse_mbox_message(region: &[u8]) -> MboxMessage {
    let (fields, _, body_start) = header_fields(region);
    let mut body_end = region.len();
    // Drop the empty line that separates this message from the next `From ` line.
    let sep = |end: usize| -> usize {
        if region[..end].ends_with(b"\r\n\r\n") || region[..end].ends_with(b"\n\r\n") {
            end - 2
        } else if region[..end].ends_with(b"\n\n") {
            end - 1
        } else {
            end
        }
    };
    let cl = fields
        .iter()
        .rev()
        .find(|f| f.name == "content-length")
        .and_then(|f| field_value(region, f).parse::<usize>().ok());
    match cl {
        // Only a length that leaves nothing but the separator after it is believed.
        Some(n)
            if body_start + n <= region.len()
                && matches!(
                    &region[body_start + n..],
                    b"" | b"\n" | b"\n\n" | b"\r\n" | b"\r\n\r\n" | b"\r\n\n"
                ) =>
        {
            body_end = body_start + n;
        }
        _ => body_end = sep(body_end),
    }
    let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
    let ours = names.len() >= 4 && names[names.len() - 4..] == WHARF_BLOCK;
    let mut drop = vec![false; fields.len()];
    let mut flags = Flags::default();
    let mut keywords = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        let hidden = if ours {
            i >= fields.len() - 4
        } else {
            MBOX_HIDDEN.contains(&f.name.as_str())
        };
        if !hidden {
            continue;
        }
        drop[i] = true;
        let v = field_value(region, f);
        match f.name.as_str() {
            "status" if v.contains('R') => flags = flags.union(Flags::SEEN),
            "x-status" => {
                for (c, flag) in [
                    ('A', Flags::ANSWERED),
                    ('F', Flags::FLAGGED),
                    ('T', Flags::DRAFT),
                    ('D', Flags::DELETED),
                ] {
                    if v.contains(c) {
                        flags = flags.union(flag);
                    }
                }
            }
            "x-keywords" => {
                for k in v.split([' ', ',']).filter(|k| !k.is_empty()) {
                    push_keyword(&mut keywords, k);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::with_capacity(body_end);
    let mut pos = 0;
    for (f, d) in fields.iter().zip(&drop) {
        out.extend_from_slice(&region[pos..f.start]);
        if !d {
            out.extend_from_slice(&region[f.start..f.end]);
        }
        pos = f.end;
    }
    out.extend_from_slice(&region[pos..body_end.max(pos)]);
    MboxMessage {
        raw: unquote_from(&out),
        flags,
        keywords,
    }
}

/// mboxrd: a line `>From ` with one or more `>` loses one.
fn unquote_from(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len());
    let mut line_start = true;
    let mut i = 0;
    while i < msg.len() {
        if line_start && msg[i] == b'>' {
            let gt = msg[i..].iter().take_while(|&&b| b == b'>').count();
            if msg[i + gt..].starts_with(b"From ") {
                i += 1;
            }
        }
        line_start = msg[i] == b'\n';
        out.push(msg[i]);
        i += 1;
    }
    out
}

/// mboxrd: a line `From ` or `>From `, `>>From ` ... gains one `>`.
fn quote_from(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + 16);
    let mut line_start = true;
    for (i, &b) in msg.iter().enumerate() {
        if line_start {
            let gt = msg[i..].iter().take_while(|&&b| b == b'>').count();
            if msg[i + gt..].starts_with(b"From ") {
                out.push(b'>');
            }
        }
        line_start = b == b'\n';
        out.push(b);
    }
    out
}

/// One message as mbox text: `From ` line, header with the flag block last, body with
/// mboxrd quoting, a newline if it lacked one, and the separating empty line.
/// `stored` is the message as the store has it; the second value says whether
/// [`parse_mbox_message`] + [`from_file`] gives it back exactly.
pub fn mbox_entry(
    stored: &[u8],
    internal_date: i64,
    flags: Flags,
    keywords: &[String],
) -> (Vec<u8>, bool) {
    let (form, _) = file_form(stored);
    let nl: &[u8] = if from_file(form.clone()) == form && form != stored {
        b"\n"
    } else if form.windows(2).any(|w| w == b"\r\n") {
        b"\r\n"
    } else {
        b"\n"
    };
    let (_, header_end, body_start) = header_fields(&form);
    let body = quote_from(&form[body_start..]);
    let header = quote_from(&form[..header_end]);
    let mut out = Vec::with_capacity(form.len() + 200);
    out.extend_from_slice(
        format!(
            "From {} {}\n",
            envelope_sender(stored),
            asctime(internal_date)
        )
        .as_bytes(),
    );
    out.extend_from_slice(&header);
    if !header.is_empty() && !header.ends_with(b"\n") {
        out.extend_from_slice(nl);
    }
    let status = if flags.contains(Flags::SEEN) {
        "RO"
    } else {
        "O"
    };
    let mut xs = String::new();
    for (f, c) in [
        (Flags::ANSWERED, 'A'),
        (Flags::FLAGGED, 'F'),
        (Flags::DRAFT, 'T'),
        (Flags::DELETED, 'D'),
    ] {
        if flags.contains(f) {
            xs.push(c);
        }
    }
    let nls = String::from_utf8_lossy(nl).into_owned();
    out.extend_from_slice(
        format!(
            "Status: {status}{nls}X-Status: {xs}{nls}X-Keywords: {}{nls}Content-Length: {}{nls}",
            keywords.join(" "),
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(nl);
    out.extend_from_slice(&body);
    if !body.ends_with(b"\n") {
        out.extend_from_slice(nl);
    }
    out.extend_from_slice(nl);
    let first = out.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
    let back = parse_mbox_message(&out[first..]);
    let exact = from_file(back.raw) == stored
        && back.flags == flags
        && back.keywords.len() == keywords.len()
        && body_start > header_end;
    (out, exact)
}

/// The address for the `From ` line: Return-Path's, else From's, else MAILER-DAEMON.
fn envelope_sender(msg: &[u8]) -> String {
    let (fields, _, _) = header_fields(msg);
    for want in ["return-path", "from"] {
        if let Some(f) = fields.iter().find(|f| f.name == want) {
            let v = field_value(msg, f);
            let addr = match (v.rfind('<'), v.rfind('>')) {
                (Some(a), Some(b)) if a < b => v[a + 1..b].to_string(),
                _ => v
                    .split_whitespace()
                    .find(|w| w.contains('@'))
                    .unwrap_or("")
                    .to_string(),
            };
            if !addr.is_empty() && addr.is_ascii() && !addr.contains(char::is_whitespace) {
                return addr;
            }
        }
    }
    "MAILER-DAEMON".into()
}

/// `Thu Dec  3 10:00:00 2026`, in UTC, as mbox `From ` lines write the date.
pub fn asctime(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%a %b %e %H:%M:%S %Y").to_string())
        .unwrap_or_else(|| "Thu Jan  1 00:00:00 1970".into())
}

/// The date of a `From sender date` line (asctime, UTC unless a numeric zone follows
/// the time or the year), in unix seconds.
pub fn parse_from_line_date(line: &str) -> Option<i64> {
    let rest = line.strip_prefix("From ")?.trim_end();
    let mut words = rest.split_whitespace();
    words.next()?; // the sender
    let words: Vec<&str> = words.collect();
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let mi = words
        .iter()
        .position(|w| w.len() >= 3 && MONTHS.contains(&w[..3].to_ascii_lowercase().as_str()))?;
    let month = MONTHS
        .iter()
        .position(|m| *m == words[mi][..3].to_ascii_lowercase())? as u32
        + 1;
    let day: u32 = words.get(mi + 1)?.trim_end_matches(',').parse().ok()?;
    let mut time = None;
    let mut year = None;
    let mut zone = 0i64;
    for w in &words[mi + 2..] {
        if w.contains(':') && time.is_none() {
            let p: Vec<&str> = w.split(':').collect();
            let h: u32 = p.first()?.parse().ok()?;
            let m: u32 = p.get(1)?.parse().ok()?;
            let s: u32 = p.get(2).map_or(Some(0), |s| s.parse().ok())?;
            time = Some((h, m, s));
        } else if (w.starts_with('+') || w.starts_with('-')) && w.len() == 5 {
            let n: i64 = w[1..].parse().ok()?;
            let secs = (n / 100) * 3600 + (n % 100) * 60;
            zone = if w.starts_with('-') { -secs } else { secs };
        } else if w.len() == 4 && w.bytes().all(|b| b.is_ascii_digit()) {
            year = w.parse::<i32>().ok();
        }
    }
    let (h, m, s) = time?;
    let date = chrono::NaiveDate::from_ymd_opt(year?, month, day)?;
    let t = date.and_hms_opt(h, m, s)?;
    Some(t.and_utc().timestamp() - zone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_ends_round_trip() {
        for stored in [
            &b"A: b\r\n\r\nbody\r\n"[..],
            b"A: b\r\n\r\nno newline",
            b"A: b\r\n\r\nbare\nlf\r\n",
            b"A: b\r\n\r\nlone\rcr\r\n",
        ] {
            let (form, exact) = file_form(stored);
            assert!(exact, "{stored:?}");
            assert_eq!(from_file(form), stored);
        }
        // An LF file becomes CRLF; a CRLF file stays.
        assert_eq!(from_file(b"a\nb\n".to_vec()), b"a\r\nb\r\n");
        assert_eq!(from_file(b"a\r\nb\n".to_vec()), b"a\r\nb\n");
        // A stored message whose first line ends in a bare LF cannot come back exact.
        assert!(!file_form(b"A: b\nX: y\r\n\r\n").1);
    }

    #[test]
    fn maildir_flags_and_info() {
        let names = parse_dovecot_keywords("0 $Label1\n1 work\n");
        let (f, k) = maildir_flags("2,FPRSab", &names);
        assert_eq!(f, Flags::FLAGGED.union(Flags::ANSWERED).union(Flags::SEEN));
        assert_eq!(k, vec!["$Forwarded", "$Label1", "work"]);
        let (info, lost) = maildir_info(f, &k, |k| match k {
            "$Label1" => Some('a'),
            "work" => Some('b'),
            _ => None,
        });
        assert_eq!(info, "2,FPRSab");
        assert_eq!(lost, vec!["$Forwarded"]);
        assert_eq!(maildir_flags("", &names).0, Flags::default());
    }

    #[test]
    fn uidlist_and_mbsync_names() {
        let m = parse_dovecot_uidlist(
            "3 V1700000000 N3 Gabc\n1 :1700.M1P2.host\n2 W120 S118 :1701.M3P4.host\n",
        );
        assert_eq!(m.get("1700.M1P2.host"), Some(&1));
        assert_eq!(m.get("1701.M3P4.host"), Some(&2));
        assert_eq!(mbsync_uid("1700_1.123.host,U=42:2,S"), Some(42));
        assert_eq!(mbsync_uid("1700.host"), None);
    }

    #[test]
    fn maildirpp_names() {
        assert_eq!(maildirpp_dir("A/B"), ".A.B");
        assert_eq!(maildirpp_name(".A.B").as_deref(), Some("A/B"));
        assert_eq!(maildirpp_dir("Ré.sumé/x"), ".R&AOk-&AC4-sum&AOk-.x");
        assert_eq!(
            maildirpp_name(&maildirpp_dir("Ré.sumé/x")).as_deref(),
            Some("Ré.sumé/x")
        );
        assert_eq!(maildirpp_name(".a&-b").as_deref(), Some("a&b"));
        assert_eq!(maildirpp_name("."), None);
    }

    #[test]
    fn mbox_entry_round_trips() {
        let kw = vec!["work".to_string(), "$Label1".to_string()];
        let flags = Flags::SEEN.union(Flags::FLAGGED);
        for stored in [
            &b"From: a@b.test\r\nSubject: x\r\n\r\nFrom here\r\n>From there\r\nend\r\n"[..],
            b"Subject: no newline\r\n\r\nlast line",
            b"Status: RO\r\nSubject: own status\r\n\r\nbody\r\n",
            b"Subject: empty body\r\n\r\n",
            b"Subject: x\r\n\r\nends in blank\r\n\r\n",
        ] {
            let (entry, exact) = mbox_entry(stored, 1_700_000_000, flags, &kw);
            assert!(exact, "{:?}", String::from_utf8_lossy(&entry));
            assert!(
                entry.starts_with(b"From a@b.test Tue Nov 14 22:13:20 2023\n")
                    || entry.starts_with(b"From MAILER-DAEMON ")
            );
            let first = entry.iter().position(|&b| b == b'\n').unwrap() + 1;
            let back = parse_mbox_message(&entry[first..]);
            assert_eq!(from_file(back.raw), stored);
            assert_eq!(back.flags, flags);
            assert_eq!(back.keywords, kw);
        }
        // A message with no header/body separator is reported as not exact.
        assert!(!mbox_entry(b"Subject: only a header\r\n", 0, Flags::default(), &[]).1);
    }

    #[test]
    fn foreign_mbox_flags() {
        // mutt / Dovecot style: hidden headers anywhere, no Content-Length.
        let m = parse_mbox_message(
            b"X-UID: 7\nStatus: RO\nSubject: hi\nX-Status: AF\nX-Keywords: a, b\n\n>From x\nbody\n\n",
        );
        assert_eq!(m.raw, b"Subject: hi\n\nFrom x\nbody\n");
        assert_eq!(
            m.flags,
            Flags::SEEN.union(Flags::ANSWERED).union(Flags::FLAGGED)
        );
        assert_eq!(m.keywords, vec!["a", "b"]);
        // The last message of a file without a trailing newline keeps its last line.
        assert_eq!(parse_mbox_message(b"S: x\n\nlast").raw, b"S: x\n\nlast");
    }

    #[test]
    fn mbox_paths_stay_inside() {
        let levels: Vec<String> = mbox_file_levels("../../etc/.x").collect();
        assert_eq!(levels, vec!["&AC4-.", "&AC4-.", "etc", "&AC4-x.mbox"]);
        assert_eq!(mbox_level_name("&AC4-."), "..");
        assert_eq!(mbox_level_name("Sent"), "Sent");
    }

    #[test]
    fn mbsync_tuid_removed() {
        assert_eq!(
            without_field(
                b"Subject: a\r\nX-TUID: 8sZR8qf\r\n\r\nX-TUID: body\r\n".to_vec(),
                "x-tuid"
            ),
            b"Subject: a\r\n\r\nX-TUID: body\r\n"
        );
    }

    #[test]
    fn from_line_dates() {
        assert_eq!(
            parse_from_line_date("From a@b Tue Nov 14 22:13:20 2023"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_from_line_date("From a@b Tue Nov 14 23:13:20 2023 +0100"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_from_line_date("From MAILER-DAEMON Tue Nov  7 01:02 2023"),
            chrono::NaiveDate::from_ymd_opt(2023, 11, 7)
                .and_then(|d| d.and_hms_opt(1, 2, 0))
                .map(|t| t.and_utc().timestamp())
        );
        assert_eq!(parse_from_line_date("From a@b garbage"), None);
        assert_eq!(asctime(1_700_000_000), "Tue Nov 14 22:13:20 2023");
    }
}
