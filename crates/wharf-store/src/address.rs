//! Mail addresses and domain names that cannot hold invalid values.
//!
//! An [`Address`] is `local@domain` with a dot-atom or quoted-string local part
//! (RFC 5321 §4.1.2) or a UTF-8 local part (RFC 6531), and a domain that is a valid
//! host name. The domain is stored in lower case; the local part keeps its case for
//! display but compares and looks up case-insensitively, as every common server does.

use std::fmt;

/// Longest address RFC 5321 §4.5.3.1.3 allows in a path (256 minus the angle brackets).
pub const MAX_ADDRESS_LEN: usize = 254;
/// RFC 5321 §4.5.3.1.1.
pub const MAX_LOCAL_LEN: usize = 64;
/// RFC 5321 §4.5.3.1.2.
pub const MAX_DOMAIN_LEN: usize = 255;

/// A host name in lower case, e.g. `example.test`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainName(String);

impl DomainName {
    /// Parses a domain name: dot-separated labels of letters, digits and hyphens (or
    /// UTF-8, for internationalized names), no empty label, no label over 63 octets.
    pub fn parse(s: &str) -> Result<DomainName, String> {
        let s = s.strip_suffix('.').unwrap_or(s);
        if s.is_empty() {
            return Err("empty domain".into());
        }
        if s.len() > MAX_DOMAIN_LEN {
            return Err(format!("domain longer than {MAX_DOMAIN_LEN} octets"));
        }
        for label in s.split('.') {
            if label.is_empty() {
                return Err(format!("domain {s:?} has an empty label"));
            }
            if label.len() > 63 {
                return Err(format!("domain {s:?} has a label over 63 octets"));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(format!(
                    "domain {s:?} has a label starting or ending with '-'"
                ));
            }
            if !label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii())
            {
                return Err(format!(
                    "domain {s:?} has a character not allowed in a host name"
                ));
            }
        }
        Ok(DomainName(s.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A mail address `local@domain`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    /// `local@domain` with the domain lower-cased; the local part as given.
    full: String,
    at: usize,
}

fn is_atext(c: char) -> bool {
    // RFC 5322 §3.2.3 atext, plus any non-ASCII character (RFC 6531 §3.3).
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

impl Address {
    /// Parses `local@domain`. Quoted local parts are accepted as written (with their
    /// quotes); control characters never are.
    pub fn parse(s: &str) -> Result<Address, String> {
        if s.len() > MAX_ADDRESS_LEN {
            return Err(format!("address longer than {MAX_ADDRESS_LEN} octets"));
        }
        let at = s
            .rfind('@')
            .ok_or_else(|| format!("address {s:?} has no '@'"))?;
        let (local, domain) = (&s[..at], &s[at + 1..]);
        if local.is_empty() {
            return Err(format!("address {s:?} has an empty local part"));
        }
        if local.len() > MAX_LOCAL_LEN {
            return Err(format!("local part longer than {MAX_LOCAL_LEN} octets"));
        }
        if local.starts_with('"') {
            // RFC 5321 §4.1.2 Quoted-string: printable characters, backslash pairs.
            if local.len() < 2 || !local.ends_with('"') {
                return Err(format!(
                    "address {s:?} has an unterminated quoted local part"
                ));
            }
            if local.chars().any(|c| c.is_control()) {
                return Err(format!("address {s:?} has a control character"));
            }
        } else {
            // Dot-string: atoms separated by single dots.
            if local
                .split('.')
                .any(|atom| atom.is_empty() || !atom.chars().all(is_atext))
            {
                return Err(format!("address {s:?} has an invalid local part"));
            }
        }
        let domain = DomainName::parse(domain).map_err(|e| format!("address {s:?}: {e}"))?;
        let full = format!("{local}@{domain}");
        Ok(Address { full, at })
    }

    pub fn local(&self) -> &str {
        &self.full[..self.at]
    }

    pub fn domain(&self) -> DomainName {
        DomainName(self.full[self.at + 1..].to_string())
    }

    pub fn domain_str(&self) -> &str {
        &self.full[self.at + 1..]
    }

    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The lookup key: the whole address in lower case.
    pub fn key(&self) -> String {
        self.full.to_lowercase()
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", self.full)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ordinary_addresses() {
        let a = Address::parse("Alice.Smith@Example.TEST").unwrap();
        assert_eq!(a.local(), "Alice.Smith");
        assert_eq!(a.domain_str(), "example.test");
        assert_eq!(a.key(), "alice.smith@example.test");
        assert_eq!(a.to_string(), "Alice.Smith@example.test");
    }

    #[test]
    fn accepts_utf8_and_quoted_local_parts() {
        assert!(Address::parse("jörg@bücher.example").is_ok());
        assert!(Address::parse("\"john doe\"@example.test").is_ok());
    }

    #[test]
    fn refuses_bad_addresses() {
        for bad in [
            "",
            "alice",
            "@example.test",
            "alice@",
            "al..ice@example.test",
            ".alice@example.test",
            "alice.@example.test",
            "ali ce@example.test",
            "alice@exa mple.test",
            "alice@-example.test",
            "alice@example..test",
            "ali\u{0}ce@example.test",
            "\"unterminated@example.test",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let long_local = format!("{}@example.test", "a".repeat(65));
        assert!(Address::parse(&long_local).is_err());
    }
}
