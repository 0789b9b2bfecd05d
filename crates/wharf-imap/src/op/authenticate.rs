//! AUTHENTICATE (RFC 9051 §6.2.2) with PLAIN (RFC 4616) and LOGIN, and SASL-IR
//! (RFC 4959) initial responses.
//!
//! The exchange state lives in the session while the driver relays continuation lines;
//! a client line of `*` cancels (BAD, §6.2.2).

use crate::proto::Tag;
use crate::session::{Done, ImapError, OpResult, Outcome, Session};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use wharf_store::Secret;

/// Where a multi-step exchange stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslState {
    PlainWaiting,
    LoginUser,
    LoginPassword(String),
}

pub async fn handle_authenticate(
    s: &mut Session,
    tag: &Tag,
    mechanism: &str,
    initial: Option<Vec<u8>>,
) -> (OpResult, Outcome) {
    if !s.plaintext_ok() {
        return (
            Err(ImapError::no_code(
                "PRIVACYREQUIRED",
                "Plaintext authentication is disabled on unencrypted connections; use STARTTLS",
            )),
            Outcome::Continue,
        );
    }
    match mechanism {
        "PLAIN" => match initial {
            Some(ir) => (plain(s, &ir).await, Outcome::Continue),
            None => {
                s.sasl = Some(SaslState::PlainWaiting);
                (Ok(Done::text("")), Outcome::Sasl(tag.clone(), Vec::new()))
            }
        },
        "LOGIN" => match initial {
            Some(ir) => match decode(&ir) {
                Ok(user) => {
                    s.sasl = Some(SaslState::LoginPassword(user));
                    (
                        Ok(Done::text("")),
                        Outcome::Sasl(tag.clone(), b"Password:".to_vec()),
                    )
                }
                Err(e) => (Err(e), Outcome::Continue),
            },
            None => {
                s.sasl = Some(SaslState::LoginUser);
                (
                    Ok(Done::text("")),
                    Outcome::Sasl(tag.clone(), b"Username:".to_vec()),
                )
            }
        },
        _ => (
            Err(ImapError::no_code(
                "CANNOT",
                format!("Unsupported mechanism {mechanism}"),
            )),
            Outcome::Continue,
        ),
    }
}

fn decode(b64: &[u8]) -> Result<String, ImapError> {
    if b64 == b"=" {
        return Ok(String::new());
    }
    let bytes = STANDARD
        .decode(b64.trim_ascii())
        .map_err(|_| ImapError::bad("Invalid base64"))?;
    String::from_utf8(bytes).map_err(|_| ImapError::bad("Credentials are not UTF-8"))
}

/// RFC 4616: [authzid] NUL authcid NUL passwd.
async fn plain(s: &mut Session, b64: &[u8]) -> OpResult {
    let text = decode(b64)?;
    let mut it = text.split('\0');
    let (Some(authz), Some(user), Some(pass), None) = (it.next(), it.next(), it.next(), it.next())
    else {
        return Err(ImapError::bad("Malformed PLAIN response"));
    };
    if !authz.is_empty() && authz != user {
        return Err(ImapError::no_code(
            "AUTHORIZATIONFAILED",
            "Cannot act as another user",
        ));
    }
    super::login::log_in(s, user, &Secret::new(pass)).await
}

/// What a step leads to.
pub enum Step {
    Done(Done),
    /// Another continuation with this challenge.
    Challenge(Vec<u8>),
}

/// The next step, with the client's line.
pub async fn step(s: &mut Session, line: &[u8]) -> Result<Step, ImapError> {
    let state = s.sasl.take();
    if line == b"*" {
        return Err(ImapError::bad("Authentication cancelled"));
    }
    match state {
        Some(SaslState::PlainWaiting) => plain(s, line).await.map(Step::Done),
        Some(SaslState::LoginUser) => {
            let user = decode(line)?;
            s.sasl = Some(SaslState::LoginPassword(user));
            Ok(Step::Challenge(b"Password:".to_vec()))
        }
        Some(SaslState::LoginPassword(user)) => {
            let pass = decode(line)?;
            super::login::log_in(s, &user, &Secret::new(pass))
                .await
                .map(Step::Done)
        }
        None => Err(ImapError::bad("No authentication in progress")),
    }
}
