//! Envelope paths (RFC 5321 §4.1.2): `<>`, `<local@domain>`, source routes and quoted
//! local parts, with RFC 6531 UTF-8 allowed everywhere a character may be (whether the
//! session may use it is the session's decision, not the parser's).

use std::fmt;

/// RFC 5321 §4.5.3.1.1.
pub const MAX_LOCAL_PART: usize = 64;
/// RFC 5321 §4.5.3.1.2.
pub const MAX_DOMAIN: usize = 255;
/// RFC 5321 §4.5.3.1.3: a path is at most 256 octets including the angle brackets.
pub const MAX_PATH: usize = 256;

/// A mailbox `local@domain` as it appeared in a path, checked against the RFC 5321
/// grammar. The local part keeps its quotes if it had them.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Mailbox {
    local: String,
    domain: String,
}

impl Mailbox {
    pub fn local(&self) -> &str {
        &self.local
    }
    /// The domain or address literal (`[192.0.2.1]`), as written.
    pub fn domain(&self) -> &str {
        &self.domain
    }
    /// Whether the whole address is ASCII (otherwise it needs SMTPUTF8, RFC 6531 §3.2).
    pub fn is_ascii(&self) -> bool {
        self.local.is_ascii() && self.domain.is_ascii()
    }
    /// Whether the domain is an address literal rather than a name.
    pub fn is_address_literal(&self) -> bool {
        self.domain.starts_with('[')
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

impl fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mailbox({self})")
    }
}

/// The argument of MAIL FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReversePath {
    /// `<>`: RFC 5321 §4.5.5, bounces and other notifications.
    Null,
    Mailbox(Mailbox),
}

impl fmt::Display for ReversePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReversePath::Null => Ok(()),
            ReversePath::Mailbox(m) => m.fmt(f),
        }
    }
}

/// The argument of RCPT TO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardPath {
    /// `<Postmaster>` without a domain (RFC 5321 §4.1.1.3), any case.
    Postmaster,
    Mailbox(Mailbox),
}

impl fmt::Display for ForwardPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardPath::Postmaster => f.write_str("Postmaster"),
            ForwardPath::Mailbox(m) => m.fmt(f),
        }
    }
}

/// Splits `<...>` off the front of `s`; returns the inside and the rest after `>`.
/// A `>` inside a quoted local part does not end the path.
pub fn split_path(s: &str) -> Option<(&str, &str)> {
    let inner = s.strip_prefix('<')?;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in inner.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '>' if !quoted => return Some((&inner[..i], &inner[i + 1..])),
            _ => {}
        }
    }
    None
}

/// Parses the inside of a path (between `<` and `>`): an optional source route, which
/// RFC 5321 §4.1.2 says to accept and ignore, then a mailbox.
pub fn parse_mailbox_path(inner: &str) -> Result<Mailbox, &'static str> {
    if inner.len() + 2 > MAX_PATH {
        return Err("path too long");
    }
    let mailbox = match inner.strip_prefix('@') {
        // RFC 5321 §4.1.2 A-d-l: "@a,@b:" — checked, then dropped (§C: source routes
        // are obsolete and MUST be accepted, SHOULD be ignored).
        Some(_) => {
            let colon = inner.find(':').ok_or("source route without ':'")?;
            for hop in inner[..colon].split(',') {
                let domain = hop.strip_prefix('@').ok_or("bad source route")?;
                if !is_domain(domain) {
                    return Err("bad domain in source route");
                }
            }
            &inner[colon + 1..]
        }
        None => inner,
    };
    parse_mailbox(mailbox)
}

/// Parses `local@domain` per RFC 5321 §4.1.2 (Mailbox), with RFC 6531 UTF-8.
pub fn parse_mailbox(s: &str) -> Result<Mailbox, &'static str> {
    let at = s.rfind('@').ok_or("no '@' in address")?;
    let (local, domain) = (&s[..at], &s[at + 1..]);
    if local.is_empty() {
        return Err("empty local part");
    }
    if local.len() > MAX_LOCAL_PART {
        return Err("local part too long");
    }
    if local.starts_with('"') {
        if !is_quoted_string(local) {
            return Err("bad quoted local part");
        }
    } else if !is_dot_string(local) {
        return Err("bad local part");
    }
    if domain.len() > MAX_DOMAIN {
        return Err("domain too long");
    }
    if !(is_domain(domain) || is_address_literal(domain)) {
        return Err("bad domain");
    }
    Ok(Mailbox {
        local: local.to_string(),
        domain: domain.to_string(),
    })
}

/// RFC 5322 atext, plus UTF-8 non-ASCII (RFC 6531 §3.3).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

/// RFC 5321 Dot-string: atoms joined by single dots.
fn is_dot_string(s: &str) -> bool {
    s.split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

/// RFC 5321 Quoted-string: qtextSMTP (32-33, 35-91, 93-126, UTF-8) and quoted pairs.
fn is_quoted_string(s: &str) -> bool {
    let Some(inner) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return false;
    };
    if s.len() < 2 {
        return false;
    }
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(' '..='~') => {}
                _ => return false,
            },
            '"' => return false,
            ' '..='~' => {}
            c if !c.is_ascii() && !c.is_control() => {}
            _ => return false,
        }
    }
    true
}

/// RFC 5321 Domain: sub-domains of letters, digits and inner hyphens (or UTF-8
/// U-labels, RFC 6531 §3.3), at most 63 octets each.
pub fn is_domain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_DOMAIN
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| {
                    c.is_ascii_alphanumeric() || c == '-' || (!c.is_ascii() && !c.is_control())
                })
        })
}

/// RFC 5321 §4.1.3 address-literal: `[IPv4]`, `[IPv6:...]`, or `[tag:content]`.
pub fn is_address_literal(s: &str) -> bool {
    let Some(inner) = s.strip_prefix('[').and_then(|s| s.strip_suffix(']')) else {
        return false;
    };
    if let Some(v6) = inner
        .strip_prefix("IPv6:")
        .or_else(|| inner.strip_prefix("ipv6:"))
    {
        return v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    if inner.parse::<std::net::Ipv4Addr>().is_ok() {
        return true;
    }
    // General-address-literal = Standardized-tag ":" 1*dcontent
    match inner.split_once(':') {
        Some((tag, content)) => {
            !tag.is_empty()
                && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !content.is_empty()
                && content
                    .bytes()
                    .all(|b| (33..=90).contains(&b) || (94..=126).contains(&b))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_mailbox() {
        let m = parse_mailbox_path("Alice@Example.test").unwrap();
        assert_eq!(m.local(), "Alice");
        assert_eq!(m.domain(), "Example.test");
        assert!(m.is_ascii());
    }

    #[test]
    fn source_route_is_accepted_and_dropped() {
        let m = parse_mailbox_path("@a.example,@b.example:u@d.example").unwrap();
        assert_eq!(m.to_string(), "u@d.example");
        assert!(parse_mailbox_path("@a.example,b.example:u@d.example").is_err());
        assert!(parse_mailbox_path("@a.example u@d.example").is_err());
    }

    #[test]
    fn quoted_local_parts() {
        let m = parse_mailbox_path("\"john doe\"@example.test").unwrap();
        assert_eq!(m.local(), "\"john doe\"");
        assert!(parse_mailbox_path("\"a\\\"b\"@example.test").is_ok());
        assert!(parse_mailbox_path("\"a\"b\"@example.test").is_err());
        assert!(parse_mailbox_path("\"a\u{1}\"@example.test").is_err());
    }

    #[test]
    fn split_path_respects_quotes() {
        assert_eq!(
            split_path("<\"a>b\"@x.test> SIZE=1"),
            Some(("\"a>b\"@x.test", " SIZE=1"))
        );
        assert_eq!(split_path("<a@x.test"), None);
        assert_eq!(split_path("a@x.test>"), None);
    }

    #[test]
    fn utf8_mailbox() {
        let m = parse_mailbox_path("jörg@bücher.example").unwrap();
        assert!(!m.is_ascii());
    }

    #[test]
    fn address_literals() {
        assert!(
            parse_mailbox_path("u@[192.0.2.1]")
                .unwrap()
                .is_address_literal()
        );
        assert!(parse_mailbox_path("u@[IPv6:2001:db8::1]").is_ok());
        assert!(parse_mailbox_path("u@[300.0.0.1]").is_err());
    }

    #[test]
    fn refused() {
        for bad in [
            "",
            "alice",
            "@x.test",
            "a@",
            "a..b@x.test",
            ".a@x.test",
            "a b@x.test",
            "a@x..test",
            "a@-x.test",
            "a\u{0}@x.test",
        ] {
            assert!(parse_mailbox_path(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@x.test", "a".repeat(65));
        assert!(parse_mailbox_path(&long).is_err());
        let long_path = format!("a@{}.test", "b.".repeat(130));
        assert!(parse_mailbox_path(&long_path).is_err());
    }
}
