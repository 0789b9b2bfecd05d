//! AUTH (RFC 4954) on submission: PLAIN (RFC 4616) and LOGIN, each with or without an
//! initial response. The state check (after EHLO, outside a transaction) is in
//! `allowed`; the policy is here:
//!
//! - Offered only when [`Session::auth_offered`]: on TLS, or on loopback / anywhere when
//!   the config allows plaintext. Otherwise `530 5.7.0` (STARTTLS first) when the
//!   connection can upgrade, else `538 5.7.11`.
//! - Bad credentials: `535 5.7.8`, after a delay that grows per failure from the same
//!   address (`wharf_net::AuthThrottle`). Too many failures from one address or for
//!   one account within the window: `454 4.7.0` without even checking the password.
//!   `max_auth_failures` on one connection: `421 4.7.0` and close.
//! - A store error is `454 4.7.0` (RFC 4954 §6: temporary failure).
//! - Once authenticated, AUTH again is `503 5.5.1` (RFC 4954 §4).

use crate::proto::sasl::{self, SaslError};
use crate::proto::{Reply, Status};
use crate::session::{SaslStep, Session, Step};
use wharf_store::{Address, Secret};

impl Session {
    pub(crate) async fn handle_auth(&mut self, mechanism: String, initial: Option<Secret>) -> Step {
        if !self.auth_offered() {
            return Step::reply(if self.conn.can_starttls {
                Reply::starttls_first()
            } else {
                Reply::encryption_required()
            });
        }
        if self.auth.is_some() {
            return Step::reply(Reply::bad_sequence("Already authenticated"));
        }
        if !self.shared.throttle.allowed(self.conn.peer.ip()) {
            tracing::info!(conn = self.conn.id, peer = %self.conn.peer, "AUTH refused: too many failures from this address");
            return Step::reply(Reply::auth_temporary(
                "Too many failed logins, try again later",
            ));
        }
        match (mechanism.as_str(), initial) {
            ("PLAIN", Some(resp)) => {
                self.sasl_response(SaslStep::Plain, resp.expose().as_bytes())
                    .await
            }
            ("PLAIN", None) => self.challenge(SaslStep::Plain, ""),
            ("LOGIN", Some(resp)) => {
                self.sasl_response(SaslStep::LoginUser, resp.expose().as_bytes())
                    .await
            }
            ("LOGIN", None) => self.challenge(SaslStep::LoginUser, "Username:"),
            _ => Step::reply(Reply::auth_mechanism_unknown()),
        }
    }

    /// Sends a 334 challenge and waits for the client's response line.
    fn challenge(&mut self, next: SaslStep, text: &str) -> Step {
        self.sasl = Some(next);
        // RFC 4954 §4: an empty challenge is "334 " with nothing after the space.
        Step::reply(Reply::sasl_challenge(sasl::encode_challenge(text)))
    }

    /// One client response of the exchange (initial response or continuation line).
    pub(crate) async fn sasl_response(&mut self, step: SaslStep, line: &[u8]) -> Step {
        let decoded = std::str::from_utf8(line)
            .map_err(|_| SaslError::BadBase64)
            .and_then(sasl::decode_response);
        let bytes = match decoded {
            Ok(b) => b,
            Err(SaslError::Cancelled) => return Step::reply(Reply::auth_cancelled()),
            Err(_) => return Step::reply(Reply::auth_bad_base64()),
        };
        match step {
            SaslStep::Plain => match sasl::parse_plain(&bytes) {
                Ok(p) => {
                    // We act only as the user who authenticated: no proxy authorization.
                    if !p.authzid.is_empty() && !p.authzid.eq_ignore_ascii_case(&p.authcid) {
                        return self.auth_failure(&p.authcid).await;
                    }
                    self.check_password(&p.authcid, &p.password).await
                }
                Err(_) => Step::reply(Reply::syntax("Malformed PLAIN response")),
            },
            SaslStep::LoginUser => match sasl::parse_login_field(&bytes) {
                Ok(user) => self.challenge(SaslStep::LoginPassword(user), "Password:"),
                Err(_) => Step::reply(Reply::syntax("Malformed user name")),
            },
            SaslStep::LoginPassword(user) => match sasl::parse_login_field(&bytes) {
                Ok(pw) => self.check_password(&user, &Secret::new(pw)).await,
                Err(_) => self.auth_failure(&user).await,
            },
        }
    }

    async fn check_password(&mut self, user: &str, password: &Secret) -> Step {
        if !self.shared.account_throttle.allowed(user) {
            tracing::info!(
                conn = self.conn.id,
                user,
                "AUTH refused: too many failures for this account"
            );
            return Step::reply(Reply::auth_temporary(
                "Too many failed logins, try again later",
            ));
        }
        let Ok(address) = Address::parse(user) else {
            return self.auth_failure(user).await;
        };
        // Argon2id waits for a login slot: a login flood queues here instead of filling
        // the blocking pool that store reads share.
        let slot = self.shared.throttle.login_slot().await;
        let checked = self.shared.store.authenticate(&address, password).await;
        drop(slot);
        match checked {
            Ok(Some(account)) => {
                self.shared.throttle.succeeded(self.conn.peer.ip());
                self.shared.account_throttle.succeeded(user);
                tracing::info!(conn = self.conn.id, user = %account.address, "authenticated");
                self.auth = Some(account);
                Step::reply(Reply::auth_ok())
            }
            Ok(None) => self.auth_failure(user).await,
            Err(e) => {
                tracing::warn!(conn = self.conn.id, "store error during AUTH: {e}");
                Step::reply(Reply::auth_temporary("Temporary authentication failure"))
            }
        }
    }

    /// Bad credentials: delay, count, and close after too many on this connection.
    async fn auth_failure(&mut self, user: &str) -> Step {
        let delay = self.shared.throttle.failed(self.conn.peer.ip());
        self.shared.account_throttle.failed(user);
        self.auth_failures += 1;
        tracing::info!(conn = self.conn.id, peer = %self.conn.peer, user, failures = self.auth_failures, "AUTH failed");
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if self.auth_failures >= self.shared.submission.max_auth_failures {
            return Step {
                replies: vec![
                    Reply::auth_failed(),
                    Reply::new(
                        421,
                        Status(4, 7, 0),
                        format!("{} Too many failed logins, closing", self.shared.hostname),
                    ),
                ],
                next: crate::session::Next::Close,
            };
        }
        Step::reply(Reply::auth_failed())
    }
}
