//! SASL for SMTP AUTH (RFC 4954) without I/O: the base64 layer (RFC 4954 §4: `=` is an
//! empty initial response, `*` cancels) and the PLAIN message (RFC 4616 §2). LOGIN has
//! no grammar beyond base64: a user name, then a password.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use wharf_store::Secret;

/// RFC 4616 §2: authcid and passwd are at most 255 octets each.
pub const MAX_FIELD: usize = 255;

/// Why a client response was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslError {
    /// RFC 4954 §4: the client sent `*`.
    Cancelled,
    /// Not base64.
    BadBase64,
    /// Base64, but not a well-formed message for the mechanism.
    Malformed,
}

/// Decodes one client response line (initial response or continuation).
pub fn decode_response(line: &str) -> Result<Vec<u8>, SaslError> {
    let line = line.trim_end_matches([' ', '\t']);
    match line {
        "*" => Err(SaslError::Cancelled),
        // RFC 4954 §4: "=" is a zero-length initial response.
        "=" => Ok(Vec::new()),
        _ => STANDARD
            .decode(line.as_bytes())
            .map_err(|_| SaslError::BadBase64),
    }
}

/// Base64 of a server challenge.
pub fn encode_challenge(text: &str) -> String {
    STANDARD.encode(text.as_bytes())
}

/// A decoded PLAIN message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plain {
    /// Who to act as; empty = the same as `authcid`.
    pub authzid: String,
    pub authcid: String,
    pub password: Secret,
}

/// RFC 4616 §2: `message = [authzid] UTF8NUL authcid UTF8NUL passwd`.
pub fn parse_plain(msg: &[u8]) -> Result<Plain, SaslError> {
    let mut parts = msg.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(passwd), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed);
    };
    if authcid.is_empty()
        || passwd.is_empty()
        || authcid.len() > MAX_FIELD
        || passwd.len() > MAX_FIELD
        || authzid.len() > MAX_FIELD
    {
        return Err(SaslError::Malformed);
    }
    let text = |b: &[u8]| {
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| SaslError::Malformed)
    };
    Ok(Plain {
        authzid: text(authzid)?,
        authcid: text(authcid)?,
        password: Secret::new(text(passwd)?),
    })
}

/// A LOGIN user name or password: UTF-8, non-empty, bounded.
pub fn parse_login_field(msg: &[u8]) -> Result<String, SaslError> {
    if msg.is_empty() || msg.len() > MAX_FIELD || msg.contains(&0) {
        return Err(SaslError::Malformed);
    }
    std::str::from_utf8(msg)
        .map(str::to_string)
        .map_err(|_| SaslError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_messages() {
        let p = parse_plain(b"\0alice@example.test\0pw").unwrap();
        assert_eq!(p.authzid, "");
        assert_eq!(p.authcid, "alice@example.test");
        assert_eq!(p.password.expose(), "pw");
        let p = parse_plain(b"a\0b\0c").unwrap();
        assert_eq!(p.authzid, "a");
        assert_eq!(parse_plain(b"\0\0pw"), Err(SaslError::Malformed));
        assert_eq!(parse_plain(b"\0user\0"), Err(SaslError::Malformed));
        assert_eq!(parse_plain(b"user\0pw"), Err(SaslError::Malformed));
        assert_eq!(parse_plain(b"\0u\0p\0x"), Err(SaslError::Malformed));
        assert_eq!(parse_plain(b"\0u\0\xff"), Err(SaslError::Malformed));
        let long = [b"\0u\0".to_vec(), vec![b'x'; 256]].concat();
        assert_eq!(parse_plain(&long), Err(SaslError::Malformed));
    }

    #[test]
    fn responses() {
        assert_eq!(decode_response("*"), Err(SaslError::Cancelled));
        assert_eq!(decode_response("="), Ok(vec![]));
        assert_eq!(decode_response("YWxpY2U="), Ok(b"alice".to_vec()));
        assert_eq!(decode_response("not base64!"), Err(SaslError::BadBase64));
        assert_eq!(encode_challenge("Username:"), "VXNlcm5hbWU6");
        assert_eq!(encode_challenge("Password:"), "UGFzc3dvcmQ6");
    }

    #[test]
    fn login_fields() {
        assert_eq!(parse_login_field(b"alice"), Ok("alice".into()));
        assert_eq!(parse_login_field(b""), Err(SaslError::Malformed));
        assert_eq!(parse_login_field(b"a\0b"), Err(SaslError::Malformed));
    }
}
