//! Mutual TLS among the members of a cluster: the query services, the
//! scheduler and the executors. Plans, release tickets and decrypted rows
//! cross the cluster's network; with `[cluster]`'s certificate authority,
//! certificate and key, every connection is encrypted and every member
//! proves it holds a certificate the cluster's authority signed, the client
//! as well as the server. A connection without one is refused before a
//! single request is read: no plan reaches the scheduler, no shuffle file
//! or result leaves an executor.
//!
//! Without them, the cluster stays on loopback unless
//! `cluster.allow_plaintext` says otherwise ([`refuse_plaintext_beyond_loopback`]).

use crate::ClusterError;
use ballista_core::extension::EndpointOverrideFn;
use lagoa_lake::config::ClusterConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig, Uri};

/// A handshake that has not finished by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// This member's identity and the authority it trusts, as `[cluster]`
/// names them.
#[derive(Clone)]
pub struct ClusterTls {
    authority: Certificate,
    identity: Identity,
}

impl std::fmt::Debug for ClusterTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterTls")
    }
}

impl ClusterTls {
    /// Reads the files `config` names; `None` when it names none.
    pub fn from_config(config: &ClusterConfig) -> Result<Option<Arc<Self>>, ClusterError> {
        if !config.tls_enabled() {
            return Ok(None);
        }
        let authority = read_certificates("cluster.ca_file", Path::new(config.ca_file.trim()))?;
        let chain = read_certificates("cluster.cert_file", Path::new(config.cert_file.trim()))?;
        let key = read_key(Path::new(config.key_file.trim()))?;
        Ok(Some(Arc::new(ClusterTls {
            authority: Certificate::from_pem(authority),
            identity: Identity::from_pem(chain, key),
        })))
    }

    /// What a member's servers (the scheduler's gRPC, an executor's
    /// Arrow Flight) present, and the client certificate they require.
    pub fn server(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(self.identity.clone())
            .client_ca_root(self.authority.clone())
            .timeout(HANDSHAKE_TIMEOUT)
    }

    /// What a member presents when it connects, and the only authority it
    /// trusts (no system roots).
    fn client(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(self.authority.clone())
            .identity(self.identity.clone())
            .timeout(HANDSHAKE_TIMEOUT)
    }

    /// Turns each of Ballista's outgoing connections (to the scheduler, to
    /// an executor's Flight service) into a mutual TLS one. Ballista names
    /// some of them `http://` whatever its TLS setting; those are named
    /// again as `https://`, with the settings Ballista gives its own.
    pub fn endpoint_override(self: &Arc<Self>) -> EndpointOverrideFn {
        let client = self.client();
        Arc::new(move |endpoint: Endpoint| {
            let endpoint = if endpoint.uri().scheme_str() == Some("https") {
                endpoint
            } else {
                secure_twin(endpoint.uri())?
            };
            Ok(endpoint.tls_config(client.clone())?)
        })
    }
}

/// `uri` as an `https` endpoint, with the connection settings of
/// Ballista's `create_grpc_client_endpoint` (no request timeout: a
/// partition's rows may take longer than any fixed one).
fn secure_twin(uri: &Uri) -> Result<Endpoint, Box<dyn std::error::Error + Send + Sync>> {
    let mut parts = uri.clone().into_parts();
    parts.scheme = Some(tonic::codegen::http::uri::Scheme::HTTPS);
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(tonic::codegen::http::uri::PathAndQuery::from_static("/"));
    }
    let uri = Uri::from_parts(parts)?;
    Ok(Endpoint::from(uri)
        .connect_timeout(Duration::from_secs(20))
        .tcp_nodelay(true)
        .tcp_keepalive(Some(Duration::from_secs(3600)))
        .http2_keep_alive_interval(Duration::from_secs(300))
        .keep_alive_timeout(Duration::from_secs(20))
        .keep_alive_while_idle(true)
        .initial_connection_window_size(Some(64 << 20))
        .initial_stream_window_size(Some(16 << 20)))
}

/// A PEM file's certificates, checked to be there and readable; the
/// file's text as tonic takes it.
fn read_certificates(option: &str, path: &Path) -> Result<Vec<u8>, ClusterError> {
    let shown = path.display();
    let text =
        std::fs::read(path).map_err(|e| ClusterError::Tls(format!("{option} {shown}: {e}")))?;
    let mut found = 0usize;
    for certificate in CertificateDer::pem_slice_iter(&text) {
        certificate.map_err(|e| {
            ClusterError::Tls(format!("{option} {shown}: not a PEM certificate ({e})"))
        })?;
        found += 1;
    }
    if found == 0 {
        return Err(ClusterError::Tls(format!(
            "{option} {shown} holds no PEM certificate"
        )));
    }
    Ok(text)
}

/// The private key's PEM file, checked to hold a key.
fn read_key(path: &Path) -> Result<Vec<u8>, ClusterError> {
    let shown = path.display();
    let text = std::fs::read(path)
        .map_err(|e| ClusterError::Tls(format!("cluster.key_file {shown}: {e}")))?;
    PrivateKeyDer::from_pem_slice(&text).map_err(|_| {
        ClusterError::Tls(format!(
            "cluster.key_file {shown} holds no private key (PEM: PKCS#8, PKCS#1 or SEC1)"
        ))
    })?;
    Ok(text)
}

/// Without TLS, the cluster's traffic (plans, release tickets, decrypted
/// rows) is in clear: every address it uses must be on loopback, unless
/// `cluster.allow_plaintext`.
pub fn refuse_plaintext_beyond_loopback(
    tls: Option<&Arc<ClusterTls>>,
    config: &ClusterConfig,
    addresses: &[SocketAddr],
) -> Result<(), ClusterError> {
    if tls.is_some() || config.allow_plaintext {
        return Ok(());
    }
    match addresses.iter().find(|a| !a.ip().is_loopback()) {
        None => Ok(()),
        Some(address) => Err(ClusterError::Tls(format!(
            "{address} is beyond loopback and the cluster has no TLS: plans, release tickets and decrypted rows would cross the network in clear. Set cluster.ca_file, cluster.cert_file and cluster.key_file (docs/cluster.md), or cluster.allow_plaintext = true on a network you trust"
        ))),
    }
}

/// The scheme a member's clients name the others with.
pub fn scheme(tls: Option<&Arc<ClusterTls>>) -> &'static str {
    if tls.is_some() { "https" } else { "http" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(allow_plaintext: bool) -> ClusterConfig {
        ClusterConfig {
            allow_plaintext,
            ..ClusterConfig::default()
        }
    }

    #[test]
    fn plaintext_stays_on_loopback_unless_allowed() {
        let local: SocketAddr = "127.0.0.1:50050".parse().expect("address");
        let outside: SocketAddr = "10.0.0.7:50050".parse().expect("address");
        refuse_plaintext_beyond_loopback(None, &config(false), &[local]).expect("loopback");
        let refused = refuse_plaintext_beyond_loopback(None, &config(false), &[local, outside])
            .expect_err("beyond loopback without TLS");
        assert!(refused.to_string().contains("10.0.0.7:50050"), "{refused}");
        refuse_plaintext_beyond_loopback(None, &config(true), &[outside]).expect("allowed");
    }

    #[test]
    fn unreadable_or_empty_files_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("ca.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let config = ClusterConfig {
            ca_file: empty.display().to_string(),
            cert_file: dir.path().join("missing.pem").display().to_string(),
            key_file: dir.path().join("missing.key").display().to_string(),
            ..ClusterConfig::default()
        };
        let err = ClusterTls::from_config(&config).expect_err("no certificate in it");
        assert!(err.to_string().contains("cluster.ca_file"), "{err}");
        assert!(err.to_string().contains("ca.pem"), "{err}");
    }

    #[test]
    fn an_http_endpoint_becomes_https_with_its_address() {
        let twin = secure_twin(&Uri::from_static("http://127.0.0.1:50050")).expect("twin");
        assert_eq!(twin.uri().to_string(), "https://127.0.0.1:50050/");
    }
}
