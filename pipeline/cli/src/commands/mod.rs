//! The command groups of `lagoa`, one file each. Each parses its
//! arguments and calls a library; this file says which file serves which
//! command.

mod access;
pub(crate) mod cluster;
mod contract;
mod demo;
mod governance;
mod indicators;
mod ingest;
mod keys;
mod lake;
mod query;
mod raw;
mod runs;
mod schedule;

use crate::output::Format;
use anyhow::Result;
use clap::{Parser, Subcommand};
use lagoa_lake::Lake;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "lagoa",
    version,
    about = "Lagoa: a secure data lake for public-sector data offices"
)]
pub(crate) struct Cli {
    /// The lake's directory (holds lagoa.toml).
    #[arg(
        long,
        global = true,
        env = "LAGOA_LAKE",
        default_value = ".",
        hide_env_values = true
    )]
    lake: PathBuf,

    /// Act as the principal of this token (decisions: categorise, request, approve, revoke).
    #[arg(long, global = true, env = "LAGOA_TOKEN", hide_env_values = true)]
    token: Option<String>,

    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// The daemon, the console and the cluster's processes log as services
    /// do (JSON lines, `info`).
    pub(crate) fn long_running(&self) -> bool {
        matches!(
            self.command,
            Command::Daemon { .. } | Command::Serve { .. } | Command::Cluster { .. }
        )
    }
}

/// Parsed once per process, so the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Create a lake: lagoa.toml, catalog, object store and key store.
    Init(lake::InitArgs),
    /// Take one delivered file into a dataset: CSV/TSV, JSON/NDJSON, XLSX/XLS/ODS,
    /// DBF/DBC or Parquet (also .gz, .zip), checked against its contract.
    Ingest(ingest::IngestArgs),
    /// Configured sources (files, PostgreSQL, MySQL, HTTP APIs).
    Source {
        #[command(subcommand)]
        command: ingest::SourceCommand,
    },
    /// Dataset contracts: check, infer, register versions, diff.
    Contract {
        #[command(subcommand)]
        command: contract::ContractCommand,
    },
    /// Runs: what was delivered, when, and what became of it.
    Runs(runs::RunsArgs),
    /// The quality report of a run (to send back to the provider); or
    /// `report consumption --provider P --month YYYY-MM`: who read P's datasets.
    Report(runs::ReportArgs),
    /// Reprocess a run's delivery from the raw zone (after a contract fix).
    Replay(runs::ReplayArgs),
    /// Rejected rows: list, show, re-admit.
    Quarantine {
        #[command(subcommand)]
        command: runs::QuarantineCommand,
    },
    /// Publish an amplo dataset as open data: CSV and Parquet files plus
    /// DCAT-AP metadata (catalog.jsonld) for a CKAN portal to harvest.
    Publish(governance::PublishArgs),
    /// Run read-only SQL over the lake.
    Query(query::QueryArgs),
    /// List datasets.
    Datasets {
        /// How to print: a table for people, or JSON lines for scripts.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// List the snapshots of a dataset.
    Snapshots {
        /// The dataset's name.
        dataset: String,
        /// How to print: a table for people, or JSON lines for scripts.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// List the data files of a dataset.
    Files {
        /// The dataset's name.
        dataset: String,
        /// How to print: a table for people, or JSON lines for scripts.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Set tags on a dataset (KEY=VALUE ...), or list them when none are given.
    Tag {
        /// The dataset's name.
        dataset: String,
        /// Tags to set, as KEY=VALUE (each a new snapshot); none lists the
        /// dataset's tags.
        tags: Vec<String>,
    },
    /// Remove files no snapshot needs: expired snapshots' files and orphans.
    Vacuum(lake::VacuumArgs),
    /// Rewrite small files and files with deleted rows (upserts) into
    /// fewer files; earlier snapshots still read the old ones.
    Compact(lake::CompactArgs),
    /// Master keys: rotation and crypto-shredding.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Deliveries kept in the raw zone (original bytes, encrypted).
    Raw {
        #[command(subcommand)]
        command: raw::RawCommand,
    },
    /// Check the catalog, the object store and the key provider for real.
    Check {
        /// Also read every data file, raw-zone delivery and quarantine in
        /// full: sizes and SHA-256 against the catalog, every encrypted
        /// module authenticated. Exits non-zero naming anything damaged.
        #[arg(long)]
        deep: bool,
    },
    /// Run the configured sources on their schedules until SIGTERM/SIGINT.
    Daemon {
        /// The folder of *.source.toml files (default: daemon.sources in lagoa.toml).
        #[arg(long)]
        sources: Option<PathBuf>,
    },
    /// Run one configured source now, by hand (with its lease and retries).
    Run {
        /// The source's name.
        source: String,
        /// The folder of *.source.toml files (default: daemon.sources in lagoa.toml).
        #[arg(long)]
        sources: Option<PathBuf>,
    },
    /// Configured sources: list with last and next runs, pause, resume.
    Sources {
        #[command(subcommand)]
        command: Option<schedule::SourcesCommand>,
        /// The folder of *.source.toml files (default: daemon.sources in lagoa.toml).
        #[arg(long, global = true)]
        sources: Option<PathBuf>,
    },
    /// Serve the operators' web console (runs, sources, datasets).
    Serve {
        /// Address to listen on (default: console.listen in lagoa.toml).
        #[arg(long)]
        listen: Option<String>,
        /// The folder of *.source.toml files (default: daemon.sources in lagoa.toml).
        #[arg(long)]
        sources: Option<PathBuf>,
    },
    /// Institutions of the agreement (providers, consumers, coordinator).
    Institution {
        #[command(subcommand)]
        command: access::InstitutionCommand,
    },
    /// People and service accounts, with their roles.
    User {
        #[command(subcommand)]
        command: access::UserCommand,
    },
    /// API tokens: issue, list, revoke.
    Token {
        #[command(subcommand)]
        command: access::TokenCommand,
    },
    /// A dataset's categorisation: level, provider, justification (versioned).
    Dataset {
        #[command(subcommand)]
        command: governance::DatasetCommand,
    },
    /// Requests for datasets: file, list (with deadlines), approve, deny.
    Request {
        #[command(subcommand)]
        command: governance::RequestCommand,
    },
    /// Grants from approved requests: list, revoke.
    Grant {
        #[command(subcommand)]
        command: governance::GrantCommand,
    },
    /// The audit trail: verify its chain, list entries.
    Audit {
        #[command(subcommand)]
        command: access::AuditCommand,
    },
    /// Policy indicators: list, run, their runs, verify a run by recomputing it.
    Indicator {
        #[command(subcommand)]
        command: indicators::IndicatorCommand,
    },
    /// A synthetic state: generate its deliveries, or run the whole story on a lake.
    Demo {
        #[command(subcommand)]
        command: demo::DemoCommand,
    },
    /// A Ballista cluster for governed queries: its scheduler and executors.
    Cluster {
        #[command(subcommand)]
        command: cluster::ClusterCommand,
    },
    /// Print the shell completion script of `lagoa`, e.g.
    /// `lagoa completions bash > /etc/bash_completion.d/lagoa`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

/// Runs the command: opens the lake where it needs one, and hands over.
pub(crate) async fn run(cli: Cli) -> Result<()> {
    let dir = cli.lake;
    let token = cli.token.as_deref();
    match cli.command {
        Command::Init(args) => lake::init(dir, args).await,
        Command::Completions { shell } => completions(shell),
        Command::Cluster { command } => cluster::cluster(&dir, command).await,
        Command::Demo { command } => demo::command(&dir, command).await,
        Command::Source { command } => {
            let lake = match command.needs_lake() {
                true => Some(open(&dir).await?),
                false => None,
            };
            ingest::source(lake.as_ref(), command).await
        }
        Command::Contract { command } => {
            let lake = match command.needs_lake() {
                true => Some(open(&dir).await?),
                false => None,
            };
            contract::contract(lake.as_ref(), command).await
        }
        Command::Daemon { sources } => {
            let lake = open(&dir).await?;
            let folder = schedule::sources_dir(&dir, &lake, sources);
            schedule::daemon(lake, &folder).await
        }
        Command::Run { source, sources } => {
            let lake = open(&dir).await?;
            let folder = schedule::sources_dir(&dir, &lake, sources);
            schedule::run_now(lake, &folder, &source).await
        }
        Command::Sources { command, sources } => {
            let lake = open(&dir).await?;
            let folder = schedule::sources_dir(&dir, &lake, sources);
            let command = command.unwrap_or(schedule::SourcesCommand::List { json: false });
            schedule::sources(lake, &folder, command).await
        }
        Command::Serve { listen, sources } => {
            let lake = open(&dir).await?;
            let folder = schedule::sources_dir(&dir, &lake, sources);
            schedule::serve(lake, &folder, listen).await
        }
        Command::Query(args) => query::query(open(&dir).await?, token, args).await,
        command => with_lake(&open(&dir).await?, token, command).await,
    }
}

/// The commands that work on an open lake and nothing else.
async fn with_lake(lake: &Lake, token: Option<&str>, command: Command) -> Result<()> {
    match command {
        Command::Ingest(args) => ingest::ingest(lake, args).await,
        Command::Runs(args) => runs::runs(lake, args).await,
        Command::Report(args) if args.run == "consumption" => {
            governance::consumption(lake, token, args.provider, args.month, args.format).await
        }
        Command::Report(args) => runs::report(lake, &args).await,
        Command::Replay(args) => runs::replay(lake, args).await,
        Command::Quarantine { command } => runs::quarantine(lake, command).await,
        Command::Publish(args) => governance::publish_command(lake, token, args).await,
        Command::Datasets { format } => query::datasets(lake, format).await,
        Command::Snapshots { dataset, format } => query::snapshots(lake, dataset, format).await,
        Command::Files { dataset, format } => query::files(lake, dataset, format).await,
        Command::Tag { dataset, tags } => query::tag(lake, dataset, tags).await,
        Command::Vacuum(args) => lake::vacuum(lake, args).await,
        Command::Compact(args) => lake::compact(lake, args).await,
        Command::Keys { command } => keys::keys(lake, token, command).await,
        Command::Raw { command } => raw::raw(lake, command).await,
        Command::Check { deep } => lake::check(lake, deep).await,
        Command::Institution { command } => access::institution(lake, token, command).await,
        Command::User { command } => access::user(lake, token, command).await,
        Command::Token { command } => access::token(lake, token, command).await,
        Command::Audit { command } => access::audit(lake, command).await,
        Command::Indicator { command } => indicators::command(lake, command).await,
        Command::Dataset { command } => governance::dataset(lake, token, command).await,
        Command::Request { command } => governance::request(lake, token, command).await,
        Command::Grant { command } => governance::grant(lake, token, command).await,
        Command::Init(_)
        | Command::Demo { .. }
        | Command::Source { .. }
        | Command::Contract { .. }
        | Command::Daemon { .. }
        | Command::Run { .. }
        | Command::Sources { .. }
        | Command::Serve { .. }
        | Command::Query(_)
        | Command::Completions { .. }
        | Command::Cluster { .. } => unreachable!("served by run()"),
    }
}

/// Writes the completion script to stdout. Built in memory first: the
/// generator panics on a write error, and a closed pipe (`| head`) is an
/// ordinary end, not a crash.
fn completions(shell: clap_complete::Shell) -> Result<()> {
    use clap::CommandFactory;
    use std::io::Write;
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "lagoa", &mut script);
    match std::io::stdout().lock().write_all(&script) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        written => Ok(written?),
    }
}

async fn open(dir: &Path) -> Result<Lake> {
    Ok(Lake::open(dir).await?)
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// `lagoa <path> --help` for every command, and each argument there
    /// without a help line.
    fn arguments_without_help(command: &clap::Command, path: &str, found: &mut Vec<String>) {
        for arg in command.get_arguments() {
            let builtin = matches!(arg.get_id().as_str(), "help" | "version");
            if !builtin && !arg.is_hide_set() && arg.get_help().is_none() {
                found.push(format!("{path} {}", arg.get_id()));
            }
        }
        for sub in command.get_subcommands() {
            if sub.get_about().is_none() && sub.get_name() != "help" {
                found.push(format!("{path} {} (the command)", sub.get_name()));
            }
            arguments_without_help(sub, &format!("{path} {}", sub.get_name()), found);
        }
    }

    #[test]
    fn every_command_and_argument_has_a_help_line() {
        let mut found = Vec::new();
        arguments_without_help(&Cli::command(), "lagoa", &mut found);
        assert!(found.is_empty(), "without help: {found:#?}");
    }
}
