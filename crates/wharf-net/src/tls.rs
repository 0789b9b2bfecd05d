//! TLS server configuration: the operator's certificate, or a self-signed one generated
//! into the data directory on first start and reused after.
//!
//! The certificate is behind a [`CertStore`] that every acceptor (and every FTPS data
//! connection's copy of it) asks at each handshake, so a renewed certificate is served
//! to new connections without a restart: `wharf serve` reloads it on SIGHUP and when the
//! files' modification times change.

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

pub use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

/// Where the TLS material comes from.
#[derive(Debug, Clone)]
pub enum TlsSource {
    /// PEM files given by the operator.
    Files { cert: PathBuf, key: PathBuf },
    /// A self-signed certificate for `hostname`, kept in `dir` (created if missing).
    SelfSigned { dir: PathBuf, hostname: String },
    /// A self-signed certificate for `hostname` and the IP addresses `ips` (the
    /// listeners'), so that clients connecting by address can verify it once they trust
    /// it. Regenerated when the set of names changes.
    SelfSignedFor {
        dir: PathBuf,
        hostname: String,
        ips: Vec<IpAddr>,
    },
}

impl TlsSource {
    /// The certificate and key files, generating the self-signed pair if needed.
    pub fn files(&self) -> io::Result<(PathBuf, PathBuf)> {
        let (dir, hostname, ips) = match self {
            TlsSource::Files { cert, key } => return Ok((cert.clone(), key.clone())),
            TlsSource::SelfSigned { dir, hostname } => (dir, hostname, &[][..]),
            TlsSource::SelfSignedFor { dir, hostname, ips } => (dir, hostname, &ips[..]),
        };
        let cert = dir.join("self-signed-cert.pem");
        let key = dir.join("self-signed-key.pem");
        let names = self_signed_names(hostname, ips);
        let names_file = dir.join("self-signed-names");
        let recorded = std::fs::read_to_string(&names_file).ok();
        // Plain `SelfSigned` keeps whatever is there; `SelfSignedFor` wants its names.
        let stale = matches!(self, TlsSource::SelfSignedFor { .. })
            && recorded.as_deref() != Some(names.join("\n").as_str());
        if !cert.exists() || !key.exists() || stale {
            generate_self_signed(dir, &names, &cert, &key)?;
            std::fs::write(&names_file, names.join("\n"))?;
        }
        Ok((cert, key))
    }
}

/// The certificate every handshake gets; [`CertStore::reload`] swaps it for new
/// connections (sessions already running keep theirs).
#[derive(Debug)]
pub struct CertStore {
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// The source last loaded and its files' modification times.
    loaded: Mutex<(TlsSource, Option<(SystemTime, SystemTime)>)>,
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

impl CertStore {
    fn open(source: &TlsSource, provider: Arc<CryptoProvider>) -> io::Result<CertStore> {
        let (key, mtimes) = load_certified(source, &provider)?;
        Ok(CertStore {
            provider,
            current: RwLock::new(Arc::new(key)),
            loaded: Mutex::new((source.clone(), mtimes)),
        })
    }

    /// Loads `source` (the same or a new one) and serves it from the next handshake on.
    /// On any error (unreadable file, key not matching the certificate) the certificate
    /// in use stays.
    pub fn reload(&self, source: &TlsSource) -> io::Result<()> {
        let (key, mtimes) = load_certified(source, &self.provider)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(key);
        *self.loaded.lock().unwrap_or_else(|e| e.into_inner()) = (source.clone(), mtimes);
        Ok(())
    }

    /// Reloads the current source if its files' modification times changed (a renewed
    /// certificate); `Ok(true)` if it did.
    pub fn reload_if_changed(&self) -> io::Result<bool> {
        let (source, mtimes) = self
            .loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let TlsSource::Files { cert, key } = &source else {
            return Ok(false);
        };
        if file_mtimes(cert, key) == mtimes {
            return Ok(false);
        }
        self.reload(&source)?;
        Ok(true)
    }
}

fn file_mtimes(cert: &Path, key: &Path) -> Option<(SystemTime, SystemTime)> {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Some((m(cert)?, m(key)?))
}

type Loaded = (CertifiedKey, Option<(SystemTime, SystemTime)>);

fn load_certified(source: &TlsSource, provider: &CryptoProvider) -> io::Result<Loaded> {
    let (cert_path, key_path) = source.files()?;
    // Times first: a file replaced while we read it is read again at the next check.
    let mtimes = file_mtimes(&cert_path, &key_path);
    let certs = load_certs(&cert_path)?;
    let key = load_key(&key_path)?;
    let certified = CertifiedKey::from_der(certs, key, provider).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} with {}: {e}", cert_path.display(), key_path.display()),
        )
    })?;
    Ok((certified, mtimes))
}

/// Checks that a certificate and key file can be read and belong together (what
/// `wharf config check` asks before `serve` needs it).
pub fn check_files(cert: &Path, key: &Path) -> io::Result<()> {
    let provider = tokio_rustls::rustls::crypto::ring::default_provider();
    let source = TlsSource::Files {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
    };
    load_certified(&source, &provider).map(|_| ())
}

/// Builds an acceptor from the source, generating the self-signed pair if needed.
pub fn acceptor(source: &TlsSource) -> io::Result<TlsAcceptor> {
    Ok(reloadable_acceptor(source)?.0)
}

/// Like [`acceptor`], with the [`CertStore`] that swaps its certificate.
pub fn reloadable_acceptor(source: &TlsSource) -> io::Result<(TlsAcceptor, Arc<CertStore>)> {
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let store = Arc::new(CertStore::open(source, provider.clone())?);
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| io::Error::other(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(store.clone());
    // Session resumption (tickets and a cache): FTPS clients resume the control
    // connection's session on data connections.
    config.session_storage = tokio_rustls::rustls::server::ServerSessionMemoryCache::new(4096);
    config.ticketer = tokio_rustls::rustls::crypto::ring::Ticketer::new()
        .map_err(|e| io::Error::other(e.to_string()))?;
    Ok((TlsAcceptor::from(Arc::new(config)), store))
}

/// The self-signed certificate's names: the hostname, `localhost`, and the addresses.
fn self_signed_names(hostname: &str, ips: &[IpAddr]) -> Vec<String> {
    let mut names = vec![hostname.to_string()];
    if hostname != "localhost" {
        names.push("localhost".into());
    }
    for ip in ips {
        let s = ip.to_string();
        if !ip.is_unspecified() && !names.contains(&s) {
            names.push(s);
        }
    }
    names
}

/// The same TLS setup for secondary connections that resume the main one's session
/// (FTPS data connections, RFC 4217 §10), but sending no TLS 1.3 session tickets.
///
/// An uploading client never reads its data connection; tickets it did not read make
/// its kernel answer the close with a reset, which can cut off the end of the upload
/// (seen with curl on implicit FTPS). Such connections never need tickets of their own:
/// they resume from the control connection's, through the shared cache and ticketer.
pub fn for_data_connections(acceptor: &TlsAcceptor) -> TlsAcceptor {
    let mut config = (**acceptor.config()).clone();
    config.send_tls13_tickets = 0;
    TlsAcceptor::from(Arc::new(config))
}

fn generate_self_signed(dir: &Path, names: &[String], cert: &Path, key: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    // rcgen makes an IP-address SAN of every name that parses as an address.
    let certified = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|e| io::Error::other(format!("generating a self-signed certificate: {e}")))?;
    write_private(key, certified.key_pair.serialize_pem().as_bytes())?;
    std::fs::write(cert, certified.cert.pem())?;
    tracing::info!(cert = %cert.display(), "generated a self-signed certificate for {}", names.join(", "));
    Ok(())
}

fn write_private(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

fn load_certs(path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let data = std::fs::read(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut data.as_slice()).collect::<Result<_, _>>()?;
    if certs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: no certificate found", path.display()),
        ));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> io::Result<PrivateKeyDer<'static>> {
    let data = std::fs::read(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    rustls_pemfile::private_key(&mut data.as_slice())?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: no private key found", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_is_generated_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let src = TlsSource::SelfSigned {
            dir: dir.path().to_path_buf(),
            hostname: "mx.example.test".into(),
        };
        acceptor(&src).unwrap();
        let first = std::fs::read(dir.path().join("self-signed-cert.pem")).unwrap();
        acceptor(&src).unwrap();
        let second = std::fs::read(dir.path().join("self-signed-cert.pem")).unwrap();
        assert_eq!(first, second);
    }

    #[test]
    fn self_signed_names_the_listen_addresses_and_is_remade_when_they_change() {
        let dir = tempfile::tempdir().unwrap();
        let src = |ips: &[&str]| TlsSource::SelfSignedFor {
            dir: dir.path().to_path_buf(),
            hostname: "mx.example.test".into(),
            ips: ips.iter().map(|i| i.parse().unwrap()).collect(),
        };
        acceptor(&src(&["127.0.0.1", "0.0.0.0"])).unwrap();
        let names = std::fs::read_to_string(dir.path().join("self-signed-names")).unwrap();
        // 0.0.0.0 is no address a client connects to.
        assert_eq!(names, "mx.example.test\nlocalhost\n127.0.0.1");
        let first = std::fs::read(dir.path().join("self-signed-cert.pem")).unwrap();
        acceptor(&src(&["127.0.0.1"])).unwrap();
        let same = std::fs::read(dir.path().join("self-signed-cert.pem")).unwrap();
        assert_eq!(first, same, "same names: the certificate is kept");
        acceptor(&src(&["127.0.0.1", "192.0.2.7"])).unwrap();
        let other = std::fs::read(dir.path().join("self-signed-cert.pem")).unwrap();
        assert_ne!(first, other, "a new address: the certificate is remade");
    }

    #[test]
    fn a_reload_with_a_mismatched_key_keeps_the_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        let src = |d: &std::path::Path| TlsSource::SelfSigned {
            dir: d.to_path_buf(),
            hostname: "mx.example.test".into(),
        };
        let (_, store) = reloadable_acceptor(&src(&a)).unwrap();
        src(&b).files().unwrap();
        let before = store.current.read().unwrap().cert.clone();
        let mixed = TlsSource::Files {
            cert: b.join("self-signed-cert.pem"),
            key: a.join("self-signed-key.pem"),
        };
        assert!(store.reload(&mixed).is_err());
        assert_eq!(store.current.read().unwrap().cert, before);
        let good = TlsSource::Files {
            cert: b.join("self-signed-cert.pem"),
            key: b.join("self-signed-key.pem"),
        };
        store.reload(&good).unwrap();
        assert_ne!(store.current.read().unwrap().cert, before);
    }

    #[test]
    fn missing_files_name_the_path() {
        let err = acceptor(&TlsSource::Files {
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
        })
        .err()
        .unwrap();
        assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");
    }
}
