//! One handler per verb (or per tight family of verbs), each an `impl Session` block
//! named after what it handles. The state check has already happened in
//! `session::check`.

pub mod auth;
pub mod cwd;
pub mod dele;
pub mod feat;
pub mod help;
pub mod list;
pub mod mkd;
pub mod mlst;
pub mod pasv;
pub mod port;
pub mod rename;
pub mod rest;
pub mod retr;
pub mod rmd;
pub mod site;
pub mod size;
pub mod stat;
pub mod stor;
pub mod type_;
pub mod user;
