//! What every HTTP source shares: the client (timeouts, redirects kept on
//! the source's own host), URLs as they may be shown (never their query,
//! which may carry a key) and the credentials of `auth.rs`.

pub mod auth;

use std::time::Duration;
use url::Url;

pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The URL as messages show it: scheme, host, port and path, never the
/// query (it may carry a key) nor user information.
pub(crate) fn shown_url(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(port) => format!("{}://{host}:{port}{}", url.scheme(), url.path()),
        None => format!("{}://{host}{}", url.scheme(), url.path()),
    }
}

/// What every HTTP client of the connectors shares: rustls on ring,
/// redirects within the first host only, Lagoa's user agent.
pub(crate) fn client_builder(connect_timeout: Duration) -> reqwest::ClientBuilder {
    // reqwest is built without a default crypto provider; the workspace
    // uses ring. Installing twice fails harmlessly: one is in place.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .redirect(same_host_redirects())
        .user_agent(concat!("lagoa/", env!("CARGO_PKG_VERSION")))
}

/// Follows redirects within the first URL's scheme, host and port only.
fn same_host_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if attempt.previous().len() > 10 {
            attempt.error("too many redirects")
        } else if same_origin {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}
