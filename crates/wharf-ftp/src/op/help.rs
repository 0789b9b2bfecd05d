//! HELP (RFC 959 §4.1.3): the commands this server recognizes.

use crate::reply::{Reply, code};
use crate::session::{Outcome, Session};

const COMMANDS: &[&str] = &[
    "ABOR ACCT ALLO APPE AUTH CDUP CWD  DELE EPRT EPSV FEAT HELP LIST MDTM MFMT MKD",
    "MLSD MLST MODE NLST NOOP OPTS PASS PASV PBSZ PORT PROT PWD  QUIT REST RETR RMD",
    "RNFR RNTO SITE SIZE STAT STOR STOU STRU SYST TYPE USER XCUP XCWD XMKD XPWD XRMD",
];

impl Session<'_> {
    pub(crate) async fn handle_help(&mut self) -> Outcome {
        let mut lines = vec!["The following commands are recognized.".to_string()];
        lines.extend(COMMANDS.iter().map(|l| format!(" {l}")));
        lines.push("Help OK.".into());
        self.answer_reply(Reply::multi(code::HELP, lines)).await
    }
}
