//! The IMAP wire format, with no I/O: framing (where a command ends), the command
//! grammar, date and mailbox-name encodings, and response encoding.

pub mod command;
pub mod command_encode;
pub mod date;
pub mod encode;
pub mod frame;
pub mod parse;
pub mod utf7;

pub use command::*;
pub use command_encode::encode_command;
pub use frame::{Frame, Framer, Limits, Reject};
pub use parse::{ParseError, parse_command};
