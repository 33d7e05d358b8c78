//! `lagoa init`, `check`, `vacuum` and `compact`: the lake's own upkeep.

use crate::output::human_bytes;
use anyhow::{Result, anyhow, bail};
use clap::Args;
use lagoa_core::DatasetName;
use lagoa_lake::{InitOptions, LOCAL_KEYSTORE_WARNING, Lake};
use std::path::PathBuf;

#[derive(Args)]
pub(super) struct InitArgs {
    /// Directory of the new lake (default: --lake).
    dir: Option<PathBuf>,
    /// Catalog database: sqlite://catalog.db (default) or postgres://user@host/db.
    #[arg(long)]
    catalog: Option<String>,
    /// Object store: file://store (default), memory:// or s3://bucket/prefix.
    #[arg(long)]
    storage: Option<String>,
    /// S3 endpoint for S3-compatible servers.
    #[arg(long)]
    endpoint: Option<String>,
    /// S3 region (default: the endpoint's, or us-east-1).
    #[arg(long)]
    region: Option<String>,
    /// Allow a plain http:// S3 endpoint (trusted networks only).
    #[arg(long)]
    allow_http: bool,
    /// Rewrite an existing lagoa.toml (keys and data are kept).
    #[arg(long)]
    force: bool,
    /// Who holds the master keys: local (a key file beside the lake, one
    /// machine only), pkcs11 (a hardware security module's token) or kms
    /// (a service speaking the AWS KMS API).
    #[arg(long, default_value = "local", value_parser = ["local", "pkcs11", "kms"])]
    keys: String,
    #[command(flatten)]
    provider: KeyProviderArgs,
    /// local: what seals the key store's keys: key-file (a random key kept
    /// outside the lake) or passphrase (stretched with Argon2id).
    #[arg(long, default_value = "key-file", value_parser = ["key-file", "passphrase"])]
    seal: String,
    /// local, key-file seal: where the seal key file is (made if missing;
    /// default: a new file under ~/.config/lagoa/seal/). Keep it apart
    /// from the lake's backups.
    #[arg(long)]
    seal_key_file: Option<String>,
    /// local, passphrase seal: the environment variable holding it.
    #[arg(long, default_value = "LAGOA_KEYSTORE_PASSPHRASE")]
    seal_passphrase_env: String,
    /// local, passphrase seal: a file holding it (mode 0600), read when
    /// the variable is not set.
    #[arg(long)]
    seal_passphrase_file: Option<String>,
    /// Benchmarks only: write unencrypted Parquet.
    #[arg(long, hide = true)]
    insecure_no_encryption: bool,
}

/// Where an HSM or a KMS is, for `lagoa init --keys` and `lagoa keys
/// migrate --to`.
#[derive(Args)]
pub(super) struct KeyProviderArgs {
    /// kms: the service's address (credentials from AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY, as for storage).
    #[arg(long)]
    kms_endpoint: Option<String>,
    /// kms: the region requests are signed for (default us-east-1).
    #[arg(long)]
    kms_region: Option<String>,
    /// kms: allow a plain http:// endpoint (trusted networks only).
    #[arg(long)]
    kms_allow_http: bool,
    /// kms: aliases are alias/<prefix><dataset>/<purpose>/v<N> (default lagoa/).
    #[arg(long)]
    kms_alias_prefix: Option<String>,
    /// pkcs11: the token vendor's module (a shared library).
    #[arg(long)]
    pkcs11_module: Option<String>,
    /// pkcs11: the label of the token that holds the keys.
    #[arg(long)]
    pkcs11_token: Option<String>,
    /// pkcs11: the environment variable holding the user PIN.
    #[arg(long, default_value = "LAGOA_PKCS11_PIN")]
    pkcs11_pin_env: String,
    /// pkcs11: a file holding the user PIN (mode 0600), relative to the
    /// lake, read when the variable is not set.
    #[arg(long)]
    pkcs11_pin_file: Option<String>,
}

impl KeyProviderArgs {
    /// `[keys]` for `provider` with these settings; what a provider misses
    /// is named by the configuration's own check.
    pub(super) fn keys_config(self, provider: String) -> lagoa_lake::config::KeysConfig {
        lagoa_lake::config::KeysConfig {
            provider,
            kms_endpoint: self.kms_endpoint.unwrap_or_default(),
            kms_region: self.kms_region.unwrap_or_else(|| "us-east-1".into()),
            kms_allow_http: self.kms_allow_http,
            kms_alias_prefix: self.kms_alias_prefix.unwrap_or_else(|| "lagoa/".into()),
            pkcs11_module: self.pkcs11_module.unwrap_or_default(),
            pkcs11_token: self.pkcs11_token.unwrap_or_default(),
            pkcs11_pin_env: self.pkcs11_pin_env,
            pkcs11_pin_file: self.pkcs11_pin_file.unwrap_or_default(),
            ..Default::default()
        }
    }
}

#[derive(Args)]
pub(super) struct VacuumArgs {
    /// Say what would be removed, and remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// Only remove orphans older than this (default: retention.orphan_min_age).
    #[arg(long)]
    min_age: Option<String>,
}

#[derive(Args)]
pub(super) struct CompactArgs {
    /// Only this dataset (default: every dataset).
    dataset: Option<String>,
    /// Say what would be rewritten, and rewrite nothing.
    #[arg(long)]
    dry_run: bool,
}

/// A path given on the command line, made absolute (the configuration
/// resolves relative paths against the lake, not the shell's directory).
fn absolute(path: String) -> String {
    std::path::absolute(&path)
        .map(|p| p.display().to_string())
        .unwrap_or(path)
}

pub(super) async fn init(default_dir: PathBuf, args: InitArgs) -> Result<()> {
    let dir = args.dir.unwrap_or(default_dir);
    let options = InitOptions {
        catalog_url: args.catalog,
        storage_url: args.storage,
        endpoint: args.endpoint,
        region: args.region,
        allow_http: args.allow_http,
        insecure_no_encryption: args.insecure_no_encryption,
        force: args.force,
        keys: Some(lagoa_lake::config::KeysConfig {
            seal: args.seal,
            seal_key_file: args.seal_key_file.map(absolute).unwrap_or_default(),
            seal_passphrase_env: args.seal_passphrase_env,
            seal_passphrase_file: args.seal_passphrase_file.map(absolute).unwrap_or_default(),
            ..args.provider.keys_config(args.keys)
        }),
    };
    let lake = Lake::init(&dir, &options).await?;
    println!("Created a lake in {}", dir.display());
    println!("  configuration  {}", dir.join("lagoa.toml").display());
    println!("  catalog        {}", lake.catalog.location());
    println!("  storage        {}", lake.store.location);
    println!("  keys           {}", lake.config.keys.describe());
    if lake.uses_local_keystore() {
        let store = dir.join(&lake.config.keys.path);
        if let Some(file) = lagoa_lake::keys::LocalKeyStore::named_seal_key_file(&store) {
            println!("  seal key file  {file}");
            eprintln!(
                "\nThe master keys are sealed by {file}: keep it, and keep it apart from the lake's backups.\nWithout it no file of this lake can be read."
            );
        }
        eprintln!("\n{}\n", loud(LOCAL_KEYSTORE_WARNING));
    }
    if args.insecure_no_encryption {
        eprintln!(
            "{}",
            loud(
                "WARNING: encryption is OFF in this lake. It exists only to measure the cost of encryption."
            )
        );
    }
    println!(
        "Next: lagoa --lake {} ingest <file.csv> --dataset <name> --level <amplo|corporativo|especial>",
        dir.display()
    );
    Ok(())
}

pub(super) async fn check(lake: &Lake, deep: bool) -> Result<()> {
    let report = lake.check().await?;
    println!(
        "catalog  ok  {} (latest snapshot {})",
        report.catalog, report.latest_snapshot
    );
    println!("storage  ok  {}", report.store);
    println!("keys     ok  {}", report.keys);
    if deep {
        deep_check(lake).await?;
    }
    Ok(())
}

/// `check --deep`, with a progress bar on a terminal.
async fn deep_check(lake: &Lake) -> Result<()> {
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} verifying {pos}/{len} objects {wide_bar} {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let progress = {
        let bar = bar.clone();
        move |done: u64, total: u64| {
            bar.set_length(total);
            bar.set_position(done);
        }
    };
    let report = lagoa_lake::deep_check::deep_check(lake, &progress).await?;
    bar.finish_and_clear();
    for d in &report.damaged {
        let snapshot = d
            .snapshot_id
            .map(|s| format!(", snapshot {s}"))
            .unwrap_or_default();
        println!(
            "DAMAGED  {} of dataset {}{snapshot}: {} {}",
            d.kind, d.dataset, d.path, d.problem
        );
    }
    if !report.damaged.is_empty() {
        bail!(
            "{} of {} object(s) damaged: restore them from a backup of the store, or replay the deliveries from the raw zone",
            report.damaged.len(),
            report.objects
        );
    }
    println!(
        "deep     ok  {} object(s), {} read, sizes, SHA-256 and every encrypted module verified",
        report.objects,
        human_bytes(report.bytes)
    );
    Ok(())
}

pub(super) async fn vacuum(lake: &Lake, args: VacuumArgs) -> Result<()> {
    let min_age = args
        .min_age
        .map(|m| lagoa_lake::config::parse_duration(&m))
        .transpose()
        .map_err(|e| anyhow!(e))?;
    let report = lake.vacuum(args.dry_run, min_age).await?;
    let verb = if args.dry_run {
        "Would remove"
    } else {
        "Removed"
    };
    for path in &report.expired_files {
        println!("{verb} expired  {path}");
    }
    for path in &report.orphan_files {
        println!("{verb} orphan   {path}");
    }
    for path in &report.partial_uploads {
        println!("{verb} partial  {path}");
    }
    println!(
        "{verb} {} expired and {} orphan file(s) and {} partial upload(s), {}",
        report.expired_files.len(),
        report.orphan_files.len(),
        report.partial_uploads.len(),
        human_bytes(report.bytes)
    );
    Ok(())
}

pub(super) async fn compact(lake: &Lake, args: CompactArgs) -> Result<()> {
    let dataset = args.dataset.map(DatasetName::new).transpose()?;
    let dry_run = args.dry_run;
    let done = lagoa_lake::compact::compact(lake, dataset.as_ref(), dry_run).await?;
    if done.is_empty() {
        println!("Nothing to compact.");
    }
    let failed = done.iter().filter(|c| c.error.is_some()).count();
    for c in done {
        let what = format!(
            "{}: {} file(s), {} rows ({} deleted row(s) folded), {}",
            c.dataset,
            c.files_before,
            c.rows,
            c.deleted_rows,
            human_bytes(c.bytes_before as u64)
        );
        match (dry_run, c.snapshot, c.skipped, c.error) {
            (true, ..) => println!("Would compact {what}"),
            (false, _, _, Some(error)) => eprintln!("Could not compact {what}: {error}"),
            (false, _, Some(why), None) => println!("Left {what} as is: {why}"),
            (false, snapshot, None, None) => println!(
                "Compacted {what} into {} file(s), {} (snapshot {})",
                c.files_after,
                human_bytes(c.bytes_after as u64),
                snapshot.unwrap_or_default()
            ),
        }
    }
    if failed > 0 {
        bail!("{failed} dataset(s) could not be compacted (see above); nothing of them changed");
    }
    Ok(())
}

fn loud(text: &str) -> String {
    let line = "!".repeat(78);
    format!("{line}\n{text}\n{line}")
}
