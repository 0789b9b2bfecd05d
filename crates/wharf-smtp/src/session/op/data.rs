//! DATA (RFC 5321 §4.1.1.4): 354, then the message up to CRLF.CRLF through the
//! [`DataReceiver`], then delivery. The transaction ends whatever the outcome.

use crate::proto::{DataError, DataReceiver, Reply};
use crate::session::{Next, Session, State, Step};

impl Session {
    pub(crate) fn handle_data(&mut self) -> Step {
        let config = &self.shared.config;
        Step {
            replies: vec![Reply::start_data()],
            next: Next::Data(DataReceiver::new(
                config.max_message_size,
                config.max_data_line_len,
            )),
        }
    }

    pub(crate) async fn finish_data(&mut self, rx: DataReceiver) -> Step {
        let size = rx.size();
        let state = std::mem::replace(&mut self.state, State::Connected);
        self.reset_transaction();
        let State::Rcpt(tx) = state else {
            return Step::reply(Reply::bad_sequence("No transaction"));
        };
        let reply = match rx.finish() {
            Ok(body) => match self.check_header_senders(&body).await {
                Ok(()) => self.deliver(tx, body).await,
                Err(reply) => reply,
            },
            Err(e) => {
                tracing::info!(conn = self.conn.id, size, "message refused: {e:?}");
                match e {
                    DataError::TooBig => Reply::too_big(),
                    DataError::BareLineEnding => Reply::bare_line_ending(),
                    DataError::LineTooLong => {
                        Reply::data_line_too_long(self.shared.config.max_data_line_len)
                    }
                }
            }
        };
        Step::reply(reply)
    }
}
