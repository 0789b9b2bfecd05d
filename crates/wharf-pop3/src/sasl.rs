//! SASL for the AUTH command (RFC 5034), without I/O: the PLAIN (RFC 4616) and LOGIN
//! (draft-murchison-sasl-login) mechanisms as small state machines fed base64 lines.
//!
//! SCRAM-SHA-256 is not offered: it needs the plain password or SCRAM keys derived from
//! it at enrolment, and the store keeps only Argon2id hashes.

use crate::reply::{Pop3Error, RespCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use wharf_store::Secret;

/// The mechanisms we offer, in the order CAPA and AUTH list them.
pub const MECHANISMS: &[&str] = &["PLAIN", "LOGIN"];

/// What the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Login,
}

impl Mechanism {
    pub fn from_name(name: &str) -> Option<Mechanism> {
        match name {
            "PLAIN" => Some(Mechanism::Plain),
            "LOGIN" => Some(Mechanism::Login),
            _ => None,
        }
    }
}

/// An exchange under way, waiting for the client's next line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exchange {
    /// PLAIN sent an empty challenge and waits for the credentials.
    Plain,
    /// LOGIN asked for the user name.
    LoginUser,
    /// LOGIN asked for the password of this user.
    LoginPassword { user: String },
}

/// The outcome of one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send `+ <challenge>` (already base64) and wait for the next line in this state.
    Challenge(String, Exchange),
    /// The client gave credentials: check them.
    Credentials { user: String, password: Secret },
    /// The exchange failed; the AUTH command is answered with this error.
    Failed(Pop3Error),
}

/// Starts an exchange. `initial` is the optional initial response of the AUTH command
/// (RFC 5034 §4: `=` stands for an empty one).
pub fn start(mechanism: Mechanism, initial: Option<&str>) -> Step {
    match (mechanism, initial) {
        (Mechanism::Plain, None) => Step::Challenge(String::new(), Exchange::Plain),
        (Mechanism::Plain, Some(ir)) => step(Exchange::Plain, ir.as_bytes()),
        (Mechanism::Login, None) => {
            Step::Challenge(STANDARD.encode("Username:"), Exchange::LoginUser)
        }
        (Mechanism::Login, Some(ir)) => step(Exchange::LoginUser, ir.as_bytes()),
    }
}

/// Feeds one client line (base64, or `=` for empty) to an exchange. The caller handles
/// the `*` cancellation line before calling this.
pub fn step(exchange: Exchange, line: &[u8]) -> Step {
    let data = match decode(line) {
        Ok(d) => d,
        Err(e) => return Step::Failed(e),
    };
    match exchange {
        Exchange::Plain => match decode_plain(&data) {
            Ok((user, password)) => Step::Credentials { user, password },
            Err(e) => Step::Failed(e),
        },
        Exchange::LoginUser => match String::from_utf8(data) {
            Ok(user) if !user.is_empty() => Step::Challenge(
                STANDARD.encode("Password:"),
                Exchange::LoginPassword { user },
            ),
            _ => Step::Failed(bad("invalid user name")),
        },
        Exchange::LoginPassword { user } => match String::from_utf8(data) {
            Ok(password) => Step::Credentials {
                user,
                password: Secret::new(password),
            },
            Err(_) => Step::Failed(bad("the password is not UTF-8")),
        },
    }
}

fn bad(why: &str) -> Pop3Error {
    Pop3Error::new(format!("AUTH: {why}"))
}

fn decode(line: &[u8]) -> Result<Vec<u8>, Pop3Error> {
    if line == b"=" {
        return Ok(Vec::new());
    }
    STANDARD.decode(line).map_err(|_| bad("invalid base64"))
}

/// RFC 4616 §2: `[authzid] NUL authcid NUL passwd`. We act only as the user who
/// authenticates: an authzid naming someone else is refused.
fn decode_plain(data: &[u8]) -> Result<(String, Secret), Pop3Error> {
    let mut parts = data.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(passwd), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed PLAIN response"));
    };
    let utf8 =
        |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| bad("credentials are not UTF-8"));
    let (authzid, authcid, passwd) = (utf8(authzid)?, utf8(authcid)?, utf8(passwd)?);
    if authcid.is_empty() {
        return Err(bad("empty user name"));
    }
    if !authzid.is_empty() && !authzid.eq_ignore_ascii_case(&authcid) {
        return Err(Pop3Error::with_code(
            RespCode::Auth,
            "Not authorized to act as another user",
        ));
    }
    Ok((authcid, Secret::new(passwd)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &[u8]) -> String {
        STANDARD.encode(s)
    }

    #[test]
    fn plain_with_initial_response() {
        let step = start(Mechanism::Plain, Some(&b64(b"\0alice@x.test\0pw d")));
        assert_eq!(
            step,
            Step::Credentials {
                user: "alice@x.test".into(),
                password: Secret::new("pw d")
            }
        );
    }

    #[test]
    fn plain_without_initial_response_sends_an_empty_challenge() {
        let Step::Challenge(ch, ex) = start(Mechanism::Plain, None) else {
            panic!("no challenge")
        };
        assert_eq!(ch, "");
        let step = step(ex, b64(b"alice@x.test\0alice@x.test\0pw").as_bytes());
        assert!(matches!(step, Step::Credentials { ref user, .. } if user == "alice@x.test"));
    }

    #[test]
    fn plain_refuses_malformed_and_foreign_authzid() {
        for (data, text) in [
            (&b"\0alice"[..], "AUTH: malformed PLAIN response"),
            (b"\0alice\0pw\0more", "AUTH: malformed PLAIN response"),
            (b"\0\0pw", "AUTH: empty user name"),
            (b"bob\0alice\0pw", "Not authorized to act as another user"),
        ] {
            let Step::Failed(e) = start(Mechanism::Plain, Some(&b64(data))) else {
                panic!("accepted {data:?}")
            };
            assert_eq!(e.text, text);
        }
        let Step::Failed(e) = start(Mechanism::Plain, Some("!!!")) else {
            panic!()
        };
        assert_eq!(e.text, "AUTH: invalid base64");
        // `=` is an empty response: no credentials in it.
        assert!(matches!(
            start(Mechanism::Plain, Some("=")),
            Step::Failed(_)
        ));
    }

    #[test]
    fn login_asks_for_user_then_password() {
        let Step::Challenge(ch, ex) = start(Mechanism::Login, None) else {
            panic!()
        };
        assert_eq!(ch, "VXNlcm5hbWU6");
        let Step::Challenge(ch, ex) = step(ex, b64(b"alice@x.test").as_bytes()) else {
            panic!()
        };
        assert_eq!(ch, "UGFzc3dvcmQ6");
        assert_eq!(
            step(ex, b64(b"secret").as_bytes()),
            Step::Credentials {
                user: "alice@x.test".into(),
                password: Secret::new("secret")
            }
        );
    }

    #[test]
    fn login_with_initial_response_skips_the_user_prompt() {
        let Step::Challenge(ch, _) = start(Mechanism::Login, Some(&b64(b"alice@x.test"))) else {
            panic!()
        };
        assert_eq!(ch, "UGFzc3dvcmQ6");
    }
}
