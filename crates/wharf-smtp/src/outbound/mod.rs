//! Outbound delivery: the worker that carries queued messages to other servers.
//!
//! Implementation notes (what the worker promises):
//! - The queue lives in the store and is durable; the worker keeps nothing that is not
//!   there. A recipient's state changes only after the remote server's final reply has
//!   been read (`queue_update` after the attempt): a crash before that leaves it
//!   pending and it is tried again after restart. The one unavoidable duplicate
//!   (RFC 1047): the remote server said 250 after the data and we died before
//!   recording it; that recipient gets the message twice.
//! - One transaction per destination: the pending recipients of a message are grouped
//!   by route (the same host list in the same order), and each group gets one SMTP
//!   transaction with all its RCPTs, so each server receives one copy.
//! - Hosts are tried in preference order (RFC 5321 §5.1): connection failures and
//!   errors before MAIL move on to the next host; from MAIL on, the replies decide.
//!   4xx defers on the `[outbound] retry` schedule (last interval repeating); 5xx fails
//!   at once; a recipient still deferred after `max_age` fails.
//! - Failures (and optional delay warnings) produce one DSN per message and kind to the
//!   envelope sender (RFC 3464, honouring NOTIFY/RET/ENVID/ORCPT per RFC 3461), never
//!   to the null sender. The DSN is stored (delivered locally or queued) before the
//!   queue is updated: a crash in between may send it twice, never lose it.
//! - Messages being delivered are kept in an in-flight set, so a slow delivery is not
//!   started a second time by the next look at the queue. A look at the queue is a
//!   snapshot: a delivery that finishes (and leaves the in-flight set) while the snapshot
//!   is being read would look due again in it. Finished deliveries are therefore logged
//!   with a sequence number, and entries of a snapshot that finished after it was taken
//!   are skipped.
//! - The queue is read only when a delivery slot is free. Due messages beyond the free
//!   slots are kept (a short backlog) and started as slots free up; the queue is read
//!   again when that backlog is empty. With many messages waiting, reading the queue once
//!   per finished delivery (and once per newly queued message) cost more than delivering.
//! - Connections are reused (`pool.rs`): an idle connection to the same server, already
//!   EHLO'd, carries the next transaction after an RSET; one that failed is never reused.

pub mod client;
pub mod dns;
pub mod downgrade;
pub mod pool;
pub mod reply;
pub mod route;

use crate::config::{DnsConfig, OutboundConfig};
use crate::dsn::{self, Action, RecipientReport};
use client::{Attempt, Outcome};
use route::{Resolver, Route, Routing};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use wharf_net::ShutdownSignal;
use wharf_store::queue::{
    QueueEntry, QueueEnvelope, QueueId, QueueRecipient, QueueRecipientSpec, RecipientState,
    RecipientUpdate,
};
use wharf_store::{Address, DynStore, NewMessage, Resolution};

fn waker() -> &'static Notify {
    static W: OnceLock<Notify> = OnceLock::new();
    W.get_or_init(Notify::new)
}

/// Wakes the worker: something new is in the queue.
pub fn kick() {
    waker().notify_one();
}

/// The outbound queue worker. The binary starts one with [`Worker::spawn`].
pub struct Worker {
    store: DynStore,
    hostname: String,
    config: OutboundConfig,
    /// Replaced by [`Worker::set_routing`] (SIGHUP); deliveries already routed keep theirs.
    routing: std::sync::RwLock<Arc<Routing>>,
    schedule: Vec<Duration>,
    max_age: Duration,
    delay_warning: Option<Duration>,
    dns: Arc<dyn Resolver>,
    in_flight: Mutex<HashSet<i64>>,
    /// Due entries read from the queue that found no free slot yet (never in flight).
    backlog: Mutex<VecDeque<QueueEntry>>,
    finished_log: Mutex<FinishedLog>,
    slots: Arc<Semaphore>,
    finished: Notify,
    /// Idle connections to reuse (`pool.rs`).
    pool: Arc<pool::Pool>,
}

/// The most recently finished deliveries, numbered, so that a queue snapshot taken
/// before one of them finished does not start it again.
#[derive(Default)]
struct FinishedLog {
    /// Number of the last finished delivery.
    seq: u64,
    /// (number, queue id), oldest first, at most [`FINISHED_LOG_LEN`].
    recent: VecDeque<(u64, i64)>,
}

const FINISHED_LOG_LEN: usize = 4096;

impl FinishedLog {
    fn push(&mut self, id: i64) {
        self.seq += 1;
        self.recent.push_back((self.seq, id));
        if self.recent.len() > FINISHED_LOG_LEN {
            self.recent.pop_front();
        }
    }

    /// Queue ids finished after `since`; `None` if the log no longer reaches back that far.
    fn since(&self, since: u64) -> Option<HashSet<i64>> {
        match self.recent.front() {
            Some(&(first, _)) if first > since + 1 => None,
            _ => Some(
                self.recent
                    .iter()
                    .filter(|(n, _)| *n > since)
                    .map(|(_, id)| *id)
                    .collect(),
            ),
        }
    }
}

impl Worker {
    /// Starts the worker on the current tokio runtime; it stops when `shutdown`
    /// triggers, after the deliveries in progress have recorded their outcome (the
    /// handle completes then). If the process exits earlier, those recipients stay
    /// pending: nothing is lost.
    pub fn spawn(
        store: DynStore,
        hostname: String,
        config: OutboundConfig,
        dns: DnsConfig,
        shutdown: ShutdownSignal,
    ) -> Result<tokio::task::JoinHandle<()>, String> {
        Ok(Worker::spawn_with_handle(store, hostname, config, dns, shutdown)?.0)
    }

    /// Like [`Worker::spawn`], also returning the worker, whose routes
    /// [`Worker::set_routing`] replaces while it runs.
    pub fn spawn_with_handle(
        store: DynStore,
        hostname: String,
        config: OutboundConfig,
        dns: DnsConfig,
        shutdown: ShutdownSignal,
    ) -> Result<(tokio::task::JoinHandle<()>, Arc<Worker>), String> {
        let resolver = Arc::new(dns::HickoryResolver::new(&dns)?);
        let worker = Worker::new(store, hostname, config, resolver)?;
        Ok((tokio::spawn(worker.clone().run(shutdown)), worker))
    }

    /// Replaces the routing part of `[outbound]` (`routes`, `smarthost`, `port`) for the
    /// next delivery attempts; an invalid one is refused and the old one kept.
    pub fn set_routing(&self, config: &OutboundConfig) -> Result<(), String> {
        let routing = Arc::new(Routing::from_config(config)?);
        *self.routing.write().unwrap_or_else(|e| e.into_inner()) = routing;
        Ok(())
    }

    /// A worker with a given resolver (tests use their own DNS).
    pub fn new(
        store: DynStore,
        hostname: String,
        config: OutboundConfig,
        dns: Arc<dyn Resolver>,
    ) -> Result<Arc<Worker>, String> {
        let routing = Routing::from_config(&config)?;
        Ok(Arc::new(Worker {
            store,
            hostname,
            schedule: config.retry_schedule()?,
            max_age: config.max_age()?,
            delay_warning: config.delay_warning()?,
            slots: Arc::new(Semaphore::new(config.concurrency.max(1))),
            config,
            routing: std::sync::RwLock::new(Arc::new(routing)),
            dns,
            in_flight: Mutex::new(HashSet::new()),
            backlog: Mutex::new(VecDeque::new()),
            finished_log: Mutex::new(FinishedLog::default()),
            finished: Notify::new(),
            pool: pool::Pool::new(),
        }))
    }

    /// Looks at the queue until shutdown.
    pub async fn run(self: Arc<Self>, mut shutdown: ShutdownSignal) {
        tracing::info!(service = "outbound", "queue worker started");
        loop {
            if shutdown.is_triggered() {
                break;
            }
            if let Err(e) = self.dispatch().await {
                tracing::warn!(service = "outbound", "reading the queue failed: {e}");
            }
            let wait = self.next_wait().await;
            tokio::select! {
                _ = shutdown.triggered() => break,
                _ = waker().notified() => {}
                _ = self.finished.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        // Deliveries in progress finish and record their outcome (each is bounded by
        // the connect and command timeouts); nothing new starts.
        loop {
            let notified = self.finished.notified();
            if self
                .in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
            {
                break;
            }
            notified.await;
        }
        self.pool.close_all().await;
        tracing::info!(service = "outbound", "queue worker stopped");
    }

    /// Delivers everything due now and waits for it (tests; `wharf queue` flushes).
    pub async fn run_once(self: &Arc<Self>) -> Result<usize, wharf_store::Error> {
        let handles = self.dispatch().await?;
        let n = handles.len();
        for h in handles {
            let _ = h.await;
        }
        // Nothing else is coming: no connection is left open behind the caller.
        self.pool.close_all().await;
        Ok(n)
    }

    /// How long to sleep: until the next due recipient, at most the poll interval.
    async fn next_wait(&self) -> Duration {
        let poll = Duration::from_secs(self.config.poll_interval_secs.max(1));
        match self.store.queue_next_due().await {
            Ok(Some(due)) => {
                let now = chrono::Utc::now().timestamp();
                Duration::from_secs(due.saturating_sub(now).max(0) as u64)
                    .max(Duration::from_millis(200))
                    .min(poll)
            }
            _ => poll,
        }
    }

    /// Starts a delivery task for each due message not already in flight, as far as
    /// the concurrency limit allows: first from the backlog, then from the queue.
    async fn dispatch(
        self: &Arc<Self>,
    ) -> Result<Vec<tokio::task::JoinHandle<()>>, wharf_store::Error> {
        let mut handles = Vec::new();
        let mut refilled = false;
        loop {
            let free = self.slots.available_permits();
            if free == 0 {
                break;
            }
            let next = self
                .backlog
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front();
            match next {
                Some(entry) => match self.start(entry) {
                    Some(h) => handles.push(h),
                    None => break,
                },
                // The queue is read at most once per call: what it returned and could
                // not start stays in the backlog.
                None if refilled => break,
                None => {
                    refilled = true;
                    if !self.refill(free).await? {
                        break;
                    }
                }
            }
        }
        Ok(handles)
    }

    /// Reads due messages into the backlog (those not in flight and not finished since
    /// the read began); false if there is nothing to start.
    async fn refill(&self, free: usize) -> Result<bool, wharf_store::Error> {
        let now = chrono::Utc::now().timestamp();
        // In-flight messages are still due in the store: the store leaves them out, and
        // those already in the backlog, without loading them.
        let mut known: Vec<QueueId> = self
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|&id| QueueId(id))
            .collect();
        known.extend(
            self.backlog
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .map(|e| e.id),
        );
        let since = self
            .finished_log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .seq;
        let due = self
            .store
            .queue_due(now, free + self.config.concurrency.max(1) * 2, &known)
            .await?;
        // The in-flight set first, then the log: a delivery leaves the set only after
        // it is logged, so one that is no longer in flight here is in the log below.
        let in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let Some(finished) = self
            .finished_log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .since(since)
        else {
            // Too much finished during the read to tell; read again next time.
            return Ok(false);
        };
        let mut backlog = self.backlog.lock().unwrap_or_else(|e| e.into_inner());
        let before = backlog.len();
        for entry in due {
            if !in_flight.contains(&entry.id.0)
                && !finished.contains(&entry.id.0)
                && !backlog.iter().any(|e| e.id == entry.id)
            {
                backlog.push_back(entry);
            }
        }
        Ok(backlog.len() > before)
    }

    /// Starts one delivery if a slot is free; the entry goes back to the backlog if not.
    fn start(self: &Arc<Self>, entry: QueueEntry) -> Option<tokio::task::JoinHandle<()>> {
        if !self
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(entry.id.0)
        {
            // Cannot happen (the backlog holds no in-flight entry); drop it, the queue
            // still has it.
            return None;
        }
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            self.in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&entry.id.0);
            self.backlog
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push_front(entry);
            return None;
        };
        let me = self.clone();
        Some(tokio::spawn(async move {
            let id = entry.id;
            let pending: Vec<i64> = entry
                .recipients
                .iter()
                .filter(|r| r.state == RecipientState::Pending)
                .map(|r| r.id)
                .collect();
            if let Err(e) = me.process(entry, permit).await {
                tracing::warn!(service = "outbound", queue_id = %id, "delivery attempt failed: {e}");
                // A local error (store, unreadable body) must not make the message
                // due again at once: that would spin. Try again after the first
                // retry interval.
                me.back_off(id, &pending, &e.to_string()).await;
            }
            // Logged before it leaves the in-flight set: a queue snapshot taken before
            // the outcome was recorded must not start it again.
            me.finished_log
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(id.0);
            me.in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id.0);
            me.finished.notify_waiters();
            me.finished.notify_one();
        }))
    }

    /// Defers recipients after a local error.
    async fn back_off(&self, id: wharf_store::queue::QueueId, recipients: &[i64], error: &str) {
        let next = chrono::Utc::now().timestamp() + self.schedule[0].as_secs().max(1) as i64;
        let updates = recipients
            .iter()
            .map(|&recipient| RecipientUpdate {
                recipient,
                state: RecipientState::Pending,
                next_attempt: Some(next),
                error: Some(format!("local error: {error}")),
                delay_notified: false,
            })
            .collect();
        if let Err(e) = self.store.queue_update(id, updates).await {
            tracing::warn!(service = "outbound", queue_id = %id, "could not defer after a local error: {e}");
        }
    }

    /// One delivery attempt for the due recipients of one message.
    ///
    /// The delivery slot (`permit`) is given back once the remote servers have answered,
    /// before the outcome is recorded: the next delivery starts while the store commits
    /// (the message stays in flight until its outcome is recorded).
    async fn process(
        &self,
        entry: QueueEntry,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<(), wharf_store::Error> {
        let now = chrono::Utc::now();
        let ts = now.timestamp();
        let due: Vec<&QueueRecipient> = entry
            .recipients
            .iter()
            .filter(|r| r.state == RecipientState::Pending && r.next_attempt <= ts)
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let message = self.store.read_body(entry.blob).await?;
        // Route each recipient's domain once; group recipients by route.
        let mut routes: HashMap<String, Route> = HashMap::new();
        let mut results: Vec<(&QueueRecipient, Outcome, Option<String>)> = Vec::new();
        let mut groups: Vec<(Route, Vec<&QueueRecipient>)> = Vec::new();
        for r in &due {
            let domain = r
                .spec
                .address
                .rsplit_once('@')
                .map(|(_, d)| d.to_lowercase())
                .unwrap_or_default();
            if !routes.contains_key(&domain) {
                let routing = self
                    .routing
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                let found = route::route(&domain, &routing, self.dns.as_ref()).await;
                routes.insert(domain.clone(), found);
            }
            let found = routes[&domain].clone();
            match &found {
                Route::Fail { status, reason } => results.push((
                    r,
                    Outcome::Failed {
                        status: status.clone(),
                        reply: reason.clone(),
                    },
                    None,
                )),
                Route::Defer { reason } => results.push((
                    r,
                    Outcome::Deferred {
                        status: "4.4.3".into(),
                        reply: reason.clone(),
                    },
                    None,
                )),
                Route::Hosts { .. } => {
                    match groups.iter_mut().find(|(g, _)| g.key() == found.key()) {
                        Some((_, members)) => members.push(r),
                        None => groups.push((found, vec![r])),
                    }
                }
            }
        }
        for (found, members) in groups {
            let (outcomes, host) = self
                .deliver_group(&found, &entry.envelope, &members, &message)
                .await;
            for (r, o) in members.into_iter().zip(outcomes) {
                results.push((r, o, host.clone()));
            }
        }
        drop(permit);
        self.finished.notify_one();
        self.record(&entry, results, &message, now).await
    }

    /// Tries the route's hosts in order until one takes the transaction.
    async fn deliver_group(
        &self,
        found: &Route,
        envelope: &QueueEnvelope,
        members: &[&QueueRecipient],
        message: &[u8],
    ) -> (Vec<Outcome>, Option<String>) {
        let Route::Hosts { targets, smarthost } = found else {
            return (Vec::new(), None);
        };
        let specs: Vec<&QueueRecipientSpec> = members.iter().map(|r| &r.spec).collect();
        let auth = match (
            &self.config.smarthost_user,
            &self.config.smarthost_password,
            smarthost,
        ) {
            (Some(u), Some(p), true) => Some((u.as_str(), p.expose())),
            _ => None,
        };
        let mut last = String::from("no host to try");
        for t in targets {
            for addr in &t.addrs {
                let mut attempt = Attempt {
                    helo_name: &self.hostname,
                    host: &t.host,
                    addr: *addr,
                    tls: true,
                    auth,
                    envelope,
                    recipients: &specs,
                    message,
                    connect_timeout: Duration::from_secs(self.config.connect_timeout_secs.max(1)),
                    command_timeout: Duration::from_secs(self.config.command_timeout_secs.max(1)),
                };
                let mut result = self.pool.deliver(&attempt).await;
                if let Err(e) = &result
                    && e.tls_failed
                {
                    // Opportunistic TLS: a failed handshake falls back to plaintext
                    // (as Postfix's `may` level does).
                    tracing::info!(service = "outbound", "{}; retrying without TLS", e.message);
                    attempt.tls = false;
                    result = self.pool.deliver(&attempt).await;
                }
                match result {
                    Ok(outcomes) => return (outcomes, Some(t.host.clone())),
                    Err(e) if e.permanent => {
                        let o = Outcome::Failed {
                            status: "5.0.0".into(),
                            reply: e.message,
                        };
                        return (vec![o; members.len()], Some(t.host.clone()));
                    }
                    Err(e) => {
                        tracing::info!(service = "outbound", "{}", e.message);
                        last = e.message;
                    }
                }
            }
        }
        let o = Outcome::Deferred {
            status: "4.4.1".into(),
            reply: last,
        };
        (vec![o; members.len()], None)
    }

    /// Turns outcomes into queue updates and DSNs, stores the DSNs, then the updates.
    async fn record(
        &self,
        entry: &QueueEntry,
        results: Vec<(&QueueRecipient, Outcome, Option<String>)>,
        message: &[u8],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), wharf_store::Error> {
        let ts = now.timestamp();
        let age = Duration::from_secs(ts.saturating_sub(entry.created).max(0) as u64);
        let mut updates = Vec::new();
        let mut failed = Vec::new();
        let mut delayed = Vec::new();
        let mut relayed = Vec::new();
        for (r, outcome, host) in results {
            let notify = r.spec.notify.as_deref();
            let report = |action, status: String, diagnostic: Option<String>| RecipientReport {
                address: r.spec.address.clone(),
                orcpt: r.spec.orcpt.clone(),
                action,
                status,
                diagnostic,
                remote_mta: host.clone(),
            };
            match outcome {
                Outcome::Delivered {
                    reply,
                    dsn_passed_on,
                } => {
                    tracing::info!(service = "outbound", queue_id = %entry.id, to = %r.spec.address, "delivered: {reply}");
                    // RFC 3461 §4.1: a server without DSN cannot report success; we
                    // say "relayed" ourselves when the sender asked for SUCCESS.
                    if !dsn_passed_on && dsn::wanted(notify, Action::Relayed) && notify.is_some() {
                        relayed.push(report(Action::Relayed, "2.0.0".into(), Some(reply)));
                    }
                    updates.push(RecipientUpdate {
                        recipient: r.id,
                        state: RecipientState::Delivered,
                        next_attempt: None,
                        error: None,
                        delay_notified: r.delay_notified,
                    });
                }
                Outcome::Failed { status, reply } => {
                    tracing::info!(service = "outbound", queue_id = %entry.id, to = %r.spec.address, "failed: {reply}");
                    if dsn::wanted(notify, Action::Failed) {
                        failed.push(report(Action::Failed, status, Some(reply.clone())));
                    }
                    updates.push(RecipientUpdate {
                        recipient: r.id,
                        state: RecipientState::Failed,
                        next_attempt: None,
                        error: Some(reply),
                        delay_notified: r.delay_notified,
                    });
                }
                Outcome::Deferred { status, reply } if age >= self.max_age => {
                    let reason = format!(
                        "gave up after {}h in the queue; last error: {reply}",
                        age.as_secs() / 3600
                    );
                    tracing::info!(service = "outbound", queue_id = %entry.id, to = %r.spec.address, "expired: {reply}");
                    if dsn::wanted(notify, Action::Failed) {
                        // RFC 3463: a persistent transient failure becomes 5.x.y.
                        let status = format!("5{}", status.get(1..).unwrap_or(".4.7"));
                        failed.push(report(Action::Failed, status, Some(reason.clone())));
                    }
                    updates.push(RecipientUpdate {
                        recipient: r.id,
                        state: RecipientState::Failed,
                        next_attempt: None,
                        error: Some(reason),
                        delay_notified: r.delay_notified,
                    });
                }
                Outcome::Deferred { status, reply } => {
                    let wait = self.schedule[(r.attempts as usize).min(self.schedule.len() - 1)];
                    let expiry = entry.created.saturating_add(self.max_age.as_secs() as i64);
                    let next = ts
                        .saturating_add(wait.as_secs() as i64)
                        .min(expiry.max(ts + 1));
                    tracing::info!(service = "outbound", queue_id = %entry.id, to = %r.spec.address, next_in = next - ts, "deferred: {reply}");
                    let mut notified = r.delay_notified;
                    if !notified
                        && let Some(dw) = self.delay_warning
                        && age >= dw
                        && dsn::wanted(notify, Action::Delayed)
                    {
                        delayed.push(report(Action::Delayed, status, Some(reply.clone())));
                        notified = true;
                    }
                    updates.push(RecipientUpdate {
                        recipient: r.id,
                        state: RecipientState::Pending,
                        next_attempt: Some(next),
                        error: Some(reply),
                        delay_notified: notified,
                    });
                }
            }
        }
        for reports in [failed, delayed, relayed] {
            if !reports.is_empty() {
                self.send_dsn(entry, &reports, message, now).await?;
            }
        }
        self.store.queue_update(entry.id, updates).await
    }

    /// Builds and stores one DSN; never for the null sender (RFC 3461 §6.2, RFC 5321
    /// §4.5.5: no loops of bounces).
    async fn send_dsn(
        &self,
        entry: &QueueEntry,
        reports: &[RecipientReport],
        message: &[u8],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), wharf_store::Error> {
        let to = entry.envelope.sender.as_str();
        if to.is_empty() {
            tracing::info!(service = "outbound", queue_id = %entry.id, "no DSN: null sender");
            return Ok(());
        }
        let dsn = dsn::build(&dsn::Report {
            hostname: &self.hostname,
            to,
            envid: entry.envelope.envid.as_deref(),
            arrival: chrono::DateTime::from_timestamp(entry.created, 0).unwrap_or(now),
            now,
            recipients: reports,
            original: message,
            headers_only: entry
                .envelope
                .ret
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case("HDRS")),
        });
        self.send_from_null(to, dsn, now).await
    }

    /// Sends a message from `<>` to `to`: local mailboxes at once, anything else queued.
    async fn send_from_null(
        &self,
        to: &str,
        body: Vec<u8>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), wharf_store::Error> {
        let id = crate::trace::queue_id();
        let received = format!(
            "Received: by {} (Wharf) id {id}; {}\r\n",
            self.hostname,
            now.to_rfc2822()
        );
        let mut raw = received.into_bytes();
        raw.extend_from_slice(&body);
        let mut remote = Vec::new();
        match Address::parse(to) {
            Ok(addr) => match self.store.resolve(&addr).await? {
                Resolution::Local { accounts, forward } => {
                    if !accounts.is_empty() {
                        let mut local = b"Return-Path: <>\r\n".to_vec();
                        local.extend_from_slice(&raw);
                        let ids: Vec<_> = accounts.iter().map(|a| a.id).collect();
                        self.store
                            .deliver(
                                &ids,
                                NewMessage {
                                    raw: local,
                                    internal_date: None,
                                    flags: Default::default(),
                                    keywords: Vec::new(),
                                },
                            )
                            .await?;
                        tracing::info!(service = "outbound", to, queue_id = %id, "DSN delivered locally");
                    }
                    remote.extend(forward);
                }
                Resolution::NotLocal => remote.push(to.to_string()),
                Resolution::Unknown => {
                    tracing::warn!(service = "outbound", to, "DSN dropped: sender unknown here");
                }
            },
            Err(_) => remote.push(to.to_string()),
        }
        if !remote.is_empty() {
            let envelope = QueueEnvelope {
                sender: String::new(),
                recipients: remote
                    .into_iter()
                    .map(|address| QueueRecipientSpec {
                        address,
                        orcpt: None,
                        notify: None,
                    })
                    .collect(),
                ..Default::default()
            };
            self.store.queue_add(id, raw, envelope).await?;
            tracing::info!(service = "outbound", to, queue_id = %id, "DSN queued");
            kick();
        }
        Ok(())
    }
}
