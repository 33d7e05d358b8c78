//! `[cluster]`: how the members of a Ballista cluster (`lagoa cluster`,
//! and query services with `query.engine = "ballista"`) reach each other.

use serde::{Deserialize, Serialize};

/// Mutual TLS among the cluster's members, and how long a silent executor
/// is waited for.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// The cluster's certificate authority (PEM): it signs every member's
    /// certificate, and a member serves only peers holding one it signed;
    /// "" for no TLS.
    pub ca_file: String,
    /// This member's certificate chain (PEM, leaf first), naming the
    /// address the others reach it at (an IP or DNS subject alternative
    /// name); used as a server's and as a client's.
    pub cert_file: String,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: String,
    /// Without TLS, run the cluster beyond loopback anyway: plans, release
    /// tickets and decrypted rows cross the network in clear.
    pub allow_plaintext: bool,
    /// The scheduler takes an executor it has not heard from for this long
    /// as lost: its tasks run again elsewhere.
    pub executor_timeout_seconds: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            ca_file: String::new(),
            cert_file: String::new(),
            key_file: String::new(),
            allow_plaintext: false,
            executor_timeout_seconds: 60,
        }
    }
}

impl ClusterConfig {
    /// Whether a certificate authority is configured.
    pub fn tls_enabled(&self) -> bool {
        !self.ca_file.trim().is_empty()
    }

    /// What is wrong with it, one line each.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let named = [&self.ca_file, &self.cert_file, &self.key_file]
            .iter()
            .filter(|f| !f.trim().is_empty())
            .count();
        if named != 0 && named != 3 {
            problems.push(
                "cluster.ca_file, cluster.cert_file and cluster.key_file go together: name all three for mutual TLS, or none".into(),
            );
        }
        if self.executor_timeout_seconds < 5 {
            problems.push(
                "cluster.executor_timeout_seconds must be at least 5 (an executor polls the scheduler about ten times a second)".into(),
            );
        }
        problems
    }
}

/// The `[cluster]` section of the `lagoa.toml` that `lagoa init` writes.
pub(super) fn documented(config: &super::LakeConfig) -> String {
    let c = &config.cluster;
    format!(
        r#"[cluster]
# Mutual TLS among the cluster's members (query services with
# query.engine = "ballista", `lagoa cluster scheduler`, each `lagoa cluster
# executor`): the cluster's certificate authority, and this member's
# certificate (signed by it, naming the address the others reach it at) and
# key, all PEM; "" for none. Without them the cluster stays on loopback.
ca_file = {ca:?}
cert_file = {cert:?}
key_file = {key:?}
# Run the cluster beyond loopback without TLS anyway (plans, release tickets
# and decrypted rows in clear on the network).
allow_plaintext = {plain}
# The scheduler runs a silent executor's tasks elsewhere after this long.
executor_timeout_seconds = {timeout}
"#,
        ca = c.ca_file,
        cert = c.cert_file,
        key = c.key_file,
        plain = c.allow_plaintext,
        timeout = c.executor_timeout_seconds,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_a_tls_configuration_and_a_tiny_timeout_are_named() {
        let half = ClusterConfig {
            ca_file: "ca.pem".into(),
            executor_timeout_seconds: 1,
            ..ClusterConfig::default()
        };
        let problems = half.problems().join("\n");
        assert!(problems.contains("go together"), "{problems}");
        assert!(problems.contains("executor_timeout_seconds"), "{problems}");
        assert!(ClusterConfig::default().problems().is_empty());
    }

    #[test]
    fn the_documented_section_parses_back() {
        let text = crate::config::render_documented(&crate::config::LakeConfig::default());
        assert!(text.contains("[cluster]"), "{text}");
        let config = crate::config::LakeConfig::from_toml_with_env(&text, []).expect("parses");
        assert_eq!(config.cluster.executor_timeout_seconds, 60);
        assert!(!config.cluster.tls_enabled());
    }
}
