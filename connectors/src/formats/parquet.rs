//! Parquet files as delivered (unencrypted): typed columns pass through and
//! the contract check casts them.

use crate::formats::SourceBatch;
use crate::{Batches, SourceError};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::Path;

pub fn read_parquet(path: &Path, name: &str, batch_rows: usize) -> Result<Batches, SourceError> {
    let file = std::fs::File::open(path)
        .map_err(|e| SourceError::input(name, format!("cannot open: {}", e.kind())))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| SourceError::input(name, format!("not a readable Parquet file: {e}")))?
        .with_batch_size(batch_rows.max(1))
        .build()
        .map_err(|e| SourceError::input(name, format!("cannot read: {e}")))?;
    let name = name.to_owned();
    let mut next_row = 1u64;
    Ok(Box::new(reader.map(move |batch| {
        let batch = batch.map_err(|e| {
            SourceError::input(
                format!("{name} row {next_row}"),
                format!("cannot decode: {e}"),
            )
        })?;
        let first_row = next_row;
        next_row += batch.num_rows() as u64;
        Ok(SourceBatch::new(batch, first_row))
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, RecordBatch, StringArray};
    use std::sync::Arc;

    #[test]
    fn typed_columns_pass_through_in_batches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        let batch = RecordBatch::try_from_iter([
            ("n", Arc::new(Int64Array::from_iter_values(0..25)) as _),
            (
                "s",
                Arc::new(StringArray::from_iter_values(
                    (0..25).map(|i| format!("v{i}")),
                )) as _,
            ),
        ])
        .unwrap();
        let mut writer = parquet::arrow::ArrowWriter::try_new(
            std::fs::File::create(&path).unwrap(),
            batch.schema(),
            None,
        )
        .unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let batches: Vec<_> = read_parquet(&path, "x.parquet", 10)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(batches.len(), 3);
        assert_eq!(batches[2].first_row, 21);
        assert_eq!(batches[0].batch.schema(), batch.schema());
    }

    #[test]
    fn a_file_that_is_not_parquet_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        std::fs::write(&path, b"municipio;valor\n").unwrap();
        let err = read_parquet(&path, "x.parquet", 10)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.starts_with("x.parquet: not a readable Parquet file"),
            "{err}"
        );
    }
}
