//! `lagoa raw`: the deliveries kept in the raw zone, and their original
//! bytes back.

use crate::output::human_bytes;
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use lagoa_core::DatasetName;
use lagoa_lake::Lake;
use lagoa_lake::catalog::format_micros;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub(super) enum RawCommand {
    /// List deliveries received: when, from which file, and what became of them.
    List {
        /// Only the deliveries of this dataset.
        #[arg(long)]
        dataset: Option<String>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Write the original bytes of a delivery to a file.
    Get {
        /// The delivery's id (from `lagoa raw list`).
        raw_id: String,
        /// The file to write (a device such as /dev/stdout is written directly).
        #[arg(long)]
        output: PathBuf,
    },
}

pub(super) async fn raw(lake: &Lake, command: RawCommand) -> Result<()> {
    match command {
        RawCommand::List { dataset, json } => list(lake, dataset, json).await,
        RawCommand::Get { raw_id, output } => get(lake, &raw_id, &output).await,
    }
}

async fn list(lake: &Lake, dataset: Option<String>, json: bool) -> Result<()> {
    let dataset = dataset.map(DatasetName::new).transpose()?;
    let deliveries = lake.catalog.raw_deliveries(dataset.as_ref()).await?;
    if json {
        for d in &deliveries {
            println!("{}", serde_json::to_string(d)?);
        }
        return Ok(());
    }
    println!(
        "{:<36}  {:<16}  {:<20}  {:>10}  {:<9}  {:>8}  source / error",
        "raw_id", "dataset", "received", "bytes", "status", "snapshot"
    );
    for d in &deliveries {
        let snapshot = d.snapshot_id.map(|s| s.to_string()).unwrap_or_default();
        let note = d
            .error
            .as_deref()
            .map(|e| format!("{} ({e})", d.source))
            .unwrap_or_else(|| d.source.clone());
        println!(
            "{:<36}  {:<16}  {:<20}  {:>10}  {:<9}  {:>8}  {note}",
            d.raw_id,
            d.dataset,
            format_micros(d.received_at),
            d.size_bytes,
            d.status,
            snapshot
        );
    }
    Ok(())
}

/// Written beside the output (readable by its owner only: it holds the
/// delivery in clear) and moved into place when complete, so a failure
/// leaves an existing file as it was. A device or a pipe (/dev/stdout) is
/// written directly.
async fn get(lake: &Lake, raw_id: &str, output: &Path) -> Result<()> {
    if lake.catalog.raw_delivery(raw_id).await?.is_none() {
        bail!("no delivery {raw_id} in the raw zone (see `lagoa raw list`)");
    }
    let special = std::fs::metadata(output).is_ok_and(|m| !m.is_file());
    let partial = if special {
        output.to_path_buf()
    } else {
        let mut partial = output.as_os_str().to_owned();
        partial.push(".partial");
        PathBuf::from(partial)
    };
    let written = async {
        let file = if special {
            std::fs::OpenOptions::new().write(true).open(&partial)
        } else {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&partial)
        };
        let mut file = std::io::BufWriter::new(
            file.with_context(|| format!("creating {}", partial.display()))?,
        );
        let bytes = lake.read_raw(raw_id, &mut file).await?;
        std::io::Write::flush(&mut file)?;
        if !special {
            std::fs::rename(&partial, output)
                .with_context(|| format!("moving the delivery to {}", output.display()))?;
        }
        anyhow::Ok(bytes)
    }
    .await;
    let bytes = written.inspect_err(|_| {
        if !special {
            let _ = std::fs::remove_file(&partial);
        }
    })?;
    println!(
        "Wrote {} of delivery {raw_id} to {}",
        human_bytes(bytes),
        output.display()
    );
    Ok(())
}
