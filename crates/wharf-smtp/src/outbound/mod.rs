//! Outbound delivery: the queue worker.

use std::sync::OnceLock;
use tokio::sync::Notify;

fn waker() -> &'static Notify {
    static W: OnceLock<Notify> = OnceLock::new();
    W.get_or_init(Notify::new)
}

/// Wakes the worker: something new is in the queue.
pub fn kick() {
    waker().notify_one();
}
