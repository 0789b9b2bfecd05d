//! The IMAP session: its state machine, the one place that checks a command against the
//! state, the replies, and the selected mailbox's view.
//!
//! The session does no socket I/O. [`Session::handle`] takes a parsed command, writes the
//! untagged and tagged responses into an output buffer (handed to an [`Output`] when it
//! grows large, so a FETCH of many bodies streams), and returns an [`Outcome`] telling
//! the driver what to do next (go on, close, start TLS, idle, continue a SASL exchange).

mod changes;
pub mod section;
pub mod selected;

use crate::Config;
use crate::proto::{Command, CommandBody, ParseError, Tag, encode};
use selected::Selected;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::broadcast;
use wharf_net::AuthThrottle;
use wharf_store::{Account, Change, DynStore};

/// What every session of the server shares.
pub struct Context {
    pub store: DynStore,
    pub hostname: String,
    pub config: Config,
    pub throttle: Arc<AuthThrottle>,
}

/// RFC 3501 §2.3.2 `\Recent`: a message is recent for the one session that is first
/// told of it, by SELECT or by a later EXISTS, and only if that session may write (an
/// EXAMINE session sees which messages are recent without claiming them). The mark is
/// the store's, per mailbox ([`wharf_store::Store::claim_recent`]: the first UID not
/// yet claimed), so it holds across restarts and nodes, and a message delivered or
/// appended while no session had the mailbox selected is recent for the next one.
///
/// Returns the UIDs among `uids` (ascending, the caller's new messages) that are
/// recent for this session.
pub async fn claim_recent(
    store: &DynStore,
    mailbox: wharf_store::MailboxId,
    uids: &[wharf_store::Uid],
    read_only: bool,
) -> Result<Vec<wharf_store::Uid>, ImapError> {
    let Some(&upto) = uids.last() else {
        return Ok(Vec::new());
    };
    let from = store
        .claim_recent(mailbox, (!read_only).then_some(upto))
        .await?;
    Ok(uids.iter().copied().filter(|&u| u >= from).collect())
}

/// Facts about the connection the session runs on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub tls: bool,
    pub loopback: bool,
    pub can_starttls: bool,
    pub peer: IpAddr,
}

/// RFC 9051 §3: the session's state; each variant holds what exists in it.
pub enum State {
    NotAuthenticated,
    Authenticated {
        account: Account,
    },
    Selected {
        account: Account,
        mailbox: Box<Selected>,
    },
    Logout,
}

impl State {
    pub fn account(&self) -> Option<&Account> {
        match self {
            State::Authenticated { account } | State::Selected { account, .. } => Some(account),
            _ => None,
        }
    }
}

/// Capabilities the client turned on with ENABLE (RFC 5161) or by use (CONDSTORE).
#[derive(Debug, Clone, Copy, Default)]
pub struct Enabled {
    pub rev2: bool,
    pub condstore: bool,
    pub qresync: bool,
    pub utf8: bool,
}

/// What the driver must do after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Continue,
    /// Send the output, then close the connection.
    Close,
    /// Send the output, then run the TLS handshake and tell the session.
    StartTls,
    /// Send `+ idling`, then follow changes until the client sends DONE.
    Idle(Tag),
    /// Send a SASL continuation (`+ <challenge>`) and hand the client's line to
    /// [`Session::sasl_step`].
    Sasl(Tag, Vec<u8>),
}

/// Where output goes when a command produces a lot of it.
#[async_trait::async_trait]
pub trait Output: Send {
    async fn write(&mut self, data: &[u8]) -> std::io::Result<()>;
}

#[async_trait::async_trait]
impl Output for Vec<u8> {
    async fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.extend_from_slice(data);
        Ok(())
    }
}

/// A reason to fail a command: its status (NO or BAD, or BYE that ends the session),
/// response code and text. Handlers return these; the session writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapError {
    pub kind: ErrorKind,
    pub code: Option<String>,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The command was understood but failed (RFC 9051 §7.1.2).
    No,
    /// The command was not understood or not valid now (§7.1.3).
    Bad,
    /// The session must end (§7.1.5).
    Bye,
}

impl ImapError {
    pub fn no(text: impl Into<String>) -> ImapError {
        ImapError {
            kind: ErrorKind::No,
            code: None,
            text: text.into(),
        }
    }
    pub fn no_code(code: &str, text: impl Into<String>) -> ImapError {
        ImapError {
            kind: ErrorKind::No,
            code: Some(code.into()),
            text: text.into(),
        }
    }
    pub fn bad(text: impl Into<String>) -> ImapError {
        ImapError {
            kind: ErrorKind::Bad,
            code: None,
            text: text.into(),
        }
    }
    pub fn bye(text: impl Into<String>) -> ImapError {
        ImapError {
            kind: ErrorKind::Bye,
            code: None,
            text: text.into(),
        }
    }
}

/// Store errors as IMAP replies (RFC 5530 response codes).
impl From<wharf_store::Error> for ImapError {
    fn from(e: wharf_store::Error) -> ImapError {
        use wharf_store::Error as E;
        match e {
            E::NotFound(what) => {
                ImapError::no_code("NONEXISTENT", format!("{what} does not exist"))
            }
            E::AlreadyExists(what) => {
                ImapError::no_code("ALREADYEXISTS", format!("{what} already exists"))
            }
            E::Invalid(msg) => ImapError::no_code("CANNOT", msg),
            E::Refused(msg) => ImapError::no_code("CANNOT", msg),
            // RFC 9208 §4.3: found by the store in the transaction that writes, so two
            // sessions cannot pass the quota together.
            E::OverQuota(_) => ImapError::no_code("OVERQUOTA", "Quota exceeded"),
            // RFC 5530 LIMIT: the server's disk is full or below `min_free_space`; reads,
            // STORE and EXPUNGE still work, so the user can make room.
            E::NoSpace(_) => ImapError::no_code(
                "LIMIT",
                "Not enough disk space on the server, try again later",
            ),
            other => {
                tracing::error!("store error: {other}");
                ImapError::no_code("SERVERBUG", "Internal error, try again later")
            }
        }
    }
}

/// A message's stored data (body or summary) could not be read: `None` when it is gone
/// because the message was expunged meanwhile (its body row went with its last
/// reference), otherwise the reply that says why. RFC 5530: `UNAVAILABLE` for a body
/// file or database that cannot be read now (a retry, or the operator, may fix it),
/// `SERVERBUG` for data the server itself cannot make sense of.
pub fn unreadable(e: &wharf_store::Error, uid: wharf_store::Uid) -> Option<ImapError> {
    use wharf_store::Error as E;
    match e {
        E::NotFound(_) => None,
        E::Io(_) | E::Db(_) => {
            tracing::error!(uid, "message data unreadable: {e}");
            Some(ImapError::no_code(
                "UNAVAILABLE",
                "Some message data cannot be read now; try again later",
            ))
        }
        _ => {
            tracing::error!(uid, "message data unusable: {e}");
            Some(ImapError::no_code(
                "SERVERBUG",
                "Some message data cannot be read; the data sent is incomplete",
            ))
        }
    }
}

/// A successful command's tagged OK: optional response code and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub code: Option<String>,
    pub text: String,
}

impl Done {
    pub fn text(text: impl Into<String>) -> Done {
        Done {
            code: None,
            text: text.into(),
        }
    }
    pub fn code(code: impl Into<String>, text: impl Into<String>) -> Done {
        Done {
            code: Some(code.into()),
            text: text.into(),
        }
    }
}

pub type OpResult = Result<Done, ImapError>;

/// Output buffered before it is handed to the [`Output`] mid-command.
const FLUSH_AT: usize = 256 * 1024;

/// One client's session.
pub struct Session {
    pub ctx: Arc<Context>,
    pub conn: ConnInfo,
    pub state: State,
    pub enabled: Enabled,
    pub out: Vec<u8>,
    pub changes: broadcast::Receiver<Change>,
    pub auth_failures: u32,
    pub unauth_commands: u32,
    /// A SASL exchange in progress.
    pub sasl: Option<crate::op::authenticate::SaslState>,
    /// Change events this session caused and already applied to its view; when they
    /// come back from the store they need no new snapshot.
    pub own: Vec<Change>,
}

/// Most own changes remembered (older ones just cost a snapshot when they come back).
const MAX_OWN: usize = 64;

/// Whether two change events are the same change (UID lists compared as sets).
fn same_change(a: &Change, b: &Change) -> bool {
    let uids = |c: &Change| -> Option<(u8, wharf_store::MailboxId, Vec<u32>)> {
        let (k, m, u) = match c {
            Change::Appended { mailbox, uids, .. } => (0, *mailbox, uids),
            Change::FlagsChanged { mailbox, uids, .. } => (1, *mailbox, uids),
            Change::Expunged { mailbox, uids, .. } => (2, *mailbox, uids),
            Change::MailboxesChanged { .. } => return None,
        };
        let mut u = u.clone();
        u.sort_unstable();
        Some((k, m, u))
    };
    a.account() == b.account() && uids(a).is_some() && uids(a) == uids(b)
}

/// RFC 9051 §6: which commands each state accepts. The only state check there is.
pub fn allowed_in(body: &CommandBody, state: &State) -> bool {
    use CommandBody as C;
    let (unauth, auth, selected) = match state {
        State::NotAuthenticated => (true, false, false),
        State::Authenticated { .. } => (false, true, false),
        State::Selected { .. } => (false, true, true),
        State::Logout => return false,
    };
    match body {
        C::Capability | C::Noop | C::Logout | C::Id(_) => true,
        C::StartTls | C::Authenticate { .. } | C::Login { .. } => unauth,
        // RFC 5161 §3.1: ENABLE only in the authenticated state.
        C::Enable(_) => auth && !selected,
        C::Select { .. }
        | C::Create { .. }
        | C::Delete(_)
        | C::Rename { .. }
        | C::Subscribe(_)
        | C::Unsubscribe(_)
        | C::List { .. }
        | C::Lsub { .. }
        | C::Namespace
        | C::Status { .. }
        | C::Append { .. }
        | C::Idle
        | C::GetQuota(_)
        | C::GetQuotaRoot(_)
        | C::SetQuota => auth,
        C::Close
        | C::Unselect
        | C::Expunge { .. }
        | C::Search { .. }
        | C::Sort { .. }
        | C::Thread { .. }
        | C::Fetch { .. }
        | C::Store { .. }
        | C::Copy { .. }
        | C::Move { .. } => selected,
    }
}

impl Session {
    pub fn new(ctx: Arc<Context>, conn: ConnInfo) -> Session {
        let changes = ctx.store.subscribe();
        Session {
            ctx,
            conn,
            state: State::NotAuthenticated,
            enabled: Enabled::default(),
            out: Vec::with_capacity(1024),
            changes,
            auth_failures: 0,
            unauth_commands: 0,
            sasl: None,
            own: Vec::new(),
        }
    }

    /// The greeting (RFC 9051 §7.1.1), with capabilities so clients skip a round trip.
    pub fn greeting(&mut self) -> Vec<u8> {
        let caps = self.capabilities();
        format!(
            "* OK [CAPABILITY {caps}] {} Wharf IMAP ready\r\n",
            self.ctx.hostname
        )
        .into_bytes()
    }

    /// Whether plaintext passwords may be used on this connection.
    pub fn plaintext_ok(&self) -> bool {
        self.conn.tls || self.conn.loopback || self.ctx.config.allow_plaintext_auth
    }

    /// The CAPABILITY list for the current state.
    pub fn capabilities(&self) -> String {
        let mut c = vec!["IMAP4rev1", "IMAP4rev2"];
        match self.state {
            State::NotAuthenticated => {
                if self.conn.can_starttls {
                    c.push("STARTTLS");
                }
                if self.plaintext_ok() {
                    c.push("AUTH=PLAIN");
                    c.push("AUTH=LOGIN");
                } else {
                    c.push("LOGINDISABLED");
                }
                c.extend(["SASL-IR", "LITERAL+", "ID", "ENABLE"]);
            }
            _ => {
                c.extend([
                    "LITERAL+",
                    "ID",
                    "ENABLE",
                    "IDLE",
                    "NAMESPACE",
                    "UNSELECT",
                    "UIDPLUS",
                    "MOVE",
                    "CHILDREN",
                    "SPECIAL-USE",
                    "CREATE-SPECIAL-USE",
                    "LIST-EXTENDED",
                    "LIST-STATUS",
                    "ESEARCH",
                    // RFC 9394: SEARCH/SORT RETURN (PARTIAL) and the FETCH modifier.
                    "PARTIAL",
                    "CONDSTORE",
                    "QRESYNC",
                    "UTF8=ACCEPT",
                    "QUOTA",
                    "QUOTA=RES-STORAGE",
                    "QUOTA=RES-MESSAGE",
                    "STATUS=SIZE",
                    "SORT",
                    "SORT=DISPLAY",
                    // RFC 5267 §3: SORT RETURN (...) answers ESEARCH (op/sort.rs).
                    "ESORT",
                    "THREAD=ORDEREDSUBJECT",
                    "THREAD=REFERENCES",
                    "MULTIAPPEND",
                    // RFC 4469 (op/catenate.rs).
                    "CATENATE",
                    "BINARY",
                    "SEARCHRES",
                ]);
            }
        }
        let mut s = c.join(" ");
        if !matches!(self.state, State::NotAuthenticated) {
            s.push_str(&format!(" APPENDLIMIT={}", self.ctx.config.append_limit));
        }
        s
    }

    /// Appends one untagged response line (`* ...`).
    pub fn untagged(&mut self, line: &str) {
        self.out.extend_from_slice(b"* ");
        self.out.extend_from_slice(line.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    fn tagged(&mut self, tag: &Tag, status: &str, code: Option<&str>, text: &str) {
        self.out.extend_from_slice(tag.as_str().as_bytes());
        self.out.push(b' ');
        self.out.extend_from_slice(status.as_bytes());
        self.out.push(b' ');
        if let Some(code) = code {
            self.out.push(b'[');
            self.out.extend_from_slice(code.as_bytes());
            self.out.extend_from_slice(b"] ");
        }
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    /// Hands buffered output to `io` once it is large.
    pub async fn flush_if_large(&mut self, io: &mut dyn Output) -> std::io::Result<()> {
        if self.out.len() >= FLUSH_AT {
            let data = std::mem::take(&mut self.out);
            io.write(&data).await?;
        }
        Ok(())
    }

    /// Takes what is buffered for the client.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Answers a command that could not be parsed.
    pub fn parse_error(&mut self, e: ParseError) {
        // A message starting with a response code keeps it as the code.
        let (code, text) = match e.message.strip_prefix('[').and_then(|m| m.split_once("] ")) {
            Some((code, text)) => (Some(code.to_string()), text.to_string()),
            None => (None, e.message),
        };
        // RFC 9051 §6.4.4 (and RFC 5256 §3 for SORT/THREAD): an unsupported charset is
        // a tagged NO [BADCHARSET], not BAD; the parser found it, so it arrives here.
        let status = if code.as_deref().is_some_and(|c| c.starts_with("BADCHARSET")) {
            "NO"
        } else {
            "BAD"
        };
        match e.tag {
            Some(tag) => self.tagged(&tag, status, code.as_deref(), &text),
            None => self.untagged(&format!("BAD {text}")),
        }
    }

    /// Names a mailbox as the client sent it in the store's terms: modified UTF-7
    /// decoded (unless UTF-8 is enabled), `INBOX` in any case spelled `INBOX`, a trailing
    /// delimiter dropped.
    pub fn mailbox_name(&self, raw: &str) -> Result<String, ImapError> {
        let mut name = if self.enabled.utf8 {
            raw.to_string()
        } else {
            crate::proto::utf7::decode(raw)
                .ok_or_else(|| ImapError::bad("Mailbox name is not valid modified UTF-7"))?
        };
        if name.len() > 1 && name.ends_with('/') {
            name.pop();
        }
        Ok(normalize_inbox(&name))
    }

    /// RFC 7162 §3.1: a CONDSTORE-enabling command (FETCH or SEARCH naming MODSEQ,
    /// CHANGEDSINCE, STORE UNCHANGEDSINCE, STATUS HIGHESTMODSEQ, ENABLE, SELECT
    /// (CONDSTORE)). The first one while a mailbox is selected tells the client the
    /// mailbox's HIGHESTMODSEQ in an untagged OK, before the command's other responses;
    /// from then on flag FETCHes carry MODSEQ.
    pub fn enable_condstore(&mut self) {
        if self.enabled.condstore {
            return;
        }
        self.enabled.condstore = true;
        if let State::Selected { mailbox, .. } = &self.state {
            let line = format!("OK [HIGHESTMODSEQ {}] Highest", mailbox.highest_modseq);
            self.untagged(&line);
        }
    }

    /// Writes a mailbox name as the client expects it.
    pub fn write_mailbox(&self, out: &mut Vec<u8>, name: &str) {
        encode::mailbox(out, name, self.enabled.utf8);
    }

    /// Runs one command to its tagged reply.
    pub async fn handle(&mut self, cmd: Command, io: &mut dyn Output) -> Outcome {
        let Command { tag, body } = cmd;
        if matches!(self.state, State::NotAuthenticated) {
            self.unauth_commands += 1;
            if self.unauth_commands > self.ctx.config.max_unauthenticated_commands {
                self.untagged("BYE Too many commands without logging in");
                self.state = State::Logout;
                return Outcome::Close;
            }
        }
        if !allowed_in(&body, &self.state) {
            let text = match self.state {
                State::NotAuthenticated => "Log in first",
                State::Authenticated { .. } => "No mailbox selected",
                _ => "Command not valid in this state",
            };
            self.tagged(&tag, "BAD", None, &format!("{} {text}", body.name()));
            return Outcome::Continue;
        }
        let mut body = body;
        if let State::Selected { mailbox, .. } = &self.state {
            substitute_saved(mailbox, &mut body);
        }
        let name = body.name();
        if matches!(
            name,
            "FETCH" | "STORE" | "SEARCH" | "SORT" | "THREAD" | "COPY" | "MOVE" | "EXPUNGE"
        ) {
            // Learn of new messages, flag changes and expunges before acting (the
            // expunges are reported only after the command, RFC 9051 §7.5.1), so a
            // message another session removed is not served from a stale view, and
            // EXPUNGE removes what has \Deleted now, whoever set it (§6.4.3).
            if let Err(e) = self.sync(false).await {
                return self.fail(&tag, e);
            }
        }
        let (result, outcome) = crate::op::dispatch(self, &tag, body, io).await;
        match result {
            Ok(done) => {
                if outcome == Outcome::Continue || outcome == Outcome::Close {
                    // Report what changed in the selected mailbox before the tagged OK
                    // (RFC 9051 §5.2), except during FETCH/STORE/SEARCH by number.
                    let allow_expunge =
                        !matches!(name, "FETCH" | "STORE" | "SEARCH" | "SORT" | "THREAD");
                    if let Err(e) = self.sync(allow_expunge).await {
                        return self.fail(&tag, e);
                    }
                }
                if let Outcome::Continue | Outcome::Close | Outcome::StartTls = outcome {
                    self.tagged(&tag, "OK", done.code.as_deref(), &done.text);
                }
                outcome
            }
            Err(e) => self.fail(&tag, e),
        }
    }

    fn fail(&mut self, tag: &Tag, e: ImapError) -> Outcome {
        match e.kind {
            ErrorKind::No => {
                self.tagged(tag, "NO", e.code.as_deref(), &e.text);
                Outcome::Continue
            }
            ErrorKind::Bad => {
                self.tagged(tag, "BAD", e.code.as_deref(), &e.text);
                Outcome::Continue
            }
            ErrorKind::Bye => {
                match &e.code {
                    Some(c) => self.untagged(&format!("BYE [{c}] {}", e.text)),
                    None => self.untagged(&format!("BYE {}", e.text)),
                }
                self.state = State::Logout;
                Outcome::Close
            }
        }
    }

    /// Brings the selected mailbox's view up to date and reports the differences as
    /// untagged responses. `allow_expunge` = false holds expunges back (RFC 9051 §7.5.1).
    pub async fn sync(&mut self, allow_expunge: bool) -> Result<(), ImapError> {
        let account_id = match &self.state {
            State::Selected { account, .. } => account.id,
            _ => {
                // Nothing to report; drop queued events so the channel does not lag.
                while self.changes.try_recv().is_ok() {}
                return Ok(());
            }
        };
        let mut dirty = false;
        loop {
            match self.changes.try_recv() {
                Ok(ch) => {
                    if self.take_own(&ch) {
                        continue;
                    }
                    if ch.account() == account_id
                        && let State::Selected { mailbox, .. } = &self.state
                    {
                        dirty |= mailbox.concerns(&ch);
                    }
                }
                Err(broadcast::error::TryRecvError::Lagged(_)) => dirty = true,
                Err(_) => break,
            }
        }
        let enabled = self.enabled;
        let store = self.ctx.store.clone();
        let State::Selected { mailbox, .. } = &mut self.state else {
            return Ok(());
        };
        mailbox.dirty |= dirty;
        if !(mailbox.dirty || allow_expunge && mailbox.has_pending_expunges()) {
            return Ok(());
        }
        // Only what changed after the view's sync point (issue 11: not every message).
        let changes = match store
            .mailbox_changes_since(mailbox.id, mailbox.synced)
            .await
        {
            Ok(c) => c,
            Err(wharf_store::Error::NotFound(_)) => {
                return Err(ImapError::bye("The selected mailbox was deleted"));
            }
            Err(e) => return Err(e.into()),
        };
        // Which of the new messages are \Recent for this session (claimed before the
        // EXISTS that announces them).
        let max = mailbox.max_uid();
        let new: Vec<wharf_store::Uid> = changes
            .changed
            .iter()
            .map(|m| m.uid)
            .filter(|&u| u > max)
            .collect();
        let recent = claim_recent(&store, mailbox.id, &new, mailbox.read_only).await?;
        mailbox.apply_changes(changes, allow_expunge, enabled, &mut self.out, &recent);
        Ok(())
    }

    /// Waits for a change in this account (for IDLE). Returns false if the store's
    /// event channel closed.
    pub async fn wait_change(&mut self) -> bool {
        let Some(account) = self.state.account().map(|a| a.id) else {
            return std::future::pending().await;
        };
        loop {
            match self.changes.recv().await {
                Ok(ch) if self.take_own(&ch) => {}
                Ok(ch) if ch.account() == account => {
                    if let State::Selected { mailbox, .. } = &mut self.state
                        && mailbox.concerns(&ch)
                    {
                        mailbox.dirty = true;
                        return true;
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if let State::Selected { mailbox, .. } = &mut self.state {
                        mailbox.dirty = true;
                    }
                    return true;
                }
                Err(broadcast::error::RecvError::Closed) => return false,
            }
        }
    }

    /// Remembers a change this session made and already shows in its view.
    pub fn expect_own(&mut self, ch: Change) {
        if self.own.len() >= MAX_OWN {
            self.own.remove(0);
        }
        self.own.push(ch);
    }

    /// Whether an event is one of this session's own changes (and forgets it).
    fn take_own(&mut self, ch: &Change) -> bool {
        match self.own.iter().position(|o| same_change(o, ch)) {
            Some(i) => {
                self.own.remove(i);
                true
            }
            None => false,
        }
    }

    /// Reports changes during IDLE (expunges included: no command is running).
    pub async fn idle_update(&mut self) -> Outcome {
        match self.sync(true).await {
            Ok(()) => Outcome::Continue,
            Err(e) => {
                self.untagged(&format!("BYE {}", e.text));
                self.state = State::Logout;
                Outcome::Close
            }
        }
    }

    /// Ends IDLE after the client's DONE (or anything else, which is BAD).
    pub fn idle_done(&mut self, tag: &Tag, line: &[u8]) {
        if line.eq_ignore_ascii_case(b"DONE") {
            self.tagged(tag, "OK", None, "IDLE terminated");
        } else {
            self.tagged(tag, "BAD", None, "Expected DONE");
        }
    }

    /// After a successful STARTTLS handshake.
    pub fn tls_started(&mut self) {
        self.conn.tls = true;
        self.conn.can_starttls = false;
    }

    /// Continues a SASL exchange with the client's response line.
    pub async fn sasl_step(&mut self, tag: &Tag, line: &[u8]) -> Outcome {
        use crate::op::authenticate::Step;
        match crate::op::authenticate::step(self, line).await {
            Ok(Step::Done(done)) => {
                self.tagged(tag, "OK", done.code.as_deref(), &done.text);
                Outcome::Continue
            }
            Ok(Step::Challenge(c)) => Outcome::Sasl(tag.clone(), c),
            Err(e) => self.fail(tag, e),
        }
    }

    /// Writes an untagged response whose data may hold literals.
    pub fn untagged_bytes(&mut self, data: &[u8]) {
        self.out.extend_from_slice(b"* ");
        self.out.extend_from_slice(data);
        self.out.extend_from_slice(b"\r\n");
    }
}

/// RFC 5182: puts the saved search result in place of `$`, as UIDs for UID commands
/// and UID search keys, as the current message numbers otherwise.
fn substitute_saved(sel: &Selected, body: &mut CommandBody) {
    use crate::proto::{SearchKey, SequenceSet};
    let as_uids = || SequenceSet::from_numbers(&sel.saved);
    let as_seqs = || {
        let seqs: Vec<u32> = sel
            .saved
            .iter()
            .filter_map(|&u| sel.index_of(u).map(|i| i as u32 + 1))
            .collect();
        SequenceSet::from_numbers(&seqs)
    };
    let fix = |set: &mut SequenceSet, uid: bool| {
        if set.is_saved() {
            *set = if uid { as_uids() } else { as_seqs() };
        }
    };
    fn walk(key: &mut SearchKey, f: &dyn Fn(&mut SequenceSet, bool), depth: usize) {
        if depth > 64 {
            return;
        }
        match key {
            SearchKey::SeqSet(s) => f(s, false),
            SearchKey::Uid(s) => f(s, true),
            SearchKey::And(v) => v.iter_mut().for_each(|k| walk(k, f, depth + 1)),
            SearchKey::Or(a, b) => {
                walk(a, f, depth + 1);
                walk(b, f, depth + 1);
            }
            SearchKey::Not(a) => walk(a, f, depth + 1),
            _ => {}
        }
    }
    match body {
        CommandBody::Fetch { uid, set, .. }
        | CommandBody::Store { uid, set, .. }
        | CommandBody::Copy { uid, set, .. }
        | CommandBody::Move { uid, set, .. } => fix(set, *uid),
        CommandBody::Expunge { uids: Some(set) } => fix(set, true),
        CommandBody::Search { key, .. }
        | CommandBody::Sort { key, .. }
        | CommandBody::Thread { key, .. } => walk(key, &fix, 0),
        _ => {}
    }
}

/// `INBOX` is case-insensitive (RFC 9051 §5.1), also as the first level of a path.
pub fn normalize_inbox(name: &str) -> String {
    if name.eq_ignore_ascii_case("INBOX") {
        return "INBOX".into();
    }
    if name.len() > 6 && name[..6].eq_ignore_ascii_case("INBOX/") {
        return format!("INBOX{}", &name[5..]);
    }
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::parse_command;

    fn body(s: &str) -> CommandBody {
        parse_command(s.as_bytes()).unwrap().body
    }

    #[test]
    fn state_table() {
        let na = State::NotAuthenticated;
        assert!(allowed_in(&body("a LOGIN u p"), &na));
        assert!(allowed_in(&body("a CAPABILITY"), &na));
        assert!(!allowed_in(&body("a SELECT INBOX"), &na));
        assert!(!allowed_in(&body("a FETCH 1 FLAGS"), &na));
        assert!(!allowed_in(&body("a NOOP"), &State::Logout));
    }

    #[test]
    fn own_changes_match_as_sets() {
        use wharf_store::{AccountId, MailboxId};
        let a = Change::FlagsChanged {
            account: AccountId(1),
            mailbox: MailboxId(2),
            uids: vec![3, 1],
        };
        let b = Change::FlagsChanged {
            account: AccountId(1),
            mailbox: MailboxId(2),
            uids: vec![1, 3],
        };
        assert!(same_change(&a, &b));
        let other_box = Change::FlagsChanged {
            account: AccountId(1),
            mailbox: MailboxId(9),
            uids: vec![1, 3],
        };
        assert!(!same_change(&a, &other_box));
        let expunge = Change::Expunged {
            account: AccountId(1),
            mailbox: MailboxId(2),
            uids: vec![1, 3],
        };
        assert!(!same_change(&a, &expunge));
        let mb = Change::MailboxesChanged {
            account: AccountId(1),
        };
        assert!(!same_change(&mb, &mb));
    }

    #[test]
    fn inbox_is_case_insensitive() {
        assert_eq!(normalize_inbox("inbox"), "INBOX");
        assert_eq!(normalize_inbox("Inbox/Sub"), "INBOX/Sub");
        assert_eq!(normalize_inbox("Inboxes"), "Inboxes");
    }
}
