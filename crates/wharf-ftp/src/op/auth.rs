//! AUTH TLS, PBSZ and PROT (RFC 4217 §4, §8, §9): explicit FTPS.

use crate::data::DataSetup;
use crate::reply::code;
use crate::session::{Flow, Outcome, Session, State};

impl Session<'_> {
    pub(crate) async fn handle_auth(&mut self, mechanism: &str) -> Outcome {
        // RFC 4217 §4: "TLS" (and the older "SSL", "TLS-C") ask for TLS on the control
        // connection.
        if !matches!(mechanism, "TLS" | "TLS-C" | "SSL" | "TLS-P") {
            return self
                .answer(
                    code::PARAM_NOT_IMPLEMENTED,
                    "Unknown AUTH mechanism; use AUTH TLS.",
                )
                .await;
        }
        if self.conn.is_tls() {
            return self.answer(code::BAD_SEQUENCE, "Already using TLS.").await;
        }
        if !self.conn.can_starttls() {
            return self
                .answer(
                    code::TLS_UNAVAILABLE,
                    "TLS is not configured on this server.",
                )
                .await;
        }
        self.answer(code::AUTH_OK, "AUTH TLS successful, start the handshake.")
            .await?;
        match self.conn.start_tls().await {
            Ok(discarded) => {
                if discarded > 0 {
                    tracing::info!(
                        conn = self.conn.id,
                        discarded,
                        "dropped plaintext pipelined after AUTH"
                    );
                }
            }
            Err(e) => {
                tracing::info!(conn = self.conn.id, "TLS handshake failed: {e}");
                return Ok(Flow::Close);
            }
        }
        // RFC 4217 §4: the session starts over under TLS.
        self.state = State::Fresh;
        self.pbsz = false;
        self.prot_private = false;
        self.data = DataSetup::None;
        Ok(Flow::Continue)
    }

    pub(crate) async fn handle_pbsz(&mut self, _size: u64) -> Outcome {
        // RFC 4217 §8: PBSZ is only valid after the security exchange; for TLS the size
        // is always 0.
        if !self.conn.is_tls() {
            return self
                .answer(
                    code::BAD_SEQUENCE,
                    "PBSZ needs a TLS control connection (AUTH TLS first).",
                )
                .await;
        }
        self.pbsz = true;
        self.answer(code::OK, "PBSZ=0").await
    }

    pub(crate) async fn handle_prot(&mut self, level: char) -> Outcome {
        if !self.conn.is_tls() {
            return self
                .answer(
                    code::BAD_SEQUENCE,
                    "PROT needs a TLS control connection (AUTH TLS first).",
                )
                .await;
        }
        // RFC 4217 §9: PROT before PBSZ is a sequence error.
        if !self.pbsz {
            return self.answer(code::BAD_SEQUENCE, "PBSZ first.").await;
        }
        match level {
            'P' => {
                self.prot_private = true;
                self.answer(code::OK, "Protection level set to Private.")
                    .await
            }
            'C' if self.server.config.require_tls => {
                self.answer(code::POLICY_DENIED, "Policy requires PROT P.")
                    .await
            }
            'C' => {
                self.prot_private = false;
                self.answer(code::OK, "Protection level set to Clear.")
                    .await
            }
            _ => {
                self.answer(code::PROT_NOT_SUPPORTED, "PROT S and E are not supported.")
                    .await
            }
        }
    }
}
