//! SITE (RFC 959 §4.1.3): `SITE HELP`, and `SITE CHMOD` accepted as a no-op (the file
//! area has no Unix permissions to change, but mirroring clients such as `lftp mirror -R`
//! send it after each upload and count a refusal as a failed transfer). Everything else
//! is 502.

use crate::reply::code;
use crate::session::{Outcome, Session};

impl Session<'_> {
    pub(crate) async fn handle_site(&mut self, arg: &str) -> Outcome {
        let mut words = arg.splitn(3, ' ');
        let sub = words.next().unwrap_or("");
        if sub.eq_ignore_ascii_case("HELP") {
            return self.answer(code::HELP, "SITE commands: HELP, CHMOD.").await;
        }
        if sub.eq_ignore_ascii_case("CHMOD") {
            let mode = words.next().unwrap_or("");
            let path = words.next().unwrap_or("");
            // RFC 959 §4.2: 501 for a syntax error in the arguments.
            if mode.is_empty()
                || mode.len() > 4
                || !mode.bytes().all(|b| (b'0'..=b'7').contains(&b))
                || path.is_empty()
            {
                return self
                    .answer(code::SYNTAX_ERROR, "Usage: SITE CHMOD <octal mode> <path>.")
                    .await;
            }
            return self
                .answer(
                    code::OK,
                    "SITE CHMOD: files here have no permission bits; nothing changed.",
                )
                .await;
        }
        self.answer(code::NOT_IMPLEMENTED, "SITE command not implemented.")
            .await
    }
}
