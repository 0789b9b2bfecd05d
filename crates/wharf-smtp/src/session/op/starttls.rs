//! STARTTLS (RFC 3207). After the 220 the driver runs the handshake; whatever the
//! client sent after the command in plaintext is thrown away (RFC 3207 §4.2,
//! CVE-2011-0411) and the session starts over in [`Session::tls_started`].

use crate::proto::Reply;
use crate::session::{Next, Session, Step};

impl Session {
    pub(crate) fn handle_starttls(&mut self) -> Step {
        if self.conn.tls {
            // Already encrypted: a second STARTTLS makes no sense.
            return Step::reply(Reply::bad_sequence("TLS already active"));
        }
        if !self.conn.can_starttls {
            // Not advertised (no certificate on this listener).
            return Step::reply(Reply::not_implemented("STARTTLS"));
        }
        Step {
            replies: vec![Reply::tls_ready()],
            next: Next::StartTls,
        }
    }
}
