//! PASV (RFC 959 §4.1.1) and EPSV (RFC 2428 §3): we listen on the control connection's
//! local address, on a port from `passive_ports`; PASV advertises `passive_address` when
//! set (NAT). Each listener serves one transfer.

use crate::command::EpsvArg;
use crate::data::{DataSetup, bind_passive, canonical};
use crate::reply::code;
use crate::session::{Outcome, Session};
use std::net::IpAddr;

impl Session<'_> {
    async fn listen(&mut self) -> Result<u16, ()> {
        // Drop the previous listener first so its port is free again.
        self.data = DataSetup::None;
        let ip = canonical(self.conn.local().ip());
        match bind_passive(ip, self.server.passive_ports).await {
            Ok(listener) => {
                let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
                self.data = DataSetup::Passive(listener);
                Ok(port)
            }
            Err(e) => {
                tracing::warn!(conn = self.conn.id, "cannot bind a passive port: {e}");
                Err(())
            }
        }
    }

    pub(crate) async fn handle_pasv(&mut self) -> Outcome {
        if self.epsv_all {
            // RFC 2428 §4: after EPSV ALL only EPSV may set up data connections.
            return self
                .answer(code::BAD_SEQUENCE, "EPSV ALL in effect; use EPSV.")
                .await;
        }
        let ip = match self.server.config.passive_address {
            Some(ip) => ip,
            None => match canonical(self.conn.local().ip()) {
                IpAddr::V4(v4) => v4,
                IpAddr::V6(_) => {
                    return self
                        .answer(code::CANT_OPEN_DATA, "PASV is IPv4 only; use EPSV.")
                        .await;
                }
            },
        };
        let Ok(port) = self.listen().await else {
            return self
                .answer(code::CANT_OPEN_DATA, "Cannot open a passive port.")
                .await;
        };
        let [a, b, c, d] = ip.octets();
        let text = format!(
            "Entering Passive Mode ({a},{b},{c},{d},{},{}).",
            port >> 8,
            port & 0xff
        );
        self.answer(code::ENTERING_PASSIVE, text).await
    }

    pub(crate) async fn handle_epsv(&mut self, arg: EpsvArg) -> Outcome {
        let local_is_v4 = canonical(self.conn.local().ip()).is_ipv4();
        match arg {
            EpsvArg::All => {
                self.epsv_all = true;
                return self.answer(code::OK, "EPSV ALL ok.").await;
            }
            EpsvArg::Proto(p) if (p == 1) != local_is_v4 => {
                return self
                    .answer(
                        code::NETWORK_PROTOCOL_UNSUPPORTED,
                        "Network protocol not supported, use (1,2).",
                    )
                    .await;
            }
            _ => {}
        }
        let Ok(port) = self.listen().await else {
            return self
                .answer(code::CANT_OPEN_DATA, "Cannot open a passive port.")
                .await;
        };
        self.answer(
            code::ENTERING_EXTENDED_PASSIVE,
            format!("Entering Extended Passive Mode (|||{port}|)."),
        )
        .await
    }
}
