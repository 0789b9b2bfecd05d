//! The SMTP client that carries one message to one server: greeting, EHLO (HELO as a
//! fallback), opportunistic STARTTLS (RFC 3207; any certificate is accepted, as
//! Postfix's `may` level: encryption against passive listeners, no authentication of
//! the peer), AUTH PLAIN for a smarthost, then one transaction with every recipient,
//! pipelined when the server offers PIPELINING (RFC 2920), and the per-recipient
//! outcome.
//!
//! Implementation notes:
//! - Errors before MAIL (connection, greeting, EHLO, TLS) are [`HostError`]: the worker
//!   tries the next host (RFC 5321 §5.1). From MAIL on, every recipient gets its own
//!   [`Outcome`] and the attempt is over.
//! - Extensions decide what is sent (RFC 5321 §2.2.1): SIZE is honoured, DSN
//!   parameters (RFC 3461) are passed on only to a server that offers DSN, BODY=8BITMIME
//!   only with 8BITMIME; 8-bit content to a server without 8BITMIME, or an SMTPUTF8
//!   message to a server without SMTPUTF8 (RFC 6531 §3.2), fails (no down-conversion).
//! - Every read has a timeout and goes through the bounded reply parser.

use super::reply::{Parsed, RemoteReply, parse_reply};
use crate::proto::dot_stuff;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use wharf_store::queue::{QueueEnvelope, QueueRecipientSpec};

/// Why a host could not take the message; the worker tries the next one.
#[derive(Debug, Clone)]
pub struct HostError {
    pub message: String,
    /// A 5xx that refuses the whole message on every host (e.g. SIZE): no next host.
    pub permanent: bool,
    /// The STARTTLS handshake failed: worth one more try without TLS.
    pub tls_failed: bool,
}

impl HostError {
    fn temp(message: impl Into<String>) -> HostError {
        HostError {
            message: message.into(),
            permanent: false,
            tls_failed: false,
        }
    }
}

/// What happened to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered {
        reply: String,
        dsn_passed_on: bool,
    },
    /// 4xx or a broken transaction: try again later.
    Deferred {
        status: String,
        reply: String,
    },
    /// 5xx: give up.
    Failed {
        status: String,
        reply: String,
    },
}

/// What the client needs to know about one attempt.
pub struct Attempt<'a> {
    pub helo_name: &'a str,
    pub host: &'a str,
    pub addr: SocketAddr,
    pub tls: bool,
    /// AUTH PLAIN credentials (smarthost).
    pub auth: Option<(&'a str, &'a str)>,
    pub envelope: &'a QueueEnvelope,
    pub recipients: &'a [&'a QueueRecipientSpec],
    pub message: &'a [u8],
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
}

enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

struct Client {
    io: Option<Io>,
    buf: Vec<u8>,
    timeout: Duration,
    peer: String,
    /// False after any write error, read error, timeout or unparsable reply: replies may
    /// no longer match commands, so the connection must not carry another transaction.
    in_step: bool,
}

impl Client {
    async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let fut = async {
            match self.io.as_mut() {
                Some(Io::Plain(s)) => {
                    s.write_all(data).await?;
                    s.flush().await
                }
                Some(Io::Tls(s)) => {
                    s.write_all(data).await?;
                    s.flush().await
                }
                None => Err(io::Error::other("connection closed")),
            }
        };
        let r = tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "timeout writing"))
            .and_then(|r| r);
        if r.is_err() {
            self.in_step = false;
        }
        r
    }

    async fn read_reply(&mut self) -> Result<RemoteReply, String> {
        let r = self.read_reply_inner().await;
        if r.is_err() {
            self.in_step = false;
        }
        r
    }

    async fn read_reply_inner(&mut self) -> Result<RemoteReply, String> {
        loop {
            match parse_reply(&self.buf) {
                Parsed::Reply(r, n) => {
                    self.buf.drain(..n);
                    return Ok(r);
                }
                Parsed::Error(e) => return Err(format!("protocol error from {}: {e}", self.peer)),
                Parsed::Incomplete => {}
            }
            let mut chunk = [0u8; 4096];
            let fut = async {
                match self.io.as_mut() {
                    Some(Io::Plain(s)) => s.read(&mut chunk).await,
                    Some(Io::Tls(s)) => s.read(&mut chunk).await,
                    None => Ok(0),
                }
            };
            let n = match tokio::time::timeout(self.timeout, fut).await {
                Err(_) => return Err(format!("timeout waiting for {}", self.peer)),
                Ok(Err(e)) => return Err(format!("lost connection with {}: {e}", self.peer)),
                Ok(Ok(0)) => return Err(format!("{} closed the connection", self.peer)),
                Ok(Ok(n)) => n,
            };
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn command(&mut self, line: &str) -> Result<RemoteReply, String> {
        self.write(format!("{line}\r\n").as_bytes())
            .await
            .map_err(|e| format!("lost connection with {}: {e}", self.peer))?;
        self.read_reply().await
    }

    async fn ehlo(&mut self, name: &str) -> Result<Vec<(String, String)>, HostError> {
        let r = self
            .command(&format!("EHLO {name}"))
            .await
            .map_err(HostError::temp)?;
        if r.is_ok() {
            return Ok(r.ehlo_keywords());
        }
        // RFC 5321 §3.2: a server that does not know EHLO gets HELO.
        let r = self
            .command(&format!("HELO {name}"))
            .await
            .map_err(HostError::temp)?;
        if r.is_ok() {
            Ok(Vec::new())
        } else {
            Err(HostError::temp(format!(
                "{} said to HELO: {}",
                self.peer,
                r.one_line()
            )))
        }
    }

    async fn quit(&mut self) {
        let _ = self.write(b"QUIT\r\n").await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.read_reply()).await;
    }
}

fn has(ext: &[(String, String)], name: &str) -> bool {
    ext.iter().any(|(k, _)| k == name)
}

/// Runs one attempt on a new connection, closed afterwards; `Err` means "try the next
/// host", `Ok` has one outcome per recipient. (The worker goes through
/// [`super::pool::Pool::deliver`], which reuses connections.)
pub async fn deliver(a: &Attempt<'_>) -> Result<Vec<Outcome>, HostError> {
    let mut s = open(a).await?;
    let outcome = s.transaction(a).await;
    s.quit().await;
    outcome
}

/// A connection that has been greeted and EHLO'd (after STARTTLS and AUTH where they
/// apply), between transactions.
pub struct Session {
    c: Client,
    ext: Vec<(String, String)>,
    transactions: u32,
}

impl Session {
    /// One transaction (MAIL, RCPTs, DATA or BDAT, the final reply) for the attempt's
    /// envelope and message; the attempt's host and connection settings are this
    /// session's.
    pub async fn transaction(&mut self, a: &Attempt<'_>) -> Result<Vec<Outcome>, HostError> {
        self.c.timeout = a.command_timeout;
        self.transactions += 1;
        transaction(&mut self.c, a, &self.ext).await
    }

    /// Transactions run on this connection.
    pub fn transactions(&self) -> u32 {
        self.transactions
    }

    /// No I/O error, timeout or unreadable reply so far: every command sent has had its
    /// reply read, so another transaction can follow.
    pub fn in_step(&self) -> bool {
        self.c.in_step && self.c.io.is_some()
    }

    /// RSET before a reused connection's next transaction (RFC 5321 §4.1.1.5); true if
    /// the server answered 250. A server that closed an idle connection fails here.
    pub async fn reset(&mut self, timeout: Duration) -> bool {
        self.c.timeout = timeout;
        matches!(self.c.command("RSET").await, Ok(r) if r.code == 250) && self.in_step()
    }

    /// QUIT, and close.
    pub async fn quit(mut self) {
        self.c.quit().await;
    }
}

/// Connects, reads the greeting, says EHLO, upgrades to TLS and authenticates where
/// the attempt asks: a session ready for [`Session::transaction`]. `Err` means "try
/// the next host".
pub async fn open(a: &Attempt<'_>) -> Result<Session, HostError> {
    let peer = format!("{}[{}]", a.host, a.addr.ip());
    let stream = match tokio::time::timeout(a.connect_timeout, TcpStream::connect(a.addr)).await {
        Err(_) => {
            return Err(HostError::temp(format!(
                "connect to {peer}:{}: timed out",
                a.addr.port()
            )));
        }
        Ok(Err(e)) => {
            return Err(HostError::temp(format!(
                "connect to {peer}:{}: {e}",
                a.addr.port()
            )));
        }
        Ok(Ok(s)) => s,
    };
    let _ = stream.set_nodelay(true);
    let mut c = Client {
        io: Some(Io::Plain(stream)),
        buf: Vec::new(),
        timeout: a.command_timeout,
        peer: peer.clone(),
        in_step: true,
    };
    // RFC 5321 §3.1: the greeting; anything but 220 means "not here".
    let greeting = c.read_reply().await.map_err(HostError::temp)?;
    if greeting.code != 220 {
        c.quit().await;
        return Err(HostError::temp(format!(
            "{peer} greeted with {}",
            greeting.one_line()
        )));
    }
    let mut ext = c.ehlo(a.helo_name).await?;
    if a.tls && has(&ext, "STARTTLS") {
        let r = c.command("STARTTLS").await.map_err(HostError::temp)?;
        if r.code == 220 {
            let Some(Io::Plain(tcp)) = c.io.take() else {
                return Err(HostError::temp("connection lost"));
            };
            // RFC 3207 §4.2: nothing read before the handshake is trusted afterwards.
            c.buf.clear();
            let name = rustls::pki_types::ServerName::try_from(a.host.to_string())
                .unwrap_or_else(|_| rustls::pki_types::ServerName::IpAddress(a.addr.ip().into()));
            let tls = tokio::time::timeout(a.command_timeout, connector().connect(name, tcp)).await;
            match tls {
                Ok(Ok(s)) => c.io = Some(Io::Tls(Box::new(s))),
                Ok(Err(e)) => {
                    return Err(HostError {
                        message: format!("TLS handshake with {peer} failed: {e}"),
                        permanent: false,
                        tls_failed: true,
                    });
                }
                Err(_) => {
                    return Err(HostError {
                        message: format!("TLS handshake with {peer} timed out"),
                        permanent: false,
                        tls_failed: true,
                    });
                }
            }
            ext = c.ehlo(a.helo_name).await?;
        }
    }
    let tls_on = matches!(c.io, Some(Io::Tls(_)));
    if let Some((user, password)) = a.auth {
        // Credentials travel only encrypted, or to a relay on this machine.
        if !tls_on && !a.addr.ip().is_loopback() {
            c.quit().await;
            return Err(HostError::temp(format!(
                "{peer} offers no TLS; not sending credentials in the clear"
            )));
        }
        use base64::Engine;
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        let r = c
            .command(&format!("AUTH PLAIN {token}"))
            .await
            .map_err(HostError::temp)?;
        if !r.is_ok() {
            c.quit().await;
            return Err(HostError::temp(format!(
                "{peer} refused our AUTH: {}",
                r.one_line()
            )));
        }
    }
    Ok(Session {
        c,
        ext,
        transactions: 0,
    })
}

/// MAIL, RCPTs, DATA (or BDAT for BINARYMIME) and the final reply.
async fn transaction(
    c: &mut Client,
    a: &Attempt<'_>,
    ext: &[(String, String)],
) -> Result<Vec<Outcome>, HostError> {
    let peer = c.peer.clone();
    let all = |o: Outcome| Ok(vec![o; a.recipients.len()]);
    let fail = |status: &str, text: String| {
        all(Outcome::Failed {
            status: status.into(),
            reply: text,
        })
    };
    let eight_bit = a.message.iter().any(|&b| b >= 0x80);
    let binary = a.envelope.body.as_deref() == Some("BINARYMIME");
    // RFC 6531 §3.2: an SMTPUTF8 message cannot go to a server without SMTPUTF8.
    if a.envelope.smtputf8 && !has(ext, "SMTPUTF8") {
        return fail(
            "5.6.7",
            format!("{peer} does not support SMTPUTF8, which this message needs"),
        );
    }
    if binary && !(has(ext, "BINARYMIME") && has(ext, "CHUNKING")) {
        return fail(
            "5.6.3",
            format!("{peer} does not support BINARYMIME, which this message needs"),
        );
    }
    // RFC 6152 §3: 8-bit content to a 7-bit server is converted when that is safe
    // (one 8bit body part to quoted-printable), else the sender gets it back.
    let converted;
    let mut message = a.message;
    if eight_bit && !binary && !has(ext, "8BITMIME") {
        match super::downgrade::to_7bit(a.message) {
            Some(m) => {
                converted = m;
                message = &converted;
            }
            None => {
                return fail(
                    "5.6.3",
                    format!(
                        "{peer} does not support 8BITMIME and the message cannot be converted to 7 bit"
                    ),
                );
            }
        }
    }
    let eight_bit = message.iter().any(|&b| b >= 0x80);
    // RFC 1870 §6.3: a server's declared maximum.
    if let Some((_, v)) = ext.iter().find(|(k, _)| k == "SIZE")
        && let Ok(max) = v.trim().parse::<u64>()
        && max > 0
        && message.len() as u64 > max
    {
        return fail(
            "5.3.4",
            format!("message is larger than the {max} octets {peer} accepts"),
        );
    }
    let dsn = has(ext, "DSN");
    let mut mail = format!("MAIL FROM:<{}>", a.envelope.sender);
    if has(ext, "SIZE") {
        mail.push_str(&format!(" SIZE={}", message.len()));
    }
    if binary {
        mail.push_str(" BODY=BINARYMIME");
    } else if has(ext, "8BITMIME") && (eight_bit || a.envelope.body.as_deref() == Some("8BITMIME"))
    {
        mail.push_str(" BODY=8BITMIME");
    }
    if a.envelope.smtputf8 {
        mail.push_str(" SMTPUTF8");
    }
    if dsn {
        if let Some(ret) = &a.envelope.ret {
            mail.push_str(&format!(" RET={ret}"));
        }
        if let Some(envid) = &a.envelope.envid {
            mail.push_str(&format!(" ENVID={envid}"));
        }
    }
    let rcpt_lines: Vec<String> = a
        .recipients
        .iter()
        .map(|r| {
            let mut line = format!("RCPT TO:<{}>", r.address);
            if dsn {
                if let Some(n) = &r.notify {
                    line.push_str(&format!(" NOTIFY={n}"));
                }
                if let Some(o) = &r.orcpt {
                    line.push_str(&format!(" ORCPT={o}"));
                }
            }
            line
        })
        .collect();
    let broken = |e: String| {
        all(Outcome::Deferred {
            status: "4.4.2".into(),
            reply: e,
        })
    };
    // RFC 2920 §3.1: MAIL and every RCPT go in one write when PIPELINING is offered.
    let pipelining = has(ext, "PIPELINING");
    let mut rcpt_replies = Vec::new();
    let mail_reply;
    if pipelining {
        let mut batch = format!("{mail}\r\n");
        for l in &rcpt_lines {
            batch.push_str(l);
            batch.push_str("\r\n");
        }
        if let Err(e) = c.write(batch.as_bytes()).await {
            return broken(format!("lost connection with {peer}: {e}"));
        }
        mail_reply = match c.read_reply().await {
            Ok(r) => r,
            Err(e) => return broken(e),
        };
        for _ in &rcpt_lines {
            match c.read_reply().await {
                Ok(r) => rcpt_replies.push(r),
                Err(e) => return broken(e),
            }
        }
    } else {
        mail_reply = match c.command(&mail).await {
            Ok(r) => r,
            Err(e) => return broken(e),
        };
        if mail_reply.is_ok() {
            for l in &rcpt_lines {
                match c.command(l).await {
                    Ok(r) => rcpt_replies.push(r),
                    Err(e) => return broken(e),
                }
            }
        }
    }
    let said = |r: &RemoteReply| format!("{peer} said: {}", r.one_line());
    if !mail_reply.is_ok() {
        let o = if mail_reply.is_temporary() {
            Outcome::Deferred {
                status: mail_reply.status(),
                reply: said(&mail_reply),
            }
        } else {
            Outcome::Failed {
                status: mail_reply.status(),
                reply: said(&mail_reply),
            }
        };
        if pipelining {
            let _ = c.command("RSET").await;
        }
        return all(o);
    }
    let mut outcomes: Vec<Option<Outcome>> = rcpt_replies
        .iter()
        .map(|r| match r.class() {
            2 => None,
            4 => Some(Outcome::Deferred {
                status: r.status(),
                reply: said(r),
            }),
            _ => Some(Outcome::Failed {
                status: r.status(),
                reply: said(r),
            }),
        })
        .collect();
    if outcomes.iter().all(Option::is_some) {
        let _ = c.command("RSET").await;
        return Ok(outcomes.into_iter().flatten().collect());
    }
    let final_reply = if binary {
        let head = format!("BDAT {} LAST\r\n", message.len());
        let mut data = head.into_bytes();
        data.extend_from_slice(message);
        if let Err(e) = c.write(&data).await {
            return broken(format!("lost connection with {peer}: {e}"));
        }
        match c.read_reply().await {
            Ok(r) => r,
            Err(e) => return broken(e),
        }
    } else {
        let r = match c.command("DATA").await {
            Ok(r) => r,
            Err(e) => return broken(e),
        };
        if r.code != 354 {
            let o = if r.is_temporary() {
                Outcome::Deferred {
                    status: r.status(),
                    reply: said(&r),
                }
            } else {
                Outcome::Failed {
                    status: r.status(),
                    reply: said(&r),
                }
            };
            return Ok(outcomes
                .into_iter()
                .map(|x| x.unwrap_or_else(|| o.clone()))
                .collect());
        }
        // RFC 5321 §4.5.2: dot-stuffing and the CRLF "." CRLF terminator.
        let data = dot_stuff(message);
        if let Err(e) = c.write(&data).await {
            return broken(format!("lost connection with {peer}: {e}"));
        }
        // Kill -9 window: from here until the worker records the outcome, a crash means
        // the message is sent again on restart (RFC 1047; documented in docs/smtp.md).
        // RFC 5321 §4.5.3.2.6: the final reply may take up to 10 minutes (twice the
        // command timeout by default).
        c.timeout = a.command_timeout * 2;
        match c.read_reply().await {
            Ok(r) => r,
            Err(e) => return broken(e),
        }
    };
    let o = match final_reply.class() {
        2 => Outcome::Delivered {
            reply: said(&final_reply),
            dsn_passed_on: dsn,
        },
        4 => Outcome::Deferred {
            status: final_reply.status(),
            reply: said(&final_reply),
        },
        _ => Outcome::Failed {
            status: final_reply.status(),
            reply: said(&final_reply),
        },
    };
    for slot in outcomes.iter_mut() {
        if slot.is_none() {
            *slot = Some(o.clone());
        }
    }
    Ok(outcomes.into_iter().flatten().collect())
}

/// A TLS connector that accepts any certificate: opportunistic TLS (RFC 7435) protects
/// against passive eavesdropping only; without MTA-STS or DANE there is nothing to check
/// the name against that an active attacker could not also fake.
fn connector() -> tokio_rustls::TlsConnector {
    use std::sync::OnceLock;
    static C: OnceLock<tokio_rustls::TlsConnector> = OnceLock::new();
    C.get_or_init(|| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map(|b| {
                b.dangerous()
                    .with_custom_certificate_verifier(Arc::new(AnyCert(provider.clone())))
                    .with_no_client_auth()
            });
        let config = match config {
            Ok(c) => c,
            // The ring provider supports the default versions; this cannot happen.
            Err(e) => panic!("TLS client setup: {e}"),
        };
        tokio_rustls::TlsConnector::from(Arc::new(config))
    })
    .clone()
}

#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
