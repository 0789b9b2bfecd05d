//! AUTH (RFC 5034): SASL PLAIN and LOGIN. Without arguments, the mechanism list
//! (RFC 1734 clients still ask this way, and Dovecot answers it).

use crate::reply::{Pop3Error, ok};
use crate::sasl::{self, Exchange, MECHANISMS, Mechanism, Step};
use crate::session::{Action, Session, State, plaintext_refused};

pub async fn handle_auth(
    s: &mut Session<'_>,
    mechanism: Option<String>,
    initial_response: Option<String>,
    out: &mut Vec<u8>,
) -> Result<Action, Pop3Error> {
    let Some(mechanism) = mechanism else {
        ok(out, "Supported mechanisms follow");
        if s.plaintext_auth_allowed() {
            for m in MECHANISMS {
                out.extend_from_slice(m.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
        out.extend_from_slice(b".\r\n");
        return Ok(Action::Continue);
    };
    let Some(mech) = Mechanism::from_name(&mechanism) else {
        return Err(Pop3Error::new(format!(
            "Unsupported authentication mechanism {mechanism}"
        )));
    };
    // Both mechanisms carry the password in the clear.
    if !s.plaintext_auth_allowed() {
        return Err(plaintext_refused());
    }
    let step = sasl::start(mech, initial_response.as_deref());
    run_step(s, step, out).await
}

/// A client line during the exchange (RFC 5034 §4).
pub async fn continue_auth(
    s: &mut Session<'_>,
    exchange: Exchange,
    line: &[u8],
    out: &mut Vec<u8>,
) -> Result<Action, Pop3Error> {
    if line == b"*" {
        // RFC 5034 §4: the server MUST reject the AUTH command with -ERR.
        return Err(Pop3Error::new("AUTH cancelled"));
    }
    run_step(s, sasl::step(exchange, line), out).await
}

async fn run_step(s: &mut Session<'_>, step: Step, out: &mut Vec<u8>) -> Result<Action, Pop3Error> {
    match step {
        Step::Challenge(challenge, exchange) => {
            out.extend_from_slice(b"+ ");
            out.extend_from_slice(challenge.as_bytes());
            out.extend_from_slice(b"\r\n");
            s.state = State::Sasl(exchange);
            Ok(Action::Continue)
        }
        Step::Credentials { user, password } => s.login(&user, &password, out).await,
        Step::Failed(e) => Err(e),
    }
}
