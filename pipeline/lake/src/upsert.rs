//! Upsert: which rows a delivery replaces or deletes.
//!
//! The delivery's rows are written as new files like any other delivery.
//! Before the commit, [`plan`] reads the key columns of those new files,
//! then of every live file of the dataset, and names the rows that are no
//! longer current:
//!
//! - an older row whose key the delivery carries (replaced by the new one);
//! - a row of the delivery that a later row of the same delivery, with the
//!   same key, supersedes (the last one read wins);
//! - a row of the delivery that marks its key deleted (the source's
//!   soft-delete column), and every older row with that key.
//!
//! The result is a new deletion vector per touched file, committed with the
//! new files in one snapshot; each names the version of the vector it was
//! computed from, so a concurrent upsert or compaction makes the commit
//! fail instead of landing stale positions (the caller plans again).
//!
//! Keys are compared by a 128-bit hash of their row-format bytes, which
//! keeps memory at a few dozen bytes per key of the delivery. The hash is
//! SipHash-1-3 under a key drawn at random for each upsert: a delivery
//! cannot be crafted so that its keys collide with other rows (a
//! municipality's delivery must never delete another's rows), and a
//! collision by chance is less likely than a disk returning wrong bytes
//! undetected. The map from key hashes to rows uses the hash's own bits,
//! not a second hash.

use crate::AsOf;
use crate::Lake;
use crate::catalog::model::{DataFileInfo, NewDataFile, NewDeletes};
use crate::deletion::DeletionVector;
use crate::error::{LakeError, Result};
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use arrow::row::{RowConverter, SortField};
use datafusion::common::ScalarValue;
use futures::{StreamExt, TryStreamExt};
use lagoa_core::DatasetName;
use object_store::path::Path as ObjectPath;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use siphasher::sip128::SipHasher13;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::Arc;

/// How an upsert identifies rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpsertRule {
    /// The primary key's columns.
    pub key: Vec<String>,
    /// A column whose value marks the row's key deleted at the source: a
    /// boolean `true`, a non-zero number, a text `s`/`sim`/`y`/`yes`/
    /// `true`/`t`/`1`/`x` (any case), or any non-null value of another
    /// type (a deletion time).
    pub delete_column: Option<String>,
}

/// What an upsert does besides adding its rows.
#[derive(Clone, Debug, Default)]
pub struct UpsertPlan {
    /// The snapshot the plan read: the commit fails if the dataset changed
    /// after it.
    pub planned_at: i64,
    pub deletes: Vec<NewDeletes>,
    /// Older rows the delivery's rows replace.
    pub rows_replaced: u64,
    /// Older rows the delivery's deletion marks remove.
    pub rows_deleted: u64,
    /// Rows of the delivery that mark a deletion (kept in the files for
    /// the history, never in the current state).
    pub deletion_marks: u64,
    /// Rows of the delivery superseded by a later row with the same key.
    pub repeated_keys: u64,
}

type KeyHash = u128;

/// Key hashes are already uniform: the map takes their low bits as is.
#[derive(Clone, Copy, Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u128` is used; anything else is folded in.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(word);
        }
    }

    fn write_u128(&mut self, value: u128) {
        self.0 = value as u64;
    }
}

type KeyMap = HashMap<KeyHash, Latest, std::hash::BuildHasherDefault<KeyHasher>>;

/// Where the current version of a key is in the delivery.
#[derive(Clone, Copy)]
struct Latest {
    file: usize,
    position: u64,
    deleted: bool,
}

/// The deletion vectors that make `new_files` the current version of
/// their keys in `dataset`.
pub async fn plan(
    lake: &Lake,
    dataset: &DatasetName,
    new_files: &[NewDataFile],
    rule: &UpsertRule,
) -> Result<UpsertPlan> {
    let snapshot = lake.catalog.resolve(&AsOf::Latest).await?;
    let mut plan = UpsertPlan {
        planned_at: snapshot,
        ..Default::default()
    };
    let hash_key = SipHasher13::new_with_keys(rand::random(), rand::random());
    let mut latest = KeyMap::default();
    let mut superseded: Vec<Vec<u64>> = vec![Vec::new(); new_files.len()];
    let mut key_types: Option<Vec<DataType>> = None;

    for (index, file) in new_files.iter().enumerate() {
        let mut position = 0u64;
        let mut batches = key_batches(lake, &file.path, file.size_bytes, rule, true)
            .await?
            .ok_or_else(|| LakeError::Schema {
                dataset: dataset.to_string(),
                message: format!(
                    "an upsert needs columns {} in the delivery",
                    rule.key
                        .iter()
                        .chain(rule.delete_column.iter())
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
        while let Some(batch) = batches
            .try_next()
            .await
            .map_err(|e| read_error(&file.path, e))?
        {
            let keys = &batch.columns()[..rule.key.len()];
            refuse_empty_keys(dataset, rule, keys)?;
            let types = key_types
                .get_or_insert_with(|| keys.iter().map(|k| k.data_type().clone()).collect());
            let hashes = key_hashes(&hash_key, keys, types)?;
            let marks = match &rule.delete_column {
                Some(_) => deletion_marks(batch.column(rule.key.len())),
                None => vec![false; batch.num_rows()],
            };
            for (hash, deleted) in hashes.into_iter().zip(marks) {
                let here = Latest {
                    file: index,
                    position,
                    deleted,
                };
                if let Some(before) = latest.insert(hash, here) {
                    let (was, now) = (
                        &new_files[before.file].partition_value,
                        &file.partition_value,
                    );
                    if was != now {
                        // Rows of different partitions are in different
                        // files, in no order the delivery gave them.
                        return Err(LakeError::Schema {
                            dataset: dataset.to_string(),
                            message: format!(
                                "the delivery carries one key ({}) in two partitions ({} and {}): which row is current cannot be told; deliver each key once",
                                rule.key.join(", "),
                                was.as_deref().unwrap_or("none"),
                                now.as_deref().unwrap_or("none"),
                            ),
                        });
                    }
                    superseded[before.file].push(before.position);
                    plan.repeated_keys += 1;
                }
                if deleted {
                    superseded[index].push(position);
                    plan.deletion_marks += 1;
                }
                position += 1;
            }
        }
    }
    for (file, positions) in new_files.iter().zip(superseded) {
        if !positions.is_empty() {
            plan.deletes.push(NewDeletes {
                file_id: file.file_id.clone(),
                based_on: None,
                vector: DeletionVector::new(positions),
            });
        }
    }
    let Some(types) = key_types else {
        return Ok(plan);
    };

    let Some(info) = lake.catalog.dataset(dataset, snapshot).await? else {
        return Ok(plan);
    };
    if let Some(at) = info.shredded_at {
        return Err(LakeError::Shredded {
            dataset: dataset.to_string(),
            at: crate::catalog::format_micros(at),
        });
    }
    let range = key_range(new_files, rule, &types);
    for file in lake.catalog.files(&info, snapshot).await? {
        if let Some(range) = &range
            && !may_hold(&file, &rule.key[0], range, &types[0])
        {
            continue;
        }
        let found = older_rows(lake, &file, rule, &hash_key, &types, &latest).await?;
        if found.is_empty() {
            continue;
        }
        for (_, deleted) in &found {
            if *deleted {
                plan.rows_deleted += 1;
            } else {
                plan.rows_replaced += 1;
            }
        }
        let positions: Vec<u64> = found.into_iter().map(|(p, _)| p).collect();
        let (based_on, vector) = match &file.deletes {
            Some(d) => (Some(d.since), d.vector.with(&positions)),
            None => (None, DeletionVector::new(positions)),
        };
        plan.deletes.push(NewDeletes {
            file_id: file.file_id.clone(),
            based_on,
            vector,
        });
    }
    Ok(plan)
}

/// The smallest and largest key of the delivery, from its files'
/// statistics, when the key is one column that has them: older files whose
/// keys all lie outside are not read (new records with growing ids, and
/// corrections of recent ones, touch only the recent files).
fn key_range(
    new_files: &[NewDataFile],
    rule: &UpsertRule,
    types: &[DataType],
) -> Option<(ScalarValue, ScalarValue)> {
    let [column] = rule.key.as_slice() else {
        return None;
    };
    let mut range: Option<(ScalarValue, ScalarValue)> = None;
    for file in new_files {
        let stats = file.stats.iter().find(|s| &s.column == column)?;
        let min = ScalarValue::try_from_string(stats.min.clone()?, &types[0]).ok()?;
        let max = ScalarValue::try_from_string(stats.max.clone()?, &types[0]).ok()?;
        range = Some(match range {
            None => (min, max),
            Some((lo, hi)) => (
                if min.partial_cmp(&lo)? == Ordering::Less {
                    min
                } else {
                    lo
                },
                if max.partial_cmp(&hi)? == Ordering::Greater {
                    max
                } else {
                    hi
                },
            ),
        });
    }
    range
}

/// Whether `file`'s statistics allow a key inside `range`.
fn may_hold(
    file: &DataFileInfo,
    column: &str,
    (lo, hi): &(ScalarValue, ScalarValue),
    data_type: &DataType,
) -> bool {
    let Some(stats) = file.stats.iter().find(|s| s.column == column) else {
        return true;
    };
    let parse = |text: &Option<String>| {
        text.clone()
            .and_then(|t| ScalarValue::try_from_string(t, data_type).ok())
    };
    let (Some(min), Some(max)) = (parse(&stats.min), parse(&stats.max)) else {
        return true;
    };
    let below = max.partial_cmp(lo).is_some_and(|o| o == Ordering::Less);
    let above = min.partial_cmp(hi).is_some_and(|o| o == Ordering::Greater);
    !(below || above)
}

/// Positions of `file`'s current rows whose key the delivery carries,
/// with whether the delivery deletes that key.
async fn older_rows(
    lake: &Lake,
    file: &DataFileInfo,
    rule: &UpsertRule,
    hash_key: &SipHasher13,
    types: &[DataType],
    latest: &KeyMap,
) -> Result<Vec<(u64, bool)>> {
    let mut found = Vec::new();
    let mut position = 0u64;
    let Some(mut batches) = key_batches(lake, &file.path, file.size_bytes, rule, false).await?
    else {
        // Written before the key's columns existed: no row of it has a key.
        return Ok(found);
    };
    while let Some(batch) = batches
        .try_next()
        .await
        .map_err(|e| read_error(&file.path, e))?
    {
        let hashes = key_hashes(hash_key, batch.columns(), types)?;
        for hash in hashes {
            let gone = file
                .deletes
                .as_ref()
                .is_some_and(|d| d.vector.contains(position));
            if !gone && let Some(newer) = latest.get(&hash) {
                found.push((position, newer.deleted));
            }
            position += 1;
        }
    }
    Ok(found)
}

type Batches =
    std::pin::Pin<Box<dyn futures::Stream<Item = parquet::errors::Result<RecordBatch>> + Send>>;

/// The key columns of a data file (and the delete column, for the
/// delivery's own files), in row order; `None` when the file has not all
/// of them (written before they were added to the dataset).
async fn key_batches(
    lake: &Lake,
    path: &str,
    size: i64,
    rule: &UpsertRule,
    with_delete_column: bool,
) -> Result<Option<Batches>> {
    let location = ObjectPath::from(path);
    let reader = StoredFile {
        store: Arc::clone(&lake.store.store),
        path: location.clone(),
        size: size as u64,
    };
    let mut options = ArrowReaderOptions::new();
    if let Some(decryption) = lake.crypto.file_decryption(&location)? {
        options = options.with_file_decryption_properties(decryption);
    }
    let builder = ParquetRecordBatchStreamBuilder::new_with_options(reader, options)
        .await
        .map_err(|e| read_error(path, e))?;
    let mut names: Vec<&String> = rule.key.iter().collect();
    if with_delete_column && let Some(column) = &rule.delete_column {
        names.push(column);
    }
    let schema = Arc::clone(builder.schema());
    let Some(indices) = names
        .iter()
        .map(|name| schema.index_of(name).ok())
        .collect::<Option<Vec<usize>>>()
    else {
        return Ok(None);
    };
    // `roots` keeps the file's column order: put the columns back in the
    // order asked for.
    let mut sorted = indices.clone();
    sorted.sort_unstable();
    sorted.dedup();
    let mask = ProjectionMask::roots(builder.parquet_schema(), sorted.iter().copied());
    let fields: Vec<_> = indices.iter().map(|&i| schema.field(i).clone()).collect();
    let asked = Arc::new(arrow::datatypes::Schema::new(fields));
    let stream = builder
        .with_projection(mask)
        .build()
        .map_err(|e| read_error(path, e))?
        .map(move |batch| {
            let batch = batch?;
            let columns: Vec<ArrayRef> = indices
                .iter()
                .map(|i| {
                    let at = sorted.partition_point(|s| s < i);
                    Arc::clone(batch.column(at))
                })
                .collect();
            RecordBatch::try_new(Arc::clone(&asked), columns)
                .map_err(|e| parquet::errors::ParquetError::ArrowError(e.to_string()))
        });
    Ok(Some(Box::pin(stream)))
}

/// A data file on the lake's store, read by ranges.
struct StoredFile {
    store: Arc<dyn object_store::ObjectStore>,
    path: ObjectPath,
    size: u64,
}

impl AsyncFileReader for StoredFile {
    fn get_bytes(
        &mut self,
        range: std::ops::Range<u64>,
    ) -> futures::future::BoxFuture<'_, parquet::errors::Result<bytes::Bytes>> {
        use object_store::ObjectStoreExt;
        Box::pin(async move {
            self.store
                .get_range(&self.path, range)
                .await
                .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
        })
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> futures::future::BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        Box::pin(async move {
            let decryption = options.and_then(|o| o.file_decryption_properties().cloned());
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_decryption_properties(decryption)
                .with_prefetch_hint(Some(64 * 1024))
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        })
    }
}

fn read_error(path: &str, e: parquet::errors::ParquetError) -> LakeError {
    LakeError::Invalid(format!("reading the keys of {path} for an upsert: {e}"))
}

fn refuse_empty_keys(dataset: &DatasetName, rule: &UpsertRule, keys: &[ArrayRef]) -> Result<()> {
    for (name, column) in rule.key.iter().zip(keys) {
        if column.null_count() > 0 {
            return Err(LakeError::Schema {
                dataset: dataset.to_string(),
                message: format!(
                    "an upsert needs every row's key, and key column {name} is empty in {} row(s) of the delivery",
                    column.null_count()
                ),
            });
        }
    }
    Ok(())
}

/// One 128-bit hash per row of the key columns, cast to `types` (files
/// written before a column was widened hold the narrower type).
fn key_hashes(key: &SipHasher13, keys: &[ArrayRef], types: &[DataType]) -> Result<Vec<KeyHash>> {
    let columns = keys
        .iter()
        .zip(types)
        .map(|(column, to)| {
            if column.data_type() == to {
                Ok(Arc::clone(column))
            } else {
                cast(column, to).map_err(LakeError::from)
            }
        })
        .collect::<Result<Vec<ArrayRef>>>()?;
    let converter = RowConverter::new(types.iter().map(|t| SortField::new(t.clone())).collect())?;
    let rows = converter.convert_columns(&columns)?;
    Ok(rows
        .iter()
        .map(|row| key.hash(row.as_ref()).as_u128())
        .collect())
}

/// Whether each row's delete column marks its key deleted.
fn deletion_marks(column: &ArrayRef) -> Vec<bool> {
    let n = column.len();
    if let DataType::Dictionary(_, values) = column.data_type()
        && let Ok(plain) = cast(column, values)
    {
        return deletion_marks(&plain);
    }
    match column.data_type() {
        DataType::Boolean => {
            let values = column.as_boolean();
            (0..n)
                .map(|i| values.is_valid(i) && values.value(i))
                .collect()
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let text = cast(column, &DataType::Utf8).ok();
            let Some(text) = text else {
                return vec![false; n];
            };
            let values = text.as_string::<i32>();
            (0..n)
                .map(|i| {
                    values.is_valid(i)
                        && matches!(
                            values.value(i).trim().to_lowercase().as_str(),
                            "s" | "sim" | "y" | "yes" | "true" | "t" | "1" | "x"
                        )
                })
                .collect()
        }
        t if t.is_numeric() => match cast(column, &DataType::Float64) {
            Ok(numbers) => {
                let values = numbers.as_primitive::<arrow::datatypes::Float64Type>();
                (0..n)
                    .map(|i| values.is_valid(i) && values.value(i) != 0.0)
                    .collect()
            }
            Err(_) => vec![false; n],
        },
        _ => (0..n).map(|i| column.is_valid(i)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::model::ColumnStats;
    use arrow::array::{BooleanArray, Int64Array, StringArray};

    fn stats(min: &str, max: &str) -> Vec<ColumnStats> {
        vec![ColumnStats {
            column: "id".into(),
            null_count: Some(0),
            min: Some(min.into()),
            max: Some(max.into()),
        }]
    }

    #[test]
    fn files_whose_keys_lie_outside_the_delivery_are_not_read() {
        let new = |min: &str, max: &str| NewDataFile {
            file_id: "n".into(),
            path: "n".into(),
            partition_value: None,
            row_count: 1,
            size_bytes: 1,
            sha256: String::new(),
            master_key_id: None,
            stats: stats(min, max),
        };
        let rule = UpsertRule {
            key: vec!["id".into()],
            delete_column: None,
        };
        let types = [DataType::Int64];
        // Numbers compare as numbers, not as text ("9" < "10").
        let range = key_range(&[new("9", "12"), new("10", "30")], &rule, &types).unwrap();
        let old = |min: &str, max: &str| DataFileInfo {
            file_id: "o".into(),
            dataset: "d".into(),
            path: "o".into(),
            partition_value: None,
            row_count: 1,
            size_bytes: 1,
            schema_version: 1,
            master_key_id: None,
            begin_snapshot: 1,
            end_snapshot: None,
            stats: stats(min, max),
            deletes: None,
        };
        assert!(!may_hold(&old("1", "8"), "id", &range, &types[0]));
        assert!(may_hold(&old("1", "9"), "id", &range, &types[0]));
        assert!(may_hold(&old("30", "100"), "id", &range, &types[0]));
        assert!(!may_hold(&old("31", "100"), "id", &range, &types[0]));
        // A composite key, or a file without statistics: always read.
        let composite = UpsertRule {
            key: vec!["id".into(), "ano".into()],
            delete_column: None,
        };
        assert!(key_range(&[new("1", "2")], &composite, &types).is_none());
        let mut bare = old("1", "2");
        bare.stats.clear();
        assert!(may_hold(&bare, "id", &range, &types[0]));
    }

    #[test]
    fn equal_keys_hash_equal_whatever_the_stored_width() {
        let narrow: ArrayRef = Arc::new(arrow::array::Int32Array::from(vec![1, 2, 3]));
        let wide: ArrayRef = Arc::new(Int64Array::from(vec![3, 2, 1]));
        let types = [DataType::Int64];
        let key = SipHasher13::new_with_keys(1, 2);
        let a = key_hashes(&key, &[narrow], &types).unwrap();
        let b = key_hashes(&key, &[wide], &types).unwrap();
        assert_eq!(a[0], b[2]);
        assert_eq!(a[2], b[0]);
        assert_ne!(a[0], a[1]);
    }

    #[test]
    fn composite_keys_do_not_run_into_each_other() {
        // ("ab", "c") and ("a", "bc") must differ.
        let first: ArrayRef = Arc::new(StringArray::from(vec!["ab", "a"]));
        let second: ArrayRef = Arc::new(StringArray::from(vec!["c", "bc"]));
        let types = [DataType::Utf8, DataType::Utf8];
        let h = key_hashes(&SipHasher13::new_with_keys(1, 2), &[first, second], &types).unwrap();
        assert_ne!(h[0], h[1]);
    }

    #[test]
    fn deletion_marks_read_as_a_person_would() {
        let flags: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), Some(false), None]));
        assert_eq!(deletion_marks(&flags), vec![true, false, false]);
        let text: ArrayRef = Arc::new(StringArray::from(vec![
            Some("S"),
            Some("N"),
            Some(" sim "),
            None,
            Some("0"),
        ]));
        assert_eq!(deletion_marks(&text), vec![true, false, true, false, false]);
        let numbers: ArrayRef = Arc::new(Int64Array::from(vec![Some(0), Some(1), None]));
        assert_eq!(deletion_marks(&numbers), vec![false, true, false]);
        let times: ArrayRef = Arc::new(arrow::array::TimestampMicrosecondArray::from(vec![
            Some(5),
            None,
        ]));
        assert_eq!(deletion_marks(&times), vec![true, false]);
        let coded: ArrayRef = Arc::new(
            vec![Some("N"), Some("S"), None]
                .into_iter()
                .collect::<arrow::array::DictionaryArray<arrow::datatypes::Int32Type>>(),
        );
        assert_eq!(deletion_marks(&coded), vec![false, true, false]);
        let cents: ArrayRef = Arc::new(
            arrow::array::Decimal64Array::from(vec![Some(0), Some(150)])
                .with_precision_and_scale(10, 2)
                .unwrap(),
        );
        assert_eq!(deletion_marks(&cents), vec![false, true]);
    }
}
