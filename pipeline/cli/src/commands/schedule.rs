//! `lagoa daemon`, `lagoa run <source>` and `lagoa sources`: the configured
//! sources of a lake (`*.source.toml` in its sources folder) on their
//! schedules.

use super::ingest::CliObserver;
use anyhow::{Result, anyhow, bail};
use lagoa_daemon::{
    Alerter, Clock, Daemon, DaemonOptions, FiringResult, SourceFile, SystemClock, Triggers,
};
use lagoa_lake::Lake;
use lagoa_lake::catalog::{Claim, format_micros};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(clap::Subcommand)]
pub(super) enum SourcesCommand {
    /// Every configured source with its schedule, last run and next run.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Stop scheduled runs of a source (a run by hand still works).
    Pause {
        /// The source's name.
        name: String,
    },
    /// Resume scheduled runs of a source.
    Resume {
        /// The source's name.
        name: String,
    },
}

/// The sources folder: `--sources`, else `daemon.sources` of lagoa.toml
/// (relative to the lake).
pub(super) fn sources_dir(lake_dir: &Path, lake: &Lake, flag: Option<PathBuf>) -> PathBuf {
    flag.unwrap_or_else(|| lake_dir.join(&lake.config.daemon.sources))
}

fn options(lake: &Lake) -> DaemonOptions {
    let d = &lake.config.daemon;
    DaemonOptions {
        concurrency: d.concurrency,
        lease: Duration::from_secs(d.lease_seconds),
        shutdown_grace: Duration::from_secs(d.shutdown_grace_seconds),
        late_grace: Duration::from_secs(d.late_grace_hours * 3600),
        repeated_failures: d.repeated_failures,
        deep_check_every: (d.deep_check_hours > 0)
            .then(|| Duration::from_secs(d.deep_check_hours * 3600)),
        compact_every: (d.compact_hours > 0).then(|| Duration::from_secs(d.compact_hours * 3600)),
        ..Default::default()
    }
}

pub(super) async fn daemon(lake: Lake, dir: &Path) -> Result<()> {
    let sources = SourceFile::load_dir(dir)?;
    let scheduled = sources.iter().filter(|s| s.schedule.is_some()).count();
    if scheduled == 0 {
        bail!(
            "no source in {} has a [schedule]; nothing for the daemon to run",
            dir.display()
        );
    }
    let options = options(&lake);
    let (listen, webhook_env) = (
        lake.config.daemon.listen.clone(),
        lake.config.daemon.alert_webhook_env.clone(),
    );
    let lake = Arc::new(lake);
    let daemon = Daemon::new(
        Arc::clone(&lake),
        sources,
        Arc::new(SystemClock),
        options.clone(),
    )
    .with_alerter(Alerter::from_env(&webhook_env));
    let shutdown = CancellationToken::new();
    if !listen.trim().is_empty() {
        let listener = tokio::net::TcpListener::bind(listen.trim())
            .await
            .map_err(|e| anyhow!("cannot listen on {listen} (daemon.listen): {e}"))?;
        let address = listener.local_addr()?;
        // The same rule as `lagoa serve`'s doors: HTTPS with the [tls]
        // certificate, plaintext beyond loopback only when allowed.
        crate::tls::check_plaintext("daemon.listen", address, &lake.config.tls)?;
        let certificate = crate::tls::Certificate::from_config(&lake.config.tls)?;
        if let Some(certificate) = &certificate {
            crate::tls::reload_on_hangup(Arc::clone(certificate));
        }
        tracing::info!(%address, tls = certificate.is_some(), "serving /metrics, /healthz and /readyz");
        let router = lagoa_daemon::http::router(lagoa_daemon::http::HttpState {
            lake: Arc::clone(&lake),
            sources: Arc::new(daemon.sources().to_vec()),
            late_grace: options.late_grace,
        });
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let stop = async move { stop.cancelled().await };
            if let Err(e) = serve_http(listener, router, certificate.as_ref(), stop).await {
                tracing::error!(error = %e, "the metrics server stopped");
            }
        });
    }
    let signalled = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("signal received: shutting down");
        signalled.cancel();
    });
    let check = lake.config.indicators.check_seconds;
    let remote = super::cluster::remote_engine(&lake).await?;
    let indicators = (check > 0).then(|| {
        let watcher = lagoa_daemon::IndicatorWatcher {
            dir: lagoa_sql::indicators::dir_of(&lake),
            lake: Arc::clone(&lake),
            every: Duration::from_secs(check),
            clock: Arc::new(SystemClock),
            owner: format!("daemon:{}", std::process::id()),
            lease: options.lease,
            remote: remote.clone(),
        };
        tokio::spawn(watcher.run(shutdown.clone()))
    });
    daemon.run(shutdown).await?;
    if let Some(watcher) = indicators {
        let _ = watcher.await;
    }
    Ok(())
}

/// The sign-ins of `lagoa serve`: Lagoa's tokens, and the state's identity
/// provider when `[oidc]` names one (asked at once, so a wrong issuer shows
/// at start; the server starts anyway, the provider may come up later);
/// with the secret that signs the console's sessions through the provider.
async fn sign_ins(
    lake: Lake,
) -> Result<(
    Arc<Lake>,
    Arc<lagoa_governance::SignIns>,
    zeroize::Zeroizing<Vec<u8>>,
)> {
    let provider = lagoa_governance::oidc::Provider::of_lake(&lake).await?;
    if let Some(p) = &provider {
        match p.metadata().await {
            Ok(_) => eprintln!("Identity provider: {}", p.config().issuer),
            Err(e) => {
                tracing::warn!(error = %e, "the identity provider did not answer at start");
                eprintln!(
                    "Identity provider: {} did not answer yet ({e})",
                    p.config().issuer
                );
            }
        }
    }
    // Sessions through the provider are signed with a secret of the lake,
    // so they outlive a restart; without them nothing is signed.
    let session_secret = if lake.config.oidc.console_enabled() {
        lake.secret("console_session").await?
    } else {
        zeroize::Zeroizing::new(Vec::new())
    };
    let lake = Arc::new(lake);
    let mut signins = lagoa_governance::SignIns::new(
        Arc::clone(&lake),
        lagoa_governance::SignInLimits::default(),
    );
    if let Some(p) = provider {
        signins = signins.with_provider(Arc::new(p));
    }
    Ok((lake, Arc::new(signins), session_secret))
}

/// Serves the operators' console until SIGTERM/SIGINT; runs started from
/// it get `daemon.shutdown_grace_seconds` to finish.
pub(super) async fn serve(lake: Lake, dir: &Path, listen: Option<String>) -> Result<()> {
    // A folder that does not load stops the start; later changes are
    // read as they come (a file that then fails keeps the sources before).
    let sources = Arc::new(lagoa_daemon::SourceDir::open(dir.to_path_buf())?);
    let config = lake.config.clone();
    let listen = listen.unwrap_or_else(|| config.console.listen.clone());
    let timezone: chrono_tz::Tz = config.console.timezone.parse().map_err(|_| {
        anyhow!(
            "console.timezone {:?} is not a time zone",
            config.console.timezone
        )
    })?;
    if lagoa_governance::GovernanceStore::of(&lake.catalog)
        .principals()
        .await?
        .is_empty()
    {
        eprintln!(
            "No one can sign in yet. Create an operator and a token:\n  lagoa institution add <office> --role coordinator\n  lagoa user add <name> --institution <office> --role operator\n  lagoa token create <name>"
        );
    }
    let options = lagoa_console::ConsoleOptions {
        lease: Duration::from_secs(config.daemon.lease_seconds),
        late_grace: Duration::from_secs(config.daemon.late_grace_hours * 3600),
        timezone,
        // Over HTTPS the session cookie never travels in clear.
        secure_cookie: config.console.secure_cookie || config.tls.enabled(),
    };
    let (lake, signins, session_secret) = sign_ins(lake).await?;
    let queries = super::cluster::query_service(&lake).await?;
    let api = lagoa_api::Api::new(
        queries.clone(),
        Arc::clone(&signins),
        Arc::clone(&sources),
        options.late_grace,
        config.console.timezone.clone(),
    );
    let stop_pg = tokio_util::sync::CancellationToken::new();
    let certificate = crate::tls::Certificate::from_config(&config.tls)?;
    if let Some(certificate) = &certificate {
        crate::tls::reload_on_hangup(Arc::clone(certificate));
    }
    let pg_listen = config.query.pg_listen.trim();
    let pg = if pg_listen.is_empty() {
        None
    } else {
        let listener = tokio::net::TcpListener::bind(pg_listen)
            .await
            .map_err(|e| anyhow!("cannot listen on {pg_listen} (query.pg_listen): {e}"))?;
        let address = listener.local_addr()?;
        crate::tls::check_plaintext("query.pg_listen", address, &config.tls)?;
        let tls = lagoa_pg::PortTls {
            acceptor: certificate
                .as_ref()
                .map(|c| pgwire_acceptor(c.server_config(&[b"postgresql"]))),
            plaintext_from_others: config.tls.allow_plaintext,
        };
        tracing::info!(%address, tls = tls.acceptor.is_some(), "serving the PostgreSQL protocol");
        eprintln!(
            "PostgreSQL: {address}{} (user: your principal, password: your API token or the identity provider's access token)",
            if tls.acceptor.is_some() { ", TLS" } else { "" }
        );
        Some(tokio::spawn(lagoa_pg::serve(
            listener,
            queries.clone(),
            Arc::clone(&signins),
            stop_pg.clone(),
            tls,
        )))
    };
    let console = lagoa_console::Console::new(
        lake,
        signins,
        sources,
        Arc::new(SystemClock),
        options,
        &session_secret,
    );
    let listener = tokio::net::TcpListener::bind(listen.trim())
        .await
        .map_err(|e| anyhow!("cannot listen on {listen} (console.listen): {e}"))?;
    let address = listener.local_addr()?;
    crate::tls::check_plaintext("console.listen", address, &config.tls)?;
    let scheme = if certificate.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(%address, tls = certificate.is_some(), "serving the console and the API");
    eprintln!("Console: {scheme}://{address}/");
    eprintln!(
        "API: {scheme}://{address}/api/v1 (OpenAPI: {scheme}://{address}/api/v1/openapi.json)"
    );
    let grace = Duration::from_secs(config.daemon.shutdown_grace_seconds);
    let stopping = tokio_util::sync::CancellationToken::new();
    let signalled = {
        let stopping = stopping.clone();
        let queries = queries.clone();
        async move {
            wait_for_signal().await;
            tracing::info!("signal received: stopping queries and shutting down");
            // Running and waiting queries end now (audited as cancelled),
            // so the connections they hold can close.
            queries.engine().shut_down();
            stopping.cancel();
        }
    };
    let served = serve_http(
        listener,
        console.router().merge(api.router()),
        certificate.as_ref(),
        signalled,
    );
    // A client that keeps its connection open does not hold the server:
    // after the grace period it stops anyway.
    tokio::select! {
        result = served => result?,
        _ = async { stopping.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!("connections were still open after the shutdown grace period");
        }
    }
    stop_pg.cancel();
    if let Some(pg) = pg {
        let _ = tokio::time::timeout(grace, pg).await;
    }
    console.shutdown(grace).await;
    Ok(())
}

/// Serves `app` on `listener` until `stop`: over HTTPS with `certificate`,
/// else plain HTTP. Either way handlers get the client's address (refused
/// sign-ins are rate-limited by it).
async fn serve_http(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    certificate: Option<&Arc<crate::tls::Certificate>>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match certificate {
        Some(certificate) => {
            let tls =
                crate::tls::TlsListener::new(listener, certificate.server_config(&[b"http/1.1"]))?;
            let app = app
                .layer(axum::middleware::map_request(crate::tls::peer_address))
                .layer(axum::middleware::map_response(crate::tls::strict_transport));
            axum::serve(
                tls,
                app.into_make_service_with_connect_info::<crate::tls::Peer>(),
            )
            .with_graceful_shutdown(stop)
            .await
        }
        None => {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(stop)
            .await
        }
    }
}

/// The PostgreSQL port's TLS acceptor for `config`.
fn pgwire_acceptor(config: Arc<rustls::ServerConfig>) -> lagoa_pg::TlsAcceptor {
    lagoa_pg::TlsAcceptor::from(config)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn find(dir: &Path, name: &str) -> Result<SourceFile> {
    let sources = SourceFile::load_dir(dir)?;
    let names: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
    sources.into_iter().find(|s| s.name == name).ok_or_else(|| {
        anyhow!(
            "no source named {name:?} in {} (sources: {})",
            dir.display(),
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        )
    })
}

/// Runs one source now, by hand, under its lease and retry policy.
pub(super) async fn run_now(lake: Lake, dir: &Path, name: &str) -> Result<()> {
    let source = find(dir, name)?;
    let options = options(&lake);
    let triggers = Triggers::new(Arc::new(lake), Arc::new(SystemClock), options.lease);
    let owner = format!("manual:{}", std::process::id());
    let observer = Arc::new(CliObserver::default());
    match triggers.run(Arc::new(source), &owner, observer).await {
        FiringResult::Succeeded { .. } => Ok(()),
        FiringResult::Failed { attempts } => bail!(
            "source {name}: not every delivery was taken into the lake ({attempts} attempt(s); `lagoa runs` has the details)"
        ),
        FiringResult::NotClaimed(Claim::Busy { owner }) => {
            bail!("source {name} is running already (held by {owner}); try again when it ends")
        }
        FiringResult::NotClaimed(other) => bail!("source {name}: not run ({other:?})"),
        FiringResult::CatalogError => bail!("source {name}: the catalog is unreachable"),
    }
}

pub(super) async fn sources(lake: Lake, dir: &Path, command: SourcesCommand) -> Result<()> {
    match command {
        SourcesCommand::Pause { name } => {
            find(dir, &name)?;
            lake.catalog
                .set_paused(
                    &name,
                    true,
                    &cli_user(),
                    SystemClock.now().timestamp_micros(),
                )
                .await?;
            lake.audit(&lagoa_lake::catalog::AuditEntry {
                action: "source_paused".into(),
                subject: Some(name.clone()),
                ..super::access::cli_actor()
            })
            .await?;
            println!(
                "source {name}: paused (scheduled runs skipped until `lagoa sources resume {name}`)"
            );
            Ok(())
        }
        SourcesCommand::Resume { name } => {
            find(dir, &name)?;
            lake.catalog
                .set_paused(
                    &name,
                    false,
                    &cli_user(),
                    SystemClock.now().timestamp_micros(),
                )
                .await?;
            lake.audit(&lagoa_lake::catalog::AuditEntry {
                action: "source_resumed".into(),
                subject: Some(name.clone()),
                ..super::access::cli_actor()
            })
            .await?;
            println!("source {name}: resumed");
            Ok(())
        }
        SourcesCommand::List { json } => list(&lake, dir, json).await,
    }
}

async fn list(lake: &Lake, dir: &Path, json: bool) -> Result<()> {
    let sources = SourceFile::load_dir(dir)?;
    let states = lake.catalog.source_states().await?;
    let last_runs = lake.catalog.last_runs().await?;
    let now = SystemClock.now();
    let mut rows = Vec::new();
    for s in &sources {
        let state = states.iter().find(|x| x.source == s.name);
        let paused = state.is_some_and(|x| x.paused);
        let last = last_runs.iter().find(|r| r.source == s.name);
        let next = if paused {
            None
        } else {
            s.schedule().and_then(|sch| sch.next_after(now))
        };
        rows.push(serde_json::json!({
            "name": s.name,
            "dataset": s.dataset,
            "type": s.source.kind(),
            "schedule": s.schedule.as_ref().map(|c| format!("{} ({})", c.cron, c.timezone)),
            "paused": paused,
            "running": state.is_some_and(|x| x.lease_owner.is_some() && x.lease_until.is_some_and(|u| u > now.timestamp_micros())),
            "last_status": last.map(|r| r.status),
            "last_started_at": last.map(|r| format_micros(r.started_at)),
            "next_run_at": next.map(|n| n.to_rfc3339()),
        }));
    }
    if json {
        for row in rows {
            println!("{row}");
        }
        return Ok(());
    }
    if rows.is_empty() {
        println!("no sources in {}", dir.display());
        return Ok(());
    }
    println!(
        "{:<28} {:<22} {:<9} {:<30} {:<8} {:<18} NEXT RUN",
        "SOURCE", "DATASET", "TYPE", "SCHEDULE", "STATE", "LAST RUN"
    );
    for r in rows {
        let text = |k: &str| r[k].as_str().unwrap_or("-").to_owned();
        let state = if r["paused"] == true {
            "paused"
        } else if r["running"] == true {
            "running"
        } else {
            "active"
        };
        println!(
            "{:<28} {:<22} {:<9} {:<30} {:<8} {:<18} {}",
            text("name"),
            text("dataset"),
            text("type"),
            text("schedule"),
            state,
            text("last_status"),
            text("next_run_at"),
        );
    }
    Ok(())
}

/// Who runs the command, for the record of who paused a source.
fn cli_user() -> String {
    super::access::cli_actor().principal
}
