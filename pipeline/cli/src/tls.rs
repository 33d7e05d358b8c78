//! TLS for the doors `lagoa serve` opens: the certificate and key of the
//! `[tls]` section, read again on SIGHUP (a renewed certificate takes
//! effect for new connections; open ones keep theirs), and the rule that
//! plaintext stays on loopback unless `tls.allow_plaintext` says otherwise.

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
    /// each handshake).
    pub(crate) fn server_config(self: &Arc<Self>) -> Arc<rustls::ServerConfig> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
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
