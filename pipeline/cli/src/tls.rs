//! TLS for the doors `lagoa serve` opens: the certificate and key of the
//! `[tls]` section, read again on SIGHUP (a renewed certificate takes
//! effect for new connections; open ones keep theirs), the rule that
//! plaintext stays on loopback unless `tls.allow_plaintext` says otherwise,
//! and [`TlsListener`], HTTPS for the console and the API.

use anyhow::{Context, Result, anyhow, bail};
use lagoa_lake::config::TlsConfig;
use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// The server's certificate, as last read from its files.
#[derive(Debug)]
pub(crate) struct Certificate {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Certificate {
    /// Reads the files `config` names; `None` when it names none.
    pub(crate) fn from_config(config: &TlsConfig) -> Result<Option<Arc<Self>>> {
        if !config.enabled() {
            return Ok(None);
        }
        if config.key_file.trim().is_empty() {
            bail!(
                "tls.cert_file is set but tls.key_file is not: name the certificate's private key"
            );
        }
        let (cert_file, key_file) = (
            PathBuf::from(config.cert_file.trim()),
            PathBuf::from(config.key_file.trim()),
        );
        let current = RwLock::new(Arc::new(load(&cert_file, &key_file)?));
        Ok(Some(Arc::new(Self {
            cert_file,
            key_file,
            current,
        })))
    }

    /// Reads the files again; on an error the certificate in use stays.
    pub(crate) fn reload(&self) -> Result<()> {
        let loaded = Arc::new(load(&self.cert_file, &self.key_file)?);
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = loaded;
        Ok(())
    }

    /// A server configuration that presents this certificate (as it is at
    /// each handshake), offering the application protocols `alpn`.
    pub(crate) fn server_config(self: &Arc<Self>, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        ))
    }
}

/// The chain and key in two PEM files, checked to belong together.
fn load(cert_file: &Path, key_file: &Path) -> Result<CertifiedKey> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .with_context(|| format!("tls.cert_file {}", cert_file.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| {
            format!(
                "tls.cert_file {}: not PEM certificates",
                cert_file.display()
            )
        })?;
    if chain.is_empty() {
        bail!(
            "tls.cert_file {}: no certificate in it",
            cert_file.display()
        );
    }
    // The key's file is named, never its content.
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|_| {
        anyhow!(
            "tls.key_file {}: no PEM private key in it",
            key_file.display()
        )
    })?;
    let signing = any_supported_type(&key).map_err(|_| {
        anyhow!(
            "tls.key_file {}: a key of a kind TLS cannot use",
            key_file.display()
        )
    })?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|_| {
        anyhow!(
            "tls.key_file {} is not the key of tls.cert_file {}",
            key_file.display(),
            cert_file.display()
        )
    })?;
    Ok(certified)
}

/// Refuses a door that would serve plaintext beyond loopback: an address
/// other than loopback, without a certificate, unless allowed.
pub(crate) fn check_plaintext(
    door: &str,
    address: std::net::SocketAddr,
    tls: &TlsConfig,
) -> Result<()> {
    if tls.enabled() || tls.allow_plaintext || address.ip().is_loopback() {
        return Ok(());
    }
    bail!(
        "{door} listens on {address}, beyond loopback, without TLS: set tls.cert_file and tls.key_file, or tls.allow_plaintext = true to send passwords and rows in clear"
    )
}

/// Reads the certificate again at every SIGHUP, for as long as the
/// process runs.
pub(crate) fn reload_on_hangup(certificate: Arc<Certificate>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: the TLS certificate is read at start only");
            return;
        };
        while hangups.recv().await.is_some() {
            match certificate.reload() {
                Ok(()) => tracing::info!("SIGHUP: the TLS certificate was read again"),
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "SIGHUP: the TLS certificate could not be read again; the one in use stays")
                }
            }
        }
    });
}

/// How long a client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A client's address on a TLS connection (the console and the API read
/// it as `ConnectInfo<SocketAddr>`, see [`peer_address`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Peer(std::net::SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, TlsListener>) -> Self {
        *stream.remote_addr()
    }
}

/// Puts a TLS connection's [`Peer`] where handlers look for a client's
/// address.
pub(crate) async fn peer_address(mut request: axum::extract::Request) -> axum::extract::Request {
    use axum::extract::ConnectInfo;
    if let Some(ConnectInfo(Peer(address))) =
        request.extensions().get::<ConnectInfo<Peer>>().copied()
    {
        request.extensions_mut().insert(ConnectInfo(address));
    }
    request
}

/// `Strict-Transport-Security` on every answer served over TLS: browsers
/// come back over HTTPS only, for a year.
pub(crate) async fn strict_transport(
    mut response: axum::response::Response,
) -> axum::response::Response {
    response.headers_mut().insert(
        axum::http::header::STRICT_TRANSPORT_SECURITY,
        axum::http::HeaderValue::from_static("max-age=31536000"),
    );
    response
}

/// TLS connections of a TCP listener, for `axum::serve`: each handshake
/// runs on its own task (bounded by [`HANDSHAKE_TIMEOUT`]), so a client
/// that never finishes one holds no other.
#[derive(Debug)]
pub(crate) struct TlsListener {
    accepted:
        tokio::sync::mpsc::Receiver<(tokio_rustls::server::TlsStream<tokio::net::TcpStream>, Peer)>,
    local: std::net::SocketAddr,
}

impl TlsListener {
    pub(crate) fn new(
        listener: tokio::net::TcpListener,
        config: Arc<rustls::ServerConfig>,
    ) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let (sender, accepted) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (socket, address) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting an HTTPS connection failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (handshake, ready) = (acceptor.clone(), sender.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake.accept(socket)).await {
                        Ok(Ok(stream)) => {
                            let _ = ready.send((stream, Peer(address))).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(peer = %address, error = %e, "a TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(peer = %address, "a TLS handshake took too long"),
                    }
                });
                if sender.is_closed() {
                    break;
                }
            }
        });
        Ok(Self { accepted, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(accepted) => accepted,
            // The accepting task only ends once this listener is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(Peer(self.local))
    }
}
