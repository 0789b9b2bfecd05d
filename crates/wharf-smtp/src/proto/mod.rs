//! The SMTP wire format, free of I/O: command grammar, paths, replies, and the framing
//! receivers for command lines, DATA and BDAT. Everything here is pure and bounded, so
//! it is table-tested at every chunk size and fuzzed.

pub mod command;
pub mod data;
pub mod line;
pub mod path;
pub mod reply;
pub mod sasl;

pub use command::{Body, Command, MailParams, Notify, ParseError, RcptParams, Ret, parse_command};
pub use data::{Chunk, ChunkReceiver, DataError, DataReceiver, dot_stuff};
pub use line::{Frame, LineReader};
pub use path::{ForwardPath, Mailbox, ReversePath};
pub use reply::{Reply, Status};
