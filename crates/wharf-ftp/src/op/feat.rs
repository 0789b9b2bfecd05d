//! FEAT and OPTS (RFC 2389): the extensions we offer, `OPTS UTF8 ON` (RFC 2640 §3.3; we
//! always speak UTF-8) and `OPTS MLST` (RFC 3659 §7.9).

use crate::reply::{Reply, code};
use crate::session::{Outcome, Session};

impl Session<'_> {
    pub(crate) async fn handle_feat(&mut self) -> Outcome {
        let mut lines = vec!["Features:".to_string()];
        if self.conn.can_starttls() {
            lines.push(" AUTH TLS".into());
        }
        if self.tls.is_some() || self.conn.is_tls() {
            lines.push(" PBSZ".into());
            lines.push(" PROT".into());
        }
        for f in [
            "EPRT",
            "EPSV",
            "MDTM",
            "MFMT",
            "PASV",
            "REST STREAM",
            "SIZE",
            "TVFS",
            "UTF8",
        ] {
            lines.push(format!(" {f}"));
        }
        lines.push(self.facts.feat_line());
        lines.push("End".into());
        self.answer_reply(Reply::multi(code::SYSTEM_STATUS, lines))
            .await
    }

    pub(crate) async fn handle_opts(&mut self, arg: &str) -> Outcome {
        let (name, value) = match arg.split_once(' ') {
            Some((n, v)) => (n, v.trim()),
            None => (arg, ""),
        };
        if name.eq_ignore_ascii_case("UTF8") {
            return match value.to_ascii_uppercase().as_str() {
                "ON" | "" => self.answer(code::OK, "Always in UTF8 mode.").await,
                _ => {
                    self.answer(code::PARAM_NOT_IMPLEMENTED, "UTF8 cannot be turned off.")
                        .await
                }
            };
        }
        if name.eq_ignore_ascii_case("MLST") {
            let enabled = self.facts.select(value);
            return self.answer(code::OK, format!("MLST OPTS {enabled}")).await;
        }
        self.answer(code::SYNTAX_ERROR, "Option not understood.")
            .await
    }
}
