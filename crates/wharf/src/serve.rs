//! `wharf serve`: opens the store, binds every configured listener, hands connections to
//! the protocol services, and on SIGTERM/SIGINT stops accepting and waits for sessions.

use crate::config::Config;
use anyhow::{Context, Result};
use std::sync::Arc;
use std::time::Duration;
use wharf_net::tls::TlsSource;
use wharf_net::{AuthThrottle, IpLimiter, ListenOptions, Service, Shutdown, ThrottleSettings};
use wharf_store::files::{FileArea, LocalFileArea};
use wharf_store::{DynStore, SqliteStore};

/// How a listener key maps onto a service: which service, and whether TLS starts at
/// once (implicit TLS, RFC 8314) or by upgrade.
struct Wiring {
    service: Arc<dyn Service>,
    implicit_tls: bool,
}

/// The service behind a `[listen]` key, or `None` if it is not built yet.
fn wiring(
    name: &str,
    config: &Config,
    store: &DynStore,
    files: &Option<Arc<dyn FileArea>>,
    hooks: &wharf_smtp::Hooks,
) -> Option<Wiring> {
    let host = config.hostname.clone();
    let smtp = |mode| {
        wharf_smtp::Server::with_hooks(
            store.clone(),
            config.hostname.clone(),
            config.smtp.clone(),
            mode,
            config.submission.clone(),
            hooks.clone(),
        )
    };
    let (service, implicit_tls): (Arc<dyn Service>, bool) = match name {
        "smtp" => (smtp(wharf_smtp::Mode::Exchanger), false),
        "submission" | "submissions" => (smtp(wharf_smtp::Mode::Submission), name == "submissions"),
        "pop3" | "pop3s" => (
            wharf_pop3::Server::new(store.clone(), host, config.pop3.clone()),
            name == "pop3s",
        ),
        "imap" | "imaps" => (
            wharf_imap::Server::new(store.clone(), host, config.imap.clone()),
            name == "imaps",
        ),
        "ftp" | "ftps" => (
            wharf_ftp::Server::new(store.clone(), files.clone()?, host, config.ftp.clone()),
            name == "ftps",
        ),
        _ => return None,
    };
    Some(Wiring {
        service: Arc::new(Named {
            name: listen_key(name)?,
            inner: service,
        }),
        implicit_tls,
    })
}

/// The `[listen]` key as a `'static` name (the keys are a fixed set).
fn listen_key(name: &str) -> Option<&'static str> {
    crate::config::Listen::default()
        .entries()
        .iter()
        .map(|(k, _)| *k)
        .find(|k| *k == name)
}

/// A service under the name of its `[listen]` key, so that the `listening`,
/// `connected` and `disconnected` lines of one port all say the same thing (`imaps`,
/// `submissions`), not the protocol's shared name.
struct Named {
    name: &'static str,
    inner: Arc<dyn Service>,
}

#[async_trait::async_trait]
impl Service for Named {
    fn name(&self) -> &'static str {
        self.name
    }
    fn busy_reply(&self) -> &'static [u8] {
        self.inner.busy_reply()
    }
    fn server_busy_reply(&self) -> &'static [u8] {
        self.inner.server_busy_reply()
    }
    async fn handle(&self, conn: wharf_net::Conn, shutdown: wharf_net::ShutdownSignal) {
        self.inner.handle(conn, shutdown).await
    }
}

/// `[limits]` copied into the protocol sections that keep their own copy (the
/// per-account throttle of submission, the IMAP login timeout for embedders).
fn with_shared_limits(mut config: Config) -> Config {
    let l = &config.limits;
    config.submission.max_auth_failures_per_ip = l.max_auth_failures_per_ip;
    config.submission.max_auth_failures_per_account = l.max_auth_failures_per_account;
    config.submission.auth_failure_window_secs = l.auth_failure_window_secs;
    config.submission.auth_failure_delay_ms = l.auth_failure_delay_ms;
    config.pop3.max_auth_failures_per_ip = l.max_auth_failures_per_ip;
    config.pop3.auth_failure_window_secs = l.auth_failure_window_secs;
    config.pop3.auth_failure_delay_ms = l.auth_failure_delay_ms;
    config.imap.login_timeout_secs = l.login_timeout_secs;
    config
}

pub async fn serve(config: Config) -> Result<()> {
    let config = with_shared_limits(config);
    // Signal handlers first: a SIGTERM that arrives right after "ready" must stop us
    // gracefully, not kill us.
    let stop = stop_signal()?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    crate::config::ensure_data_dir(&config, true)?;
    // Held until the process exits: one server per data directory.
    let _lock = lock_data_dir(&config.data_dir)?;
    let sqlite = SqliteStore::open(&config.data_dir)
        .with_context(|| format!("opening the store in {}", config.data_dir.display()))?;
    // The free-space reserve (new mail and uploads stop there; deletes go on) and the
    // store's upkeep (orphaned bodies swept in the background): `serve` only.
    let min_free = config
        .limits
        .min_free_space
        .unwrap_or_else(|| wharf_store::default_min_free(&config.data_dir));
    sqlite.set_min_free_space(min_free);
    sqlite.start_maintenance();
    let store: DynStore = sqlite;
    if std::env::var_os("WHARF_LOG").is_none()
        && let Some(level) = &config.log_level
    {
        crate::set_log_level(&log_directive(level))
            .map_err(|e| anyhow::anyhow!("key `log_level`: {e}"))?;
    }
    let (acceptor, certs) =
        wharf_net::tls::reloadable_acceptor(&tls_source(&config)).context("setting up TLS")?;
    // The FTP file area: one home per account under data_dir/files.
    let files: Option<Arc<dyn FileArea>> = if [&config.listen.ftp, &config.listen.ftps]
        .iter()
        .any(|l| l.as_ref().is_some_and(|a| !a.is_empty()))
    {
        let area = LocalFileArea::new(config.data_dir.join("files"))
            .with_context(|| format!("creating {}", config.data_dir.join("files").display()))?;
        area.set_min_free(min_free);
        Some(area)
    } else {
        None
    };
    let hooks =
        crate::mailauth::hooks(&config.data_dir, &config.mailauth, &config.dns.nameservers)?;
    let shutdown = Shutdown::new();
    let limits = &config.limits;
    let secs = |s: u64| (s > 0).then(|| Duration::from_secs(s));
    let limiter = IpLimiter::configured(
        limits.max_connections_per_ip,
        limits.max_connections,
        secs(limits.line_timeout_secs),
        secs(limits.login_timeout_secs),
    );
    // The one login throttle: installed before any service is built, so every protocol
    // shares it (one failure budget per client, not one per protocol).
    AuthThrottle::install(ThrottleSettings {
        max_failures: limits.max_auth_failures_per_ip,
        window: Duration::from_secs(limits.auth_failure_window_secs),
        delay_step: Duration::from_millis(limits.auth_failure_delay_ms),
        max_tracked: limits.max_tracked_clients,
        concurrent_logins: limits.max_concurrent_logins,
    });
    wharf_store::set_auth_cache_ttl(Duration::from_secs(config.limits.auth_cache_secs));

    let mut tasks = Vec::new();
    for (name, addrs) in config.listen.entries() {
        let Some(addrs) = addrs else { continue };
        if addrs.is_empty() {
            continue;
        }
        let Some(w) = wiring(name, &config, &store, &files, &hooks) else {
            println!("wharf: {name} is not implemented yet; not started");
            continue;
        };
        let options = ListenOptions {
            implicit_tls: w.implicit_tls.then(|| acceptor.clone()),
            starttls: (!w.implicit_tls).then(|| acceptor.clone()),
            limiter: limiter.clone(),
        };
        for addr in addrs {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("listen.{name}: cannot listen on {addr}"))?;
            let local = listener.local_addr()?;
            println!("wharf: {name} listening on {local}");
            tracing::info!(service = name, %local, "listening");
            tasks.push(tokio::spawn(wharf_net::serve(
                listener,
                w.service.clone(),
                options.clone(),
                shutdown.signal(),
            )));
        }
    }
    // The outbound queue worker always runs: whatever is queued (submission, or left
    // from before a restart) gets delivered.
    let (worker, outbound) = wharf_smtp::outbound::Worker::spawn_with_handle(
        store.clone(),
        config.hostname.clone(),
        config.outbound.clone(),
        config.dns.clone(),
        shutdown.signal(),
    )
    .map_err(|e| anyhow::anyhow!("starting outbound delivery: {e}"))?;
    println!("wharf: ready (data in {})", config.data_dir.display());

    // Until SIGTERM/SIGINT: SIGHUP reloads, and a renewed certificate file (a changed
    // modification time) is picked up within CERT_CHECK.
    tokio::pin!(stop);
    let mut cert_check = tokio::time::interval(CERT_CHECK);
    cert_check.tick().await;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = hup.recv() => reload(&config, &certs, &limiter, &outbound),
            _ = cert_check.tick() => match certs.reload_if_changed() {
                Ok(true) => tracing::info!("TLS certificate files changed: reloaded the certificate"),
                Ok(false) => {}
                Err(e) => tracing::error!("TLS certificate files changed but cannot be loaded, keeping the old certificate: {e}"),
            },
        }
    }
    tracing::info!("shutting down: no new connections; waiting for sessions to finish");
    shutdown.trigger();
    for t in tasks {
        let _ = t.await;
    }
    let grace = Duration::from_secs(config.limits.shutdown_grace_secs);
    // Deliveries in flight record their outcome first; one that would outlast the grace
    // period stays pending in the queue and is tried again after the restart.
    if tokio::time::timeout(grace, worker).await.is_err() {
        tracing::warn!("outbound deliveries still running after the grace period");
    }
    let left = shutdown.wait(grace).await;
    if left > 0 {
        tracing::warn!("{left} sessions still running after the grace period; exiting");
    }
    println!("wharf: stopped");
    Ok(())
}

/// `log_level` as a filter: rustls's warning about an IP address sent as SNI (the
/// client's doing, nothing to act on) stays below it unless the directive names rustls.
fn log_directive(level: &str) -> String {
    if level.contains("rustls") {
        level.to_string()
    } else {
        format!("{level},rustls::msgs::handshake=error")
    }
}

/// How often `serve` looks at the certificate files' modification times.
const CERT_CHECK: Duration = Duration::from_secs(30);

/// Where the TLS certificate comes from: `[tls]`, or a self-signed one for the hostname
/// and the listeners' IP addresses.
fn tls_source(config: &Config) -> TlsSource {
    match (&config.tls.cert, &config.tls.key) {
        (Some(cert), Some(key)) => TlsSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        _ => {
            let mut ips: Vec<std::net::IpAddr> = config
                .listen
                .entries()
                .iter()
                .flat_map(|(_, a)| a.iter().flatten())
                .filter_map(|a| a.parse::<std::net::SocketAddr>().ok())
                .map(|a| a.ip())
                .collect();
            ips.sort();
            ips.dedup();
            TlsSource::SelfSignedFor {
                dir: config.data_dir.join("tls"),
                hostname: config.hostname.clone(),
                ips,
            }
        }
    }
}

/// SIGHUP: reads the configuration again and applies what can change live (the TLS
/// certificate of every listener, the connection limits, outbound routes, the log level); logs what it
/// did, and what only a restart applies. An invalid configuration is logged and the
/// running one kept.
fn reload(
    running: &Config,
    certs: &wharf_net::tls::CertStore,
    limiter: &IpLimiter,
    outbound: &wharf_smtp::outbound::Worker,
) {
    tracing::info!("SIGHUP: reloading the configuration");
    let new = match crate::config::reload() {
        Ok(c) => with_shared_limits(c),
        Err(e) => {
            let msg = format!("{e:#}").replace('\n', " ");
            tracing::error!("SIGHUP: the configuration is invalid, keeping the running one: {msg}");
            return;
        }
    };
    match certs.reload(&tls_source(&new)) {
        Ok(()) => tracing::info!("SIGHUP: reloaded the TLS certificate"),
        Err(e) => tracing::error!("SIGHUP: TLS certificate not reloaded, keeping the old one: {e}"),
    }
    let l = &new.limits;
    limiter.set_limits(l.max_connections_per_ip, l.max_connections);
    tracing::info!(
        max_connections_per_ip = l.max_connections_per_ip,
        max_connections = l.max_connections,
        "SIGHUP: connection limits applied"
    );
    match outbound.set_routing(&new.outbound) {
        Ok(()) => tracing::info!(
            routes = new.outbound.routes.len(),
            smarthost = new.outbound.smarthost.as_deref().unwrap_or("-"),
            "SIGHUP: outbound routes applied"
        ),
        Err(e) => tracing::error!("SIGHUP: outbound routes not applied, keeping the old ones: {e}"),
    }
    if std::env::var_os("WHARF_LOG").is_none() {
        let level = new.log_level.as_deref().unwrap_or("info");
        match crate::set_log_level(&log_directive(level)) {
            Ok(()) => tracing::info!("SIGHUP: log level {level}"),
            Err(e) => tracing::error!("SIGHUP: log level {level:?} not applied: {e}"),
        }
    }
    // Everything else is wired into running services: say what waits for a restart.
    let mut later = Vec::new();
    let mut differs = |name: &str, a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| {
        if format!("{a:?}") != format!("{b:?}") {
            later.push(name.to_string());
        }
    };
    differs("hostname", &running.hostname, &new.hostname);
    differs("data_dir", &running.data_dir, &new.data_dir);
    differs("listen", &running.listen, &new.listen);
    let other_limits = |l: &crate::config::Limits| {
        let mut l = l.clone();
        (l.max_connections_per_ip, l.max_connections) = (0, 0);
        format!("{l:?}")
    };
    differs(
        "limits (other than connection counts)",
        &other_limits(&running.limits),
        &other_limits(&new.limits),
    );
    differs("smtp", &running.smtp, &new.smtp);
    differs("submission", &running.submission, &new.submission);
    let other_outbound = |o: &wharf_smtp::OutboundConfig| {
        let mut o = o.clone();
        o.routes.clear();
        o.smarthost = None;
        o.port = 0;
        format!("{o:?}")
    };
    differs(
        "outbound (other than routes, smarthost, port)",
        &other_outbound(&running.outbound),
        &other_outbound(&new.outbound),
    );
    differs("dns", &running.dns, &new.dns);
    differs("mailauth", &running.mailauth, &new.mailauth);
    differs("pop3", &running.pop3, &new.pop3);
    differs("imap", &running.imap, &new.imap);
    differs("ftp", &running.ftp, &new.ftp);
    if !later.is_empty() {
        tracing::warn!(
            "SIGHUP: changes to {} take effect at the next restart",
            later.join(", ")
        );
    }
}

/// Installs the SIGTERM/SIGINT handlers now; the returned future resolves on either.
fn stop_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// Takes the exclusive lock (flock) on `data_dir/serve.lock` for the life of the process,
/// so that a second `wharf serve` on the same data directory is refused (two servers
/// would both deliver the outbound queue). Directory commands do not take it: they work
/// beside the running server. The lock goes with the process, even after `kill -9`.
fn lock_data_dir(dir: &std::path::Path) -> Result<std::fs::File> {
    use std::io::Write;
    let path = dir.join("serve.lock");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let pid = std::fs::read_to_string(&path).unwrap_or_default();
            anyhow::bail!(
                "another wharf serve (pid {}) is already running on data_dir {} (it holds {}); refusing to start a second one",
                pid.trim(),
                dir.display(),
                path.display()
            );
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()));
        }
    }
    file.set_len(0)?;
    writeln!(file, "{}", std::process::id())?;
    Ok(file)
}
