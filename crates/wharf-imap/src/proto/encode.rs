//! Writing response data: strings in the form the grammar allows, mailbox names, and the
//! ENVELOPE and BODYSTRUCTURE of a stored [`MessageSummary`] (RFC 9051 §7.5.2).

use wharf_store::mime::{Envelope, EnvelopeAddress, MessageSummary, Part};

/// Longest string sent quoted; longer ones go as literals.
const MAX_QUOTED: usize = 1024;

/// Whether `s` can be sent as an atom (and is not NIL, which would read as nil).
fn is_atom(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter().all(|&b| super::parse::is_atom_char(b))
        && !s.eq_ignore_ascii_case(b"NIL")
}

/// A `string`: quoted when that is possible, else a literal.
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() <= MAX_QUOTED && s.iter().all(|&b| (0x20..0x7f).contains(&b)) {
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        literal(out, s);
    }
}

/// A literal: `{n}` CRLF octets.
///
/// RFC 9051 §4.3: a literal cannot hold NUL. Message data that does (a body with
/// `Content-Transfer-Encoding: binary`, or plain bad mail) is sent with each NUL replaced
/// by 0x80, as Dovecot 2.3 does for BODY[] and RFC822 (checked against it, docs/imap.md);
/// the size stays the same. BINARY, which may carry NUL, uses [`literal8`].
pub fn literal(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
    let start = out.len();
    out.extend_from_slice(s);
    for b in &mut out[start..] {
        if *b == 0 {
            *b = 0x80;
        }
    }
}

/// BINARY data (RFC 3516 §4.2, RFC 9051 §6.4.5): a `literal8` (`~{n}`) when the octets
/// hold NUL, else an ordinary literal; the octets are sent unchanged either way.
pub fn literal8(out: &mut Vec<u8>, s: &[u8]) {
    if s.contains(&0) {
        out.extend_from_slice(format!("~{{{}}}\r\n", s.len()).as_bytes());
        out.extend_from_slice(s);
    } else {
        literal(out, s);
    }
}

/// An `astring`: an atom when possible.
pub fn astring(out: &mut Vec<u8>, s: &[u8]) {
    if is_atom(s) {
        out.extend_from_slice(s);
    } else {
        string(out, s);
    }
}

/// An `nstring`: NIL or a string.
pub fn nstring(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s.as_bytes()),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// A mailbox name as the client expects it: modified UTF-7 unless UTF-8 is enabled.
pub fn mailbox(out: &mut Vec<u8>, name: &str, utf8: bool) {
    if utf8 {
        astring(out, name.as_bytes());
    } else {
        astring(out, super::utf7::encode(name).as_bytes());
    }
}

fn address_list(out: &mut Vec<u8>, list: &[EnvelopeAddress]) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for a in list {
        out.push(b'(');
        nstring(out, a.name.as_deref());
        // RFC 9051 §7.5.2 addr-adl: the source route, NIL for nearly every address.
        out.push(b' ');
        nstring(out, a.adl.as_deref());
        out.push(b' ');
        nstring(out, a.mailbox.as_deref());
        out.push(b' ');
        nstring(out, a.host.as_deref());
        out.push(b')');
    }
    out.push(b')');
}

/// `envelope` (RFC 9051 §7.5.2).
pub fn envelope(out: &mut Vec<u8>, e: &Envelope) {
    out.push(b'(');
    nstring(out, e.date.as_deref());
    out.push(b' ');
    nstring(out, e.subject.as_deref());
    for list in [&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc] {
        out.push(b' ');
        address_list(out, list);
    }
    out.push(b' ');
    nstring(out, e.in_reply_to.as_deref());
    out.push(b' ');
    nstring(out, e.message_id.as_deref());
    out.push(b')');
}

fn params(out: &mut Vec<u8>, params: &[(String, String)]) {
    if params.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        string(out, k.as_bytes());
        out.push(b' ');
        string(out, v.as_bytes());
    }
    out.push(b')');
}

fn disposition(out: &mut Vec<u8>, d: &Option<(String, Vec<(String, String)>)>) {
    match d {
        None => out.extend_from_slice(b"NIL"),
        Some((v, p)) => {
            out.push(b'(');
            string(out, v.as_bytes());
            out.push(b' ');
            params(out, p);
            out.push(b')');
        }
    }
}

/// `body-fld-lang`: NIL or a list, also of one tag (as Dovecot sends it; the grammar
/// allows a bare string too, which some client parsers do not expect).
fn language(out: &mut Vec<u8>, l: &[String]) {
    match l {
        [] => out.extend_from_slice(b"NIL"),
        many => {
            out.push(b'(');
            for (i, s) in many.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                string(out, s.as_bytes());
            }
            out.push(b')');
        }
    }
}

/// `body` of one part: BODYSTRUCTURE when `extensible`, else the BODY form without
/// extension data. `global_as_message`: describe message/global (RFC 6532) like
/// message/rfc822; only for a session that enabled IMAP4rev2 or UTF8=ACCEPT.
pub fn body_structure(out: &mut Vec<u8>, p: &Part, extensible: bool, global_as_message: bool) {
    out.push(b'(');
    if p.is_multipart() {
        for c in &p.children {
            body_structure(out, c, extensible, global_as_message);
        }
        out.push(b' ');
        string(out, p.media_subtype.as_bytes());
        if extensible {
            // body-ext-mpart: params, disposition, language, location.
            out.push(b' ');
            params(out, &p.params);
            out.push(b' ');
            disposition(out, &p.disposition);
            out.push(b' ');
            language(out, &p.language);
            out.push(b' ');
            nstring(out, p.location.as_deref());
        }
    } else {
        string(out, p.media_type.as_bytes());
        out.push(b' ');
        string(out, p.media_subtype.as_bytes());
        out.push(b' ');
        if p.media_type == "text" && p.param("charset").is_none() {
            // RFC 2045 §5.2: text without a charset is US-ASCII; say so, as Dovecot does.
            let mut with_charset = p.params.clone();
            with_charset.push(("charset".into(), "us-ascii".into()));
            params(out, &with_charset);
        } else {
            params(out, &p.params);
        }
        out.push(b' ');
        nstring(out, p.id.as_deref());
        out.push(b' ');
        nstring(out, p.description.as_deref());
        out.push(b' ');
        // RFC 9051 §7.5.2 body-fld-enc; the default is 7BIT.
        string(out, p.encoding.as_deref().unwrap_or("7BIT").as_bytes());
        out.extend_from_slice(format!(" {}", p.body_len()).as_bytes());
        // RFC 3501 §9 body-type-msg is message/rfc822 only: an IMAP4rev1 client reads
        // message/global as body-type-basic, so it gets no envelope/body/lines there (as
        // Dovecot 2.3 sends it). RFC 9051 §7.5.2 lists message/global with them.
        let described = p.message.as_ref().filter(|_| {
            global_as_message || !(p.media_type == "message" && p.media_subtype == "global")
        });
        if let Some(m) = described {
            out.push(b' ');
            envelope(out, &m.envelope);
            out.push(b' ');
            body_structure(out, &m.root, extensible, global_as_message);
            out.extend_from_slice(format!(" {}", p.lines).as_bytes());
        } else if p.media_type == "message" && p.media_subtype == "rfc822" {
            // RFC 9051 §7.5.2 body-type-msg: message/rfc822 always has an envelope, a body
            // and a line count. One that is not described (encoded with base64 or QP, or
            // nested past mime::MAX_DEPTH) gets an empty envelope and an empty text body,
            // so that the client's parser does not read them from the extension data.
            out.extend_from_slice(
                b" (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) \
                  (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 0 0",
            );
            if extensible {
                out.extend_from_slice(b" NIL NIL NIL NIL");
            }
            out.extend_from_slice(format!(") {}", p.lines).as_bytes());
        } else if p.media_type == "text" {
            out.extend_from_slice(format!(" {}", p.lines).as_bytes());
        }
        if extensible {
            // body-ext-1part: md5, disposition, language, location.
            out.push(b' ');
            nstring(out, p.md5.as_deref());
            out.push(b' ');
            disposition(out, &p.disposition);
            out.push(b' ');
            language(out, &p.language);
            out.push(b' ');
            nstring(out, p.location.as_deref());
        }
    }
    out.push(b')');
}

/// BODYSTRUCTURE / BODY of a whole message (`global_as_message` as in [`body_structure`]).
pub fn message_structure(
    out: &mut Vec<u8>,
    s: &MessageSummary,
    extensible: bool,
    global_as_message: bool,
) {
    body_structure(out, &s.root, extensible, global_as_message);
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_store::mime::summarize;

    fn s(f: impl Fn(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn strings() {
        assert_eq!(s(|o| string(o, b"a \"b\" \\c")), "\"a \\\"b\\\" \\\\c\"");
        assert_eq!(s(|o| string(o, b"line\r\nbreak")), "{11}\r\nline\r\nbreak");
        assert_eq!(s(|o| string(o, "caf\u{e9}".as_bytes())), "{5}\r\ncaf\u{e9}");
        assert_eq!(s(|o| astring(o, b"INBOX")), "INBOX");
        assert_eq!(s(|o| astring(o, b"My Box")), "\"My Box\"");
        assert_eq!(s(|o| astring(o, b"nil")), "\"nil\"");
        assert_eq!(s(|o| mailbox(o, "Entw\u{fc}rfe", false)), "Entw&APw-rfe");
        assert_eq!(s(|o| nstring(o, None)), "NIL");
    }

    #[test]
    fn literals_never_carry_nul() {
        let mut v = Vec::new();
        literal(&mut v, b"a\0b");
        assert_eq!(v, b"{3}\r\na\x80b");
        v.clear();
        string(&mut v, b"x\0");
        assert_eq!(v, b"{2}\r\nx\x80");
        v.clear();
        literal8(&mut v, b"a\0b");
        assert_eq!(v, b"~{3}\r\na\0b");
        v.clear();
        literal8(&mut v, b"ab");
        assert_eq!(v, b"{2}\r\nab");
    }

    #[test]
    fn rfc_3501_style_bodystructure() {
        let raw = b"Subject: hi\r\nFrom: A <a@b.example>\r\n\r\nhello\r\nworld\r\n";
        let sum = summarize(raw);
        assert_eq!(
            s(|o| message_structure(o, &sum, true, true)),
            "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 14 2 NIL NIL NIL NIL)"
        );
        assert_eq!(
            s(|o| message_structure(o, &sum, false, true)),
            "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 14 2)"
        );
        assert_eq!(
            s(|o| envelope(o, &sum.envelope)),
            "(NIL \"hi\" ((\"A\" NIL \"a\" \"b.example\")) ((\"A\" NIL \"a\" \"b.example\")) \
             ((\"A\" NIL \"a\" \"b.example\")) NIL NIL NIL NIL NIL)"
        );
    }

    #[test]
    fn envelope_addresses_as_dovecot_sends_them() {
        let raw = b"From: <@route:user@domain>\r\nTo: d, Undisclosed:;\r\n\
Cc: <user-from (c)@ (c) domain.org>\r\n\r\nx\r\n";
        let sum = summarize(raw);
        // Dovecot 2.3.19's answer for the same message, byte for byte.
        assert_eq!(
            s(|o| envelope(o, &sum.envelope)),
            "(NIL NIL ((NIL \"@route\" \"user\" \"domain\")) ((NIL \"@route\" \"user\" \"domain\")) \
             ((NIL \"@route\" \"user\" \"domain\")) ((NIL NIL \"d\" \"MISSING_DOMAIN\")\
             (NIL NIL \"Undisclosed\" NIL)(NIL NIL NIL NIL)) ((NIL NIL \"user-from\" \"domain.org\")) \
             NIL NIL NIL)"
        );
    }

    #[test]
    fn message_rfc822_is_always_complete_and_text_has_a_charset() {
        let raw = b"Content-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\n\
Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n\
U3ViamVjdDogaQ0KDQppbm5lciB0ZXh0DQo=\r\n--m\r\nContent-Type: text/html\r\n\
Content-Language: fr\r\n\r\nx\r\n--m--\r\n";
        let sum = summarize(raw);
        assert_eq!(
            s(|o| message_structure(o, &sum, true, true)),
            "((\"message\" \"rfc822\" NIL NIL NIL \"base64\" 36 \
             (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) \
             (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL) 0 \
             NIL NIL NIL NIL)\
             (\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 1 0 NIL NIL (\"fr\") NIL) \
             \"mixed\" (\"boundary\" \"m\") NIL NIL NIL)"
        );
        assert_eq!(
            s(|o| message_structure(o, &sum, false, true)),
            "((\"message\" \"rfc822\" NIL NIL NIL \"base64\" 36 \
             (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) \
             (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 0 0) 0)\
             (\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 1 0) \"mixed\")"
        );
    }

    #[test]
    fn multipart_with_nested_message() {
        let raw = b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\nhi\r\n--x\r\n\
Content-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nbody\r\n--x--\r\n";
        let sum = summarize(raw);
        assert_eq!(
            s(|o| message_structure(o, &sum, false, true)),
            "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 2 0)\
(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 19 (NIL \"in\" NIL NIL NIL NIL NIL NIL NIL NIL) \
(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 4 0) 2) \"mixed\")"
        );
    }

    #[test]
    fn message_global_is_a_basic_part_for_imap4rev1() {
        let raw = b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\nhi\r\n--x\r\n\
Content-Type: message/global\r\n\r\nSubject: in\r\n\r\nbody\r\n--x--\r\n";
        let sum = summarize(raw);
        // IMAP4rev1 (RFC 3501 §9): body-type-basic, no envelope/body/lines (as Dovecot 2.3).
        assert_eq!(
            s(|o| message_structure(o, &sum, false, false)),
            "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 2 0)\
(\"message\" \"global\" NIL NIL NIL \"7BIT\" 19) \"mixed\")"
        );
        // IMAP4rev2 / UTF8=ACCEPT (RFC 9051 §7.5.2): described like message/rfc822.
        assert_eq!(
            s(|o| message_structure(o, &sum, false, true)),
            "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 2 0)\
(\"message\" \"global\" NIL NIL NIL \"7BIT\" 19 (NIL \"in\" NIL NIL NIL NIL NIL NIL NIL NIL) \
(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 4 0) 2) \"mixed\")"
        );
    }
}
