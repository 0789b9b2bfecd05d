//! One handler per SMTP verb, each in the file named after it. Handlers run after the
//! state check in [`super::allowed`], so each may assume its command is in place.

mod auth;
mod bdat;
mod data;
mod deliver;
mod ehlo;
mod expn;
mod helo;
mod help;
mod mail;
mod noop;
mod quit;
mod rcpt;
mod rset;
mod starttls;
mod vrfy;
