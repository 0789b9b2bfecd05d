//! TLS server configuration: the operator's certificate, or a self-signed one generated
//! into the data directory on first start and reused after.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Where the TLS material comes from.
#[derive(Debug, Clone)]
pub enum TlsSource {
    /// PEM files given by the operator.
    Files { cert: PathBuf, key: PathBuf },
    /// A self-signed certificate for `hostname`, kept in `dir` (created if missing).
    SelfSigned { dir: PathBuf, hostname: String },
}

/// Builds an acceptor from the source, generating the self-signed pair if needed.
pub fn acceptor(source: &TlsSource) -> io::Result<TlsAcceptor> {
    let (cert_path, key_path) = match source {
        TlsSource::Files { cert, key } => (cert.clone(), key.clone()),
        TlsSource::SelfSigned { dir, hostname } => {
            let cert = dir.join("self-signed-cert.pem");
            let key = dir.join("self-signed-key.pem");
            if !cert.exists() || !key.exists() {
                generate_self_signed(dir, hostname, &cert, &key)?;
            }
            (cert, key)
        }
    };
    let certs = load_certs(&cert_path)?;
    let key = load_key(&key_path)?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| io::Error::other(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", cert_path.display()),
            )
        })?;
    // Session resumption (tickets and a cache): FTPS clients resume the control
    // connection's session on data connections.
    config.session_storage = tokio_rustls::rustls::server::ServerSessionMemoryCache::new(4096);
    config.ticketer = tokio_rustls::rustls::crypto::ring::Ticketer::new()
        .map_err(|e| io::Error::other(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
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

fn generate_self_signed(dir: &Path, hostname: &str, cert: &Path, key: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut names = vec![hostname.to_string()];
    if hostname != "localhost" {
        names.push("localhost".into());
    }
    let certified = rcgen::generate_simple_self_signed(names)
        .map_err(|e| io::Error::other(format!("generating a self-signed certificate: {e}")))?;
    write_private(key, certified.key_pair.serialize_pem().as_bytes())?;
    std::fs::write(cert, certified.cert.pem())?;
    tracing::info!(cert = %cert.display(), "generated a self-signed certificate for {hostname}");
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
