//! `wharf serve`: opens the store, binds every configured listener, hands connections to
//! the protocol services, and on SIGTERM/SIGINT stops accepting and waits for sessions.

use crate::config::Config;
use anyhow::{Context, Result};
use std::sync::Arc;
use std::time::Duration;
use wharf_net::tls::TlsSource;
use wharf_net::{IpLimiter, ListenOptions, Service, Shutdown};
use wharf_store::{DynStore, SqliteStore};

/// How a listener key maps onto a service: which service, and whether TLS starts at
/// once (implicit TLS, RFC 8314) or by upgrade.
struct Wiring {
    service: Arc<dyn Service>,
    implicit_tls: bool,
}

/// The service behind a `[listen]` key, or `None` if it is not built yet.
fn wiring(name: &str, config: &Config, store: &DynStore) -> Option<Wiring> {
    let _ = (config, store);
    let (service, implicit_tls): (Arc<dyn Service>, bool) = match name {
        _ => return None,
    };
    #[allow(unreachable_code)]
    Some(Wiring {
        service,
        implicit_tls,
    })
}

pub async fn serve(config: Config) -> Result<()> {
    let store: DynStore = SqliteStore::open(&config.data_dir)
        .with_context(|| format!("opening the store in {}", config.data_dir.display()))?;
    let source = match (&config.tls.cert, &config.tls.key) {
        (Some(cert), Some(key)) => TlsSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        _ => TlsSource::SelfSigned {
            dir: config.data_dir.join("tls"),
            hostname: config.hostname.clone(),
        },
    };
    let acceptor = wharf_net::tls::acceptor(&source).context("setting up TLS")?;
    let shutdown = Shutdown::new();
    let limiter = IpLimiter::new(config.limits.max_connections_per_ip);

    let mut tasks = Vec::new();
    for (name, addrs) in config.listen.entries() {
        let Some(addrs) = addrs else { continue };
        if addrs.is_empty() {
            continue;
        }
        let Some(w) = wiring(name, &config, &store) else {
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
    println!("wharf: ready (data in {})", config.data_dir.display());

    wait_for_signal().await?;
    tracing::info!("shutting down: no new connections; waiting for sessions to finish");
    shutdown.trigger();
    for t in tasks {
        let _ = t.await;
    }
    let left = shutdown
        .wait(Duration::from_secs(config.limits.shutdown_grace_secs))
        .await;
    if left > 0 {
        tracing::warn!("{left} sessions still running after the grace period; exiting");
    }
    println!("wharf: stopped");
    Ok(())
}

async fn wait_for_signal() -> Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await?;
    Ok(())
}
