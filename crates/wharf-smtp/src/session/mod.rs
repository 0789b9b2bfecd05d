//! One SMTP session as a state machine: commands in, replies and the next framing mode
//! out. The tokio driver (`server.rs`) moves the bytes; this module decides.
//!
//! Implementation notes:
//! - The state check is in one place, `allowed`, before dispatch to the handler of
//!   each verb in `op/`. A command out of place gets `503 5.5.1` (RFC 5321 §4.1.4).
//! - The transaction lives inside the state that has it: nothing can touch recipients
//!   before MAIL, and every path out of a transaction (RSET, HELO/EHLO, end of data,
//!   STARTTLS) drops it.
//! - A BDAT chunk is always read in full, even when the command is refused, so that its
//!   octets are never taken for commands (RFC 3030 §2).
//! - Every 4xx/5xx counts as an error (but the first 1000 "too many recipients"); at
//!   `max_errors` the session says `421 4.7.0` and ends. Past `max_junk_commands`,
//!   NOOP/RSET/VRFY/EXPN/HELP count as errors too; that count restarts after each
//!   delivered message (as Postfix's smtpd_junk_command_limit).
//! - [`Mode`] is the policy seam: the mail exchanger never relays and offers no AUTH;
//!   submission (RFC 6409) offers AUTH (only on TLS, or loopback when configured),
//!   requires it before MAIL (`530 5.7.0`), lets a user send only as their own
//!   addresses (`553 5.7.1`), and relays: recipients elsewhere go to the queue.
//! - A SASL exchange in progress (`sasl`) takes the next line as a client response,
//!   never as a command.

mod op;

use crate::config::{Config, SubmissionConfig};
use crate::proto::{
    Chunk, ChunkReceiver, Command, DataReceiver, ForwardPath, MailParams, RcptParams, Reply,
    ReversePath, Status, parse_command,
};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use wharf_net::AuthThrottle;
use wharf_store::queue::QueueRecipientSpec;
use wharf_store::{Account, Address, DynStore};

/// `452 4.5.3` replies a session may collect before they count as errors.
const RECIPIENT_OVERSHOOT_LIMIT: u32 = 1000;

/// What the server is for; decides relay and authentication policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Inbound mail exchanger (port 25): mail for our domains only, no AUTH, no relay.
    Exchanger,
    /// Message submission (RFC 6409; 587 with STARTTLS, 465 with implicit TLS): AUTH
    /// required, relay for the authenticated user, remote recipients queued.
    Submission,
}

/// What every session of one server shares.
pub struct Shared {
    pub store: DynStore,
    pub hostname: String,
    pub config: Config,
    pub mode: Mode,
    pub submission: SubmissionConfig,
    /// Failed AUTH per client address, and the login slots every password check waits
    /// for (under `serve`, the one throttle of every protocol).
    pub throttle: Arc<AuthThrottle>,
    /// Failed AUTH per account name (from any address).
    pub account_throttle: AccountThrottle,
    /// Mail-authentication hooks (DKIM signing, inbound checks).
    pub hooks: crate::hooks::Hooks,
}

impl Shared {
    pub fn new(
        store: DynStore,
        hostname: String,
        config: Config,
        mode: Mode,
        submission: SubmissionConfig,
    ) -> Shared {
        let window = Duration::from_secs(submission.auth_failure_window_secs);
        Shared {
            throttle: AuthThrottle::shared_or(|| {
                AuthThrottle::new(
                    submission.max_auth_failures_per_ip,
                    window,
                    Duration::from_millis(submission.auth_failure_delay_ms),
                )
            }),
            account_throttle: AccountThrottle::new(
                submission.max_auth_failures_per_account,
                window,
            ),
            store,
            hostname,
            config,
            mode,
            submission,
            hooks: Default::default(),
        }
    }
}

/// Failed logins per account name within a window: a password-guessing run spread over
/// many addresses still stops at the account (the "per IP and per account").
pub struct AccountThrottle {
    max: u32,
    window: Duration,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

/// Accounts tracked at most; past this the oldest windows are dropped first.
const MAX_TRACKED_ACCOUNTS: usize = 10_000;

impl AccountThrottle {
    pub fn new(max: u32, window: Duration) -> AccountThrottle {
        AccountThrottle {
            max,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether logins for this account name are accepted now.
    pub fn allowed(&self, account: &str) -> bool {
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&account.to_lowercase()) {
            Some((n, since)) if since.elapsed() < self.window => *n < self.max,
            _ => true,
        }
    }

    pub fn failed(&self, account: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_TRACKED_ACCOUNTS {
            let window = self.window;
            map.retain(|_, (_, since)| since.elapsed() < window);
        }
        let entry = map
            .entry(account.to_lowercase())
            .or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.window {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    pub fn succeeded(&self, account: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&account.to_lowercase());
    }
}

/// Facts about the connection the session runs on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The connection id used in logs.
    pub id: u64,
    pub peer: SocketAddr,
    pub tls: bool,
    pub can_starttls: bool,
}

/// How the client introduced itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Helo {
    pub name: String,
    /// EHLO (true) or HELO (false).
    pub esmtp: bool,
}

/// An accepted recipient.
#[derive(Debug, Clone)]
pub struct Recipient {
    /// The address as resolved (for `Postmaster`, the local postmaster address).
    pub address: Address,
    /// RFC 3461 NOTIFY/ORCPT, kept for the outbound side (DSN).
    pub params: RcptParams,
}

/// A mail transaction from MAIL to the end of the data.
#[derive(Debug, Clone)]
pub struct Transaction {
    pub from: ReversePath,
    pub params: MailParams,
    pub recipients: Vec<Recipient>,
    /// The local accounts that get the message, without duplicates.
    pub accounts: Vec<Account>,
    /// Submission: recipients in other domains (and off-site alias targets), for the
    /// outbound queue.
    pub remote: Vec<QueueRecipientSpec>,
}

/// The session state (RFC 5321 §4.1.4 ordering).
#[derive(Debug)]
pub enum State {
    /// Greeting sent (or TLS just started): HELO or EHLO comes next.
    Connected,
    /// Introduced, no transaction.
    Greeted,
    /// MAIL accepted, no recipient yet.
    Mail(Transaction),
    /// At least one recipient accepted.
    Rcpt(Transaction),
    /// BDAT chunks are arriving; the message so far.
    Bdat(Transaction, Vec<u8>),
}

/// What the driver does after a command.
#[derive(Debug)]
pub enum Next {
    /// Read the next command.
    Command,
    /// Send the replies and close.
    Close,
    /// Send the replies, flush, run the TLS handshake, then call
    /// [`Session::tls_started`].
    StartTls,
    /// Send the replies (354), feed the receiver until done, then call
    /// [`Session::data_received`].
    Data(DataReceiver),
    /// Feed the chunk receiver until done, then call [`Session::chunk_received`].
    Chunk(ChunkReceiver),
}

/// Replies to send, then what to do.
#[derive(Debug)]
pub struct Step {
    pub replies: Vec<Reply>,
    pub next: Next,
}

impl Step {
    pub fn reply(reply: Reply) -> Step {
        Step {
            replies: vec![reply],
            next: Next::Command,
        }
    }
    pub fn close(reply: Reply) -> Step {
        Step {
            replies: vec![reply],
            next: Next::Close,
        }
    }
}

/// A BDAT whose chunk is being read: what to answer once it is in.
#[derive(Debug)]
enum PendingChunk {
    /// The command was refused; answer this after discarding the chunk.
    Refused(Reply),
    /// The chunk belongs to the transaction; `last` ends it.
    Accepted { last: bool },
}

/// One SMTP session.
pub struct Session {
    shared: Arc<Shared>,
    conn: ConnInfo,
    state: State,
    helo: Option<Helo>,
    errors: u32,
    /// `errors` when last checked against the limit.
    errors_seen: u32,
    junk: u32,
    /// `452 4.5.3` replies so far.
    overshoot: u32,
    pending_chunk: Option<PendingChunk>,
    /// The account that authenticated (submission).
    auth: Option<Account>,
    /// The addresses `auth` may send as (its own and the aliases pointing to it), read
    /// from the store at the first MAIL and kept for the session.
    owned: Option<Vec<Address>>,
    /// Failed AUTH attempts on this connection.
    auth_failures: u32,
    /// A SASL exchange waiting for the client's next response line.
    sasl: Option<SaslStep>,
}

/// Where a multi-step AUTH exchange stands (RFC 4954 §4).
#[derive(Debug)]
pub(crate) enum SaslStep {
    /// `AUTH PLAIN` without an initial response: the PLAIN message comes next.
    Plain,
    /// `AUTH LOGIN`: the user name comes next.
    LoginUser,
    /// `AUTH LOGIN`: the password for this user comes next.
    LoginPassword(String),
}

/// The one place that says which command may come in which state.
fn allowed(mode: Mode, state: &State, cmd: &Command) -> Result<(), Reply> {
    use Command as C;
    match (state, cmd) {
        (_, C::NotImplemented(verb)) => Err(Reply::not_implemented(verb)),
        // The mail exchanger does not offer AUTH at all.
        (_, C::Auth { .. }) if mode == Mode::Exchanger => Err(Reply::not_implemented("AUTH")),
        // RFC 4954 §4: AUTH after EHLO, and not within a mail transaction.
        (State::Greeted, C::Auth { .. }) => Ok(()),
        (State::Connected, C::Auth { .. }) => Err(Reply::bad_sequence("Send EHLO first")),
        (State::Mail(_) | State::Rcpt(_) | State::Bdat(..), C::Auth { .. }) => {
            Err(Reply::bad_sequence("Mail transaction in progress"))
        }
        (
            _,
            C::Helo(_)
            | C::Ehlo(_)
            | C::Rset
            | C::Noop
            | C::Quit
            | C::Vrfy(_)
            | C::Expn(_)
            | C::Help(_),
        ) => Ok(()),
        (State::Connected, _) => Err(Reply::bad_sequence("Send HELO/EHLO first")),
        (State::Greeted, C::Mail { .. } | C::StartTls) => Ok(()),
        (State::Greeted, C::Rcpt { .. } | C::Data | C::Bdat { .. }) => {
            Err(Reply::bad_sequence("Need MAIL command"))
        }
        (State::Mail(_) | State::Rcpt(_) | State::Bdat(..), C::Mail { .. }) => {
            Err(Reply::bad_sequence("Nested MAIL command"))
        }
        (State::Mail(_) | State::Rcpt(_), C::Rcpt { .. }) => Ok(()),
        // RFC 5321 §3.3 / RFC 2920 §3.1: DATA after every RCPT failed.
        (State::Mail(_), C::Data | C::Bdat { .. }) => Err(Reply::no_valid_recipients()),
        // RFC 3030 §3: BINARYMIME content cannot go through DATA.
        (State::Rcpt(tx), C::Data) if tx.params.body == Some(crate::proto::Body::BinaryMime) => {
            Err(Reply::bad_sequence("BODY=BINARYMIME requires BDAT"))
        }
        (State::Rcpt(_), C::Data | C::Bdat { .. }) => Ok(()),
        (State::Bdat(..), C::Bdat { .. }) => Ok(()),
        // RFC 3030 §2: DATA and BDAT do not mix in one transaction.
        (State::Bdat(..), C::Data) => Err(Reply::bad_sequence("DATA after BDAT")),
        (State::Bdat(..), C::Rcpt { .. }) => Err(Reply::bad_sequence("RCPT after BDAT")),
        (State::Mail(_) | State::Rcpt(_) | State::Bdat(..), C::StartTls) => {
            Err(Reply::bad_sequence("Mail transaction in progress"))
        }
    }
}

impl Session {
    pub fn new(shared: Arc<Shared>, conn: ConnInfo) -> Session {
        Session {
            shared,
            conn,
            state: State::Connected,
            helo: None,
            errors: 0,
            errors_seen: 0,
            junk: 0,
            overshoot: 0,
            pending_chunk: None,
            auth: None,
            owned: None,
            auth_failures: 0,
            sasl: None,
        }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Whether the session is still bound by the login deadline: submission before a
    /// successful AUTH. The mail exchanger has no login; its clients are bounded per
    /// command line and per message instead.
    pub fn awaits_login(&self) -> bool {
        self.shared.mode == Mode::Submission && self.auth.is_none()
    }

    /// RFC 5321 §4.2: the server speaks first. (RFC 2034: no enhanced code here.)
    pub fn greeting(&self) -> Reply {
        Reply::plain(220, format!("{} ESMTP Wharf", self.shared.hostname))
    }

    /// Handles one command line (terminator removed).
    pub async fn handle_line(&mut self, line: &[u8]) -> Step {
        if let Some(sasl) = self.sasl.take() {
            let step = self.sasl_response(sasl, line).await;
            return self.count_errors(step);
        }
        let step = match parse_command(line) {
            Ok(cmd) => self.handle(cmd).await,
            Err(e) if e.fatal => {
                // Octets the client meant as a chunk would follow; stop here.
                return Step {
                    replies: vec![e.reply, Reply::too_many_errors(&self.shared.hostname)],
                    next: Next::Close,
                };
            }
            Err(e) => Step::reply(e.reply),
        };
        self.count_errors(step)
    }

    /// A command line over the limit was skipped.
    pub fn line_too_long(&mut self) -> Step {
        // A response too long to be one of ours ends any SASL exchange.
        self.sasl = None;
        self.count_errors(Step::reply(Reply::line_too_long()))
    }

    /// The session limit on errors (Postfix: smtpd_hard_error_limit).
    fn count_errors(&mut self, mut step: Step) -> Step {
        for r in &step.replies {
            if !r.is_error() || r.closes() {
                continue;
            }
            // RFC 5321 §4.5.3.1.10: a client with more recipients than we take sends
            // them in later transactions; its 452s are not misbehaviour (Postfix:
            // smtpd_recipient_overshoot_limit).
            if r.status == Some(Status(4, 5, 3)) {
                self.overshoot += 1;
                if self.overshoot <= RECIPIENT_OVERSHOOT_LIMIT {
                    continue;
                }
            }
            self.errors += 1;
        }
        let new_errors = self.errors > self.errors_seen;
        self.errors_seen = self.errors;
        if new_errors
            && self.errors >= self.shared.config.max_errors
            && !matches!(step.next, Next::Close)
        {
            tracing::info!(
                conn = self.conn.id,
                errors = self.errors,
                "too many errors, closing"
            );
            step.replies
                .push(Reply::too_many_errors(&self.shared.hostname));
            step.next = Next::Close;
        }
        step
    }

    /// Dispatches a parsed command after the state check.
    pub async fn handle(&mut self, cmd: Command) -> Step {
        if matches!(
            cmd,
            Command::Noop | Command::Rset | Command::Vrfy(_) | Command::Expn(_) | Command::Help(_)
        ) {
            self.junk += 1;
            if self.junk > self.shared.config.max_junk_commands {
                self.errors += 1;
            }
        }
        if let Err(reply) = allowed(self.shared.mode, &self.state, &cmd) {
            if let Command::Bdat { size, .. } = cmd {
                // RFC 3030 §2: the chunk is read and dropped, then the refusal sent.
                self.pending_chunk = Some(PendingChunk::Refused(reply));
                return Step {
                    replies: vec![],
                    next: Next::Chunk(ChunkReceiver::new(size, None)),
                };
            }
            return Step::reply(reply);
        }
        match cmd {
            Command::Helo(name) => self.handle_helo(name),
            Command::Ehlo(name) => self.handle_ehlo(name),
            Command::Mail { from, params } => self.handle_mail(from, params).await,
            Command::Rcpt { to, params } => self.handle_rcpt(to, params).await,
            Command::Data => self.handle_data(),
            Command::Bdat { size, last } => self.handle_bdat(size, last),
            Command::Rset => self.handle_rset(),
            Command::Noop => self.handle_noop(),
            Command::Quit => self.handle_quit(),
            Command::Vrfy(arg) => self.handle_vrfy(arg),
            Command::Expn(arg) => self.handle_expn(arg),
            Command::Help(topic) => self.handle_help(topic),
            Command::StartTls => self.handle_starttls(),
            Command::Auth { mechanism, initial } => self.handle_auth(mechanism, initial).await,
            Command::NotImplemented(verb) => Step::reply(Reply::not_implemented(verb)),
        }
    }

    /// The DATA receiver reached CRLF.CRLF.
    pub async fn data_received(&mut self, rx: DataReceiver) -> Step {
        let step = self.finish_data(rx).await;
        self.count_errors(step)
    }

    /// A BDAT chunk has been read in full.
    pub async fn chunk_received(&mut self, chunk: Chunk) -> Step {
        let step = self.finish_chunk(chunk).await;
        self.count_errors(step)
    }

    /// The TLS handshake after STARTTLS succeeded. RFC 3207 §4.2: the client must
    /// start over with EHLO, and nothing learned before the handshake is kept.
    pub fn tls_started(&mut self) {
        self.state = State::Connected;
        self.helo = None;
        self.conn.tls = true;
        self.conn.can_starttls = false;
        self.auth = None;
        self.owned = None;
        self.sasl = None;
    }

    /// The authenticated account, if any.
    pub fn authenticated(&self) -> Option<&Account> {
        self.auth.as_ref()
    }

    /// Whether AUTH is offered on this connection now: submission only, and only
    /// encrypted unless the config allows plaintext (RFC 8314 §3, RFC 4954 §4).
    pub(crate) fn auth_offered(&self) -> bool {
        let sub = &self.shared.submission;
        self.shared.mode == Mode::Submission
            && (self.conn.tls
                || sub.allow_plaintext_auth
                || (sub.allow_loopback_plaintext
                    && self.conn.peer.ip().to_canonical().is_loopback()))
    }

    /// Back to "introduced, no transaction" (RSET, end of data, HELO/EHLO).
    fn reset_transaction(&mut self) {
        self.state = if self.helo.is_some() {
            State::Greeted
        } else {
            State::Connected
        };
    }

    /// The transaction, when there is one.
    fn transaction(&self) -> Option<&Transaction> {
        match &self.state {
            State::Mail(tx) | State::Rcpt(tx) | State::Bdat(tx, _) => Some(tx),
            State::Connected | State::Greeted => None,
        }
    }
}

/// Resolves `Postmaster` without a domain: RFC 5321 §4.5.1 requires it to work, so it
/// is tried in the domain of our host name, then in each local domain.
async fn postmaster(shared: &Shared) -> wharf_store::Result<Option<Address>> {
    let mut domains: Vec<String> = Vec::new();
    let host = shared.hostname.to_ascii_lowercase();
    domains.push(host.clone());
    if let Some((_, parent)) = host.split_once('.') {
        domains.push(parent.to_string());
    }
    for d in shared.store.domain_list().await? {
        domains.push(d.as_str().to_string());
    }
    for d in domains {
        let Ok(addr) = Address::parse(&format!("postmaster@{d}")) else {
            continue;
        };
        if let wharf_store::Resolution::Local { accounts, .. } = shared.store.resolve(&addr).await?
            && !accounts.is_empty()
        {
            return Ok(Some(addr));
        }
    }
    Ok(None)
}

/// The recipient's address for the store, or the reply that refuses it.
async fn recipient_address(shared: &Shared, to: &ForwardPath) -> Result<Address, Reply> {
    match to {
        ForwardPath::Postmaster => match postmaster(shared).await {
            Ok(Some(a)) => Ok(a),
            Ok(None) => Err(Reply::no_such_user()),
            Err(e) => {
                tracing::warn!("store error resolving postmaster: {e}");
                Err(Reply::local_error())
            }
        },
        // We do not know which literal addresses are ours; mail to them is not for us.
        ForwardPath::Mailbox(m) if m.is_address_literal() => Err(Reply::relay_denied()),
        ForwardPath::Mailbox(m) => {
            Address::parse(&m.to_string()).map_err(|_| Reply::bad_recipient_syntax())
        }
    }
}

#[cfg(test)]
mod tests;
