//! What the store keeps of a message's structure, parsed once at delivery.
//!
//! IMAP's ENVELOPE, BODYSTRUCTURE and `BODY[section]` fetches, and POP3's TOP, are served
//! from this summary plus byte ranges of the stored body, so no access protocol re-parses
//! a message to list it. The summary is stored as JSON; new fields must carry
//! `#[serde(default)]` so summaries written by older versions still load.
//!
//! How it is built:
//! - The MIME tree (part boundaries, byte offsets) is walked here, directly over the raw
//!   bytes, because IMAP needs exact octet ranges: a part's body ends before the CRLF that
//!   precedes the next boundary delimiter (RFC 2046 §5.1.1), and a nested message/rfc822's
//!   offsets must be relative to the outermost message (RFC 9051 §6.4.5).
//! - Header *values* (Content-Type parameters with RFC 2231 continuations, address lists
//!   with groups and RFC 2047 names) are parsed by the `mail-parser` crate, one header
//!   block at a time.
//! - Values IMAP sends verbatim (Date, Subject, Message-ID, Content-ID, ...) are taken
//!   from the raw header, unfolded (RFC 5322 §2.2.3) and trimmed, never decoded.
//!
//! Bounds: nesting deeper than [`MAX_DEPTH`] or more than [`MAX_PARTS`] parts in one
//! message are summarized as opaque leaves, so a hostile message cannot make the
//! summary (or IMAP's BODYSTRUCTURE) grow without end.

use mail_parser::{HeaderName, HeaderValue, MessageParser};
use serde::{Deserialize, Serialize};

/// Deepest multipart / message nesting that is described; deeper parts become leaves.
pub const MAX_DEPTH: usize = 32;
/// Most parts described per message; further parts of a multipart are dropped from the tree.
pub const MAX_PARTS: usize = 2_000;

/// What [`summarize`] makes today. Raise it whenever a change to this module changes
/// what a stored summary holds: the store makes older summaries again from the body
/// when it reads them (so existing data directories get the fix).
///
/// 0 (absent from the JSON): before versions.
/// 2: ENVELOPE addresses from [`parse_address_list`] (routes, missing domains, comments).
/// 3: `lines` counts line ends only ([`count_lines`]).
/// 4: an unterminated route (`<@x.test>`) is [`INVALID_ROUTE`].
pub const SUMMARY_VERSION: u32 = 4;

/// The parsed shape of one message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageSummary {
    /// The [`SUMMARY_VERSION`] that made it; 0 in summaries written before versions.
    #[serde(default)]
    pub version: u32,
    pub envelope: Envelope,
    /// The top-level part; its `header_start` is 0 and its `end` the message size.
    pub root: Part,
}

/// RFC 9051 §7.5.2 ENVELOPE fields. Strings are the raw header values, unfolded but not
/// decoded (IMAP sends them as the message has them).
///
/// As RFC 9051 §7.5.2 requires of the server, `sender` and `reply_to` already hold the
/// `from` list when the message has no Sender / Reply-To header.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub from: Vec<EnvelopeAddress>,
    #[serde(default)]
    pub sender: Vec<EnvelopeAddress>,
    #[serde(default)]
    pub reply_to: Vec<EnvelopeAddress>,
    #[serde(default)]
    pub to: Vec<EnvelopeAddress>,
    #[serde(default)]
    pub cc: Vec<EnvelopeAddress>,
    #[serde(default)]
    pub bcc: Vec<EnvelopeAddress>,
    #[serde(default)]
    pub in_reply_to: Option<String>,
    #[serde(default)]
    pub message_id: Option<String>,
}

/// One address of an ENVELOPE list. A group is written as in RFC 9051 §7.5.2: a start
/// marker with `mailbox` = group name and no host, the members, then an end marker with
/// neither mailbox nor host.
///
/// `name` is ASCII: a display name that decodes to non-ASCII text is re-encoded as one
/// RFC 2047 UTF-8 encoded-word, so IMAP4rev1 clients can take it as a quoted string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeAddress {
    pub name: Option<String>,
    /// The source route of an obsolete route address (`<@a,@b:user@host>` has
    /// `@a,@b`), RFC 5322 §4.4 obs-route; RFC 9051 §7.5.2 addr-adl.
    #[serde(default)]
    pub adl: Option<String>,
    pub mailbox: Option<String>,
    pub host: Option<String>,
}

/// One MIME part with its place in the raw message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// Offset of the part's first header octet in the raw message.
    pub header_start: u64,
    /// Offset of the first body octet (just after the blank line ending the headers).
    pub body_start: u64,
    /// Offset one past the last body octet.
    pub end: u64,
    /// Lower-case media type and subtype, e.g. `text` / `plain` (RFC 2045 default).
    pub media_type: String,
    pub media_subtype: String,
    /// Content-Type parameters, names lower-cased, RFC 2231 continuations joined (and
    /// their charset-encoded values decoded to UTF-8).
    #[serde(default)]
    pub params: Vec<(String, String)>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Content-Transfer-Encoding as written (IMAP defaults it to `7BIT`).
    #[serde(default)]
    pub encoding: Option<String>,
    #[serde(default)]
    pub md5: Option<String>,
    /// Content-Disposition value and parameters.
    #[serde(default)]
    pub disposition: Option<(String, Vec<(String, String)>)>,
    #[serde(default)]
    pub language: Vec<String>,
    #[serde(default)]
    pub location: Option<String>,
    /// Body size in lines (for text/* and message/rfc822 BODYSTRUCTURE).
    #[serde(default)]
    pub lines: u64,
    /// Sub-parts of a multipart.
    #[serde(default)]
    pub children: Vec<Part>,
    /// The enclosed message of a message/rfc822 part: its envelope and top part (whose
    /// offsets are, like all offsets here, relative to the outermost message).
    #[serde(default)]
    pub message: Option<Box<MessageSummary>>,
}

impl Part {
    /// Size of the body in octets.
    pub fn body_len(&self) -> u64 {
        self.end - self.body_start
    }

    /// Whether this is a multipart with its sub-parts described.
    pub fn is_multipart(&self) -> bool {
        self.media_type == "multipart" && !self.children.is_empty()
    }

    /// A Content-Type parameter by (lower-case) name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a message (CRLF line endings) into its summary. Never fails: a message that is
/// not valid MIME is summarized as one text/plain part, as IMAP servers do.
pub fn summarize(raw: &[u8]) -> MessageSummary {
    let mut budget = MAX_PARTS;
    summarize_message(raw, 0, raw.len(), 0, &mut budget)
}

/// Offset just past the blank line that ends the header block (or the end of the input
/// when there is no blank line).
pub fn header_end(raw: &[u8]) -> usize {
    if raw.starts_with(b"\r\n") {
        return 2;
    }
    if raw.starts_with(b"\n") {
        return 1;
    }
    // Bare-LF input is tolerated: the first empty line ends the header either way.
    let mut i = 0;
    while let Some(p) = raw[i..].iter().position(|&b| b == b'\n') {
        let lf = i + p;
        match raw.get(lf + 1) {
            Some(b'\n') => return lf + 2,
            Some(b'\r') if raw.get(lf + 2) == Some(&b'\n') => return lf + 3,
            _ => i = lf + 1,
        }
    }
    raw.len()
}

/// BODYSTRUCTURE's body-fld-lines: the number of line ends in the body. A last line
/// without its own line end is not counted, as Dovecot counts; this matters for nearly
/// every part of a multipart, whose last CRLF belongs to the next delimiter
/// (RFC 2046 §5.1.1): `hello CRLF world` before a delimiter is 1 line.
pub fn count_lines(body: &[u8]) -> u64 {
    body.iter().filter(|&&b| b == b'\n').count() as u64
}

/// Header block of one part, parsed once and kept with its raw bytes.
struct Headers<'a> {
    raw: &'a [u8],
    parsed: Vec<mail_parser::Header<'a>>,
}

impl<'a> Headers<'a> {
    fn parse(raw: &'a [u8]) -> Headers<'a> {
        let parsed = MessageParser::new()
            .with_mime_headers()
            .header_comma_separated(HeaderName::ContentLanguage)
            .parse_headers(raw)
            .and_then(|m| m.parts.into_iter().next())
            .map(|p| p.headers)
            .unwrap_or_default();
        Headers { raw, parsed }
    }

    fn get(&self, name: HeaderName<'static>) -> Option<&mail_parser::Header<'a>> {
        self.parsed.iter().find(|h| h.name == name)
    }

    /// The first such header's value as written: unfolded, trimmed, not decoded.
    fn raw_value(&self, name: HeaderName<'static>) -> Option<String> {
        let h = self.get(name)?;
        let bytes = self
            .raw
            .get(h.offset_start as usize..h.offset_end as usize)?;
        Some(unfold(bytes))
    }

    fn value(&self, name: HeaderName<'static>) -> Option<&HeaderValue<'a>> {
        self.get(name).map(|h| &h.value)
    }
}

/// RFC 5322 §2.2.3: unfolding removes each CRLF that is followed by whitespace.
fn unfold(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    for &b in bytes {
        if b != b'\r' && b != b'\n' {
            out.push(b);
        }
    }
    let s = String::from_utf8_lossy(&out);
    s.trim().to_string()
}

fn summarize_message(
    raw: &[u8],
    start: usize,
    end: usize,
    depth: usize,
    budget: &mut usize,
) -> MessageSummary {
    let slice = &raw[start..end];
    let body_start = start + header_end(slice);
    let headers = Headers::parse(&raw[start..body_start]);
    let envelope = envelope(&headers);
    let root = build_part(raw, start, body_start, end, &headers, false, depth, budget);
    MessageSummary {
        version: SUMMARY_VERSION,
        envelope,
        root,
    }
}

fn envelope(h: &Headers<'_>) -> Envelope {
    let addresses = |name| {
        h.raw_value(name)
            .map(|v| parse_address_list(&v))
            .unwrap_or_default()
    };
    let from = addresses(HeaderName::From);
    let sender = match addresses(HeaderName::Sender) {
        v if v.is_empty() => from.clone(),
        v => v,
    };
    let reply_to = match addresses(HeaderName::ReplyTo) {
        v if v.is_empty() => from.clone(),
        v => v,
    };
    Envelope {
        date: h.raw_value(HeaderName::Date),
        subject: h.raw_value(HeaderName::Subject),
        from,
        sender,
        reply_to,
        to: addresses(HeaderName::To),
        cc: addresses(HeaderName::Cc),
        bcc: addresses(HeaderName::Bcc),
        in_reply_to: h.raw_value(HeaderName::InReplyTo),
        message_id: h.raw_value(HeaderName::MessageId),
    }
}

// ---- address lists (RFC 5322 §3.4, §4.4) ----
//
// Parsed here, over the raw header value, rather than by mail-parser: IMAP's ENVELOPE
// needs the parts mail-parser merges or drops (source routes, addresses without a domain,
// comments that are not names). The result follows Dovecot 2.3's message-address parser,
// checked against it (docs/imap.md lists the cases and the few deliberate differences).

/// Host written for an address that has no domain (`From: d`), as Dovecot does: NIL
/// would mark a group (RFC 9051 §7.5.2).
pub const MISSING_DOMAIN: &str = "MISSING_DOMAIN";
/// Mailbox written for an address that has none (`<>`, `@`, an empty list element).
pub const MISSING_MAILBOX: &str = "MISSING_MAILBOX";
/// Host written when an angle address is not closed (`Name <a@b`).
pub const SYNTAX_ERROR: &str = "SYNTAX_ERROR";
/// Route written for an angle address that starts like a route but has no `:` ending
/// it (`<@x.test>`), as Dovecot does; its mailbox and host are then missing.
pub const INVALID_ROUTE: &str = "INVALID_ROUTE";
/// Most addresses kept of one header field; a longer list is cut (bounded summaries).
pub const MAX_ADDRESSES: usize = 1_000;

#[derive(Debug, Clone, PartialEq)]
enum AddrTok {
    /// An atom, or a quoted string's content (quoted-pairs undone).
    Word(String),
    /// `[...]`, kept with its brackets.
    DomainLiteral(String),
    /// One of `<>:;@,.`.
    Special(char),
    /// A comment's text (nested comments flattened), trimmed.
    Comment(String),
}

/// Splits an unfolded header value into tokens; each carries whether whitespace (or a
/// comment) preceded it, which a phrase keeps as one space. Unterminated quoted strings,
/// comments and domain literals run to the end of the value.
fn addr_tokens(v: &str) -> Vec<(AddrTok, bool)> {
    let mut out = Vec::new();
    let mut chars = v.chars().peekable();
    let mut space = false;
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\r' | '\n' => space = true,
            '(' => {
                let mut depth = 1;
                let mut text = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => text.extend(chars.next()),
                        '(' => {
                            depth += 1;
                            text.push(' ');
                        }
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                            text.push(' ');
                        }
                        c => text.push(c),
                    }
                }
                let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                out.push((AddrTok::Comment(text), space));
                space = true;
            }
            '"' => {
                let mut text = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => text.extend(chars.next()),
                        '"' => break,
                        c => text.push(c),
                    }
                }
                out.push((AddrTok::Word(text), space));
                space = false;
            }
            '[' => {
                let mut text = String::from("[");
                for c in chars.by_ref() {
                    text.push(c);
                    if c == ']' {
                        break;
                    }
                }
                out.push((AddrTok::DomainLiteral(text), space));
                space = false;
            }
            '<' | '>' | ':' | ';' | '@' | ',' | '.' => {
                out.push((AddrTok::Special(c), space));
                space = false;
            }
            c => {
                let mut atom = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || "()<>[]:;@\\,.\"".contains(n) {
                        break;
                    }
                    atom.push(n);
                    chars.next();
                }
                out.push((AddrTok::Word(atom), space));
                space = false;
            }
        }
    }
    out
}

/// A run of tokens rendered as a phrase: words and dots, one space where the value had
/// whitespace (`Mr.  Smith` is `Mr. Smith`); comments are left out.
fn phrase_text(toks: &[(AddrTok, bool)]) -> String {
    let mut out = String::new();
    for (t, space) in toks {
        let piece = match t {
            AddrTok::Word(w) | AddrTok::DomainLiteral(w) => w.as_str(),
            AddrTok::Special('.') => ".",
            _ => continue,
        };
        if *space && !out.is_empty() {
            out.push(' ');
        }
        out.push_str(piece);
    }
    out.trim().to_string()
}

/// A run of tokens rendered without spaces (local part, domain, route).
fn tight_text(toks: &[(AddrTok, bool)]) -> String {
    let mut out = String::new();
    for (t, _) in toks {
        match t {
            AddrTok::Word(w) | AddrTok::DomainLiteral(w) => out.push_str(w),
            AddrTok::Special(c) if *c != ',' || !out.is_empty() => out.push(*c),
            _ => {}
        }
    }
    out
}

/// The last of the comments that end an element (after its address), if any: Dovecot
/// takes it as the name of an address that has none (`joe@x (Joe)`).
fn trailing_comment(toks: &[(AddrTok, bool)]) -> Option<String> {
    toks.iter()
        .rev()
        .map_while(|(t, _)| match t {
            AddrTok::Comment(c) => Some(c),
            _ => None,
        })
        .find(|c| !c.is_empty())
        .cloned()
}

fn is_special(t: &(AddrTok, bool), c: char) -> bool {
    t.0 == AddrTok::Special(c)
}

/// Parses an address-list header value (RFC 5322 §3.4, with the obsolete forms of
/// §4.4: routes, empty list elements) into ENVELOPE addresses.
///
/// - `Name <local@domain>`, `local@domain (Name)` (a comment names an address that has
///   no display name), `<@route1,@route2:local@domain>` (the route goes to the
///   envelope's adl field);
/// - a group `Name: members;` becomes a start marker, the members and an end marker;
/// - comments elsewhere are dropped (`<user (c)@ (c) domain>` is `user` at `domain`);
/// - an address without `@` keeps its mailbox with host [`MISSING_DOMAIN`]; an empty
///   element, `<>` or `@` is [`MISSING_MAILBOX`] at [`MISSING_DOMAIN`]; a phrase of
///   several words without an address is a name with both missing; an unclosed `<` gives
///   host [`SYNTAX_ERROR`].
pub fn parse_address_list(value: &str) -> Vec<EnvelopeAddress> {
    let toks = addr_tokens(value);
    let mut out = Vec::new();
    let mut i = 0;
    let mut in_group = false;
    while i < toks.len() && out.len() < MAX_ADDRESSES {
        // One element: up to a top-level ',', the ';' ending a group, or the ':' ending
        // a group's name.
        let start = i;
        let mut angle = false;
        let mut stop = None;
        while i < toks.len() {
            let t = &toks[i];
            if is_special(t, '<') {
                angle = true;
            } else if is_special(t, '>') {
                angle = false;
            } else if !angle
                && (is_special(t, ',')
                    || (in_group && is_special(t, ';'))
                    || (!in_group && is_special(t, ':')))
            {
                stop = Some(t.0.clone());
                break;
            }
            i += 1;
        }
        let elem = &toks[start..i];
        i += 1; // past the stop token
        if stop == Some(AddrTok::Special(':')) {
            out.push(EnvelopeAddress {
                mailbox: Some(ascii_phrase(&phrase_text(elem))),
                ..EnvelopeAddress::default()
            });
            in_group = true;
            continue;
        }
        if elem.iter().any(|(t, _)| !matches!(t, AddrTok::Comment(_))) {
            out.push(element_address(elem));
        } else if !in_group && stop.is_some() {
            // Dovecot keeps an empty element of a list (`a, , b`) as a missing address.
            out.push(missing(None));
        }
        if in_group && stop != Some(AddrTok::Special(',')) {
            out.push(EnvelopeAddress::default());
            in_group = false;
            // What follows the ';' up to the next ',' is not an address.
            while i < toks.len() && !is_special(&toks[i], ',') {
                i += 1;
            }
            i += 1;
        }
    }
    if in_group {
        out.push(EnvelopeAddress::default());
    }
    out
}

fn missing(name: Option<String>) -> EnvelopeAddress {
    EnvelopeAddress {
        name,
        adl: None,
        mailbox: Some(MISSING_MAILBOX.into()),
        host: Some(MISSING_DOMAIN.into()),
    }
}

fn nonempty_name(s: String) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| ascii_phrase(s))
}

/// One mailbox element (no group, no top-level comma).
fn element_address(elem: &[(AddrTok, bool)]) -> EnvelopeAddress {
    if let Some(lt) = elem.iter().position(|t| is_special(t, '<')) {
        // name-addr: [phrase] "<" [route ":"] addr-spec ">".
        let name = nonempty_name(phrase_text(&elem[..lt]))
            .or_else(|| trailing_comment(elem).and_then(nonempty_name));
        let rest = &elem[lt + 1..];
        let gt = rest.iter().position(|t| is_special(t, '>'));
        let inner = &rest[..gt.unwrap_or(rest.len())];
        let (adl, spec) = match inner.first() {
            Some(t) if is_special(t, '@') => match inner.iter().position(|t| is_special(t, ':')) {
                Some(colon) => (Some(tight_text(&inner[..colon])), &inner[colon + 1..]),
                // `<@x.test>`: a route that never ends; nothing usable follows.
                None => (Some(INVALID_ROUTE.to_string()), &[][..]),
            },
            _ => (None, inner),
        };
        let (mailbox, host) = split_spec(spec);
        let mut a = EnvelopeAddress {
            name,
            adl: adl.filter(|r| !r.is_empty()),
            mailbox: Some(mailbox.unwrap_or_else(|| MISSING_MAILBOX.into())),
            host: Some(host.unwrap_or_else(|| MISSING_DOMAIN.into())),
        };
        if gt.is_none() {
            a.host = Some(SYNTAX_ERROR.into());
        }
        return a;
    }
    if elem.iter().any(|t| is_special(t, '@')) {
        // addr-spec, perhaps with a trailing comment naming it.
        let (mailbox, host) = split_spec(elem);
        return EnvelopeAddress {
            name: trailing_comment(elem).and_then(nonempty_name),
            adl: None,
            mailbox: Some(mailbox.unwrap_or_else(|| MISSING_MAILBOX.into())),
            host: Some(host.unwrap_or_else(|| MISSING_DOMAIN.into())),
        };
    }
    // No address at all: one word is a local part without domain, several a name.
    let text = phrase_text(elem);
    if text.contains(' ') {
        missing(nonempty_name(text))
    } else {
        EnvelopeAddress {
            name: None,
            adl: None,
            mailbox: Some(tight_text(elem)),
            host: Some(MISSING_DOMAIN.into()),
        }
    }
}

/// `local "@" domain` from the tokens of an addr-spec: (mailbox, host), each `None`
/// when empty. Tokens after the domain (a second address without a comma) are ignored.
fn split_spec(spec: &[(AddrTok, bool)]) -> (Option<String>, Option<String>) {
    let at = spec.iter().position(|t| is_special(t, '@'));
    let (local, domain) = match at {
        Some(at) => (&spec[..at], &spec[at + 1..]),
        None => (spec, &[][..]),
    };
    // The domain: its first run of words, dots and literals (comments in between
    // allowed); stops at whitespace that is followed by another word.
    let mut end = 0;
    let mut seen = false;
    for (k, (t, space)) in domain.iter().enumerate() {
        match t {
            AddrTok::Comment(_) => {}
            AddrTok::Word(_) | AddrTok::DomainLiteral(_) if seen && *space => {
                let prev_dot = domain[..k]
                    .iter()
                    .rev()
                    .find(|(t, _)| !matches!(t, AddrTok::Comment(_)))
                    .is_some_and(|t| is_special(t, '.'));
                if !prev_dot {
                    break;
                }
            }
            AddrTok::Word(_) | AddrTok::DomainLiteral(_) | AddrTok::Special('.') => {}
            _ => break,
        }
        seen |= !matches!(t, AddrTok::Comment(_));
        end = k + 1;
    }
    let local = tight_text(local);
    let host = at.map(|_| tight_text(&domain[..end]));
    (
        (!local.is_empty()).then_some(local),
        host.filter(|h| !h.is_empty()),
    )
}

/// A display phrase as ASCII: unchanged if it is, else one RFC 2047 `B` encoded-word.
fn ascii_phrase(s: &str) -> String {
    if s.is_ascii() {
        return s.to_string();
    }
    format!("=?utf-8?b?{}?=", base64(s.as_bytes()))
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

fn lower_pairs(attrs: Option<&[mail_parser::Attribute<'_>]>) -> Vec<(String, String)> {
    attrs
        .unwrap_or_default()
        .iter()
        .map(|a| (a.name.to_ascii_lowercase(), a.value.to_string()))
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn build_part(
    raw: &[u8],
    header_start: usize,
    body_start: usize,
    end: usize,
    headers: &Headers<'_>,
    in_digest: bool,
    depth: usize,
    budget: &mut usize,
) -> Part {
    *budget = budget.saturating_sub(1);
    let content_type = headers
        .value(HeaderName::ContentType)
        .and_then(|v| v.as_content_type());
    // RFC 2045 §5.2 default text/plain; RFC 2046 §5.1.5: message/rfc822 inside a digest.
    let (mut media_type, mut media_subtype, mut params) = match content_type {
        Some(ct) if ct.subtype().is_some() => (
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().unwrap_or_default().to_ascii_lowercase(),
            lower_pairs(ct.attributes()),
        ),
        _ if in_digest => ("message".into(), "rfc822".into(), Vec::new()),
        // A syntactically invalid Content-Type counts as absent (RFC 2045 §5.2).
        _ => (
            "text".into(),
            "plain".into(),
            vec![("charset".into(), "us-ascii".into())],
        ),
    };
    let encoding = headers.raw_value(HeaderName::ContentTransferEncoding);
    let disposition = headers
        .value(HeaderName::ContentDisposition)
        .and_then(|v| v.as_content_type())
        .map(|d| (d.ctype().to_ascii_lowercase(), lower_pairs(d.attributes())));
    let language = match headers.value(HeaderName::ContentLanguage) {
        Some(HeaderValue::TextList(l)) => l.iter().map(|s| s.trim().to_string()).collect(),
        Some(HeaderValue::Text(t)) => vec![t.trim().to_string()],
        _ => Vec::new(),
    };
    let mut part = Part {
        header_start: header_start as u64,
        body_start: body_start as u64,
        end: end as u64,
        media_type: String::new(),
        media_subtype: String::new(),
        params: Vec::new(),
        id: headers.raw_value(HeaderName::ContentId),
        description: headers.raw_value(HeaderName::ContentDescription),
        encoding,
        md5: headers.raw_value(HeaderName::ContentMd5),
        disposition,
        language,
        location: headers.raw_value(HeaderName::ContentLocation),
        lines: count_lines(&raw[body_start..end]),
        children: Vec::new(),
        message: None,
    };
    let room = depth < MAX_DEPTH && *budget > 0;

    if media_type == "multipart" {
        let boundary = params
            .iter()
            .find(|(n, _)| n == "boundary")
            .map(|(_, v)| v.clone())
            .filter(|b| !b.is_empty());
        let ranges = match (&boundary, room) {
            (Some(b), true) => split_multipart(raw, body_start, end, b.as_bytes()),
            _ => Vec::new(),
        };
        if ranges.is_empty() {
            // A multipart without a usable boundary or without parts cannot be described
            // as one (IMAP's body-type-mpart needs at least one part): treat it as text.
            media_type = "text".into();
            media_subtype = "plain".into();
            params.retain(|(n, _)| n != "boundary");
        } else {
            let digest = media_subtype == "digest";
            for (cs, ce) in ranges {
                if *budget == 0 {
                    break;
                }
                let cb = cs + header_end(&raw[cs..ce]);
                let ch = Headers::parse(&raw[cs..cb]);
                let child = build_part(raw, cs, cb, ce, &ch, digest, depth + 1, budget);
                part.children.push(child);
            }
        }
    } else if media_type == "message"
        && (media_subtype == "rfc822" || media_subtype == "global")
        && room
        && is_identity_encoding(part.encoding.as_deref())
    {
        // RFC 9051 §6.4.5: the enclosed message is addressable (HEADER, TEXT, parts).
        part.message = Some(Box::new(summarize_message(
            raw,
            body_start,
            end,
            depth + 1,
            budget,
        )));
    }
    part.media_type = media_type;
    part.media_subtype = media_subtype;
    part.params = params;
    part
}

/// 7bit, 8bit and binary leave the octets as they are (RFC 2045 §6.2); only then can an
/// enclosed message be described in place.
fn is_identity_encoding(enc: Option<&str>) -> bool {
    match enc {
        None => true,
        Some(e) => {
            let e = e.to_ascii_lowercase();
            e == "7bit" || e == "8bit" || e == "binary"
        }
    }
}

/// Splits a multipart body into its parts' (start, end) byte ranges.
///
/// RFC 2046 §5.1.1: a delimiter is `--boundary` at the start of a line, followed by
/// optional linear whitespace and the line end; the CRLF before it belongs to the
/// delimiter, not to the preceding part. The close delimiter adds `--`. Text before the
/// first delimiter (preamble) and after the close delimiter (epilogue) is no part. A
/// missing close delimiter ends the last part at the end of the body.
fn split_multipart(raw: &[u8], start: usize, end: usize, boundary: &[u8]) -> Vec<(usize, usize)> {
    let mut parts = Vec::new();
    let mut current: Option<usize> = None;
    let mut line = start;
    while line < end {
        let line_end = raw[line..end]
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| line + p + 1)
            .unwrap_or(end);
        let text = &raw[line..line_end];
        if let Some(kind) = delimiter_kind(text, boundary) {
            if let Some(cs) = current.take() {
                // The line break before the delimiter is part of the delimiter.
                let mut pe = line;
                if pe > cs && raw[pe - 1] == b'\n' {
                    pe -= 1;
                    if pe > cs && raw[pe - 1] == b'\r' {
                        pe -= 1;
                    }
                }
                parts.push((cs, pe.max(cs)));
            }
            if kind == Delimiter::Close {
                return parts;
            }
            current = Some(line_end);
        }
        line = line_end;
    }
    if let Some(cs) = current {
        parts.push((cs, end));
    }
    parts
}

#[derive(PartialEq)]
enum Delimiter {
    Open,
    Close,
}

fn delimiter_kind(line: &[u8], boundary: &[u8]) -> Option<Delimiter> {
    let rest = line.strip_prefix(b"--")?.strip_prefix(boundary)?;
    if rest.starts_with(b"--") {
        return Some(Delimiter::Close);
    }
    // Only transport padding may follow the boundary (RFC 2046 §5.1.1); anything else
    // means a longer boundary that merely starts with ours.
    rest.iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .then_some(Delimiter::Open)
}

// ---- content transfer encodings ----

/// Why a part's content cannot be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// RFC 3516 §4.2: a Content-Transfer-Encoding this server does not know (IMAP
    /// answers `[UNKNOWN-CTE]`).
    UnknownEncoding,
}

/// Undoes a part's Content-Transfer-Encoding (RFC 2045 §6): the one decoder every user
/// of decoded content goes through (IMAP BINARY, SEARCH's text and the body index), so
/// that they all see the same octets.
///
/// `7bit`, `8bit`, `binary` and no header at all leave the octets as they are; `base64`
/// and `quoted-printable` are decoded leniently (RFC 2045 §6.7 (5) and §6.8: bad input is
/// passed over, not refused), as Dovecot does.
pub fn decode_transfer_encoding(
    body: &[u8],
    encoding: Option<&str>,
) -> Result<Vec<u8>, DecodeError> {
    let enc = encoding.unwrap_or("7bit").trim();
    if enc.eq_ignore_ascii_case("7bit")
        || enc.eq_ignore_ascii_case("8bit")
        || enc.eq_ignore_ascii_case("binary")
    {
        Ok(body.to_vec())
    } else if enc.eq_ignore_ascii_case("base64") {
        Ok(decode_base64(body))
    } else if enc.eq_ignore_ascii_case("quoted-printable") {
        Ok(decode_quoted_printable(body))
    } else {
        Err(DecodeError::UnknownEncoding)
    }
}

/// RFC 2045 §6.7 quoted-printable.
///
/// - Rule (3): whitespace at the end of an encoded line is transport padding and is
///   removed, so `hello  CRLF` decodes to `hello CRLF` without the spaces.
/// - Rule (5): `=` at the end of a line (after that padding is removed) is a soft line
///   break: `foo= CRLF bar` decodes to `foobar`.
/// - `=XX` with two hexadecimal digits is the octet XX (lower-case digits accepted, as
///   §6.7 (1) recommends of a robust decoder); any other `=` passes through as itself.
/// - Line ends are kept as written (CRLF, or a bare LF from a lenient sender).
pub fn decode_quoted_printable(body: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(body.len());
    for line in body.split_inclusive(|&b| b == b'\n') {
        let (text, eol): (&[u8], &[u8]) = if let Some(t) = line.strip_suffix(b"\r\n") {
            (t, b"\r\n")
        } else if let Some(t) = line.strip_suffix(b"\n") {
            (t, b"\n")
        } else {
            (line, b"")
        };
        // Rule (3): trailing whitespace is not part of the data.
        let text = text.trim_ascii_end();
        let (text, soft) = match text.strip_suffix(b"=") {
            Some(t) => (t, true),
            None => (text, false),
        };
        let mut i = 0;
        while i < text.len() {
            let b = text[i];
            if b == b'='
                && let (Some(h), Some(l)) = (
                    text.get(i + 1).copied().and_then(hex),
                    text.get(i + 2).copied().and_then(hex),
                )
            {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
            out.push(b);
            i += 1;
        }
        if !soft {
            out.extend_from_slice(eol);
        }
    }
    out
}

/// RFC 2045 §6.8 base64: characters outside the alphabet (line breaks, stray octets) are
/// ignored, `=` ends the data, and trailing bits that do not make a whole octet are
/// dropped.
pub fn decode_base64(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &b in body {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

// ---- the text SEARCH matches against ----

/// The decoded text of a message that IMAP SEARCH matches against (RFC 9051 §6.4.4),
/// folded for case-insensitive matching.
///
/// This is the one definition of that text: the store's body index is built from it at
/// delivery, and the fallback scan (IMAP SEARCH over messages the index does not cover)
/// decodes with it, so both give the same answers.
///
/// - Header values are RFC 2047-decoded (structured ones the parser does not turn into
///   text are taken as written, unfolded), trimmed, and folded.
/// - The body is the text of every `text/*` part, transfer encoding and charset undone,
///   nested `message/rfc822` parts included (up to [`SEARCH_TEXT_DEPTH`] levels), each
///   folded and followed by `\n`. Parts come from [`summarize`]'s tree and are decoded
///   by [`decode_transfer_encoding`], the decoder BINARY uses too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchText {
    /// (lower-case field name, folded value), in message order.
    pub headers: Vec<(String, String)>,
    /// Folded text of the text parts.
    pub body: String,
    /// The calendar date of the first Date header (SENTBEFORE / SENTON / SENTSINCE).
    pub sent: Option<chrono::NaiveDate>,
}

/// Nested message levels whose text parts are searched.
pub const SEARCH_TEXT_DEPTH: usize = 8;

/// Case folding for SEARCH: applied to the text and to the search string alike, so that
/// "contains" on folded strings is the case-insensitive substring test.
pub fn fold(s: &str) -> String {
    s.to_lowercase()
}

impl SearchText {
    /// Decodes `raw`; the body text only when `with_body` (header-only keys skip it).
    pub fn of(raw: &[u8], with_body: bool) -> SearchText {
        let parser = MessageParser::new()
            .with_mime_headers()
            .with_date_headers()
            .default_header_text();
        let mut t = SearchText::default();
        if with_body {
            // The body text comes from the same MIME tree and the same transfer decoders
            // as FETCH BINARY, so SEARCH BODY finds what BINARY shows.
            let summary = summarize(raw);
            collect_text(raw, &summary.root, &mut t.body, 0);
        }
        let Some(msg) = parser.parse_headers(raw) else {
            return t;
        };
        if let Some(first) = msg.parts.first() {
            for h in &first.headers {
                let value = match &h.value {
                    HeaderValue::Text(v) => v.to_string(),
                    _ => String::from_utf8_lossy(
                        raw.get(h.offset_start as usize..h.offset_end as usize)
                            .unwrap_or_default(),
                    )
                    .replace("\r\n", ""),
                };
                if let HeaderValue::DateTime(d) = &h.value
                    && t.sent.is_none()
                    && h.name.as_str().eq_ignore_ascii_case("date")
                {
                    t.sent = chrono::NaiveDate::from_ymd_opt(
                        d.year as i32,
                        d.month as u32,
                        d.day as u32,
                    );
                }
                t.headers
                    .push((h.name.as_str().to_ascii_lowercase(), fold(value.trim())));
            }
        }
        t
    }

    /// BODY: the body text contains `folded` (a string already passed through [`fold`]).
    pub fn body_contains(&self, folded: &str) -> bool {
        self.body.contains(folded)
    }

    /// TEXT: the body text or one of the header values contains `folded`.
    pub fn text_contains(&self, folded: &str) -> bool {
        self.body_contains(folded) || self.headers.iter().any(|(_, v)| v.contains(folded))
    }

    /// HEADER name value: a field of that (lower-case) name whose value contains `folded`.
    pub fn header_contains(&self, name: &str, folded: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, v)| n == name && v.contains(folded))
    }

    /// The header values one per line, as a body index keeps them: a string without a
    /// line feed is in one of the values exactly when it is in this text.
    pub fn header_lines(&self) -> String {
        let mut out = String::new();
        for (_, v) in &self.headers {
            out.push_str(v);
            out.push('\n');
        }
        out
    }
}

/// Appends the decoded, folded text of every `text/*` leaf under `part` (each followed
/// by `\n`), descending into enclosed messages up to [`SEARCH_TEXT_DEPTH`] levels.
fn collect_text(raw: &[u8], part: &Part, out: &mut String, depth: usize) {
    if part.is_multipart() {
        for c in &part.children {
            collect_text(raw, c, out, depth);
        }
        return;
    }
    let body = raw
        .get(part.body_start as usize..part.end as usize)
        .unwrap_or_default();
    if part.media_type == "message" {
        if depth >= SEARCH_TEXT_DEPTH {
            return;
        }
        if let Some(m) = &part.message {
            collect_text(raw, &m.root, out, depth + 1);
        } else if part.media_subtype == "rfc822" || part.media_subtype == "global" {
            // RFC 2046 §5.2.1 allows only 7bit/8bit/binary here, but base64-encoded
            // forwarded messages exist: search the message they decode to.
            if let Ok(inner) = decode_transfer_encoding(body, part.encoding.as_deref()) {
                let s = summarize(&inner);
                collect_text(&inner, &s.root, out, depth + 1);
            }
        }
        return;
    }
    if part.media_type != "text" {
        return;
    }
    // An unknown transfer encoding is searched as written rather than not at all.
    let octets =
        decode_transfer_encoding(body, part.encoding.as_deref()).unwrap_or_else(|_| body.to_vec());
    out.push_str(&fold(&charset_text(&octets, part.param("charset"))));
    out.push('\n');
}

/// Text of `octets` in `charset`. Undeclared (or US-ASCII-declared) 8-bit text is taken
/// as UTF-8, which is what such mail almost always is; an unknown charset too.
fn charset_text(octets: &[u8], charset: Option<&str>) -> String {
    let decoder = charset
        .map(|c| c.trim())
        .filter(|c| !c.eq_ignore_ascii_case("us-ascii") && !c.eq_ignore_ascii_case("utf-8"))
        .and_then(|c| mail_parser::decoders::charsets::map::charset_decoder(c.as_bytes()));
    match decoder {
        Some(decode) => decode(octets),
        None => String::from_utf8_lossy(octets).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crlf(s: &str) -> Vec<u8> {
        s.replace('\n', "\r\n").into_bytes()
    }

    fn slice(raw: &[u8], from: u64, to: u64) -> &str {
        std::str::from_utf8(&raw[from as usize..to as usize]).unwrap()
    }

    #[test]
    fn plain_message_defaults_and_envelope() {
        let raw = crlf(
            "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\n\
             From: Fred Foobar <foobar@Blurdybloop.example>\n\
             Subject: afternoon\n  meeting\n\
             To: mooch@owatagu.siam.edu.example\n\
             Message-Id: <B27397-0100000@Blurdybloop.example>\n\
             \n\
             Hello Joe, do you think we can meet at 3:30 tomorrow?\n",
        );
        let s = summarize(&raw);
        assert_eq!(
            s.envelope.date.as_deref(),
            Some("Mon, 7 Feb 1994 21:52:25 -0800 (PST)")
        );
        assert_eq!(s.envelope.subject.as_deref(), Some("afternoon  meeting"));
        let fred = EnvelopeAddress {
            name: Some("Fred Foobar".into()),
            adl: None,
            mailbox: Some("foobar".into()),
            host: Some("Blurdybloop.example".into()),
        };
        assert_eq!(s.envelope.from, vec![fred.clone()]);
        assert_eq!(s.envelope.sender, vec![fred.clone()]);
        assert_eq!(s.envelope.reply_to, vec![fred]);
        assert_eq!(s.envelope.to[0].mailbox.as_deref(), Some("mooch"));
        assert_eq!(s.envelope.to[0].name, None);
        assert_eq!(
            s.envelope.message_id.as_deref(),
            Some("<B27397-0100000@Blurdybloop.example>")
        );
        assert_eq!(s.envelope.in_reply_to, None);
        assert_eq!(s.root.media_type, "text");
        assert_eq!(s.root.media_subtype, "plain");
        assert_eq!(s.root.param("charset"), Some("us-ascii"));
        assert_eq!(s.root.header_start, 0);
        assert_eq!(s.root.end, raw.len() as u64);
        assert_eq!(
            slice(&raw, s.root.body_start, s.root.end),
            "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n"
        );
        assert_eq!(s.root.lines, 1);
    }

    #[test]
    fn groups_and_encoded_names() {
        let raw = crlf(
            "From: =?iso-8859-1?q?J=F6rg?= <j@example.org>\n\
             To: Friends: a@example.org, \"B, Bee\" <b@example.org>;, c@example.org\n\
             Cc: undisclosed-recipients:;\n\
             \n\
             x\n",
        );
        let s = summarize(&raw);
        // The encoded-word as written (Dovecot does the same).
        assert_eq!(
            s.envelope.from[0].name.as_deref(),
            Some("=?iso-8859-1?q?J=F6rg?=")
        );
        let to = &s.envelope.to;
        assert_eq!(to.len(), 5, "{to:?}");
        assert_eq!(to[0].mailbox.as_deref(), Some("Friends"));
        assert_eq!(to[0].host, None);
        assert_eq!(to[1].mailbox.as_deref(), Some("a"));
        assert_eq!(to[2].name.as_deref(), Some("B, Bee"));
        assert_eq!(to[3], EnvelopeAddress::default());
        assert_eq!(to[4].mailbox.as_deref(), Some("c"));
        assert_eq!(s.envelope.cc.len(), 2);
        assert_eq!(
            s.envelope.cc[0].mailbox.as_deref(),
            Some("undisclosed-recipients")
        );
        assert_eq!(s.envelope.cc[1], EnvelopeAddress::default());
    }

    const ALTERNATIVE: &str = "From: a@example.org\n\
Subject: =?utf-8?q?caf=C3=A9?=\n\
MIME-Version: 1.0\n\
Content-Type: multipart/alternative; boundary=\"b1\"\n\
\n\
preamble\n\
--b1\n\
Content-Type: text/plain; charset=utf-8\n\
Content-Transfer-Encoding: quoted-printable\n\
\n\
caf=C3=A9\n\
second line\n\
--b1\n\
Content-Type: text/html; charset=\"utf-8\"\n\
\n\
<p>caf\u{e9}</p>\n\
--b1--\n\
epilogue\n";

    #[test]
    fn multipart_alternative_offsets() {
        let raw = crlf(ALTERNATIVE);
        let s = summarize(&raw);
        let r = &s.root;
        assert_eq!(
            (r.media_type.as_str(), r.media_subtype.as_str()),
            ("multipart", "alternative")
        );
        assert_eq!(r.param("boundary"), Some("b1"));
        assert_eq!(r.children.len(), 2);
        let p1 = &r.children[0];
        assert_eq!(
            slice(&raw, p1.header_start, p1.body_start),
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        );
        // The CRLF before the next delimiter is not part of the body.
        assert_eq!(
            slice(&raw, p1.body_start, p1.end),
            "caf=C3=A9\r\nsecond line"
        );
        assert_eq!(p1.lines, 1);
        assert_eq!(p1.encoding.as_deref(), Some("quoted-printable"));
        assert_eq!(p1.param("charset"), Some("utf-8"));
        let p2 = &r.children[1];
        assert_eq!(p2.media_subtype, "html");
        assert_eq!(slice(&raw, p2.body_start, p2.end), "<p>caf\u{e9}</p>");
        assert_eq!(s.envelope.subject.as_deref(), Some("=?utf-8?q?caf=C3=A9?="));
    }

    #[test]
    fn nested_message_rfc822_and_attachments() {
        let raw = crlf(
            "From: outer@example.org\n\
             Content-Type: multipart/mixed; boundary=outer\n\
             \n\
             --outer\n\
             \n\
             implicit text part\n\
             --outer\n\
             Content-Type: message/rfc822\n\
             Content-Description: forwarded\n\
             \n\
             From: inner@example.org\n\
             Subject: inner\n\
             Content-Type: multipart/mixed; boundary=\"inner\"\n\
             \n\
             --inner\n\
             Content-Type: text/plain\n\
             \n\
             inner text\n\
             --inner\n\
             Content-Type: application/pdf; name=\"a.pdf\"\n\
             Content-Transfer-Encoding: base64\n\
             Content-Disposition: attachment; filename=\"a.pdf\"\n\
             Content-ID: <part1@example.org>\n\
             \n\
             JVBERi0xLjQK\n\
             --inner--\n\
             --outer\n\
             Content-Type: image/png\n\
             Content-Transfer-Encoding: base64\n\
             Content-Disposition: inline\n\
             Content-Language: en, de\n\
             Content-Location: http://example.org/x.png\n\
             Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n\
             \n\
             iVBORw0KGgo=\n\
             --outer--\n",
        );
        let s = summarize(&raw);
        let r = &s.root;
        assert_eq!(r.children.len(), 3);
        let text = &r.children[0];
        assert_eq!(
            (text.media_type.as_str(), text.media_subtype.as_str()),
            ("text", "plain")
        );
        assert_eq!(text.body_start, text.header_start + 2);
        assert_eq!(slice(&raw, text.body_start, text.end), "implicit text part");

        let m = &r.children[1];
        assert_eq!(m.description.as_deref(), Some("forwarded"));
        let inner = m.message.as_ref().expect("enclosed message");
        assert_eq!(inner.envelope.subject.as_deref(), Some("inner"));
        assert_eq!(inner.root.header_start, m.body_start);
        assert_eq!(inner.root.end, m.end);
        assert!(
            slice(&raw, inner.root.header_start, inner.root.body_start).starts_with("From: inner@")
        );
        assert_eq!(inner.root.children.len(), 2);
        let pdf = &inner.root.children[1];
        assert_eq!(pdf.media_type, "application");
        assert_eq!(pdf.param("name"), Some("a.pdf"));
        assert_eq!(pdf.id.as_deref(), Some("<part1@example.org>"));
        assert_eq!(pdf.encoding.as_deref(), Some("base64"));
        assert_eq!(
            pdf.disposition,
            Some((
                "attachment".into(),
                vec![("filename".into(), "a.pdf".into())]
            ))
        );
        assert_eq!(slice(&raw, pdf.body_start, pdf.end), "JVBERi0xLjQK");
        // The enclosed message ends before the CRLF that precedes "--outer".
        assert!(slice(&raw, m.body_start, m.end).ends_with("--inner--"));
        assert_eq!(
            m.lines,
            count_lines(&raw[m.body_start as usize..m.end as usize])
        );

        let png = &r.children[2];
        assert_eq!(png.language, vec!["en".to_string(), "de".to_string()]);
        assert_eq!(png.location.as_deref(), Some("http://example.org/x.png"));
        assert_eq!(png.md5.as_deref(), Some("Q2hlY2sgSW50ZWdyaXR5IQ=="));
        assert_eq!(png.disposition, Some(("inline".into(), vec![])));
        assert_eq!(slice(&raw, png.body_start, png.end), "iVBORw0KGgo=");
    }

    #[test]
    fn rfc2231_continuations_are_joined() {
        let raw = crlf(
            "Content-Type: multipart/mixed; boundary=zz\n\
             \n\
             --zz\n\
             Content-Type: application/octet-stream;\n name*0=\"long\";\n name*1=\"name.txt\"\n\
             Content-Disposition: attachment;\n filename*=utf-8''%E2%82%AC%20rates.txt\n\
             \n\
             data\n\
             --zz--\n",
        );
        let s = summarize(&raw);
        let p = &s.root.children[0];
        assert_eq!(p.param("name"), Some("longname.txt"));
        let (d, params) = p.disposition.clone().unwrap();
        assert_eq!(d, "attachment");
        assert_eq!(
            params,
            vec![("filename".to_string(), "\u{20ac} rates.txt".to_string())]
        );
    }

    #[test]
    fn digest_children_default_to_message() {
        let raw = crlf(
            "Content-Type: multipart/digest; boundary=d\n\
             \n\
             --d\n\
             \n\
             From: x@example.org\n\
             Subject: one\n\
             \n\
             body one\n\
             --d--\n",
        );
        let s = summarize(&raw);
        let c = &s.root.children[0];
        assert_eq!(
            (c.media_type.as_str(), c.media_subtype.as_str()),
            ("message", "rfc822")
        );
        assert_eq!(
            c.message.as_ref().unwrap().envelope.subject.as_deref(),
            Some("one")
        );
    }

    #[test]
    fn boundary_prefix_is_not_a_delimiter_and_missing_close_runs_to_end() {
        let raw = crlf(
            "Content-Type: multipart/mixed; boundary=ab\n\
             \n\
             --ab\n\
             \n\
             --abc is content\n\
             --ab\n\
             \n\
             last",
        );
        let s = summarize(&raw);
        assert_eq!(s.root.children.len(), 2);
        let c0 = &s.root.children[0];
        assert_eq!(slice(&raw, c0.body_start, c0.end), "--abc is content");
        let c1 = &s.root.children[1];
        assert_eq!(slice(&raw, c1.body_start, c1.end), "last");
        assert_eq!(c1.end, raw.len() as u64);
    }

    #[test]
    fn broken_multipart_is_text() {
        let raw = crlf("Content-Type: multipart/mixed\n\nno boundary here\n");
        let s = summarize(&raw);
        assert_eq!(s.root.media_type, "text");
        assert!(s.root.children.is_empty());
        let raw = crlf("Content-Type: multipart/mixed; boundary=q\n\nno delimiter\n");
        assert_eq!(summarize(&raw).root.media_type, "text");
    }

    #[test]
    fn no_headers_at_all() {
        let s = summarize(b"just a body without header");
        assert_eq!(s.root.media_type, "text");
        assert_eq!(s.root.body_start, 26);
        let s = summarize(b"\r\nbody");
        assert_eq!(s.root.body_start, 2);
        assert_eq!(s.root.lines, 0);
        assert_eq!(count_lines(b"a\r\nb\r\n"), 2);
        assert_eq!(count_lines(b"a\r\nb"), 1);
        let s = summarize(b"");
        assert_eq!(s.root.end, 0);
    }

    #[test]
    fn nesting_is_bounded() {
        let mut raw = Vec::new();
        for i in 0..200 {
            raw.extend_from_slice(
                format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n")
                    .as_bytes(),
            );
        }
        raw.extend_from_slice(b"\r\ndeep\r\n");
        let s = summarize(&raw);
        let mut depth = 0;
        let mut p = &s.root;
        while let Some(c) = p.children.first() {
            p = c;
            depth += 1;
        }
        assert!(depth <= MAX_DEPTH, "{depth}");
    }

    #[test]
    fn summary_round_trips_through_json() {
        let s = summarize(&crlf(ALTERNATIVE));
        let json = serde_json::to_string(&s).unwrap();
        let back: MessageSummary = serde_json::from_str(&json).unwrap();
        assert_eq!(s, back);
    }

    #[test]
    fn quoted_printable_table() {
        // (encoded, decoded): RFC 2045 §6.7 rules (1) to (5), as Dovecot decodes them.
        let cases: &[(&[u8], &[u8])] = &[
            (b"hello  \r\nfoo= \r\nbar\r\n", b"hello\r\nfoobar\r\n"),
            (b"caf=C3=A9=\r\n!\r\n", "caf\u{e9}!\r\n".as_bytes()),
            (b"lower =c3=a9\r\n", "lower \u{e9}\r\n".as_bytes()),
            (b"tab\t\r\nend=20\r\n", b"tab\r\nend \r\n"),
            (b"soft=\t \r\nbreak", b"softbreak"),
            (b"bare lf= \nnext \n", b"bare lfnext\n"),
            (b"bad =ZZ and =4", b"bad =ZZ and =4"),
            (b"last line  ", b"last line"),
            (b"trailing soft=", b"trailing soft"),
            (b"=3D=0D=0A", b"=\r\n"),
            (b"", b""),
        ];
        for (enc, dec) in cases {
            assert_eq!(
                decode_quoted_printable(enc),
                *dec,
                "{:?}",
                String::from_utf8_lossy(enc)
            );
        }
        assert_eq!(
            decode_quoted_printable(b"hello  \r\nfoo= \r\nbar\r\n").len(),
            15
        );
    }

    #[test]
    fn base64_decoder_table() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"aGVsbG8=\r\n", b"hello"),
            (b"aGVs\r\nbG8gd29y\r\nbGQ=", b"hello world"),
            (b"Zm9vYmFy", b"foobar"),
            (b"Zg", b"f"),
            (b"Z!m*9", b"fo"),
            (b"", b""),
        ];
        for (enc, dec) in cases {
            assert_eq!(
                decode_base64(enc),
                *dec,
                "{:?}",
                String::from_utf8_lossy(enc)
            );
        }
        assert_eq!(
            decode_transfer_encoding(b"x", Some("x-uuencode")),
            Err(DecodeError::UnknownEncoding)
        );
        assert_eq!(
            decode_transfer_encoding(b"a=\r\nb", Some(" Quoted-Printable")).unwrap(),
            b"ab"
        );
        assert_eq!(
            decode_transfer_encoding(b"a=\r\nb", None).unwrap(),
            b"a=\r\nb"
        );
    }

    #[test]
    fn search_text_body_uses_the_same_decoding() {
        let raw = crlf(
            "Content-Type: multipart/mixed; boundary=b\n\
             \n\
             --b\n\
             Content-Transfer-Encoding: quoted-printable\n\
             \n\
             hello  \n\
             foo= \n\
             bar\n\
             --b\n\
             Content-Type: text/plain; charset=iso-8859-1\n\
             Content-Transfer-Encoding: base64\n\
             \n\
             SvZyZw==\n\
             --b\n\
             Content-Type: message/rfc822\n\
             Content-Transfer-Encoding: base64\n\
             \n\
             U3ViamVjdDogaQ0KDQppbm5lciB0ZXh0DQo=\n\
             --b\n\
             Content-Type: application/octet-stream\n\
             \n\
             not text\n\
             --b--\n",
        );
        let t = SearchText::of(&raw, true);
        assert_eq!(t.body, "hello\r\nfoobar\nj\u{f6}rg\ninner text\r\n\n");
        assert!(t.body_contains("foobar"));
        assert!(!t.body_contains("not text"));
        // Header-only decoding leaves the body out.
        assert_eq!(SearchText::of(&raw, false).body, "");
    }

    /// (header value, ENVELOPE address list as Dovecot 2.3.19 sends it, each address as
    /// `name|adl|mailbox|host` with `-` for NIL). Differences from Dovecot are marked.
    const ADDRESS_CASES: &[(&str, &[&str])] = &[
        ("<@route:user@domain>", &["-|@route|user|domain"]),
        (
            "<@a.test,@b.test:u@d.test>",
            &["-|@a.test,@b.test|u|d.test"],
        ),
        ("d", &["-|-|d|MISSING_DOMAIN"]),
        (
            "<user-from (c)@ (c) domain.org>",
            &["-|-|user-from|domain.org"],
        ),
        (
            "\"Joe Q. Public\" <john.q.public@example.com>",
            &["Joe Q. Public|-|john.q.public|example.com"],
        ),
        (
            "Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>",
            &[
                "Mary Smith|-|mary|x.test",
                "-|-|jdoe|example.org",
                "Who?|-|one|y.test",
            ],
        ),
        (
            "<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>",
            &[
                "-|-|boss|nil.test",
                "Giant; \"Big\" Box|-|sysservices|example.net",
            ],
        ),
        (
            "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
            &[
                "-|-|A Group|-",
                "Ed Jones|-|c|a.test",
                "-|-|joe|where.test",
                "John|-|jdoe|one.test",
                "-|-|-|-",
            ],
        ),
        (
            "Undisclosed recipients:;",
            &["-|-|Undisclosed recipients|-", "-|-|-|-"],
        ),
        (
            "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
            &["Pete|-|pete|silly.test"],
        ),
        (
            "A Group(Some people) :Chris Jones <c@(Chris's host.)public.example>, joe@example.org, \
             John <jdoe@one.test> (my dear friend); (the end of the group)",
            &[
                "-|-|A Group|-",
                "Chris Jones|-|c|public.example",
                "-|-|joe|example.org",
                "John|-|jdoe|one.test",
                "-|-|-|-",
            ],
        ),
        (
            "(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;",
            &["-|-|Hidden recipients|-", "-|-|-|-"],
        ),
        (
            "=?iso-8859-1?q?J=F6rg?= <j@example.org>",
            &["=?iso-8859-1?q?J=F6rg?=|-|j|example.org"],
        ),
        (
            "\"=?utf-8?q?Caf=C3=A9?=\" <c@x.test>",
            &["=?utf-8?q?Caf=C3=A9?=|-|c|x.test"],
        ),
        (
            "user@[192.0.2.1], \"odd local\"@x.test",
            &["-|-|user|[192.0.2.1]", "-|-|odd local|x.test"],
        ),
        (
            "first last",
            &["first last|-|MISSING_MAILBOX|MISSING_DOMAIN"],
        ),
        (
            "joe@example.org (Joe Bloggs)",
            &["Joe Bloggs|-|joe|example.org"],
        ),
        (
            "\"a\\\\b\"@x.test, x@y.test",
            &["-|-|a\\b|x.test", "-|-|x|y.test"],
        ),
        (
            "<>, z@w.test",
            &["-|-|MISSING_MAILBOX|MISSING_DOMAIN", "-|-|z|w.test"],
        ),
        ("@", &["-|-|MISSING_MAILBOX|MISSING_DOMAIN"]),
        (
            "a@b.test, ,, c@d.test",
            &[
                "-|-|a|b.test",
                "-|-|MISSING_MAILBOX|MISSING_DOMAIN",
                "-|-|MISSING_MAILBOX|MISSING_DOMAIN",
                "-|-|c|d.test",
            ],
        ),
        (
            "\"q\\\"x\" <q@x.test>, Mr.  Smith  <s@x.test>",
            &["q\"x|-|q|x.test", "Mr. Smith|-|s|x.test"],
        ),
        (
            "A:b@c.test;,d@e.test",
            &["-|-|A|-", "-|-|b|c.test", "-|-|-|-", "-|-|d|e.test"],
        ),
        ("Foo <bar>", &["Foo|-|bar|MISSING_DOMAIN"]),
        ("\"\" <e@f.test>", &["-|-|e|f.test"]),
        ("Name <x@y.test", &["Name|-|x|SYNTAX_ERROR"]),
        (
            "<@x.test>",
            &["-|INVALID_ROUTE|MISSING_MAILBOX|MISSING_DOMAIN"],
        ),
        (
            "<@a,@b>",
            &["-|INVALID_ROUTE|MISSING_MAILBOX|MISSING_DOMAIN"],
        ),
        ("A <@r:>", &["A|@r|MISSING_MAILBOX|MISSING_DOMAIN"]),
        // Dovecot stops at the first error (`a@b.test c@d.test` is a@b.test alone, and
        // `a@b@c, x@y` only a@b); Wharf skips to the next comma.
        ("a@b.test c@d.test", &["-|-|a|b.test"]),
        ("a@b@c, x@y.test", &["-|-|a|b", "-|-|x|y.test"]),
        // Not ASCII: Dovecot sends the UTF-8 name as a literal; Wharf one encoded-word.
        ("J\u{f6}rg <j@x.test>", &["=?utf-8?b?SsO2cmc=?=|-|j|x.test"]),
        ("", &[]),
    ];

    #[test]
    fn address_lists_as_dovecot_parses_them() {
        let show = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
        for (value, want) in ADDRESS_CASES {
            let got: Vec<String> = parse_address_list(value)
                .iter()
                .map(|a| {
                    format!(
                        "{}|{}|{}|{}",
                        show(&a.name),
                        show(&a.adl),
                        show(&a.mailbox),
                        show(&a.host)
                    )
                })
                .collect();
            assert_eq!(got, *want, "{value:?}");
        }
    }

    #[test]
    fn envelope_fields_use_the_address_parser() {
        let raw = crlf(
            "From: <@route:user@domain>\n\
             Sender: first last\n\
             To: d\n\
             Cc: <user-from (c)@ (c)\n domain.org>\n\
             \n\
             x\n",
        );
        let e = summarize(&raw).envelope;
        assert_eq!(e.from[0].adl.as_deref(), Some("@route"));
        assert_eq!(e.reply_to, e.from);
        assert_eq!(e.sender[0].name.as_deref(), Some("first last"));
        assert_eq!(e.to[0].host.as_deref(), Some(MISSING_DOMAIN));
        assert_eq!(e.cc[0].mailbox.as_deref(), Some("user-from"));
        assert_eq!(e.cc[0].host.as_deref(), Some("domain.org"));
        let long = format!("To: {}\r\n\r\n", vec!["a@b.c"; 5000].join(","));
        assert_eq!(summarize(long.as_bytes()).envelope.to.len(), MAX_ADDRESSES);
    }

    #[test]
    fn base64_encoder() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
