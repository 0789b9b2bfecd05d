//! Read-ahead for RETR: after sending message n, the next live message is read from the
//! store in the background, so a client that downloads in order (nearly all of them)
//! finds its next RETR ready instead of waiting for the store.
//!
//! At most one body is held ahead per session. The read is aborted when the session
//! moves elsewhere (another RETR, or the session ends), and a prefetched result is used
//! only for the message number *and* body it was started for.

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
