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

use crate::stewardship::{self, StewardshipError};
use datafusion::arrow::array::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use futures::StreamExt;
use lagoa_core::{DatasetName, SharingLevel};
use lagoa_lake::catalog::{AuditEntry, Principal, format_micros};
use lagoa_lake::{AsOf, Lake, LakeError};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
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
    let categorisation = lake.catalog.categorisation(dataset).await?;
    std::fs::create_dir_all(out).map_err(io(out))?;

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
    let schema = df.schema().inner().clone();
    let csv_path = out.join(format!("{dataset}.csv"));
    let parquet_path = out.join(format!("{dataset}.parquet"));
    let mut csv = datafusion::arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(std::io::BufWriter::new(
            std::fs::File::create(&csv_path).map_err(io(&csv_path))?,
        ));
    let mut parquet = ArrowWriter::try_new(
        std::fs::File::create(&parquet_path).map_err(io(&parquet_path))?,
        schema,
        None,
    )
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
    drop(csv);
    parquet
        .close()
        .map_err(|e| StewardshipError::Invalid(e.to_string()))?;

    let mut distributions = Vec::new();
    let mut bytes = 0u64;
    for (path, media_type, format) in [
        (&csv_path, "text/csv", "CSV"),
        (&parquet_path, "application/vnd.apache.parquet", "PARQUET"),
    ] {
        let content = std::fs::read(path).map_err(io(path))?;
        bytes += content.len() as u64;
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
            "dcat:byteSize": { "@value": content.len().to_string(), "@type": "xsd:nonNegativeInteger" },
            "spdx:checksum": {
                "@type": "spdx:Checksum",
                "spdx:algorithm": { "@id": "spdx:checksumAlgorithm_sha256" },
                "spdx:checksumValue": hex::encode(Sha256::digest(&content)),
            },
            "dct:license": { "@id": options.license },
        }));
    }

    let base = options.base_url.trim_end_matches('/');
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

    let catalog_path = out.join("catalog.jsonld");
    let mut catalog = read_catalog(&catalog_path, base, options.publisher)?;
    let datasets = catalog["dcat:dataset"]
        .as_array_mut()
        .expect("dcat:dataset is a list");
    datasets.retain(|d| d["dct:identifier"] != dataset);
    datasets.push(entry);
    let text = serde_json::to_string_pretty(&catalog).expect("JSON");
    std::fs::write(&catalog_path, text).map_err(io(&catalog_path))?;

    record(lake, who, dataset, "ok", None, rows, bytes).await?;
    Ok(Published {
        dataset: dataset.to_owned(),
        rows,
        files: vec![csv_path, parquet_path],
        catalog: catalog_path,
        snapshot,
    })
}

fn iso(micros: i64) -> String {
    format_micros(micros)
}

fn read_catalog(path: &Path, base: &str, publisher: &str) -> Result<Value, StewardshipError> {
    if let Ok(text) = std::fs::read_to_string(path)
        && let Ok(existing) = serde_json::from_str::<Value>(&text)
        && existing["dcat:dataset"].is_array()
    {
        return Ok(existing);
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
