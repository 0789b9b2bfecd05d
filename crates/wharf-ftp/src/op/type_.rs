//! TYPE (RFC 959 §3.1.1, §4.1.2): A (with line-end conversion) and I.

use crate::command::TransferType;
use crate::reply::code;
use crate::session::{Outcome, Session};

impl Session<'_> {
    pub(crate) async fn handle_type(&mut self, t: TransferType) -> Outcome {
        self.transfer_type = t;
        let text = match t {
            TransferType::Ascii => "Switching to ASCII mode.",
            TransferType::Image => "Switching to Binary mode.",
        };
        self.answer(code::OK, text).await
    }
}
