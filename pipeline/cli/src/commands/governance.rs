//! `lagoa dataset`, `lagoa request` and `lagoa grant`: the sharing model's
//! decisions, each made by a named principal (its token in `--token` or
//! `LAGOA_TOKEN`) and recorded in the audit trail.

use anyhow::{Result, anyhow};
use lagoa_core::SharingLevel;
use lagoa_governance::stewardship;
use lagoa_governance::{NewCategorisation, NewRequest, Principal};
use lagoa_lake::Lake;
use lagoa_lake::catalog::{AuditEntry, format_micros, now_micros};
use std::sync::Arc;

#[derive(clap::Subcommand)]
pub(super) enum DatasetCommand {
    /// Set a dataset's categorisation (a new version): level, provider, justification...
    Categorise {
        /// The dataset's name.
        dataset: String,
        /// The sharing level: amplo, corporativo or especial.
        #[arg(long)]
        level: Option<SharingLevel>,
        /// The institution that delivers it (decides its requests).
        #[arg(long)]
        provider: Option<String>,
        /// Why the dataset has this level (the legal basis, the data it holds).
        #[arg(long)]
        justification: Option<String>,
        /// Conditions of use.
        #[arg(long)]
        conditions: Option<String>,
        /// Access restrictions.
        #[arg(long)]
        restrictions: Option<String>,
        /// Personal columns served only as pseudonyms (comma-separated; "" for none).
        #[arg(long)]
        pseudonymise: Option<String>,
        /// Personal columns no reader sees but through a grant (comma-separated; "" for none).
        #[arg(long)]
        remove: Option<String>,
        /// Personal columns served coarser instead of as pseudonyms:
        /// `dtnasc=month,idade=band:10,codmun=prefix:2` (month, year,
        /// band:<n>, prefix:<n>; "" for none).
        #[arg(long)]
        generalise: Option<String>,
        /// Why it changes (kept with the version).
        #[arg(long)]
        reason: String,
    },
    /// Every version of a dataset's categorisation: who, when, why.
    History {
        /// The dataset's name.
        dataset: String,
    },
    /// Name the institution that delivers a dataset whose deliveries did not
    /// (ingested without --provider, a source or a contract naming one); its
    /// stewards then make the first categorisation. An admin's token, or
    /// none on the lake's machine.
    Provider {
        /// The dataset's name.
        dataset: String,
        /// The provider institution (see `lagoa institution list`).
        institution: String,
    },
}

#[derive(clap::Subcommand)]
pub(super) enum RequestCommand {
    /// Ask for a dataset (or some of its columns, or its personal columns).
    File {
        /// The dataset asked for.
        dataset: String,
        /// What the data is for: queries must declare it to use the grant.
        #[arg(long)]
        purpose: String,
        /// e.g. "LGPD art. 7, III" or "LGPD art. 11, II, b".
        #[arg(long)]
        legal_basis: String,
        /// Only these columns (comma-separated).
        #[arg(long, value_delimiter = ',')]
        columns: Vec<String>,
        /// The personal columns, in clear.
        #[arg(long)]
        personal: bool,
        /// For the whole institution, not only the requester.
        #[arg(long)]
        for_institution: bool,
        /// Access until this date (YYYY-MM-DD).
        #[arg(long)]
        until: Option<String>,
    },
    /// Requests with their deadlines; --overdue: pending past the deadline.
    List {
        /// Only pending requests past their deadline.
        #[arg(long)]
        overdue: bool,
    },
    /// Approve a request: its grant takes effect at once.
    Approve {
        /// The request's id (from `lagoa request list`).
        request_id: String,
        /// Why it is approved (kept with the decision, shown to the requester).
        #[arg(long)]
        reason: String,
    },
    /// Deny a request, with the reason the requester reads.
    Deny {
        /// The request's id (from `lagoa request list`).
        request_id: String,
        /// Why it is denied (kept with the decision, shown to the requester).
        #[arg(long)]
        reason: String,
    },
}

#[derive(clap::Subcommand)]
pub(super) enum GrantCommand {
    /// Grants: who may read what, for which purpose, until when.
    List,
    /// Revoke a grant: it stops working on the next query.
    Revoke {
        /// The grant's id (from `lagoa grant list`).
        grant_id: String,
        /// Why it is revoked (kept with the decision).
        #[arg(long)]
        reason: String,
    },
}

/// The principal a command acts as.
async fn actor(lake: &Lake, token: Option<&str>) -> Result<Principal> {
    let token = token.ok_or_else(|| {
        anyhow!("this is a decision made by a person: pass their token with --token or LAGOA_TOKEN (see `lagoa token create`)")
    })?;
    lagoa_governance::command_line_principal(lake, token)
        .await
        .map_err(|e| anyhow!(e))
}

pub(super) async fn dataset(
    lake: &Lake,
    token: Option<&str>,
    command: DatasetCommand,
) -> Result<()> {
    match command {
        DatasetCommand::Categorise {
            dataset,
            level,
            provider,
            justification,
            conditions,
            restrictions,
            pseudonymise,
            remove,
            generalise,
            reason,
        } => {
            let who = actor(lake, token).await?;
            let names = |list: Option<String>| {
                list.map(|l| {
                    l.split(',')
                        .map(|c| c.trim().to_owned())
                        .filter(|c| !c.is_empty())
                        .collect::<Vec<_>>()
                })
            };
            let generalised = generalise
                .map(|list| {
                    list.split(',')
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(|pair| {
                            let (column, rule) = pair.split_once('=').ok_or_else(|| {
                                anyhow!("--generalise {pair:?}: write column=rule (month, year, band:<n>, prefix:<n>)")
                            })?;
                            let rule = rule
                                .parse::<lagoa_core::Generalisation>()
                                .map_err(|e| anyhow!("--generalise {column}: {e}"))?;
                            Ok((column.trim().to_owned(), rule))
                        })
                        .collect::<Result<std::collections::BTreeMap<_, _>>>()
                })
                .transpose()?;
            let change = NewCategorisation {
                level,
                provider,
                justification,
                conditions,
                restrictions,
                pseudonymised: names(pseudonymise),
                removed: names(remove),
                generalised,
                reason,
            };
            let done = stewardship::categorise(lake, &who, &dataset, &change).await?;
            let c = &done.categorisation;
            println!(
                "{dataset}: categorisation v{} — {} (provider {}), snapshot {}",
                c.version, c.level, c.provider, c.snapshot_id
            );
            for w in &done.warnings {
                eprintln!("warning: {w}");
            }
        }
        DatasetCommand::Provider {
            dataset,
            institution,
        } => {
            let actor = super::access::admin_actor(lake, token).await?;
            lagoa_governance::GovernanceStore::of(&lake.catalog)
                .name_provider(
                    &dataset,
                    &institution,
                    &format!("named by {}", actor.principal),
                )
                .await?;
            lake.audit(&AuditEntry {
                action: "provider_named".into(),
                datasets: vec![dataset.clone()],
                subject: Some(format!("{dataset}: {institution}")),
                ..actor
            })
            .await?;
            println!("{dataset} is delivered by {institution}");
        }
        DatasetCommand::History { dataset } => {
            for c in lagoa_governance::GovernanceStore::of(&lake.catalog)
                .categorisations(&dataset)
                .await?
            {
                println!(
                    "v{:<3} {}  {:<12} provider {:<16} by {:<16} {}\n      justification: {}\n      conditions: {}\n      restrictions: {}\n      personal columns pseudonymised: [{}], removed: [{}], generalised: [{}]",
                    c.version,
                    format_micros(c.changed_at),
                    c.level,
                    c.provider,
                    c.changed_by,
                    c.reason,
                    c.justification,
                    c.conditions,
                    c.restrictions,
                    c.pseudonymised.join(", "),
                    c.removed.join(", "),
                    c.generalised
                        .iter()
                        .map(|(c, g)| format!("{c}={g}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
    }
    Ok(())
}

pub(super) async fn request(
    lake: &Lake,
    token: Option<&str>,
    command: RequestCommand,
) -> Result<()> {
    match command {
        RequestCommand::File {
            dataset,
            purpose,
            legal_basis,
            columns,
            personal,
            for_institution,
            until,
        } => {
            let who = actor(lake, token).await?;
            let until = until
                .map(|d| {
                    stewardship::end_of_day(&d)
                        .ok_or_else(|| anyhow!("--until {d:?}: write YYYY-MM-DD"))
                })
                .transpose()?;
            let new = NewRequest {
                dataset: dataset.clone(),
                columns,
                personal,
                for_institution,
                purpose,
                legal_basis,
                until,
            };
            let r = stewardship::file_request(lake, &who, &new).await?;
            println!(
                "request {} filed for {dataset}; the provider decides by {}",
                r.request_id,
                format_micros(r.deadline_at)
            );
        }
        RequestCommand::List { overdue } => {
            let now = now_micros();
            println!(
                "{:<36} {:<16} {:<14} {:<9} {:<20} PURPOSE",
                "REQUEST", "DATASET", "BY", "STATUS", "DEADLINE"
            );
            // With a token, what that principal may see; without, the
            // catalog owner's view of every request.
            let requests = match token {
                Some(_) => stewardship::visible_requests(lake, &actor(lake, token).await?).await?,
                None => {
                    lagoa_governance::GovernanceStore::of(&lake.catalog)
                        .requests()
                        .await?
                }
            };
            for r in requests {
                let late = r.status == "pending" && r.deadline_at < now;
                if overdue && !late {
                    continue;
                }
                println!(
                    "{:<36} {:<16} {:<14} {:<9} {:<20} {}{}",
                    r.request_id,
                    r.dataset,
                    r.principal,
                    r.status,
                    format_micros(r.deadline_at),
                    r.purpose,
                    if late { "  [OVERDUE]" } else { "" }
                );
            }
        }
        RequestCommand::Approve { request_id, reason } => {
            decide(lake, token, &request_id, true, &reason).await?
        }
        RequestCommand::Deny { request_id, reason } => {
            decide(lake, token, &request_id, false, &reason).await?
        }
    }
    Ok(())
}

async fn decide(
    lake: &Lake,
    token: Option<&str>,
    request_id: &str,
    approve: bool,
    reason: &str,
) -> Result<()> {
    let who = actor(lake, token).await?;
    let decided = stewardship::decide(lake, &who, request_id, approve, reason).await?;
    match decided.grant_id {
        Some(grant) => println!(
            "request {request_id} approved: grant {grant} for {} on {}",
            decided.principal, decided.dataset
        ),
        None => println!("request {request_id} denied"),
    }
    Ok(())
}

pub(super) async fn grant(lake: &Lake, token: Option<&str>, command: GrantCommand) -> Result<()> {
    match command {
        GrantCommand::List => {
            let now = now_micros();
            println!(
                "{:<36} {:<16} {:<24} {:<8} {:<20} PURPOSE",
                "GRANT", "DATASET", "GRANTEE", "STATE", "EXPIRES"
            );
            for g in lagoa_governance::GovernanceStore::of(&lake.catalog)
                .grants()
                .await?
            {
                println!(
                    "{:<36} {:<16} {:<24} {:<8} {:<20} {}",
                    g.grant_id,
                    g.dataset,
                    format!("{}:{}", g.grantee_kind, g.grantee),
                    if g.live(now) {
                        "live"
                    } else if g.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "expired"
                    },
                    g.expires_at
                        .map(format_micros)
                        .unwrap_or_else(|| "never".into()),
                    g.purpose
                );
            }
        }
        GrantCommand::Revoke { grant_id, reason } => {
            let who = actor(lake, token).await?;
            stewardship::revoke_grant(lake, &who, &grant_id, &reason).await?;
            println!("grant {grant_id} revoked");
        }
    }
    Ok(())
}

/// A query as a principal: the SQL guard, the sharing policy and the
/// audit trail, then the result in the chosen format.
pub(super) async fn query(
    lake: &Arc<Lake>,
    token: &str,
    purpose: Option<&str>,
    (sql, as_of): (&str, lagoa_lake::AsOf),
    format: crate::output::Format,
    output: Option<&std::path::Path>,
) -> Result<()> {
    let who = match actor(lake, Some(token)).await {
        Ok(who) => who,
        Err(e) => {
            // A refused token is a denied query too.
            lake.audit(&AuditEntry {
                principal: "unknown".into(),
                institution: "-".into(),
                purpose: purpose.map(str::to_owned),
                action: "query".into(),
                outcome: "denied".into(),
                reason: Some(e.to_string()),
                ..Default::default()
            })
            .await?;
            return Err(e);
        }
    };
    let queries = super::cluster::query_service(lake).await?;
    let request = lagoa_sql::QueryRequest::new(&who, purpose, sql).as_of(as_of);
    // Ctrl-C cancels the query (and the audit trail says so).
    let interrupted = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let answer = queries.run(&request, interrupted).await?;
    let table = datafusion::datasource::MemTable::try_new(answer.schema, vec![answer.batches])?;
    let df = datafusion::prelude::SessionContext::new().read_table(std::sync::Arc::new(table))?;
    crate::output::write(df, format, output).await?;
    Ok(())
}

/// `lagoa report consumption --provider P --month YYYY-MM`: for the
/// provider's stewards, coordinators and admins.
pub(super) async fn consumption(
    lake: &Lake,
    token: Option<&str>,
    provider: Option<String>,
    month: Option<String>,
    format: super::runs::ReportFormat,
) -> Result<()> {
    let who = actor(lake, token).await?;
    let provider = provider.ok_or_else(|| anyhow!("name the provider institution: --provider"))?;
    let month = month.ok_or_else(|| anyhow!("name the month: --month YYYY-MM"))?;
    stewardship::may_see_consumption(lake, &who, &provider).await?;
    let (from, to) = lagoa_sql::report::month_range(&month, &lake.config.console.timezone)
        .map_err(|e| anyhow!("--month {month:?}: {e}"))?;
    let lines = lagoa_sql::report::consumption(lake, &provider, from, to).await?;
    stewardship::record_consumption_read(lake, &who, &provider, &month).await?;
    match format {
        super::runs::ReportFormat::Json => {
            for line in &lines {
                println!("{}", serde_json::to_string(line)?);
            }
        }
        _ => {
            println!("Consumption of {provider}'s datasets in {month}");
            println!(
                "{:<20} {:<20} {:>8} {:>10}  {:<30} PRINCIPALS",
                "INSTITUTION", "DATASET", "QUERIES", "ROWS", "PURPOSE"
            );
            for l in &lines {
                println!(
                    "{:<20} {:<20} {:>8} {:>10}  {:<30} {}",
                    l.institution,
                    l.dataset,
                    l.queries,
                    l.rows,
                    l.purpose,
                    l.principals.join(", ")
                );
            }
            if lines.is_empty() {
                println!("(no query read these datasets in {month})");
            }
        }
    }
    Ok(())
}

/// `lagoa publish DATASET --out DIR`: open data, by a steward of the
/// provider or an admin.
#[derive(clap::Args)]
pub(super) struct PublishArgs {
    /// The amplo dataset to publish.
    dataset: String,
    /// The folder the files go to (served as --base-url).
    #[arg(long)]
    out: std::path::PathBuf,
    /// The URL the folder is served under.
    #[arg(long, default_value = "https://dados.example.gov.br/lagoa")]
    base_url: String,
    /// The publisher named in the metadata.
    #[arg(long, default_value = "Escritório de dados")]
    publisher: String,
    /// The licence of the data.
    #[arg(long, default_value = "http://creativecommons.org/licenses/by/4.0/")]
    license: String,
}

pub(super) async fn publish_command(
    lake: &Lake,
    token: Option<&str>,
    args: PublishArgs,
) -> Result<()> {
    let options = lagoa_sql::opendata::PublishOptions {
        base_url: &args.base_url,
        publisher: &args.publisher,
        license: &args.license,
    };
    publish(lake, token, &args.dataset, &args.out, &options).await
}

pub(super) async fn publish(
    lake: &Lake,
    token: Option<&str>,
    dataset: &str,
    out: &std::path::Path,
    options: &lagoa_sql::opendata::PublishOptions<'_>,
) -> Result<()> {
    let who = actor(lake, token).await?;
    let p = lagoa_sql::opendata::publish(lake, &who, dataset, out, options).await?;
    println!(
        "{}: {} rows of snapshot {} published to {}",
        p.dataset,
        p.rows,
        p.snapshot,
        out.display()
    );
    for f in &p.files {
        println!("  {}", f.display());
    }
    println!("  {} (DCAT-AP, JSON-LD)", p.catalog.display());
    Ok(())
}
