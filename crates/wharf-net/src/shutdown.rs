//! Graceful shutdown, after mini-redis: a broadcast that tells every task to stop, and a
//! count of live connections the server waits on before it exits.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Notify, watch};

/// Owned by the server: triggers the stop and waits for connections to finish.
pub struct Shutdown {
    tx: watch::Sender<bool>,
    live: Arc<Live>,
}

struct Live {
    count: AtomicUsize,
    zero: Notify,
}

/// Held by every listener and connection task.
#[derive(Clone)]
pub struct ShutdownSignal {
    rx: watch::Receiver<bool>,
    live: Arc<Live>,
}

/// Keeps the server waiting while it lives; drop it when the connection ends.
pub struct LiveGuard {
    live: Arc<Live>,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        if self.live.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.live.zero.notify_waiters();
        }
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    pub fn new() -> Shutdown {
        let (tx, _) = watch::channel(false);
        Shutdown {
            tx,
            live: Arc::new(Live {
                count: AtomicUsize::new(0),
                zero: Notify::new(),
            }),
        }
    }

    pub fn signal(&self) -> ShutdownSignal {
        ShutdownSignal {
            rx: self.tx.subscribe(),
            live: self.live.clone(),
        }
    }

    /// Tells every task to stop accepting and finish.
    pub fn trigger(&self) {
        let _ = self.tx.send(true);
    }

    /// Number of connections still running.
    pub fn live(&self) -> usize {
        self.live.count.load(Ordering::Acquire)
    }

    /// Waits until every connection has ended, or the timeout passes. Returns the number
    /// still running.
    pub async fn wait(&self, timeout: std::time::Duration) -> usize {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.live.zero.notified();
            if self.live() == 0 {
                return 0;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.live();
            }
        }
    }
}

impl ShutdownSignal {
    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once shutdown has been triggered.
    pub async fn triggered(&mut self) {
        let _ = self.rx.wait_for(|stop| *stop).await;
    }

    /// Counts a connection as live until the guard drops.
    pub fn live_guard(&self) -> LiveGuard {
        self.live.count.fetch_add(1, Ordering::AcqRel);
        LiveGuard {
            live: self.live.clone(),
        }
    }
}
