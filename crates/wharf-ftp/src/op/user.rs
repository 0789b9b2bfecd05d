//! USER and PASS (RFC 959 §4.1.1): the same accounts as mail, checked by the store;
//! anonymous read-only login when `anonymous_root` is set. Plaintext passwords only over
//! TLS or from loopback unless configured otherwise; failed logins are delayed and
//! counted per client address (`AuthThrottle`).

use crate::reply::code;
use crate::session::{Flow, Login, Outcome, Session, State};
use wharf_store::files::VPath;
use wharf_store::{AccountId, Address, Secret};

fn is_anonymous(user: &str) -> bool {
    user.eq_ignore_ascii_case("anonymous") || user.eq_ignore_ascii_case("ftp")
}

impl Session<'_> {
    pub(crate) async fn handle_user(&mut self, user: String) -> Outcome {
        let ip = self.conn.peer().ip();
        if !self.server.throttle.allowed(ip) {
            self.answer(
                code::SERVICE_UNAVAILABLE,
                "Too many failed logins from your address; try later.",
            )
            .await?;
            return Ok(Flow::Close);
        }
        let tls = self.conn.is_tls();
        if self.server.config.require_tls && !tls {
            // RFC 4217 §4: the server may refuse USER until the control connection is protected.
            self.state = State::Fresh;
            return self
                .answer(code::NOT_LOGGED_IN, "TLS required: use AUTH TLS first.")
                .await;
        }
        if is_anonymous(&user) {
            if self.server.anonymous.is_none() {
                self.state = State::Fresh;
                return self
                    .answer(code::NOT_LOGGED_IN, "Anonymous login is not enabled.")
                    .await;
            }
            self.state = State::NeedPassword {
                user,
                anonymous: true,
            };
            return self
                .answer(
                    code::NEED_PASSWORD,
                    "Guest login ok, send your e-mail address as password.",
                )
                .await;
        }
        let loopback = crate::data::canonical(self.conn.peer().ip()).is_loopback();
        if !tls && !loopback && !self.server.config.allow_plaintext_auth {
            self.state = State::Fresh;
            return self
                .answer(
                    code::NOT_LOGGED_IN,
                    "Plaintext login refused: use AUTH TLS first.",
                )
                .await;
        }
        self.state = State::NeedPassword {
            user,
            anonymous: false,
        };
        self.answer(code::NEED_PASSWORD, "Password required.").await
    }

    pub(crate) async fn handle_pass(&mut self, pass: Secret) -> Outcome {
        let State::NeedPassword { user, anonymous } =
            std::mem::replace(&mut self.state, State::Fresh)
        else {
            return self
                .answer(code::BAD_SEQUENCE, "Login with USER first.")
                .await;
        };
        let ip = self.conn.peer().ip();
        if anonymous {
            let Some(area) = self.server.anonymous.clone() else {
                return self
                    .answer(code::NOT_LOGGED_IN, "Anonymous login is not enabled.")
                    .await;
            };
            tracing::info!(conn = self.conn.id, "anonymous login");
            self.rate = self.server.rate_for(AccountId(0));
            self.state = State::LoggedIn(Login {
                owner: AccountId(0),
                area,
                user: "anonymous".into(),
                anonymous: true,
            });
            self.cwd = VPath::root();
            return self
                .answer(code::LOGGED_IN, "Guest login ok, read-only access.")
                .await;
        }
        let slot = self.server.throttle.login_slot().await;
        let account = match Address::parse(&user) {
            Ok(addr) => match self.server.store.authenticate(&addr, &pass).await {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!(
                        conn = self.conn.id,
                        "authentication failed with a store error: {e}"
                    );
                    self.answer(
                        code::SERVICE_UNAVAILABLE,
                        "Service temporarily unavailable.",
                    )
                    .await?;
                    return Ok(Flow::Close);
                }
            },
            Err(_) => None,
        };
        drop(slot);
        let Some(account) = account else {
            let delay = self.server.throttle.failed(ip);
            tokio::time::sleep(delay).await;
            self.login_failures += 1;
            tracing::info!(conn = self.conn.id, user = %user, "login failed");
            self.answer(code::NOT_LOGGED_IN, "Login incorrect.").await?;
            if self.login_failures >= self.server.config.max_auth_failures.max(1) {
                self.answer(code::SERVICE_UNAVAILABLE, "Too many failed logins.")
                    .await?;
                return Ok(Flow::Close);
            }
            return Ok(Flow::Continue);
        };
        self.server.throttle.succeeded(ip);
        if let Err(e) = self.server.files.ensure_home(account.id).await {
            tracing::warn!(
                conn = self.conn.id,
                "cannot create the home of {}: {e}",
                account.address
            );
            self.answer(
                code::SERVICE_UNAVAILABLE,
                "Cannot open your file area; try later.",
            )
            .await?;
            return Ok(Flow::Close);
        }
        tracing::info!(conn = self.conn.id, user = %account.address, "logged in");
        self.rate = self.server.rate_for(account.id);
        self.state = State::LoggedIn(Login {
            owner: account.id,
            area: self.server.files.clone(),
            user: account.address.to_string(),
            anonymous: false,
        });
        self.cwd = VPath::root();
        self.answer(code::LOGGED_IN, "User logged in.").await
    }
}
