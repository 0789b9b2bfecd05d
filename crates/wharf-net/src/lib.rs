//! Shared plumbing for every Wharf protocol: listeners with per-IP limits and graceful
//! shutdown, TLS (implicit and STARTTLS-style upgrade), a buffered connection with a
//! bounded line reader, and authentication throttling.
//!
//! Protocol crates implement [`Service`]; the binary binds the listeners and hands each
//! accepted connection to its service as a [`Conn`].
#![forbid(unsafe_code)]

pub mod conn;
pub mod limits;
pub mod listener;
pub mod shutdown;
pub mod stream;
pub mod tls;

pub use conn::{Conn, Line, Timeout, timeout_of};
pub use limits::{AuthThrottle, Busy, ClientKey, IpLimiter, ThrottleSettings};
pub use listener::{ListenOptions, Service, serve};
pub use shutdown::{Shutdown, ShutdownSignal};
pub use stream::Stream;
pub use tls::TlsAcceptor;
