//! One POP3 session: the state machine between the parser and the handlers.
//!
//! Implementation notes:
//! - The state is an enum whose variants hold that state's data: the pending USER name
//!   in AUTHORIZATION, the SASL exchange while AUTH is under way, and the account, the
//!   frozen maildrop and its lock in TRANSACTION. UPDATE (RFC 1939 §6) is not a resting
//!   state: QUIT in TRANSACTION performs it and the session ends.
//! - Which command is valid in which state is decided in one place, [`allowed_in`],
//!   before dispatch (RFC 1939 §3: "-ERR" for a command in the wrong state).
//! - Replies are appended to an output buffer; the driver flushes it when no complete
//!   command is left in its input (RFC 2449 §6.6 PIPELINING).
//! - A session that ends any other way than QUIT in TRANSACTION changes nothing in the
//!   store (RFC 1939 §6: no UPDATE on a dropped connection or a timeout).

use crate::op;
use crate::parse::{self, Command};
use crate::reply::{Pop3Error, RespCode};
use crate::sasl::Exchange;
use crate::server::Server;
use crate::{lock::MaildropLock, maildrop::Maildrop};
use std::net::IpAddr;
use wharf_store::Account;

/// What the driver must do after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Continue,
    /// Flush the replies, then run the TLS handshake (STLS said +OK).
    StartTls,
    /// Flush the replies and close the connection.
    Close,
}

/// The session's state and the data that exists only in it.
pub(crate) enum State {
    /// RFC 1939 §4. `user`: the name given by a USER that PASS may follow.
    Authorization { user: Option<String> },
    /// An AUTH exchange waits for the client's next line (RFC 5034 §4).
    Sasl(Exchange),
    /// RFC 1939 §5.
    Transaction(Box<Transaction>),
}

/// The data of the TRANSACTION state.
pub(crate) struct Transaction {
    pub account: Account,
    pub maildrop: Maildrop,
    /// Released when the session ends, however it ends.
    pub _lock: MaildropLock,
    /// The next messages, being read ahead of their RETR, in message order.
    pub read_ahead: std::collections::VecDeque<crate::prefetch::Prefetch>,
}

/// The two command-accepting states, for the state check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Authorization,
    Transaction,
}

/// RFC 1939 §4-§5, RFC 2449 §5, RFC 2595 §4, RFC 5034 §4: the commands of each state.
pub fn allowed_in(phase: Phase, cmd: &Command) -> bool {
    use Command::*;
    match cmd {
        Capa | Quit => true,
        User(_) | Pass(_) | Apop | Auth { .. } | Stls => phase == Phase::Authorization,
        Stat | List(_) | Retr(_) | Dele(_) | Noop | Rset | Top(..) | Uidl(_) => {
            phase == Phase::Transaction
        }
    }
}

/// One client's session.
pub(crate) struct Session<'a> {
    pub server: &'a Server,
    pub state: State,
    pub peer: IpAddr,
    /// The connection is encrypted (POP3S, or after STLS).
    pub tls: bool,
    pub loopback: bool,
    /// STLS can be offered (a certificate is configured and TLS is not active yet).
    pub can_stls: bool,
    /// Failed logins on this connection.
    pub auth_failures: u32,
    bad_commands: u32,
    commands_before_auth: u32,
}

impl<'a> Session<'a> {
    pub fn new(
        server: &'a Server,
        peer: IpAddr,
        tls: bool,
        loopback: bool,
        can_stls: bool,
    ) -> Self {
        Session {
            server,
            state: State::Authorization { user: None },
            peer,
            tls,
            loopback,
            can_stls,
            auth_failures: 0,
            bad_commands: 0,
            commands_before_auth: 0,
        }
    }

    pub fn phase(&self) -> Phase {
        match self.state {
            State::Transaction(_) => Phase::Transaction,
            _ => Phase::Authorization,
        }
    }

    /// The longest line the session accepts in its current state.
    pub fn line_limit(&self) -> usize {
        match self.state {
            State::Sasl(_) => parse::MAX_SASL_LINE,
            _ => self.server.config.max_line_length,
        }
    }

    /// Whether passwords may be sent in the clear on this connection (ARCHITECTURE.md
    /// security defaults; RFC 8314 §3).
    pub fn plaintext_auth_allowed(&self) -> bool {
        self.tls || self.loopback || self.server.config.allow_plaintext_auth
    }

    /// The connection switched to TLS: RFC 2595 §4 makes the client forget what it knew,
    /// and we forget the pending USER with it.
    pub fn tls_started(&mut self) {
        self.tls = true;
        self.can_stls = false;
        self.state = State::Authorization { user: None };
    }

    /// Handles one line from the client, appending the replies to `out`.
    pub async fn handle_line(&mut self, line: &[u8], out: &mut Vec<u8>) -> Action {
        // An AUTH exchange under way takes the line whatever it says (RFC 5034 §4); the
        // state falls back to AUTHORIZATION unless the exchange continues.
        match std::mem::replace(&mut self.state, State::Authorization { user: None }) {
            State::Sasl(exchange) => {
                let result = op::auth::continue_auth(self, exchange, line, out).await;
                return self.finish(result, out);
            }
            other => self.state = other,
        }
        let cmd = match parse::parse_command(line) {
            Ok(cmd) => cmd,
            Err(e) => {
                let err = Pop3Error::new(e.reply_text());
                return self.bad_command(err, out);
            }
        };
        if self.phase() == Phase::Authorization {
            self.commands_before_auth += 1;
            if self.commands_before_auth > self.server.config.max_commands_before_auth {
                Pop3Error::new("Too many commands without logging in").write(out);
                return Action::Close;
            }
        }
        if !allowed_in(self.phase(), &cmd) {
            let state = match self.phase() {
                Phase::Authorization => "before login",
                Phase::Transaction => "after login",
            };
            let err = Pop3Error::new(format!("{} is not valid {state}", cmd.verb()));
            return self.bad_command(err, out);
        }
        // RFC 1939 §7: PASS is valid only immediately after USER.
        let pending_user = match &mut self.state {
            State::Authorization { user } => user.take(),
            _ => None,
        };
        tracing::debug!(peer = %self.peer, verb = cmd.verb(), "pop3 command");
        let result = self.dispatch(cmd, pending_user, out).await;
        self.finish(result, out)
    }

    async fn dispatch(
        &mut self,
        cmd: Command,
        pending_user: Option<String>,
        out: &mut Vec<u8>,
    ) -> Result<Action, Pop3Error> {
        match cmd {
            Command::Capa => op::capa::handle_capa(self, out),
            Command::User(name) => op::user::handle_user(self, name, out),
            Command::Pass(password) => {
                op::pass::handle_pass(self, pending_user, password, out).await
            }
            Command::Apop => op::apop::handle_apop(),
            Command::Auth {
                mechanism,
                initial_response,
            } => op::auth::handle_auth(self, mechanism, initial_response, out).await,
            Command::Stls => op::stls::handle_stls(self, out),
            Command::Quit => op::quit::handle_quit(self, out).await,
            Command::Stat => op::stat::handle_stat(self.transaction()?, out),
            Command::List(n) => op::list::handle_list(self.transaction()?, n, out),
            Command::Uidl(n) => op::uidl::handle_uidl(self.transaction()?, n, out),
            Command::Retr(n) => {
                let server = self.server;
                op::retr::handle_retr(server, self.transaction()?, n, out).await
            }
            Command::Top(n, lines) => {
                let server = self.server;
                op::top::handle_top(server, self.transaction()?, n, lines, out).await
            }
            Command::Dele(n) => op::dele::handle_dele(self.transaction()?, n, out),
            Command::Noop => op::noop::handle_noop(self.transaction()?, out),
            Command::Rset => op::rset::handle_rset(self.transaction()?, out),
        }
    }

    /// The TRANSACTION data; [`allowed_in`] has already ruled out other states, so the
    /// error is only a guard against a dispatch mistake.
    fn transaction(&mut self) -> Result<&mut Transaction, Pop3Error> {
        match &mut self.state {
            State::Transaction(t) => Ok(t),
            _ => Err(Pop3Error::new("Not logged in")),
        }
    }

    fn finish(&mut self, result: Result<Action, Pop3Error>, out: &mut Vec<u8>) -> Action {
        match result {
            Ok(action) => action,
            Err(e) => {
                e.write(out);
                if e.close {
                    Action::Close
                } else {
                    Action::Continue
                }
            }
        }
    }

    /// An unknown, malformed or misplaced command: `-ERR`, and the session goes on until
    /// there have been too many.
    fn bad_command(&mut self, err: Pop3Error, out: &mut Vec<u8>) -> Action {
        if let State::Authorization { user } = &mut self.state {
            *user = None;
        }
        self.bad_commands += 1;
        err.write(out);
        if self.bad_commands >= self.server.config.max_bad_commands {
            Pop3Error::new("Too many bad commands, closing connection").write(out);
            return Action::Close;
        }
        Action::Continue
    }

    /// A line too long to be a command (RFC 2449 §4).
    pub fn line_too_long(&mut self, out: &mut Vec<u8>) -> Action {
        if let State::Sasl(_) = self.state {
            self.state = State::Authorization { user: None };
        }
        self.bad_command(Pop3Error::new("Line too long"), out)
    }

    /// Checks credentials and opens the maildrop: the one place where a session logs in
    /// (PASS and AUTH both end here).
    pub async fn login(
        &mut self,
        user: &str,
        password: &wharf_store::Secret,
        out: &mut Vec<u8>,
    ) -> Result<Action, Pop3Error> {
        let transaction = op::login::login(self, user, password).await?;
        let (count, size) = transaction.maildrop.stat();
        tracing::info!(peer = %self.peer, user = %transaction.account.address, messages = count, "pop3 login");
        crate::reply::ok(out, &format!("Logged in, {count} messages ({size} octets)"));
        self.state = State::Transaction(Box::new(transaction));
        Ok(Action::Continue)
    }
}

/// `-ERR [AUTH] ...` for a password sent in the clear where that is not allowed.
pub(crate) fn plaintext_refused() -> Pop3Error {
    Pop3Error::with_code(
        RespCode::Auth,
        "Plaintext authentication disallowed on non-secure connection; use STLS or POP3S",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_store::Secret;

    #[test]
    fn state_table() {
        let auth_only = [
            Command::User("a".into()),
            Command::Pass(Secret::new("p")),
            Command::Apop,
            Command::Stls,
            Command::Auth {
                mechanism: None,
                initial_response: None,
            },
        ];
        let trans_only = [
            Command::Stat,
            Command::List(None),
            Command::Retr(1),
            Command::Dele(1),
            Command::Noop,
            Command::Rset,
            Command::Top(1, 0),
            Command::Uidl(None),
        ];
        for c in &auth_only {
            assert!(allowed_in(Phase::Authorization, c), "{c:?}");
            assert!(!allowed_in(Phase::Transaction, c), "{c:?}");
        }
        for c in &trans_only {
            assert!(!allowed_in(Phase::Authorization, c), "{c:?}");
            assert!(allowed_in(Phase::Transaction, c), "{c:?}");
        }
        for c in [Command::Capa, Command::Quit] {
            assert!(allowed_in(Phase::Authorization, &c));
            assert!(allowed_in(Phase::Transaction, &c));
        }
    }
}
