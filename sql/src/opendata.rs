//! Open data: an `amplo` dataset published as files plus DCAT-AP metadata
//! (JSON-LD) that a CKAN portal such as dados.gov.br harvests
//! (ckanext-dcat reads `catalog.jsonld`).
//!
//! `lagoa publish DATASET --out DIR`: stewards of the dataset's provider
//! and admins. Only `amplo` data leaves, and only as it is in the lake at
//! the latest snapshot; the export is recorded in the audit trail (rows,
//! bytes, snapshot). The published files are plaintext on purpose: they
//! are open data, written where the steward says, outside the lake.
//!
//! Files written into DIR:
//! - `<dataset>.csv` (UTF-8, comma-separated, header) and
//!   `<dataset>.parquet` (plain Parquet, Snappy);
//! - `catalog.jsonld`: a `dcat:Catalog` with the datasets published in DIR
//!   (publishing another dataset into DIR adds it), each with its
//!   distributions (download URL, media type, size, SHA-256).
//!
//! Each file is written beside its final name and moved into place only
//! when complete, hashed as it is written: a failed publication leaves the
//! previous files and catalog as they were, and a catalog that is there
//! but cannot be read is refused, not replaced.

use datafusion::arrow::array::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use futures::StreamExt;
use lagoa_core::{DatasetName, SharingLevel};
use lagoa_governance::Principal;
use lagoa_governance::stewardship::{self, StewardshipError};
use lagoa_lake::catalog::model::DatasetInfo;
use lagoa_lake::catalog::{AuditEntry, format_micros};
use lagoa_lake::{AsOf, Lake, LakeError};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What `publish` wrote.
#[derive(Debug)]
pub struct Published {
    pub dataset: String,
    pub rows: u64,
    pub files: Vec<PathBuf>,
    pub catalog: PathBuf,
    pub snapshot: i64,
}

/// Where the files will be downloaded from, and who publishes.
#[derive(Debug)]
pub struct PublishOptions<'a> {
    /// The URL the files are served under (`https://dados.pe.gov.br/lagoa/`);
    /// the download URLs are this plus the file name.
    pub base_url: &'a str,
    /// The publisher's name in the metadata (the office).
    pub publisher: &'a str,
    /// The licence URI.
    pub license: &'a str,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StewardshipError + '_ {
    move |e| StewardshipError::Invalid(format!("writing {}: {e}", path.display()))
}

/// A file written as `<name>.partial`, counted and hashed on the way, and
/// renamed to its name by `finish`.
struct StagedFile {
    path: PathBuf,
    partial: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    hasher: Sha256,
    bytes: u64,
}

impl StagedFile {
    fn create(path: PathBuf) -> Result<Self, StewardshipError> {
        let mut partial = path.clone().into_os_string();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file = std::fs::File::create(&partial).map_err(io(&partial))?;
        Ok(Self {
            path,
            partial,
            file: std::io::BufWriter::new(file),
            hasher: Sha256::new(),
            bytes: 0,
        })
    }

    /// Moves the complete file into place: its size and SHA-256 (hex).
    fn finish(mut self) -> Result<(u64, String), StewardshipError> {
        self.file.flush().map_err(io(&self.partial))?;
        std::fs::rename(&self.partial, &self.path).map_err(io(&self.path))?;
        Ok((self.bytes, hex::encode(self.hasher.finalize())))
    }
}

impl Write for StagedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

pub async fn publish(
    lake: &Lake,
    who: &Principal,
    dataset: &str,
    out: &Path,
    options: &PublishOptions<'_>,
) -> Result<Published, StewardshipError> {
    let name = DatasetName::new(dataset.to_owned())
        .map_err(|e| StewardshipError::Invalid(e.to_string()))?;
    let snapshot = lake.catalog.resolve(&AsOf::Latest).await?;
    let info = lake
        .catalog
        .dataset(&name, snapshot)
        .await?
        .ok_or_else(|| StewardshipError::NotFound(format!("no dataset {dataset}")))?;
    let deny = |reason: String| async move {
        record(lake, who, dataset, "denied", Some(&reason), 0, 0).await?;
        Err::<Published, StewardshipError>(StewardshipError::Denied(reason))
    };
    if !stewardship::may_decide(lake, who, dataset).await? {
        return deny(format!(
            "{} may not publish {dataset}: stewards of its provider institution and admins do",
            who.name
        ))
        .await;
    }
    if info.level != SharingLevel::Amplo {
        return deny(format!(
            "{dataset} is {}: only amplo data is published as open data",
            info.level
        ))
        .await;
    }
    // Personal columns (an amplo dataset has them only removed or
    // pseudonymised) are never published: a pseudonym is still personal
    // data (LGPD art. 13 §4).
    let published: Vec<&str> = info
        .columns
        .iter()
        .filter(|c| c.personal.is_none())
        .map(|c| c.name.as_str())
        .collect();
    if published.is_empty() {
        return deny(format!(
            "{dataset} has only personal columns: nothing of it can be published"
        ))
        .await;
    }
    match export(lake, dataset, &info, &published, snapshot, out, options).await {
        Ok((published, bytes)) => {
            record(lake, who, dataset, "ok", None, published.rows, bytes).await?;
            Ok(published)
        }
        Err(e) => {
            let reason = e.to_string();
            record(lake, who, dataset, "error", Some(&reason), 0, 0).await?;
            Err(e)
        }
    }
}

/// Writes the files and the catalog entry of a publication already
/// allowed: what was published, and the bytes of its files.
async fn export(
    lake: &Lake,
    dataset: &str,
    info: &DatasetInfo,
    published: &[&str],
    snapshot: i64,
    out: &Path,
    options: &PublishOptions<'_>,
) -> Result<(Published, u64), StewardshipError> {
    let categorisation = lagoa_governance::GovernanceStore::of(&lake.catalog)
        .categorisation(dataset)
        .await?;
    std::fs::create_dir_all(out).map_err(io(out))?;
    let base = options.base_url.trim_end_matches('/');
    let catalog_path = out.join("catalog.jsonld");
    let mut catalog = read_catalog(&catalog_path, base, options.publisher)?;

    // Stream the table into both files.
    let session = lagoa_lake::session::LakeSession::open(lake, &AsOf::Snapshot(snapshot)).await?;
    let select = published
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let df = session
        .sql(&format!("SELECT {select} FROM \"{dataset}\""))
        .await?;
    let df = lagoa_lake::table::plain_strings(df).map_err(LakeError::from)?;
    let schema = df.schema().inner().clone();
    let csv_path = out.join(format!("{dataset}.csv"));
    let parquet_path = out.join(format!("{dataset}.parquet"));
    let mut csv = datafusion::arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(StagedFile::create(csv_path.clone())?);
    let mut parquet = ArrowWriter::try_new(StagedFile::create(parquet_path.clone())?, schema, None)
        .map_err(|e| StewardshipError::Invalid(e.to_string()))?;
    let mut stream = df
        .execute_stream()
        .await
        .map_err(|e| StewardshipError::Lake(LakeError::from(e)))?;
    let mut rows = 0u64;
    while let Some(batch) = stream.next().await {
        let batch: RecordBatch = batch.map_err(|e| StewardshipError::Lake(LakeError::from(e)))?;
        rows += batch.num_rows() as u64;
        csv.write(&batch).map_err(|e| {
            StewardshipError::Invalid(format!("writing {}: {e}", csv_path.display()))
        })?;
        parquet
            .write(&batch)
            .map_err(|e| StewardshipError::Invalid(e.to_string()))?;
    }
    let csv = csv.into_inner().finish()?;
    let parquet = parquet
        .into_inner()
        .map_err(|e| StewardshipError::Invalid(e.to_string()))?
        .finish()?;

    let mut distributions = Vec::new();
    let mut bytes = 0u64;
    for (path, (size, sha256), media_type, format) in [
        (&csv_path, csv, "text/csv", "CSV"),
        (
            &parquet_path,
            parquet,
            "application/vnd.apache.parquet",
            "PARQUET",
        ),
    ] {
        bytes += size;
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let url = format!("{}/{file}", options.base_url.trim_end_matches('/'));
        distributions.push(json!({
            "@id": url,
            "@type": "dcat:Distribution",
            "dct:title": format!("{dataset} ({format})"),
            "dcat:downloadURL": { "@id": url },
            "dcat:accessURL": { "@id": url },
            "dcat:mediaType": { "@id": format!("https://www.iana.org/assignments/media-types/{media_type}") },
            "dct:format": { "@id": format!("http://publications.europa.eu/resource/authority/file-type/{format}") },
            "dcat:byteSize": { "@value": size.to_string(), "@type": "xsd:nonNegativeInteger" },
            "spdx:checksum": {
                "@type": "spdx:Checksum",
                "spdx:algorithm": { "@id": "spdx:checksumAlgorithm_sha256" },
                "spdx:checksumValue": sha256,
            },
            "dct:license": { "@id": options.license },
        }));
    }

    let modified = lake
        .catalog
        .last_commits()
        .await?
        .into_iter()
        .find(|(d, _)| d == dataset)
        .map(|(_, at)| at);
    let mut entry = json!({
        "@id": format!("{base}/{dataset}"),
        "@type": "dcat:Dataset",
        "dct:identifier": dataset,
        "dct:title": dataset,
        "dct:description": if info.description.is_empty() { format!("Dataset {dataset}") } else { info.description.clone() },
        "dct:publisher": { "@type": "foaf:Agent", "foaf:name": options.publisher },
        "dct:accessRights": { "@id": "http://publications.europa.eu/resource/authority/access-right/PUBLIC" },
        "dct:license": { "@id": options.license },
        "dcat:keyword": published,
        "dct:issued": { "@value": iso(lagoa_lake::catalog::now_micros()), "@type": "xsd:dateTime" },
        "dcat:distribution": distributions,
        "lagoa:snapshot": snapshot,
        "lagoa:rows": rows,
    });
    if let Some(at) = modified {
        entry["dct:modified"] = json!({ "@value": iso(at), "@type": "xsd:dateTime" });
    }
    if let Some(c) = &categorisation {
        entry["dct:creator"] = json!({ "@type": "foaf:Agent", "foaf:name": c.provider });
        if !c.conditions.is_empty() {
            entry["dct:rights"] = json!(c.conditions);
        }
    }

    if let Some(datasets) = catalog["dcat:dataset"].as_array_mut() {
        datasets.retain(|d| d["dct:identifier"] != dataset);
        datasets.push(entry);
    }
    let mut staged = StagedFile::create(catalog_path.clone())?;
    serde_json::to_writer_pretty(&mut staged, &catalog)
        .map_err(|e| StewardshipError::Invalid(format!("writing catalog.jsonld: {e}")))?;
    staged.finish()?;

    Ok((
        Published {
            dataset: dataset.to_owned(),
            rows,
            files: vec![csv_path, parquet_path],
            catalog: catalog_path,
            snapshot,
        },
        bytes,
    ))
}

fn iso(micros: i64) -> String {
    format_micros(micros)
}

/// The catalog already in the folder, or a new one when there is none. One
/// that is there but is not a catalog with a `dcat:dataset` list is
/// refused: replacing it would drop the datasets it lists.
fn read_catalog(path: &Path, base: &str, publisher: &str) -> Result<Value, StewardshipError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let existing: Value = serde_json::from_str(&text).map_err(|e| {
                StewardshipError::Invalid(format!(
                    "{} is not JSON ({e}): fix it or move it away, and publish again",
                    path.display()
                ))
            })?;
            if !existing["dcat:dataset"].is_array() {
                return Err(StewardshipError::Invalid(format!(
                    "{} has no \"dcat:dataset\" list: fix it or move it away, and publish again",
                    path.display()
                )));
            }
            return Ok(existing);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(StewardshipError::Invalid(format!(
                "reading {}: {e}",
                path.display()
            )));
        }
    }
    Ok(json!({
        "@context": {
            "dcat": "http://www.w3.org/ns/dcat#",
            "dct": "http://purl.org/dc/terms/",
            "foaf": "http://xmlns.com/foaf/0.1/",
            "spdx": "http://spdx.org/rdf/terms#",
            "xsd": "http://www.w3.org/2001/XMLSchema#",
            "lagoa": "https://lagoa.dev/ns#"
        },
        "@id": format!("{base}/catalog.jsonld"),
        "@type": "dcat:Catalog",
        "dct:title": format!("Dados abertos — {publisher}"),
        "dct:publisher": { "@type": "foaf:Agent", "foaf:name": publisher },
        "dcat:dataset": []
    }))
}

async fn record(
    lake: &Lake,
    who: &Principal,
    dataset: &str,
    outcome: &str,
    reason: Option<&str>,
    rows: u64,
    bytes: u64,
) -> Result<(), StewardshipError> {
    lake.audit(&AuditEntry {
        principal: who.name.clone(),
        institution: who.institution.clone(),
        action: "open_data_export".into(),
        datasets: vec![dataset.to_owned()],
        subject: Some(dataset.to_owned()),
        outcome: outcome.to_owned(),
        reason: reason.map(str::to_owned),
        rows: rows as i64,
        bytes: bytes as i64,
        ..Default::default()
    })
    .await?;
    Ok(())
}
