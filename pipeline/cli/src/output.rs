//! Writing query results: a table for people, CSV / JSON lines / Parquet
//! for programs. CSV, JSON and Parquet stream batch by batch.

use anyhow::{Context, Result, bail};
use arrow::array::RecordBatch;
use datafusion::dataframe::DataFrame;
use futures::StreamExt;
use std::io::Write;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    Table,
    Csv,
    Json,
    Parquet,
}

pub(crate) async fn write(df: DataFrame, format: Format, output: Option<&Path>) -> Result<u64> {
    let sink: Box<dyn Write + Send> = match output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => {
            if format == Format::Parquet && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                bail!("Parquet output is binary: pass --output FILE or redirect stdout");
            }
            Box::new(std::io::BufWriter::new(std::io::stdout()))
        }
    };
    let schema = df.schema().inner().clone();
    let mut stream = df.execute_stream().await?;
    let mut rows = 0u64;
    match format {
        Format::Table => {
            let mut batches: Vec<RecordBatch> = Vec::new();
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows() as u64;
                batches.push(batch);
            }
            let mut sink = sink;
            let table = arrow::util::pretty::pretty_format_batches(&batches)?;
            writeln!(sink, "{table}")?;
            writeln!(sink, "{rows} row{}", if rows == 1 { "" } else { "s" })?;
            sink.flush()?;
        }
        Format::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(sink);
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows() as u64;
                writer.write(&batch)?;
            }
            writer.into_inner().flush()?;
        }
        Format::Json => {
            let mut writer = arrow::json::LineDelimitedWriter::new(sink);
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows() as u64;
                writer.write(&batch)?;
            }
            writer.finish()?;
        }
        Format::Parquet => {
            let mut writer = parquet::arrow::ArrowWriter::try_new(sink, schema, None)?;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows() as u64;
                writer.write(&batch)?;
            }
            writer.close()?;
        }
    }
    Ok(rows)
}

/// A byte count for people: 1.2 MB.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn byte_counts_read_in_decimal_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500), "1.5 KB");
        assert_eq!(human_bytes(166_600_000), "166.6 MB");
        assert_eq!(human_bytes(u64::MAX), "18446744.1 TB");
    }
}
