//! Read-ahead for RETR: after sending message n, the next few live messages are read
//! from the store in the background, so a client that downloads in order (nearly all of
//! them) finds its next RETR ready instead of waiting for the store.
//!
//! A session holds a small window of reads (see `op::retr`). A read is aborted when it
//! can no longer be used (the client moved past it, or the session ended), and its
//! result is used only for the message number *and* body it was started for.

use tokio::task::JoinHandle;
use wharf_store::{BlobId, DynStore};

/// One background read.
pub struct Prefetch {
    n: u32,
    blob: BlobId,
    task: JoinHandle<wharf_store::Result<Vec<u8>>>,
}

impl Prefetch {
    /// Starts reading message `n` (body `blob`).
    pub fn start(store: &DynStore, n: u32, blob: BlobId) -> Prefetch {
        let store = store.clone();
        let task = tokio::spawn(async move { store.read_body(blob).await });
        Prefetch { n, blob, task }
    }

    /// The message number this read is for.
    pub fn n(&self) -> u32 {
        self.n
    }

    /// The body if this read was for message `n` with body `blob`; `None` otherwise (the
    /// read is then abandoned) or if the task failed to run.
    pub async fn take(mut self, n: u32, blob: BlobId) -> Option<wharf_store::Result<Vec<u8>>> {
        if self.n != n || self.blob != blob {
            return None;
        }
        (&mut self.task).await.ok()
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.task.abort();
    }
}
