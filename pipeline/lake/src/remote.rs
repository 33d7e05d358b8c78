//! A dataset's table and its scan as they travel to another process (a
//! cluster's scheduler and executors): what the snapshot names (the files,
//! their statistics and deletion vectors), never a key. The receiving
//! process decrypts with its own key provider, through the gate the query
//! allows.

use crate::catalog::model::{DataFileInfo, DatasetInfo, FileDeletes};
use crate::crypto::{LakeCrypto, LakeEncryptionFactory};
use crate::deletion::DeletionVector;
use crate::error::LakeError;
use crate::table::{LakeScanExec, LakeTable, scan_config};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::ParquetRowSelection;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::utils::collect_columns;
use datafusion::physical_plan::ExecutionPlan;
use object_store::ObjectStore;
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;

/// A [`LakeTable`] on the wire: the dataset and the files it reads.
#[derive(Debug, Serialize, Deserialize)]
pub struct TableOnWire {
    pub dataset: DatasetInfo,
    files: Vec<FileOnWire>,
    encrypted: bool,
    release: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct FileOnWire {
    #[serde(flatten)]
    file: DataFileInfo,
    /// The deletion vector: the snapshot that recorded it, and its text form.
    deletes: Option<(i64, String)>,
}

impl TableOnWire {
    /// `table` with its files, which must have been read already
    /// ([`LakeTable::files`]): encoding cannot wait on the catalog.
    pub fn of(table: &LakeTable) -> Result<Self, LakeError> {
        let files = table.loaded_files().ok_or_else(|| {
            LakeError::Invalid(format!(
                "the files of dataset {} were not read before the plan left",
                table.dataset().name
            ))
        })?;
        Ok(TableOnWire {
            dataset: table.dataset().clone(),
            files: files
                .iter()
                .map(|f| FileOnWire {
                    deletes: f.deletes.as_ref().map(|d| (d.since, d.vector.encode())),
                    file: f.clone(),
                })
                .collect(),
            encrypted: table.crypto().enabled(),
            release: None,
        })
    }

    pub fn encrypted(&self) -> bool {
        self.encrypted
    }

    /// What the receiver checks before releasing a personal key for it.
    pub fn with_release(mut self, release: Option<String>) -> Self {
        self.release = release;
        self
    }

    pub fn release(&self) -> Option<&str> {
        self.release.as_deref()
    }

    /// The table again, reading through `crypto` and `store`.
    pub fn into_table(
        self,
        crypto: Arc<LakeCrypto>,
        store: Arc<dyn ObjectStore>,
    ) -> Result<LakeTable, LakeError> {
        let files = self
            .files
            .into_iter()
            .map(|f| {
                let mut file = f.file;
                file.deletes = match f.deletes {
                    Some((since, text)) => Some(FileDeletes {
                        since,
                        vector: Arc::new(DeletionVector::decode(&text).map_err(|e| {
                            LakeError::Invalid(format!(
                                "deletion vector of {} on the wire: {e}",
                                file.path
                            ))
                        })?),
                    }),
                    None => None,
                };
                Ok(file)
            })
            .collect::<Result<Vec<_>, LakeError>>()?;
        let release = self.release.map(Arc::from);
        Ok(LakeTable::new(self.dataset, files, crypto, store)?.with_release(release))
    }
}

/// A [`LakeScanExec`] on the wire. Its Parquet scan travels as DataFusion
/// encodes it (files, ranges, projection, predicate, options); what that
/// encoding drops travels here: the dataset, and the rows of each file that
/// later upserts deleted. The decryption is never encoded: the receiver
/// sets its own.
#[derive(Debug, Serialize, Deserialize)]
pub struct ScanOnWire {
    dataset: String,
    group_paths: Vec<Vec<String>>,
    release: Option<String>,
    /// Each file (or byte range of one) read with a row selection.
    selections: Vec<FileSelection>,
}

/// What a decoded scan reads: the columns it reads or filters on (every
/// column without a projection), and the files it lists that are not its
/// dataset's (the plan, not the catalog, lists them: a file of another
/// dataset read under this one's name would escape its ticket).
#[derive(Debug)]
pub struct ScanReads {
    pub columns: BTreeSet<String>,
    pub foreign_files: Vec<String>,
}

/// The rows of one file, or byte range of one, that a scan reads.
#[derive(Debug, Serialize, Deserialize)]
struct FileSelection {
    path: String,
    range: Option<(i64, i64)>,
    /// `(skip, rows)`, in order.
    selectors: Vec<(bool, usize)>,
}

impl ScanOnWire {
    pub fn of(scan: &LakeScanExec) -> Self {
        let mut selections = Vec::new();
        if let Some(config) = scan_config(scan.inner()) {
            for file in config.file_groups.iter().flat_map(|g| g.iter()) {
                if let Some(selection) = file.extensions.get::<ParquetRowSelection>() {
                    selections.push(FileSelection {
                        path: file.object_meta.location.to_string(),
                        range: file.range.as_ref().map(|r| (r.start, r.end)),
                        selectors: selection
                            .selection()
                            .iter()
                            .map(|s| (s.skip, s.row_count))
                            .collect(),
                    });
                }
            }
        }
        ScanOnWire {
            dataset: scan.dataset().to_owned(),
            group_paths: scan.group_paths().to_vec(),
            release: scan.release().map(|r| r.to_string()),
            selections,
        }
    }

    pub fn dataset(&self) -> &str {
        &self.dataset
    }

    /// What the table this scan reads carried: the receiver checks it
    /// before it chooses the keys to decrypt with.
    pub fn release(&self) -> Option<&str> {
        self.release.as_deref()
    }

    /// What a decoded scan (`inner`) of `dataset` reads; `None` if `inner`
    /// is no file scan.
    pub fn reads(inner: &Arc<dyn ExecutionPlan>, dataset: &str) -> Option<ScanReads> {
        let config = scan_config(inner)?;
        let source = &config.file_source;
        let mut exprs: Vec<Arc<dyn PhysicalExpr>> = Vec::new();
        let mut columns: BTreeSet<String> = BTreeSet::new();
        match source.projection() {
            Some(projection) => exprs.extend(projection.iter().map(|p| Arc::clone(&p.expr))),
            None => columns.extend(
                config
                    .file_schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone()),
            ),
        }
        exprs.extend(source.filter());
        for expr in &exprs {
            columns.extend(collect_columns(expr).iter().map(|c| c.name().to_owned()));
        }
        let prefix = crate::writer::dataset_prefix(dataset);
        let foreign_files = config
            .file_groups
            .iter()
            .flat_map(|g| g.iter())
            .map(|f| f.object_meta.location.to_string())
            .filter(|path| !path.starts_with(&prefix))
            .collect();
        Some(ScanReads {
            columns,
            foreign_files,
        })
    }

    /// Whether `plan` is a scan of files (of any format, any dataset).
    pub fn is_file_scan(plan: &Arc<dyn ExecutionPlan>) -> bool {
        scan_config(plan).is_some()
    }

    /// The scan again over `inner` (DataFusion's decoding of the Parquet
    /// scan), decrypting through `crypto` and skipping the deleted rows.
    pub fn into_exec(
        self,
        inner: &Arc<dyn ExecutionPlan>,
        crypto: Arc<LakeCrypto>,
        store: Arc<dyn ObjectStore>,
    ) -> DfResult<LakeScanExec> {
        let config = scan_config(inner).ok_or_else(|| {
            DataFusionError::Internal("a lake scan arrived without its Parquet scan".into())
        })?;
        let source: &dyn std::any::Any = config.file_source.as_ref();
        let parquet = source.downcast_ref::<ParquetSource>().ok_or_else(|| {
            DataFusionError::Internal(
                "a lake scan arrived over a source that is not Parquet".into(),
            )
        })?;
        let source = parquet
            .clone()
            .with_encryption_factory(Arc::new(LakeEncryptionFactory(Arc::clone(&crypto))));
        let groups = config
            .file_groups
            .iter()
            .map(|group| {
                FileGroup::new(
                    group
                        .iter()
                        .map(|file| self.with_selection(file.clone()))
                        .collect(),
                )
            })
            .collect();
        let rebuilt = FileScanConfigBuilder::from(config.clone())
            .with_source(Arc::new(source))
            .with_file_groups(groups)
            .build();
        Ok(LakeScanExec::over(
            self.dataset,
            self.group_paths,
            (crypto, store),
            DataSourceExec::from_data_source(rebuilt),
        ))
    }

    fn with_selection(&self, file: PartitionedFile) -> PartitionedFile {
        let path = file.object_meta.location.to_string();
        let range = file.range.as_ref().map(|r| (r.start, r.end));
        match self
            .selections
            .iter()
            .find(|s| s.path == path && s.range == range)
        {
            Some(selection) => {
                let selectors: Vec<RowSelector> = selection
                    .selectors
                    .iter()
                    .map(|(skip, rows)| {
                        if *skip {
                            RowSelector::skip(*rows)
                        } else {
                            RowSelector::select(*rows)
                        }
                    })
                    .collect();
                file.with_extension(ParquetRowSelection::new(RowSelection::from(selectors)))
            }
            None => file,
        }
    }
}
