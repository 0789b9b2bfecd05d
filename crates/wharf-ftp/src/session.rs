//! One FTP control connection: its state, the single place where a command is checked
//! against that state, and the loop that reads commands and dispatches them to the
//! handlers in `op/`.
//!
//! Implementation notes:
//! - The login check lives only in [`check`]; handlers may assume what it guarantees
//!   (a logged-in file area, a pending RNFR for RNTO) but still fail softly if not.
//! - RNFR is honoured only by the command right after it (RFC 959 §4.1.3); REST by the
//!   next transfer command (RFC 3659 §5.3), which takes it whether it succeeds or not.
//! - While a transfer runs, the control connection is still read: ABOR and STAT are
//!   answered at once (RFC 959 §4.1.3); any other command waits in `queued` and runs
//!   after the transfer's final reply.

use crate::Server;
use crate::command::{self, Command, Frame, Framer, TransferType};
use crate::data::DataSetup;
use crate::listing::Facts;
use crate::reply::{Reply, code};
use std::io;
use std::sync::Arc;
use wharf_net::{Conn, ShutdownSignal, TlsAcceptor};
use wharf_store::AccountId;
use wharf_store::files::{FileArea, VPath};

/// Whether the session goes on after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Close,
}

pub(crate) type Outcome = io::Result<Flow>;

/// Who is logged in, and the tree they see as `/`.
pub(crate) struct Login {
    pub owner: AccountId,
    pub area: Arc<dyn FileArea>,
    pub user: String,
    pub anonymous: bool,
}

/// RFC 959 login state; the variants hold what exists only in that state.
pub(crate) enum State {
    /// Connected (or just upgraded to TLS); no USER yet.
    Fresh,
    /// USER accepted, waiting for PASS.
    NeedPassword {
        user: String,
        anonymous: bool,
    },
    LoggedIn(Login),
}

/// The state's name, for [`check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Fresh,
    NeedPassword,
    LoggedIn,
}

/// The one place where a command is checked against the session state (STYLE §4).
pub(crate) fn check(phase: Phase, cmd: &Command, rename_pending: bool) -> Result<(), Reply> {
    use Command::*;
    let anytime = matches!(
        cmd,
        Feat | Opts(_)
            | Syst
            | Help(_)
            | Noop
            | Quit
            | Stat(None)
            | Auth(_)
            | Pbsz(_)
            | Prot(_)
            | Abor
    );
    if anytime {
        return match (cmd, phase) {
            // RFC 4217 §4: AUTH is for setting up the session, before login.
            (Auth(_), Phase::LoggedIn) => Err(Reply::new(code::BAD_SEQUENCE, "Already logged in.")),
            _ => Ok(()),
        };
    }
    match (cmd, phase) {
        (User(_), Phase::LoggedIn) => Err(Reply::new(code::BAD_SEQUENCE, "Already logged in.")),
        (User(_), _) => Ok(()),
        (Pass(_), Phase::NeedPassword) => Ok(()),
        (Pass(_), Phase::LoggedIn) => Err(Reply::new(code::BAD_SEQUENCE, "Already logged in.")),
        (Pass(_), Phase::Fresh) => Err(Reply::new(code::BAD_SEQUENCE, "Login with USER first.")),
        (Acct, _) => Err(Reply::new(code::NOT_IMPLEMENTED, "ACCT not needed.")),
        (_, Phase::Fresh | Phase::NeedPassword) => Err(Reply::new(
            code::NOT_LOGGED_IN,
            "Please login with USER and PASS.",
        )),
        (Rnto(_), Phase::LoggedIn) if !rename_pending => {
            Err(Reply::new(code::BAD_SEQUENCE, "RNFR required first."))
        }
        _ => Ok(()),
    }
}

pub(crate) struct Session<'a> {
    pub server: &'a Server,
    pub conn: Conn,
    framer: Framer,
    /// A command that arrived during a transfer, to run after it.
    queued: Option<Vec<u8>>,
    pub state: State,
    pub cwd: VPath,
    pub transfer_type: TransferType,
    /// REST offset for the next transfer (taken by dispatch, see module notes).
    pub rest: Option<u64>,
    pub rename_from: Option<VPath>,
    pub data: DataSetup,
    pub pbsz: bool,
    pub prot_private: bool,
    pub epsv_all: bool,
    pub facts: Facts,
    pub tls: Option<TlsAcceptor>,
    /// The logged-in account's shared bandwidth limit (`max_rate`).
    pub rate: Option<Arc<crate::data::RateLimit>>,
    commands_before_login: u32,
    pub login_failures: u32,
}

impl<'a> Session<'a> {
    pub fn new(server: &'a Server, conn: Conn) -> Session<'a> {
        let tls = conn
            .tls_acceptor()
            .map(wharf_net::tls::for_data_connections);
        Session {
            server,
            conn,
            framer: Framer::new(server.config.max_line_length),
            queued: None,
            state: State::Fresh,
            cwd: VPath::root(),
            transfer_type: TransferType::Ascii,
            rest: None,
            rename_from: None,
            data: DataSetup::None,
            pbsz: false,
            prot_private: false,
            epsv_all: false,
            facts: Facts::default(),
            tls,
            rate: None,
            commands_before_login: 0,
            login_failures: 0,
        }
    }

    pub fn phase(&self) -> Phase {
        match self.state {
            State::Fresh => Phase::Fresh,
            State::NeedPassword { .. } => Phase::NeedPassword,
            State::LoggedIn(_) => Phase::LoggedIn,
        }
    }

    /// The logged-in owner, area and whether it may be changed.
    pub fn fs(&self) -> Option<(AccountId, Arc<dyn FileArea>, bool)> {
        match &self.state {
            State::LoggedIn(l) => {
                Some((l.owner, l.area.clone(), !l.anonymous && !l.area.read_only()))
            }
            _ => None,
        }
    }

    pub async fn reply(&mut self, reply: Reply) -> io::Result<()> {
        self.conn.send(&reply.encode()).await
    }

    /// Sends a reply and goes on.
    pub async fn answer(&mut self, code: u16, text: impl Into<String>) -> Outcome {
        self.reply(Reply::new(code, text)).await?;
        Ok(Flow::Continue)
    }

    pub async fn answer_reply(&mut self, reply: Reply) -> Outcome {
        self.reply(reply).await?;
        Ok(Flow::Continue)
    }

    /// Resolves a path argument against the current directory.
    /// For commands that change the file area: the user's area and the resolved path,
    /// or `Err` with the refusal already sent (not logged in, read-only area, bad path).
    pub(crate) async fn writable_target(
        &mut self,
        arg: &str,
    ) -> Result<(AccountId, Arc<dyn FileArea>, VPath), Outcome> {
        let Some((owner, area, writable)) = self.fs() else {
            return Err(self.answer(code::NOT_LOGGED_IN, "Not logged in.").await);
        };
        if !writable {
            return Err(self
                .answer(code::FILE_UNAVAILABLE, "Permission denied.")
                .await);
        }
        match self.path(arg) {
            Ok(p) => Ok((owner, area, p)),
            Err(r) => Err(self.answer_reply(r).await),
        }
    }

    pub fn path(&self, arg: &str) -> Result<VPath, Reply> {
        VPath::resolve(&self.cwd, arg).map_err(|e| crate::error::file_error(&e))
    }

    /// The next control line; `None` at end of stream. Cancel-safe.
    pub async fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        if let Some(line) = self.queued.take() {
            return Ok(Some(Frame::Line(line)));
        }
        loop {
            let (n, frame) = self.framer.next(self.conn.buffer());
            self.conn.consume(n);
            if let Some(f) = frame {
                // FTP lines may end at a bare CR: tell the connection the line is done.
                self.conn.line_done();
                return Ok(Some(f));
            }
            if n == 0 && self.conn.fill().await? == 0 {
                return Ok(None);
            }
        }
    }

    /// Keeps a line read during a transfer for after it.
    pub fn queue(&mut self, line: Vec<u8>) {
        self.queued = Some(line);
    }

    pub fn has_queued(&self) -> bool {
        self.queued.is_some()
    }

    /// Runs the session to its end.
    pub async fn run(mut self, mut shutdown: ShutdownSignal) {
        let greeting = match &self.server.config.banner {
            Some(b) => b.clone(),
            None => format!("{} Wharf FTP server ready.", self.server.hostname),
        };
        if self.reply(Reply::new(code::READY, greeting)).await.is_err() {
            return;
        }
        loop {
            if self.conn.has_deadline() && self.phase() == Phase::LoggedIn {
                // Logged in: the login deadline no longer applies.
                self.conn.set_deadline(None);
            }
            let frame = tokio::select! {
                _ = shutdown.triggered() => {
                    let _ = self.reply(Reply::new(code::SERVICE_UNAVAILABLE, "Server shutting down.")).await;
                    break;
                }
                f = self.next_frame() => f,
            };
            let line = match frame {
                Ok(Some(Frame::Line(line))) => line,
                Ok(Some(Frame::TooLong)) => {
                    if self
                        .reply(Reply::new(code::UNKNOWN_COMMAND, "Command line too long."))
                        .await
                        .is_err()
                    {
                        break;
                    }
                    continue;
                }
                Ok(None) => break,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    tracing::info!(conn = self.conn.id, "ftp: {e}");
                    let text = match wharf_net::timeout_of(&e) {
                        Some(wharf_net::Timeout::Deadline) => {
                            "Login timeout: closing control connection."
                        }
                        Some(wharf_net::Timeout::Line) => {
                            "Command line too slow: closing control connection."
                        }
                        _ => "Timeout: closing control connection.",
                    };
                    let _ = self
                        .reply(Reply::new(code::SERVICE_UNAVAILABLE, text))
                        .await;
                    break;
                }
                Err(_) => break,
            };
            match self.execute(&line).await {
                Ok(Flow::Continue) => {}
                Ok(Flow::Close) | Err(_) => break,
            }
        }
        self.conn.shutdown().await;
    }

    /// Parses, checks and dispatches one line.
    pub async fn execute(&mut self, line: &[u8]) -> Outcome {
        if self.phase() != Phase::LoggedIn {
            self.commands_before_login += 1;
            if self.commands_before_login > self.server.config.max_commands_before_auth {
                self.reply(Reply::new(
                    code::SERVICE_UNAVAILABLE,
                    "Too many commands before login.",
                ))
                .await?;
                return Ok(Flow::Close);
            }
        }
        let cmd = match command::parse(line) {
            Ok(cmd) => cmd,
            Err(e) => {
                let verb =
                    String::from_utf8_lossy(line.split(|&b| b == b' ').next().unwrap_or(b""))
                        .chars()
                        .take(8)
                        .collect::<String>();
                let reply = match e {
                    command::ParseError::Unknown => {
                        Reply::new(code::UNKNOWN_COMMAND, format!("Unknown command {verb:?}."))
                    }
                    command::ParseError::NotImplemented => {
                        Reply::new(code::NOT_IMPLEMENTED, format!("{verb} not implemented."))
                    }
                    command::ParseError::Syntax(why) => Reply::new(
                        code::SYNTAX_ERROR,
                        format!("Syntax error in parameters: {why}."),
                    ),
                    command::ParseError::ParamNotImplemented(why) => {
                        Reply::new(code::PARAM_NOT_IMPLEMENTED, format!("{why}."))
                    }
                    command::ParseError::NetworkProtocol => Reply::new(
                        code::NETWORK_PROTOCOL_UNSUPPORTED,
                        "Network protocol not supported, use (1,2).",
                    ),
                };
                return self.answer_reply(reply).await;
            }
        };
        self.dispatch(cmd).await
    }

    async fn dispatch(&mut self, cmd: Command) -> Outcome {
        // RFC 959 §4.1.3: RNTO must come right after RNFR.
        let rename_from = self.rename_from.take();
        // REST is consumed by the next transfer command, whatever comes between (PASV,
        // TYPE...), as vsftpd does; RFC 3659 §5.3 only asks that it come before.
        let rest = match cmd {
            Command::Retr(_)
            | Command::Stor(_)
            | Command::Appe(_)
            | Command::Stou
            | Command::List(_)
            | Command::Nlst(_)
            | Command::Mlsd(_) => self.rest.take(),
            _ => None,
        };
        if let Err(reply) = check(self.phase(), &cmd, rename_from.is_some()) {
            return self.answer_reply(reply).await;
        }
        use Command::*;
        match cmd {
            User(user) => self.handle_user(user).await,
            Pass(pass) => self.handle_pass(pass).await,
            Acct => self.answer(code::NOT_IMPLEMENTED, "ACCT not needed.").await,
            Cwd(p) => self.handle_cwd(&p).await,
            Cdup => self.handle_cdup().await,
            Pwd => self.handle_pwd().await,
            Mkd(p) => self.handle_mkd(&p).await,
            Rmd(p) => self.handle_rmd(&p).await,
            Dele(p) => self.handle_dele(&p).await,
            Rnfr(p) => self.handle_rnfr(&p).await,
            Rnto(p) => match rename_from {
                Some(from) => self.handle_rnto(from, &p).await,
                None => {
                    self.answer(code::BAD_SEQUENCE, "RNFR required first.")
                        .await
                }
            },
            List(p) => self.handle_list(crate::op::list::Kind::List, p).await,
            Nlst(p) => self.handle_list(crate::op::list::Kind::Nlst, p).await,
            Mlsd(p) => self.handle_list(crate::op::list::Kind::Mlsd, p).await,
            Mlst(p) => self.handle_mlst(p).await,
            Retr(p) => self.handle_retr(&p, rest).await,
            Stor(p) => self.handle_stor(crate::op::stor::Kind::Stor(p), rest).await,
            Appe(p) => self.handle_stor(crate::op::stor::Kind::Appe(p), None).await,
            Stou => self.handle_stor(crate::op::stor::Kind::Stou, None).await,
            Rest(n) => self.handle_rest(n).await,
            Allo => {
                self.answer(code::SUPERFLUOUS, "ALLO command ignored.")
                    .await
            }
            Type(t) => self.handle_type(t).await,
            Mode => self.answer(code::OK, "Mode set to S.").await,
            Stru => self.answer(code::OK, "Structure set to F.").await,
            Port(addr) => self.handle_port(std::net::SocketAddr::V4(addr)).await,
            Eprt(addr) => self.handle_port(addr).await,
            Pasv => self.handle_pasv().await,
            Epsv(arg) => self.handle_epsv(arg).await,
            Abor => {
                self.answer(code::NO_TRANSFER, "No transfer to abort.")
                    .await
            }
            Syst => self.answer(code::SYSTEM_TYPE, "UNIX Type: L8").await,
            Stat(p) => self.handle_stat(p).await,
            Help(_) => self.handle_help().await,
            Noop => self.answer(code::OK, "NOOP ok.").await,
            Quit => {
                self.reply(Reply::new(code::CLOSING, "Goodbye.")).await?;
                Ok(Flow::Close)
            }
            Site(arg) => self.handle_site(&arg).await,
            Feat => self.handle_feat().await,
            Opts(arg) => self.handle_opts(&arg).await,
            Size(p) => self.handle_size(&p).await,
            Mdtm(p) => self.handle_mdtm(&p).await,
            Mfmt(t, p) => self.handle_mfmt(t, &p).await,
            Auth(mech) => self.handle_auth(&mech).await,
            Pbsz(n) => self.handle_pbsz(n).await,
            Prot(level) => self.handle_prot(level).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_store::Secret;

    #[test]
    fn login_is_checked_in_one_place() {
        let retr = Command::Retr("f".into());
        let e = check(Phase::Fresh, &retr, false).unwrap_err();
        assert_eq!(e.code, code::NOT_LOGGED_IN);
        assert_eq!(
            check(Phase::NeedPassword, &retr, false).unwrap_err().code,
            code::NOT_LOGGED_IN
        );
        assert!(check(Phase::LoggedIn, &retr, false).is_ok());
        for always in [
            Command::Feat,
            Command::Syst,
            Command::Noop,
            Command::Quit,
            Command::Auth("TLS".into()),
        ] {
            assert!(check(Phase::Fresh, &always, false).is_ok(), "{always:?}");
        }
    }

    #[test]
    fn sequence_errors_are_503() {
        let pass = Command::Pass(Secret::new("x"));
        assert_eq!(
            check(Phase::Fresh, &pass, false).unwrap_err().code,
            code::BAD_SEQUENCE
        );
        assert!(check(Phase::NeedPassword, &pass, false).is_ok());
        assert_eq!(
            check(Phase::LoggedIn, &pass, false).unwrap_err().code,
            code::BAD_SEQUENCE
        );
        let rnto = Command::Rnto("b".into());
        assert_eq!(
            check(Phase::LoggedIn, &rnto, false).unwrap_err().code,
            code::BAD_SEQUENCE
        );
        assert!(check(Phase::LoggedIn, &rnto, true).is_ok());
        assert_eq!(
            check(Phase::LoggedIn, &Command::Auth("TLS".into()), false)
                .unwrap_err()
                .code,
            code::BAD_SEQUENCE
        );
        assert_eq!(
            check(Phase::Fresh, &Command::Acct, false).unwrap_err().code,
            code::NOT_IMPLEMENTED
        );
    }
}
