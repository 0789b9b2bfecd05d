//! One handler per POP3 verb, named after it; `login` is the one place where
//! credentials are checked and a maildrop opened.

pub mod apop;
pub mod auth;
pub mod capa;
pub mod dele;
pub mod list;
pub mod login;
pub mod noop;
pub mod pass;
pub mod quit;
pub mod retr;
pub mod rset;
pub mod stat;
pub mod stls;
pub mod top;
pub mod uidl;
pub mod user;
