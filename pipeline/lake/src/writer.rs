//! Writes a dataset's batches as encrypted Parquet files under
//! `tables/<dataset>/<partition>/<uuidv7>.parquet`, one open file per
//! partition value, rolling to a new file after `target_file_rows`.
//! Rows are sorted by the target's sort column in runs that fit
//! `sort_memory` (see [`crate::sorting`]) before they are encoded.
//!
//! Encoding and encryption are CPU work: [`DatasetWriter`] is synchronous and
//! meant to run on a blocking thread (`spawn_blocking`). Bytes leave in
//! 8 MiB parts through a multipart upload, so memory stays bounded whatever
//! the input size. Nothing written here is visible until the catalog commit.

use crate::catalog::model::{ColumnStats, NewDataFile};
use crate::config::WriterConfig;
use crate::crypto::LakeCrypto;
use crate::error::{LakeError, Result};
use crate::sorting::SortBuffer;
use crate::upload::UploadSink;
use arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::{cast, take_record_batch};
use arrow::datatypes::{DataType, SchemaRef};
use datafusion::functions_aggregate::min_max::{MaxAccumulator, MinAccumulator};
use datafusion::logical_expr::Accumulator;
use lagoa_core::DatasetName;
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::runtime::Handle;

/// How data pages are compressed, chosen per column from measurements on
/// the benchmark's 3 M rows (issue 17; size, and decoding time of the column
/// alone on one core):
///
/// - ordinary columns, LZ4: the columns queries scan. Most are dictionary
///   encoded, and no codec shrinks their bit-packed indices by more than
///   10 %; for the one that is not (`valor`, a decimal), ZSTD level 1 gave
///   14.7 MiB decoded in 18.8 ms, LZ4 17.3 MiB in 9.8 ms, Snappy 17.6 MiB in
///   23.1 ms, none 24.6 MiB in 6.9 ms. ZSTD's decoding was a quarter of the
///   full scan's time.
/// - personal columns, ZSTD level 1: near-unique text (`cpf`) that dominates
///   the file and is seldom scanned whole: 18.2 MiB against 34.1 with LZ4
///   and 30.9 with Snappy. Level 3 gave no smaller file for 35 % more time.
///
/// The file stays smaller than DuckDB's default one for the same rows.
fn column_compression(personal: bool) -> Compression {
    if personal {
        // ZstdLevel's default is level 1.
        Compression::ZSTD(ZstdLevel::default())
    } else {
        Compression::LZ4_RAW
    }
}

/// Longer min/max strings are not kept: they would bloat the catalog.
const MAX_STAT_LEN: usize = 256;

/// Everything the writer needs to know about the dataset.
#[derive(Clone, Debug)]
pub struct WriteTarget {
    pub dataset: DatasetName,
    pub schema: SchemaRef,
    pub personal_columns: Vec<String>,
    pub partition_column: Option<String>,
    /// Rows are written in the order of this column, in runs that fit the
    /// writer's `sort_memory`; `None` keeps their arrival order.
    pub sort_column: Option<String>,
}

pub struct DatasetWriter {
    target: WriteTarget,
    partition_index: Option<usize>,
    /// The column rows are sorted by, when sorting is on.
    sort_index: Option<usize>,
    /// Bytes of rows held for sorting, over every open file.
    held_bytes: usize,
    /// ... and the most they may take: 0 when rows are not sorted.
    sort_budget: usize,
    store: Arc<dyn ObjectStore>,
    crypto: Arc<LakeCrypto>,
    config: WriterConfig,
    handle: Handle,
    open: HashMap<Option<String>, OpenFile>,
    done: Vec<NewDataFile>,
}

impl DatasetWriter {
    /// Must be called from inside a Tokio runtime context (the upload uses it).
    pub fn new(
        target: WriteTarget,
        store: Arc<dyn ObjectStore>,
        crypto: Arc<LakeCrypto>,
        config: WriterConfig,
        handle: Handle,
    ) -> Result<Self> {
        let partition_index = match &target.partition_column {
            None => None,
            Some(column) => {
                Some(
                    target
                        .schema
                        .index_of(column)
                        .map_err(|_| LakeError::Schema {
                            dataset: target.dataset.to_string(),
                            message: format!(
                                "partition column {column} is not a column of the data"
                            ),
                        })?,
                )
            }
        };
        let sort_budget = config.sort_memory_bytes();
        let sort_index = match &target.sort_column {
            Some(column) if sort_budget > 0 => Some(target.schema.index_of(column).map_err(
                |_| LakeError::Schema {
                    dataset: target.dataset.to_string(),
                    message: format!("sort column {column} is not a column of the data"),
                },
            )?),
            _ => None,
        };
        Ok(Self {
            target,
            partition_index,
            sort_budget: if sort_index.is_some() { sort_budget } else { 0 },
            sort_index,
            held_bytes: 0,
            store,
            crypto,
            config,
            handle,
            open: HashMap::new(),
            done: Vec::new(),
        })
    }

    /// Bytes of rows this writer may hold to sort them; 0 when it writes
    /// rows as they come.
    pub fn sort_memory(&self) -> usize {
        self.sort_budget
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.refuse_nulls_in_required_columns(batch)?;
        let Some(index) = self.partition_index else {
            return self.write_partition(None, batch);
        };
        for (value, part) in split_by_partition(batch, index)? {
            self.write_partition(value, &part)?;
        }
        Ok(())
    }

    /// A required column with missing values would make every later read
    /// of the dataset fail: refused before a byte of the batch is written.
    fn refuse_nulls_in_required_columns(&self, batch: &RecordBatch) -> Result<()> {
        for field in self.target.schema.fields() {
            if field.is_nullable() {
                continue;
            }
            let nulls = batch
                .column_by_name(field.name())
                .map_or(batch.num_rows(), |c| c.null_count());
            if nulls > 0 {
                return Err(LakeError::Schema {
                    dataset: self.target.dataset.to_string(),
                    message: format!(
                        "column {} is required (not nullable) but {nulls} row(s) of a batch have no value; nothing of the batch was written",
                        field.name()
                    ),
                });
            }
        }
        Ok(())
    }

    fn write_partition(&mut self, value: Option<String>, batch: &RecordBatch) -> Result<()> {
        if !self.open.contains_key(&value) {
            let file = OpenFile::create(
                &self.target,
                value.clone(),
                &self.store,
                &self.crypto,
                &self.config,
                &self.handle,
                self.sort_index,
            )?;
            self.open.insert(value.clone(), file);
        }
        let file = self.open.get_mut(&value).expect("just inserted");
        self.held_bytes += file.write(batch)?;
        if file.rows >= self.config.target_file_rows {
            let file = self.open.remove(&value).expect("present");
            self.held_bytes -= file.held_bytes;
            self.done.push(file.finish()?);
        }
        self.write_held_rows_over_budget()
    }

    /// While the rows held for sorting take more than `sort_memory`, the
    /// open file holding the most writes its rows out (as one sorted run).
    fn write_held_rows_over_budget(&mut self) -> Result<()> {
        while self.held_bytes > self.sort_budget {
            let Some(file) = self.open.values_mut().max_by_key(|f| f.held_bytes) else {
                break;
            };
            let released = file.held_bytes;
            if released == 0 {
                break;
            }
            file.write_held_rows()?;
            self.held_bytes -= released;
        }
        Ok(())
    }

    /// Closes every open file; returns what to commit.
    pub fn finish(mut self) -> Result<Vec<NewDataFile>> {
        let mut done = std::mem::take(&mut self.done);
        for (_, file) in self.open.drain() {
            done.push(file.finish()?);
        }
        Ok(done)
    }

    /// Abandons open uploads. Files already closed stay as orphans until
    /// `lagoa vacuum` removes them; nothing was committed.
    pub fn abort(mut self) {
        for (_, file) in self.open.drain() {
            file.abort();
        }
    }
}

/// Splits a batch by the string form of its partition column.
fn split_by_partition(
    batch: &RecordBatch,
    index: usize,
) -> Result<Vec<(Option<String>, RecordBatch)>> {
    let values = cast(batch.column(index), &DataType::Utf8)?;
    let values = values
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .expect("cast to Utf8 gives a StringArray");
    let key = |i: usize| {
        if values.is_null(i) {
            None
        } else {
            Some(values.value(i))
        }
    };
    let first = key(0);
    if (1..values.len()).all(|i| key(i) == first) {
        return Ok(vec![(first.map(str::to_owned), batch.clone())]);
    }
    let mut groups: HashMap<Option<&str>, Vec<u32>> = HashMap::new();
    for i in 0..values.len() {
        groups.entry(key(i)).or_default().push(i as u32);
    }
    groups
        .into_iter()
        .map(|(value, rows)| {
            Ok((
                value.map(str::to_owned),
                take_record_batch(batch, &UInt32Array::from(rows))?,
            ))
        })
        .collect()
}

/// A path segment safe in every object store for a partition value.
fn partition_segment(column: &str, value: &Option<String>) -> String {
    let value = match value {
        None => "__null__".to_owned(),
        Some(v) => v
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect(),
    };
    format!("{column}={value}")
}

struct OpenFile {
    file_id: String,
    path: ObjectPath,
    partition_value: Option<String>,
    writer: ArrowWriter<UploadSink>,
    /// Rows accepted, written or held.
    rows: usize,
    /// Rows held to be written sorted, when sorting is on.
    held: Option<SortBuffer>,
    held_bytes: usize,
    row_group_rows: usize,
    master_key_id: Option<String>,
    stats: Vec<ColumnAccumulator>,
}

struct ColumnAccumulator {
    name: String,
    nulls: i64,
    /// None for personal-data columns and types without an order.
    min_max: Option<(MinAccumulator, MaxAccumulator)>,
}

impl OpenFile {
    fn create(
        target: &WriteTarget,
        partition_value: Option<String>,
        store: &Arc<dyn ObjectStore>,
        crypto: &Arc<LakeCrypto>,
        config: &WriterConfig,
        handle: &Handle,
        sort_index: Option<usize>,
    ) -> Result<Self> {
        let file_id = uuid::Uuid::now_v7().to_string();
        let mut path = dataset_prefix(target.dataset.as_str());
        if let Some(column) = &target.partition_column {
            path.push_str(&partition_segment(column, &partition_value));
            path.push('/');
        }
        path.push_str(&format!("{file_id}.parquet"));
        let path = ObjectPath::from(path);

        let columns: Vec<String> = target
            .schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let encryption =
            crypto.file_encryption(&target.dataset, &path, &columns, &target.personal_columns)?;
        let master_key_id = encryption.as_ref().map(|(_, id)| id.clone());
        let mut props = WriterProperties::builder()
            .set_compression(column_compression(false))
            .set_max_row_group_row_count(Some(config.row_group_rows))
            .set_created_by(format!("lagoa {}", env!("CARGO_PKG_VERSION")));
        for personal in &target.personal_columns {
            let column = ColumnPath::from(personal.as_str());
            // No statistics of personal values anywhere, not even encrypted.
            props = props
                .set_column_statistics_enabled(column.clone(), EnabledStatistics::None)
                .set_column_compression(column, column_compression(true));
        }
        if let Some(encryption) = encryption {
            props = props.with_file_encryption_properties(encryption.0);
        }
        let sink = UploadSink::new(Arc::clone(store), path.clone(), handle.clone());
        let writer = ArrowWriter::try_new(sink, Arc::clone(&target.schema), Some(props.build()))
            .map_err(|source| LakeError::Write {
                path: path.to_string(),
                source,
            })?;
        let stats = target
            .schema
            .fields()
            .iter()
            .map(|field| {
                let personal = target.personal_columns.contains(field.name());
                let min_max = if personal || !orderable(field.data_type()) {
                    None
                } else {
                    match (
                        MinAccumulator::try_new(field.data_type()),
                        MaxAccumulator::try_new(field.data_type()),
                    ) {
                        (Ok(min), Ok(max)) => Some((min, max)),
                        _ => None,
                    }
                };
                ColumnAccumulator {
                    name: field.name().clone(),
                    nulls: 0,
                    min_max,
                }
            })
            .collect();
        Ok(Self {
            file_id,
            path,
            partition_value,
            writer,
            rows: 0,
            held: sort_index.map(SortBuffer::new),
            held_bytes: 0,
            row_group_rows: config.row_group_rows,
            master_key_id,
            stats,
        })
    }

    /// Takes the batch's rows; returns the bytes newly held for sorting.
    fn write(&mut self, batch: &RecordBatch) -> Result<usize> {
        for (column, acc) in batch.columns().iter().zip(self.stats.iter_mut()) {
            acc.nulls += column.null_count() as i64;
            if let Some((min, max)) = &mut acc.min_max {
                let arrays: [ArrayRef; 1] = [Arc::clone(column)];
                if min.update_batch(&arrays).is_err() || max.update_batch(&arrays).is_err() {
                    acc.min_max = None;
                }
            }
        }
        self.rows += batch.num_rows();
        if let Some(held) = &mut self.held {
            let bytes = batch.get_array_memory_size();
            held.push(batch.clone());
            self.held_bytes += bytes;
            return Ok(bytes);
        }
        self.writer
            .write(batch)
            .map_err(|source| LakeError::Write {
                path: self.path.to_string(),
                source,
            })?;
        Ok(0)
    }

    /// Writes the held rows in order, as whole row groups: the last one of
    /// the run is closed short rather than mixed with the next run's rows.
    fn write_held_rows(&mut self) -> Result<()> {
        let Some(held) = &mut self.held else {
            return Ok(());
        };
        if held.rows() == 0 {
            return Ok(());
        }
        let writer = &mut self.writer;
        held.drain_sorted(self.row_group_rows, |batch| writer.write(&batch))
            .and_then(|()| writer.flush())
            .map_err(|source| LakeError::Write {
                path: self.path.to_string(),
                source,
            })?;
        self.held_bytes = 0;
        Ok(())
    }

    fn finish(mut self) -> Result<NewDataFile> {
        self.write_held_rows()?;
        let path = self.path.to_string();
        let mut sink = self
            .writer
            .into_inner()
            .map_err(|source| LakeError::Write {
                path: path.clone(),
                source,
            })?;
        let (written, sha256) = sink
            .complete()
            .map_err(LakeError::io(format!("uploading {path}")))?;
        let stats = self
            .stats
            .iter_mut()
            .map(|acc| {
                let (min, max) = match &mut acc.min_max {
                    Some((min, max)) => (
                        stat_string(min.evaluate().ok()),
                        stat_string(max.evaluate().ok()),
                    ),
                    None => (None, None),
                };
                ColumnStats {
                    column: acc.name.clone(),
                    null_count: Some(acc.nulls),
                    min,
                    max,
                }
            })
            .collect();
        Ok(NewDataFile {
            file_id: self.file_id,
            path,
            partition_value: self.partition_value,
            row_count: self.rows as i64,
            size_bytes: written as i64,
            sha256,
            master_key_id: self.master_key_id,
            stats,
        })
    }

    fn abort(self) {
        if let Ok(sink) = self.writer.into_inner() {
            sink.abort();
        }
    }
}

fn orderable(t: &DataType) -> bool {
    t.is_numeric()
        || t.is_temporal()
        || matches!(
            t,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Boolean
        )
}

fn stat_string(value: Option<datafusion::scalar::ScalarValue>) -> Option<String> {
    let value = value?;
    if value.is_null() {
        return None;
    }
    let text = value.to_string();
    (text.len() <= MAX_STAT_LEN).then_some(text)
}

/// The dataset and the files: never the rows being written.
impl std::fmt::Debug for DatasetWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatasetWriter")
            .field("dataset", &self.target.dataset)
            .field("open_files", &self.open.len())
            .field("done_files", &self.done.len())
            .finish_non_exhaustive()
    }
}

/// Where a dataset's data files live in the object store: every file of
/// `dataset` has a path that starts with this.
pub fn dataset_prefix(dataset: &str) -> String {
    format!("tables/{dataset}/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InitOptions, Lake};
    use arrow::array::{Date32Array, Int64Array};
    use arrow::datatypes::{Field, Schema};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn batch(schema: &SchemaRef, first: i64, rows: i64) -> RecordBatch {
        let n: Vec<i64> = (first..first + rows).collect();
        // Days scattered over ten years, as a delivery's rows come.
        let days: Vec<i32> = n.iter().map(|v| ((v * 7919) % 3653) as i32).collect();
        RecordBatch::try_new(
            Arc::clone(schema),
            vec![
                Arc::new(Int64Array::from(n)),
                Arc::new(Date32Array::from(days)),
            ],
        )
        .unwrap()
    }

    /// Writes 30 000 rows of scattered dates in batches of 1 000 through a
    /// plaintext lake; returns the rows of each file as stored, in order.
    async fn written(sort_memory: &str) -> Vec<Vec<(i64, i32)>> {
        let dir = tempfile::tempdir().unwrap();
        let options = InitOptions {
            insecure_no_encryption: true,
            keys: Some(crate::config::KeysConfig::local_sealed_by(
                &dir.path().join("seal.key"),
            )),
            ..InitOptions::default()
        };
        let mut lake = Lake::init(&dir.path().join("lake"), &options)
            .await
            .unwrap();
        lake.config.writer.row_group_rows = 1000;
        lake.config.writer.target_file_rows = 20_000;
        lake.config.writer.sort_memory = sort_memory.into();
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("dia", DataType::Date32, false),
        ]));
        let mut writer = lake
            .writer(WriteTarget {
                dataset: DatasetName::new("datas").unwrap(),
                schema: Arc::clone(&schema),
                personal_columns: Vec::new(),
                partition_column: None,
                sort_column: Some("dia".into()),
            })
            .unwrap();
        let files = tokio::task::spawn_blocking(move || {
            for part in 0..30 {
                writer.write(&batch(&schema, part * 1000, 1000))?;
            }
            writer.finish()
        })
        .await
        .unwrap()
        .unwrap();
        files
            .iter()
            .map(|f| {
                let file =
                    std::fs::File::open(dir.path().join("lake/store").join(&f.path)).unwrap();
                let mut rows = Vec::new();
                for b in ParquetRecordBatchReaderBuilder::try_new(file)
                    .unwrap()
                    .build()
                    .unwrap()
                {
                    let b = b.unwrap();
                    let n = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                    let d = b.column(1).as_any().downcast_ref::<Date32Array>().unwrap();
                    rows.extend((0..b.num_rows()).map(|i| (n.value(i), d.value(i))));
                }
                assert_eq!(rows.len() as i64, f.row_count);
                rows
            })
            .collect()
    }

    fn descents(rows: &[(i64, i32)]) -> usize {
        rows.windows(2).filter(|w| w[1].1 < w[0].1).count()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rows_are_written_sorted_in_runs_and_none_is_lost() {
        // About 14 KB a batch: runs of some 7 batches.
        let files = written("100KB").await;
        assert_eq!(
            files.iter().map(Vec::len).collect::<Vec<_>>(),
            [20_000, 10_000]
        );
        let mut all: Vec<i64> = files.iter().flatten().map(|(n, _)| *n).collect();
        all.sort_unstable();
        assert_eq!(all, (0..30_000).collect::<Vec<_>>(), "every row once");
        for rows in &files {
            assert!(
                rows.iter().all(|(n, d)| ((n * 7919) % 3653) as i32 == *d),
                "rows kept whole"
            );
            // Each run ascends; the file has as many descents as runs, less one.
            let runs = descents(rows) + 1;
            assert!(
                (2..=5).contains(&runs),
                "{runs} runs in a file of {} rows",
                rows.len()
            );
        }

        // Arrival order ascends for about six rows, then wraps.
        let unsorted = written("0").await;
        assert!(
            descents(&unsorted[0]) > 3_000,
            "with sorting off, rows keep their arrival order"
        );
    }
}
