//! The tokio driver: moves bytes between a [`Conn`] and a [`Session`], applies the
//! idle timeouts, runs the STARTTLS handshake, and stops on shutdown.
//!
//! Implementation notes:
//! - PIPELINING (RFC 2920 §3): every complete command already in the buffer is
//!   handled before anything is written; replies collect in order and are flushed
//!   when the input buffer runs dry (or the reply buffer grows large), so a pipelining
//!   client gets its replies in one write and a lock-step client gets each at once.
//! - The DATA and BDAT receivers get exactly the bytes that belong to them; what
//!   follows the end of a message stays in the buffer for the command reader.
//! - STARTTLS: the 220 is flushed, then [`Conn::start_tls`] drops any plaintext that
//!   was pipelined behind the command (RFC 3207 §4.2, CVE-2011-0411) and logs it.
//! - Shutdown: the command being handled finishes; then `421 4.3.2` and close. A
//!   message being received is finished first (its sender gets its answer).
//! - Slow clients (docs/limits.md): a command line must be complete within the line
//!   bound, message data (DATA, BDAT) must keep a minimum rate, and submission must
//!   authenticate before the login deadline; each ends with `421 4.4.2`.

use crate::proto::{Frame, LineReader, Reply};
use crate::session::{Next, Session, Step};
use std::io;
use std::time::Duration;
use wharf_net::{Conn, ShutdownSignal};

/// Flush when this much reply text is waiting, even with more input buffered.
const MAX_PENDING_OUTPUT: usize = 64 * 1024;

pub(crate) struct Driver {
    conn: Conn,
    out: Vec<u8>,
    shutdown: ShutdownSignal,
    idle: Duration,
    data: Duration,
}

/// How a session ended, for the log line.
#[derive(Debug)]
pub(crate) enum End {
    Quit,
    Eof,
    Timeout,
    Shutdown,
    Closed,
}

impl Driver {
    pub(crate) fn new(
        conn: Conn,
        shutdown: ShutdownSignal,
        idle: Duration,
        data: Duration,
    ) -> Driver {
        Driver {
            conn,
            out: Vec::with_capacity(1024),
            shutdown,
            idle,
            data,
        }
    }

    fn queue(&mut self, reply: &Reply) {
        reply.write_to(&mut self.out);
    }

    async fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            let out = std::mem::take(&mut self.out);
            self.conn.send(&out).await?;
            self.out = out;
            self.out.clear();
        }
        Ok(())
    }

    /// Flushes pending replies, then waits for more message data (not for shutdown:
    /// used inside a message, which is finished before the session stops).
    async fn fill_data(&mut self) -> io::Result<usize> {
        self.flush().await?;
        self.conn.fill_data().await
    }

    /// Runs the session to its end.
    pub(crate) async fn run(&mut self, session: &mut Session, host: &str) -> io::Result<End> {
        let mut lines = LineReader::new(session.config().max_line_len);
        self.queue(&session.greeting());
        if !session.awaits_login() {
            self.conn.set_deadline(None);
        }
        loop {
            if self.conn.has_deadline() && !session.awaits_login() {
                // Authenticated: the login deadline no longer applies.
                self.conn.set_deadline(None);
            }
            if self.shutdown.is_triggered() {
                self.queue(&Reply::shutting_down(host));
                self.flush().await?;
                return Ok(End::Shutdown);
            }
            let (n, frame) = lines.next(self.conn.buffer());
            let step = match frame {
                Frame::Line(line) => {
                    let line = line.to_vec();
                    self.conn.consume(n);
                    session.handle_line(&line).await
                }
                Frame::TooLong => {
                    self.conn.consume(n);
                    session.line_too_long()
                }
                Frame::Incomplete => {
                    self.conn.consume(n);
                    self.flush().await?;
                    self.conn.read_timeout = self.idle;
                    let filled = tokio::select! {
                        r = self.conn.fill() => r,
                        _ = self.shutdown.triggered() => continue,
                    };
                    match filled {
                        Ok(0) => return Ok(End::Eof),
                        Ok(_) => continue,
                        Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                            tracing::info!(conn = self.conn.id, "smtp: {e}");
                            self.queue(&Reply::timeout(host));
                            let _ = self.flush().await;
                            return Ok(End::Timeout);
                        }
                        Err(e) => return Err(e),
                    }
                }
            };
            match self.follow(session, step).await? {
                Some(end) => {
                    self.flush().await?;
                    return Ok(end);
                }
                None => {
                    if self.out.len() >= MAX_PENDING_OUTPUT {
                        self.flush().await?;
                    }
                }
            }
        }
    }

    /// Queues a step's replies and carries out what comes next, through DATA, BDAT and
    /// STARTTLS, until the session wants a command again (`None`) or ends.
    async fn follow(&mut self, session: &mut Session, mut step: Step) -> io::Result<Option<End>> {
        loop {
            for r in &step.replies {
                self.queue(r);
            }
            step = match step.next {
                Next::Command => return Ok(None),
                Next::Close => {
                    let quit = step.replies.iter().any(|r| r.code == 221);
                    return Ok(Some(if quit { End::Quit } else { End::Closed }));
                }
                Next::StartTls => {
                    self.flush().await?;
                    let discarded = self.conn.start_tls().await?;
                    if discarded > 0 {
                        tracing::warn!(
                            conn = self.conn.id,
                            discarded,
                            "discarded plaintext pipelined after STARTTLS (CVE-2011-0411)"
                        );
                    }
                    session.tls_started();
                    return Ok(None);
                }
                Next::Data(mut rx) => {
                    self.conn.read_timeout = self.data;
                    loop {
                        let n = rx.feed(self.conn.buffer());
                        self.conn.consume(n);
                        if rx.is_done() {
                            break;
                        }
                        if self.fill_data().await? == 0 {
                            // The client went away inside the message: nothing is stored.
                            return Ok(Some(End::Eof));
                        }
                    }
                    session.data_received(rx).await
                }
                Next::Chunk(mut rx) => {
                    self.conn.read_timeout = self.data;
                    loop {
                        let n = rx.feed(self.conn.buffer());
                        self.conn.consume(n);
                        if rx.is_done() {
                            break;
                        }
                        if self.fill_data().await? == 0 {
                            return Ok(Some(End::Eof));
                        }
                    }
                    session.chunk_received(rx.finish()).await
                }
            };
        }
    }

    /// Sends one reply at once (after an error, best effort).
    pub(crate) async fn send_now(&mut self, reply: &Reply) -> io::Result<()> {
        self.queue(reply);
        self.flush().await
    }

    /// Closes the connection politely.
    pub(crate) async fn close(&mut self) {
        self.conn.shutdown().await;
    }
}

/// Whether an I/O error is a timeout (the client went quiet inside a message).
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::TimedOut
}
