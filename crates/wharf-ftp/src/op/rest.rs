//! REST STREAM (RFC 3659 §5): the offset the next RETR or STOR starts at.

use crate::reply::code;
use crate::session::{Outcome, Session};

impl Session<'_> {
    pub(crate) async fn handle_rest(&mut self, offset: u64) -> Outcome {
        self.rest = Some(offset);
        self.answer(
            code::PENDING_FURTHER_INFO,
            format!("Restarting at {offset}. Send STOR or RETR to start the transfer."),
        )
        .await
    }
}
