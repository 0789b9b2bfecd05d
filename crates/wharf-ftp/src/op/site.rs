//! SITE (RFC 959 §4.1.3): only `SITE HELP`; everything else is 502, as the issue asks
//! (no CHMOD: the file area has no Unix permissions to change).

use crate::reply::code;
use crate::session::{Outcome, Session};

impl Session<'_> {
    pub(crate) async fn handle_site(&mut self, arg: &str) -> Outcome {
        let sub = arg.split(' ').next().unwrap_or("");
        if sub.eq_ignore_ascii_case("HELP") {
            return self.answer(code::HELP, "SITE commands: HELP.").await;
        }
        self.answer(code::NOT_IMPLEMENTED, "SITE command not implemented.")
            .await
    }
}
