//! The cluster's own network: with `[cluster]`'s certificates, only its
//! members reach the scheduler and the executors. A client without a
//! certificate the cluster's authority signed (none, or one of another
//! authority) submits no plan and fetches nothing from an executor's Arrow
//! Flight port; without certificates, no member starts beyond loopback.
//! Certificates are made with `openssl`.

use crate::cluster::{no_memory_filesystem, on_cluster, start_cluster};
use crate::support::*;
use crate::tls::issue;
use lagoa_cluster::engine::{Scheduler, submit};
use lagoa_cluster::tls::ClusterTls;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// A certificate authority and the certificate it signed for a member of
/// a cluster on 127.0.0.1.
pub struct Member {
    ca: String,
    cert: String,
    key: String,
}

impl Member {
    pub fn issued(dir: &Path, authority: &str) -> Member {
        let issued = issue(dir, authority, None);
        let shown = |p: std::path::PathBuf| p.to_str().expect("a UTF-8 path").to_owned();
        Member {
            ca: shown(issued.ca),
            cert: shown(issued.cert),
            key: shown(issued.key),
        }
    }

    /// The environment that gives a process these certificates.
    pub fn env(&self) -> [(&'static str, &str); 3] {
        [
            ("LAGOA__CLUSTER__CA_FILE", self.ca.as_str()),
            ("LAGOA__CLUSTER__CERT_FILE", self.cert.as_str()),
            ("LAGOA__CLUSTER__KEY_FILE", self.key.as_str()),
        ]
    }

    fn cluster_tls(&self) -> Arc<ClusterTls> {
        let config = lagoa_lake::config::ClusterConfig {
            ca_file: self.ca.clone(),
            cert_file: self.cert.clone(),
            key_file: self.key.clone(),
            ..Default::default()
        };
        ClusterTls::from_config(&config)
            .expect("the certificates")
            .expect("TLS")
    }

    /// A client that trusts this authority, presenting `identity`'s
    /// certificate (or none).
    fn client(&self, identity: Option<&Member>) -> ClientTlsConfig {
        let read = |p: &str| std::fs::read(p).expect("a PEM file");
        let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(&self.ca)));
        match identity {
            Some(m) => tls.identity(Identity::from_pem(read(&m.cert), read(&m.key))),
            None => tls,
        }
    }
}

/// Whether an executor's Flight service at `bind` answers a client with
/// `tls` (it lists its actions to a member), or the connection is
/// refused (`Err`, the transport's reason).
async fn flight_reached(bind: &str, tls: Option<ClientTlsConfig>) -> Result<(), String> {
    use arrow_flight::flight_service_client::FlightServiceClient;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{bind}"))
        .expect("an endpoint")
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10));
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls).expect("a TLS configuration");
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("connecting: {e:?}"))?;
    FlightServiceClient::new(channel)
        .list_actions(arrow_flight::Empty {})
        .await
        .map(|_| ())
        .map_err(|status| format!("{status:?}"))
}

/// Runs `lagoa` with `env`, expecting it to stop by itself within a
/// minute (a refusal at start); killed and failed otherwise.
fn exits_at_start(lake: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(lagoa_bin())
        .arg("--lake")
        .arg(lake)
        .args(args)
        .envs(env.iter().copied())
        .env_remove("LAGOA_LAKE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lagoa starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("waiting").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{args:?} kept running: it should have refused to start");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().expect("its output")
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_cluster_s_members_reach_its_scheduler_and_executors() {
    let test = "only_the_cluster_s_members_reach_its_scheduler_and_executors";
    if no_memory_filesystem() {
        return;
    }
    if Command::new("openssl").arg("version").output().is_err() {
        skip(test, "no openssl: run scripts/bootstrap");
        return;
    }
    let (dir, lake_dir) = new_lake();
    ingest_populacao_amplo(dir.path(), &lake_dir);
    let member = Member::issued(dir.path(), "cluster");
    let intruder = Member::issued(dir.path(), "intruder");
    let cluster = start_cluster(&lake_dir, &member.env());

    // Through the query service, configured as a member: the cluster answers.
    let token = admin_token(&lake_dir, &[]);
    let mut env = on_cluster(cluster.scheduler.as_str()).to_vec();
    env.extend(member.env());
    let sql = "SELECT count(*) AS n FROM populacao";
    wait_for("the cluster to answer", Duration::from_secs(90), || {
        crate::bypass::query_in(&lake_dir, &env, (&token, None, sql))
            .status
            .success()
    });

    // A hand-built plan with a valid ticket reaches the scheduler only
    // from a member.
    let lake = lagoa_lake::Lake::open(&lake_dir).await.expect("the lake");
    let (dataset, files) = dataset_and_files(&lake, "populacao").await;
    let rows: usize = files.iter().map(|f| f.row_count as usize).sum();
    let table: Arc<dyn datafusion::catalog::TableProvider> =
        Arc::new(lake.table(&dataset, files).expect("a table"));
    let key = lagoa_cluster::ticket::TicketKey::new(
        &lake
            .secret(lagoa_cluster::TICKET_SECRET)
            .await
            .expect("secret"),
    );
    let ticket = key.sign(&lagoa_cluster::ticket::ReleaseTicket {
        query: "hand-built".into(),
        expires_at: lagoa_cluster::ticket::now_seconds() + 600,
        datasets: [(
            "populacao".to_owned(),
            dataset.columns.iter().map(|c| c.name.clone()).collect(),
        )]
        .into(),
        released: Default::default(),
        pseudonyms: false,
    });
    let address = cluster.scheduler.parse().expect("an address");
    let submitted = |tls: Option<Arc<ClusterTls>>| {
        let (table, ticket) = (table.clone(), ticket.clone());
        async move {
            let ctx = datafusion::prelude::SessionContext::new();
            ctx.register_table("populacao", table).expect("registered");
            let (state, plan) = ctx
                .sql("SELECT * FROM populacao")
                .await
                .expect("planned")
                .into_parts();
            let scheduler = Scheduler { address, tls };
            let stream = submit(&scheduler, (state, &plan), ticket)
                .await
                .map_err(|e| e.to_string())?;
            let batches = datafusion::physical_plan::common::collect(stream)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<usize, String>(batches.iter().map(|b| b.num_rows()).sum())
        }
    };
    assert_eq!(submitted(Some(member.cluster_tls())).await, Ok(rows));
    for (who, tls) in [
        ("a client in clear", None),
        ("another authority's member", Some(intruder.cluster_tls())),
    ] {
        let refused = submitted(tls).await.expect_err(who);
        assert!(
            !refused.contains("ticket"),
            "{who} was refused at the connection, not by the ticket check: {refused}"
        );
    }

    // An executor's Flight port (results, shuffle files) serves members only.
    for bind in &cluster.binds {
        assert_eq!(
            flight_reached(bind, Some(member.client(Some(&member)))).await,
            Ok(()),
            "a member reaches {bind}"
        );
        for (who, tls) in [
            ("a client in clear", None),
            ("a client without a certificate", Some(member.client(None))),
            (
                "another authority's member",
                Some(member.client(Some(&intruder))),
            ),
        ] {
            assert!(
                flight_reached(bind, tls).await.is_err(),
                "{who} reached the executor at {bind}"
            );
        }
    }
    // And a member takes only its authority's servers: a client of
    // another authority refuses the executor's certificate.
    assert!(
        flight_reached(&cluster.binds[0], Some(intruder.client(Some(&intruder))))
            .await
            .is_err(),
        "a client trusting another authority accepted the executor's certificate"
    );
}

#[test]
fn without_certificates_no_member_starts_beyond_loopback() {
    let (dir, lake) = new_lake();
    ingest_populacao_amplo(dir.path(), &lake);
    let token = admin_token(&lake, &[]);
    let anywhere = format!("0.0.0.0:{}", free_port());
    let outside = "10.255.255.1:50050";
    let expect_refused = |out: &Output, what: &str| {
        assert!(!out.status.success(), "{what} started");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("beyond loopback") && stderr.contains("cluster.allow_plaintext"),
            "{what}: {stderr}"
        );
    };
    let out = exits_at_start(&lake, &["cluster", "scheduler", "--bind", &anywhere], &[]);
    expect_refused(&out, "a scheduler on 0.0.0.0");
    let bind = format!("127.0.0.1:{}", free_port());
    let out = exits_at_start(
        &lake,
        &[
            "cluster",
            "executor",
            "--scheduler",
            outside,
            "--bind",
            &bind,
        ],
        &[],
    );
    expect_refused(&out, "an executor of a scheduler beyond loopback");
    let out = crate::bypass::query_in(
        &lake,
        &on_cluster(outside),
        (&token, None, "SELECT count(*) FROM populacao"),
    );
    expect_refused(&out, "a query service submitting beyond loopback");
    // Half a configuration is named, not guessed at.
    let out = exits_at_start(
        &lake,
        &["cluster", "scheduler", "--bind", &anywhere],
        &[("LAGOA__CLUSTER__CA_FILE", "/nowhere/ca.pem")],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("go together"), "{stderr}");
}
