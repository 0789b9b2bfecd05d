//! SMTP replies as typed values: a reply code (RFC 5321 §4.2), an enhanced status code
//! (RFC 3463, sent as RFC 2034 ENHANCEDSTATUSCODES) and text, with one constructor per
//! meaning so that handlers say *what* they answer, not which digits.
//!
//! RFC 2034 §3: the enhanced code goes on every 2xx, 4xx and 5xx reply except the
//! greeting and the replies to HELO and EHLO; 354 (a 3xx) has none either. Those replies
//! are built with [`Reply::plain`].

use std::borrow::Cow;
use std::fmt;

/// An RFC 3463 enhanced status code `class.subject.detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(pub u8, pub u16, pub u16);

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// One SMTP reply, possibly multi-line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub status: Option<Status>,
    /// One entry per line; never empty. No entry contains CR or LF.
    pub lines: Vec<Cow<'static, str>>,
}

impl Reply {
    /// A reply with an enhanced status code.
    pub fn new(code: u16, status: Status, text: impl Into<Cow<'static, str>>) -> Reply {
        Reply {
            code,
            status: Some(status),
            lines: vec![text.into()],
        }
    }

    /// A reply without an enhanced status code (greeting, HELO/EHLO, 354).
    pub fn plain(code: u16, text: impl Into<Cow<'static, str>>) -> Reply {
        Reply {
            code,
            status: None,
            lines: vec![text.into()],
        }
    }

    /// Adds a line to a multi-line reply.
    pub fn line(mut self, text: impl Into<Cow<'static, str>>) -> Reply {
        self.lines.push(text.into());
        self
    }

    /// 4xx or 5xx.
    pub fn is_error(&self) -> bool {
        self.code >= 400
    }

    /// 421: the server closes the connection after sending it (RFC 5321 §3.8).
    pub fn closes(&self) -> bool {
        self.code == 421 || self.code == 221
    }

    /// The reply as it goes on the wire, every line ending in CRLF
    /// (RFC 5321 §4.2.1: `code-` on all lines but the last, `code ` on the last).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let n = self.lines.len();
        for (i, text) in self.lines.iter().enumerate() {
            let sep = if i + 1 == n { ' ' } else { '-' };
            let line = match self.status {
                Some(status) => format!("{}{sep}{status} {text}\r\n", self.code),
                None => format!("{}{sep}{text}\r\n", self.code),
            };
            out.extend_from_slice(line.as_bytes());
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }

    // ---- 2xx ----

    /// 221 2.0.0: answer to QUIT.
    pub fn closing() -> Reply {
        Reply::new(221, Status(2, 0, 0), "Bye")
    }
    /// 250 2.0.0: generic success (NOOP, RSET).
    pub fn ok() -> Reply {
        Reply::new(250, Status(2, 0, 0), "Ok")
    }
    /// 250 2.1.0: MAIL accepted.
    pub fn sender_ok() -> Reply {
        Reply::new(250, Status(2, 1, 0), "Sender ok")
    }
    /// 250 2.1.5: RCPT accepted.
    pub fn recipient_ok() -> Reply {
        Reply::new(250, Status(2, 1, 5), "Recipient ok")
    }
    /// 250 2.0.0 after the message is durable.
    pub fn queued(id: &str) -> Reply {
        Reply::new(250, Status(2, 0, 0), format!("Ok: queued as {id}"))
    }
    /// 250 2.0.0 after a BDAT chunk that is not the last.
    pub fn chunk_received(n: u64) -> Reply {
        Reply::new(250, Status(2, 0, 0), format!("{n} octets received"))
    }
    /// 252 2.5.0: RFC 5321 §3.5.3, VRFY without confirming whether the user exists.
    pub fn cannot_verify() -> Reply {
        Reply::new(
            252,
            Status(2, 5, 0),
            "Cannot VRFY user, but will accept message and attempt delivery",
        )
    }
    /// 220 2.0.0: go ahead with the TLS handshake (RFC 3207 §4).
    pub fn tls_ready() -> Reply {
        Reply::new(220, Status(2, 0, 0), "Ready to start TLS")
    }

    // ---- 3xx ----

    /// 354: send the message, ending with CRLF.CRLF.
    pub fn start_data() -> Reply {
        Reply::plain(354, "End data with <CR><LF>.<CR><LF>")
    }

    // ---- 4xx ----

    /// 421 4.3.2: the server is stopping.
    pub fn shutting_down(host: &str) -> Reply {
        Reply::new(
            421,
            Status(4, 3, 2),
            format!("{host} Service shutting down"),
        )
    }
    /// 421 4.4.2: the client was idle too long (RFC 5321 §4.5.3.2).
    pub fn timeout(host: &str) -> Reply {
        Reply::new(
            421,
            Status(4, 4, 2),
            format!("{host} Timeout exceeded, closing"),
        )
    }
    /// 421 4.7.0: too many errors in this session.
    pub fn too_many_errors(host: &str) -> Reply {
        Reply::new(
            421,
            Status(4, 7, 0),
            format!("{host} Too many errors, closing"),
        )
    }
    /// 451 4.3.0: the store failed; try again later.
    pub fn local_error() -> Reply {
        Reply::new(
            451,
            Status(4, 3, 0),
            "Local error in processing, try again later",
        )
    }
    /// 452 4.2.2: the mailbox is full (RFC 3463 X.2.2).
    pub fn mailbox_full() -> Reply {
        Reply::new(452, Status(4, 2, 2), "Mailbox full")
    }
    /// 452 4.5.3: RFC 5321 §4.5.3.1.10, too many recipients for one transaction.
    pub fn too_many_recipients() -> Reply {
        Reply::new(452, Status(4, 5, 3), "Too many recipients")
    }
    /// 454 4.7.0: RFC 3207 §4, TLS cannot be started.
    pub fn tls_unavailable() -> Reply {
        Reply::new(454, Status(4, 7, 0), "TLS not available")
    }

    // ---- 5xx ----

    /// 500 5.5.2: the verb is not one we know.
    pub fn unrecognized() -> Reply {
        Reply::new(500, Status(5, 5, 2), "Command unrecognized")
    }
    /// 500 5.5.2: a command line over the configured limit.
    pub fn line_too_long() -> Reply {
        Reply::new(500, Status(5, 5, 2), "Line too long")
    }
    /// 501 5.5.4: bad arguments.
    pub fn syntax(text: impl Into<Cow<'static, str>>) -> Reply {
        Reply::new(501, Status(5, 5, 4), text)
    }
    /// 501 5.1.7: the MAIL FROM path does not parse.
    pub fn bad_sender_syntax() -> Reply {
        Reply::new(501, Status(5, 1, 7), "Bad sender address syntax")
    }
    /// 501 5.1.3: the RCPT TO path does not parse.
    pub fn bad_recipient_syntax() -> Reply {
        Reply::new(501, Status(5, 1, 3), "Bad recipient address syntax")
    }
    /// 502 5.5.1: a command we know but do not implement.
    pub fn not_implemented(what: &str) -> Reply {
        Reply::new(502, Status(5, 5, 1), format!("{what} not implemented"))
    }
    /// 503 5.5.1: RFC 5321 §4.1.4, the command is not valid in this state.
    pub fn bad_sequence(text: impl Into<Cow<'static, str>>) -> Reply {
        Reply::new(503, Status(5, 5, 1), text)
    }
    /// 550 5.1.1: a local address nobody has.
    pub fn no_such_user() -> Reply {
        Reply::new(550, Status(5, 1, 1), "No such user here")
    }
    /// 550 5.7.1: the mail exchanger does not relay to other domains.
    pub fn relay_denied() -> Reply {
        Reply::new(550, Status(5, 7, 1), "Relaying denied")
    }
    /// 550 5.3.0: the address only forwards off-site, and outbound delivery does not exist yet.
    pub fn forward_unavailable() -> Reply {
        Reply::new(
            550,
            Status(5, 3, 0),
            "Address forwards to remote addresses only; forwarding is not available",
        )
    }
    /// 550 5.5.2: bare CR or LF in DATA (SMTP smuggling defence, CVE-2023-51764).
    pub fn bare_line_ending() -> Reply {
        Reply::new(550, Status(5, 5, 2), "Error: bare <CR> or <LF> received")
    }
    /// 550 5.6.0: a message text line over the configured limit.
    pub fn data_line_too_long(max: usize) -> Reply {
        Reply::new(
            550,
            Status(5, 6, 0),
            format!("Message line longer than {max} octets"),
        )
    }
    /// 552 5.3.4: RFC 1870 §6, the message exceeds the fixed size limit.
    pub fn too_big() -> Reply {
        Reply::new(
            552,
            Status(5, 3, 4),
            "Message size exceeds fixed maximum message size",
        )
    }
    /// 452 4.3.1: RFC 5321 §4.2.2 "insufficient system storage", RFC 3463 X.3.1 "mail
    /// system full": the disk is full or below `[limits] min_free_space`. Temporary, so
    /// the sender retries once space is freed; never a 5xx.
    pub fn insufficient_storage() -> Reply {
        Reply::new(
            452,
            Status(4, 3, 1),
            "Insufficient system storage, try again later",
        )
    }
    /// 552 5.2.2: the message would exceed a recipient's quota.
    pub fn quota_exceeded() -> Reply {
        Reply::new(552, Status(5, 2, 2), "Mailbox full: message exceeds quota")
    }
    /// 553 5.6.7: RFC 6531 §3.6.x, a non-ASCII address without SMTPUTF8.
    pub fn utf8_needs_smtputf8() -> Reply {
        Reply::new(
            553,
            Status(5, 6, 7),
            "Non-ASCII address requires the SMTPUTF8 parameter",
        )
    }
    /// 554 5.5.1: RFC 5321 §3.3, DATA without an accepted recipient.
    pub fn no_valid_recipients() -> Reply {
        Reply::new(554, Status(5, 5, 1), "No valid recipients")
    }
    // ---- AUTH (RFC 4954 §6) and submission policy ----

    /// 235 2.7.0: authentication succeeded.
    pub fn auth_ok() -> Reply {
        Reply::new(235, Status(2, 7, 0), "Authentication successful")
    }
    /// 334: a SASL challenge, base64 (no enhanced code on 3xx).
    pub fn sasl_challenge(b64: String) -> Reply {
        Reply::plain(334, b64)
    }
    /// 454 4.7.0: temporary authentication failure (store error, or throttled).
    pub fn auth_temporary(text: &'static str) -> Reply {
        Reply::new(454, Status(4, 7, 0), text)
    }
    /// 501 5.0.0: RFC 4954 §4, the client cancelled the exchange with `*`.
    pub fn auth_cancelled() -> Reply {
        Reply::new(501, Status(5, 0, 0), "Authentication cancelled")
    }
    /// 501 5.5.2: RFC 4954 §4, a response that is not base64.
    pub fn auth_bad_base64() -> Reply {
        Reply::new(501, Status(5, 5, 2), "Cannot decode response")
    }
    /// 504 5.5.4: a mechanism we do not offer.
    pub fn auth_mechanism_unknown() -> Reply {
        Reply::new(504, Status(5, 5, 4), "Unrecognized authentication type")
    }
    /// 530 5.7.0: RFC 4954 §6, MAIL before AUTH on submission.
    pub fn auth_required() -> Reply {
        Reply::new(530, Status(5, 7, 0), "Authentication required")
    }
    /// 530 5.7.0: RFC 3207 §4, TLS must come first.
    pub fn starttls_first() -> Reply {
        Reply::new(530, Status(5, 7, 0), "Must issue a STARTTLS command first")
    }
    /// 535 5.7.8: RFC 4954 §6, bad credentials.
    pub fn auth_failed() -> Reply {
        Reply::new(535, Status(5, 7, 8), "Authentication credentials invalid")
    }
    /// 538 5.7.11: RFC 4954 §6, plaintext mechanisms need an encrypted connection.
    pub fn encryption_required() -> Reply {
        Reply::new(
            538,
            Status(5, 7, 11),
            "Encryption required for requested authentication mechanism",
        )
    }
    /// 553 5.7.1: the sender address is not one the authenticated user owns.
    /// 550 5.7.1 after the data: a header `From:`/`Sender:` address the authenticated
    /// user may not send as (anti-spoofing on submission).
    pub fn header_sender_not_owned(field: &str, address: &str) -> Reply {
        Reply::new(
            550,
            Status(5, 7, 1),
            format!(
                "{field} header address {address} is not one the authenticated user may send as"
            ),
        )
    }

    pub fn sender_not_owned() -> Reply {
        Reply::new(
            553,
            Status(5, 7, 1),
            "Sender address rejected: not owned by the authenticated user",
        )
    }

    /// 555 5.5.4: RFC 5321 §4.1.1.11, a MAIL/RCPT parameter we do not know.
    pub fn unknown_param(name: &str) -> Reply {
        Reply::new(
            555,
            Status(5, 5, 4),
            format!("Unsupported parameter {name}"),
        )
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.to_bytes();
        f.write_str(String::from_utf8_lossy(&bytes).trim_end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line_with_enhanced_code() {
        assert_eq!(Reply::ok().to_bytes(), b"250 2.0.0 Ok\r\n");
    }

    #[test]
    fn multi_line_uses_dash_on_all_but_the_last() {
        let r = Reply::plain(250, "mx.example.test")
            .line("PIPELINING")
            .line("HELP");
        assert_eq!(
            r.to_bytes(),
            b"250-mx.example.test\r\n250-PIPELINING\r\n250 HELP\r\n"
        );
    }

    #[test]
    fn every_error_constructor_has_an_enhanced_code_of_its_class() {
        for r in [
            Reply::local_error(),
            Reply::mailbox_full(),
            Reply::too_many_recipients(),
            Reply::tls_unavailable(),
            Reply::unrecognized(),
            Reply::line_too_long(),
            Reply::syntax("x"),
            Reply::bad_sender_syntax(),
            Reply::bad_recipient_syntax(),
            Reply::not_implemented("TURN"),
            Reply::bad_sequence("x"),
            Reply::no_such_user(),
            Reply::relay_denied(),
            Reply::forward_unavailable(),
            Reply::bare_line_ending(),
            Reply::data_line_too_long(10),
            Reply::too_big(),
            Reply::quota_exceeded(),
            Reply::utf8_needs_smtputf8(),
            Reply::no_valid_recipients(),
            Reply::unknown_param("X"),
            Reply::shutting_down("h"),
            Reply::timeout("h"),
            Reply::too_many_errors("h"),
            Reply::auth_temporary("x"),
            Reply::auth_cancelled(),
            Reply::auth_bad_base64(),
            Reply::auth_mechanism_unknown(),
            Reply::auth_required(),
            Reply::starttls_first(),
            Reply::auth_failed(),
            Reply::encryption_required(),
            Reply::sender_not_owned(),
        ] {
            let status = r.status.expect("enhanced status");
            assert_eq!(u16::from(status.0), r.code / 100, "{r}");
        }
    }
}
