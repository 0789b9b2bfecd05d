//! The tokio driver: moves bytes between the connection and the [`Session`], and runs
//! the parts of the protocol that wait on the network (continuation requests for
//! literals, SASL exchanges, IDLE, STARTTLS), idle timeouts and shutdown.
//!
//! Slow and stalled clients (see docs/limits.md):
//! - Before login the whole session is bounded by the login deadline (`[limits]
//!   login_timeout_secs`, set by the listener, or `login_timeout_secs` of the config
//!   when the listener sets none); it is lifted once the client is authenticated.
//! - A command line must be complete within `line_timeout` of its first octet; literal
//!   octets are read as message data (a minimum rate, not a whole-line bound).
//! - Before login, a line over `max_line_length` closes the connection with
//!   `* BYE [TOOBIG] Input buffer full` (as Dovecot does): a client that has not logged
//!   in has no business sending one. After login it gets `BAD [TOOBIG]` and goes on.

use crate::proto::{Frame, Framer, Reject, Tag, parse_command};
use crate::session::{ConnInfo, Context, Outcome, Output, Session, State};
use std::sync::Arc;
use wharf_net::{Conn, Line, ShutdownSignal};

/// Writes straight to the connection (for output flushed in the middle of a command).
struct ConnOutput<'a>(&'a mut Conn);

#[async_trait::async_trait]
impl Output for ConnOutput<'_> {
    async fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.0.write_all(data).await
    }
}

/// Longest SASL response line or IDLE `DONE` line.
const MAX_AUX_LINE: usize = 8 * 1024;

/// Runs one connection until logout, error, timeout or shutdown.
pub async fn run(ctx: Arc<Context>, mut conn: Conn, mut shutdown: ShutdownSignal) {
    let (login_timeout, idle_timeout) = (ctx.config.login_timeout(), ctx.config.idle_timeout());
    conn.read_timeout = idle_timeout;
    if !conn.has_deadline() {
        conn.set_deadline(Some(login_timeout));
    }
    let info = ConnInfo {
        tls: conn.is_tls(),
        loopback: conn.is_loopback(),
        can_starttls: conn.can_starttls(),
        peer: conn.peer().ip(),
    };
    let mut framer = Framer::new(ctx.config.limits());
    let mut session = Session::new(ctx, info);
    let greeting = session.greeting();
    if conn.send(&greeting).await.is_err() {
        return;
    }
    loop {
        match framer.poll(conn.buffer()) {
            Frame::Incomplete => {
                let in_literal = framer.awaiting_literal();
                let read = tokio::select! {
                    _ = shutdown.triggered() => {
                        let _ = conn.send(b"* BYE [UNAVAILABLE] Server shutting down\r\n").await;
                        break;
                    }
                    r = async {
                        if in_literal { conn.fill_data().await } else { conn.fill().await }
                    } => r,
                };
                match read {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if wharf_net::timeout_of(&e).is_some() => {
                        let _ = conn.send(timeout_bye(&e)).await;
                        tracing::info!(conn = conn.id, "imap: {e}");
                        break;
                    }
                    Err(_) => break,
                }
            }
            Frame::Continue => {
                if conn.send(b"+ Ready for literal data\r\n").await.is_err() {
                    break;
                }
            }
            Frame::Discard(n) => conn.consume(n),
            Frame::Reject {
                consume,
                tag,
                reason,
            } => {
                conn.consume(consume);
                if reason == Reject::LineTooLong && matches!(session.state, State::NotAuthenticated)
                {
                    tracing::info!(conn = conn.id, "over-long line before login; closing");
                    let _ = conn
                        .send(b"* BYE [TOOBIG] Input buffer full, closing\r\n")
                        .await;
                    break;
                }
                let (reply, fatal) = reject_reply(tag.as_ref(), &reason);
                tracing::info!(conn = conn.id, ?reason, "command refused while framing");
                if conn.send(reply.as_bytes()).await.is_err() || fatal {
                    break;
                }
            }
            Frame::Command(n) => {
                // Parsed in place: the command owns copies of what it needs (an
                // APPEND's message), so the buffer is not copied first.
                let parsed = parse_command(&conn.buffer()[..n]);
                conn.consume(n);
                let outcome = match parsed {
                    Err(e) => {
                        session.parse_error(e);
                        Outcome::Continue
                    }
                    Ok(cmd) => {
                        tracing::debug!(conn = conn.id, verb = cmd.body.name(), "command");
                        let mut io = ConnOutput(&mut conn);
                        session.handle(cmd, &mut io).await
                    }
                };
                if !after_command(&mut session, &mut conn, &mut shutdown, outcome, &mut framer)
                    .await
                {
                    break;
                }
                if conn.has_deadline() && !matches!(session.state, State::NotAuthenticated) {
                    // Logged in: the login deadline no longer applies.
                    conn.set_deadline(None);
                }
            }
        }
    }
    conn.shutdown().await;
}

/// Sends the output and follows the outcome; false ends the connection.
async fn after_command(
    session: &mut Session,
    conn: &mut Conn,
    shutdown: &mut ShutdownSignal,
    mut outcome: Outcome,
    framer: &mut Framer,
) -> bool {
    loop {
        let out = session.take_output();
        if !out.is_empty() && conn.send(&out).await.is_err() {
            return false;
        }
        match outcome {
            Outcome::Continue => {
                if shutdown.is_triggered() {
                    let _ = conn
                        .send(b"* BYE [UNAVAILABLE] Server shutting down\r\n")
                        .await;
                    return false;
                }
                return true;
            }
            Outcome::Close => return false,
            Outcome::StartTls => match conn.start_tls().await {
                Ok(discarded) => {
                    if discarded > 0 {
                        tracing::info!(
                            conn = conn.id,
                            discarded,
                            "plaintext pipelined after STARTTLS dropped"
                        );
                    }
                    session.tls_started();
                    *framer = Framer::new(*framer.limits());
                    return true;
                }
                Err(e) => {
                    tracing::info!(conn = conn.id, "STARTTLS handshake failed: {e}");
                    return false;
                }
            },
            Outcome::Sasl(tag, challenge) => {
                use base64::Engine;
                let b64 = base64::engine::general_purpose::STANDARD.encode(&challenge);
                if conn.send(format!("+ {b64}\r\n").as_bytes()).await.is_err() {
                    return false;
                }
                let line = match conn.read_line(MAX_AUX_LINE).await {
                    Ok(Line::Complete { bytes, .. }) => bytes,
                    Ok(Line::TooLong) => b"*".to_vec(),
                    Err(e) if wharf_net::timeout_of(&e).is_some() => {
                        let _ = conn.send(timeout_bye(&e)).await;
                        return false;
                    }
                    _ => return false,
                };
                outcome = session.sasl_step(&tag, &line).await;
            }
            Outcome::Idle(tag) => {
                outcome = idle(session, conn, shutdown, &tag).await;
            }
        }
    }
}

/// RFC 2177: follow changes until DONE. Reading is cancel-safe (`Conn::fill` reads with
/// `read_buf`), so a change arriving mid-line loses nothing.
async fn idle(
    session: &mut Session,
    conn: &mut Conn,
    shutdown: &mut ShutdownSignal,
    tag: &Tag,
) -> Outcome {
    if conn.send(b"+ idling\r\n").await.is_err() {
        return Outcome::Close;
    }
    loop {
        // A line may already be buffered (pipelined DONE).
        if let Some(lf) = conn.buffer().iter().position(|&b| b == b'\n') {
            let mut line = conn.buffer()[..lf].to_vec();
            conn.consume(lf + 1);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            session.idle_done(tag, &line);
            return Outcome::Continue;
        }
        if conn.buffer().len() > MAX_AUX_LINE {
            session.untagged("BYE Line too long");
            return Outcome::Close;
        }
        tokio::select! {
            _ = shutdown.triggered() => {
                session.untagged("BYE [UNAVAILABLE] Server shutting down");
                return Outcome::Close;
            }
            alive = session.wait_change() => {
                if !alive {
                    session.untagged("BYE Server shutting down");
                    return Outcome::Close;
                }
                // Let a burst of changes settle into one report.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                if session.idle_update().await == Outcome::Close {
                    return Outcome::Close;
                }
                let out = session.take_output();
                if !out.is_empty() && conn.send(&out).await.is_err() {
                    return Outcome::Close;
                }
            }
            r = conn.fill() => match r {
                Ok(0) => return Outcome::Close,
                Err(e) => {
                    if e.kind() == std::io::ErrorKind::TimedOut {
                        session.untagged("BYE Autologout; idle for too long");
                    }
                    return Outcome::Close;
                }
                Ok(_) => {}
            },
        }
    }
}

/// The goodbye for a read that ran into one of the connection's bounds.
fn timeout_bye(e: &std::io::Error) -> &'static [u8] {
    match wharf_net::timeout_of(e) {
        Some(wharf_net::Timeout::Line) => b"* BYE Command line too slow; closing\r\n",
        // The login deadline keeps the idle wording clients and tests know.
        _ => b"* BYE Autologout; idle for too long\r\n",
    }
}

/// The reply to a command refused while framing, and whether the connection must close.
fn reject_reply(tag: Option<&Tag>, reason: &Reject) -> (String, bool) {
    let t = tag.map(Tag::as_str).unwrap_or("*");
    match reason {
        Reject::LineTooLong => (format!("{t} BAD [TOOBIG] Command line too long\r\n"), false),
        // RFC 7889 §4 / RFC 9051 §7.1: TOOBIG before the literal is sent.
        Reject::LiteralTooBig { append: true, .. } => (
            format!("{t} NO [TOOBIG] Message exceeds APPENDLIMIT\r\n"),
            false,
        ),
        Reject::LiteralTooBig { append: false, .. } => {
            (format!("{t} BAD [TOOBIG] Literal too big\r\n"), false)
        }
        Reject::CommandTooBig => (format!("{t} BAD [TOOBIG] Command too big\r\n"), false),
        // RFC 7888 §4: the octets are already coming; the only safe answer is to close.
        Reject::NonSyncLiteralTooBig => (
            "* BYE [TOOBIG] Non-synchronizing literal too big\r\n".to_string(),
            true,
        ),
    }
}
