//! PORT (RFC 959 §4.1.2) and EPRT (RFC 2428 §2): active mode, we connect to the client.
//!
//! RFC 2577 §3 (bounce attack): the address must be the control connection's client
//! address and the port at least 1024, so nobody can use us to reach a third host or a
//! privileged port.

use crate::data::{DataSetup, canonical};
use crate::reply::code;
use crate::session::{Outcome, Session};
use std::net::SocketAddr;

impl Session<'_> {
    pub(crate) async fn handle_port(&mut self, addr: SocketAddr) -> Outcome {
        if self.epsv_all {
            return self
                .answer(code::BAD_SEQUENCE, "EPSV ALL in effect; use EPSV.")
                .await;
        }
        if !self.server.config.allow_active {
            return self
                .answer(
                    code::NOT_IMPLEMENTED,
                    "Active mode is disabled; use PASV or EPSV.",
                )
                .await;
        }
        if canonical(addr.ip()) != canonical(self.conn.peer().ip()) {
            return self
                .answer(
                    code::SYNTAX_ERROR,
                    "Illegal PORT: the address must be your own.",
                )
                .await;
        }
        if addr.port() < 1024 {
            return self
                .answer(code::SYNTAX_ERROR, "Illegal PORT: port below 1024.")
                .await;
        }
        self.data = DataSetup::Active(addr);
        self.answer(code::OK, "PORT command successful. Consider using PASV.")
            .await
    }
}
