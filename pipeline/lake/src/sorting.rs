//! Rows held back and sorted by one column before they are written, so that
//! each row group of a file covers a narrow range of that column and a
//! query filtering on it (a period of dates) reads few row groups and pages
//! instead of all of them.
//!
//! Rows are sorted in runs: the buffer keeps batches as they came and, when
//! drained, hands them back in order a chunk at a time, gathering each
//! chunk from the held batches, so memory holds the run plus one chunk.

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::compute::kernels::sort::SortOptions;
use arrow::compute::{concat, interleave_record_batch, sort_to_indices};
use arrow::datatypes::DataType;
use arrow::error::ArrowError;

/// The column rows of a dataset are sorted by when nothing says otherwise:
/// the first date or timestamp column, the one analysts filter periods on.
pub fn default_sort_column(schema: &arrow::datatypes::Schema) -> Option<String> {
    schema
        .fields()
        .iter()
        .find(|f| {
            matches!(
                f.data_type(),
                DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
            )
        })
        .map(|f| f.name().clone())
}

/// Batches waiting to be written in the order of one column.
#[derive(Debug)]
pub struct SortBuffer {
    column: usize,
    batches: Vec<RecordBatch>,
    rows: usize,
}

impl SortBuffer {
    /// `column` is the index of the column to sort by in every batch pushed.
    pub fn new(column: usize) -> Self {
        Self {
            column,
            batches: Vec::new(),
            rows: 0,
        }
    }

    pub fn push(&mut self, batch: RecordBatch) {
        self.rows += batch.num_rows();
        self.batches.push(batch);
    }

    /// Rows held.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Hands every held row to `emit` in ascending order of the column
    /// (missing values last), at most `chunk` rows per batch, and empties
    /// the buffer. Rows with equal values come in no particular order.
    pub fn drain_sorted<E: From<ArrowError>>(
        &mut self,
        chunk: usize,
        mut emit: impl FnMut(RecordBatch) -> Result<(), E>,
    ) -> Result<(), E> {
        let batches = std::mem::take(&mut self.batches);
        self.rows = 0;
        if batches.is_empty() {
            return Ok(());
        }
        let keys: Vec<&dyn Array> = batches
            .iter()
            .map(|b| b.column(self.column).as_ref())
            .collect();
        let keys: ArrayRef = concat(&keys)?;
        let order = sort_to_indices(
            &keys,
            Some(SortOptions {
                descending: false,
                nulls_first: false,
            }),
            None,
        )?;
        drop(keys);
        // Row n of the run is row n - starts[b] of batch b.
        let mut starts = Vec::with_capacity(batches.len());
        let mut start = 0usize;
        for batch in &batches {
            starts.push(start);
            start += batch.num_rows();
        }
        let sources: Vec<&RecordBatch> = batches.iter().collect();
        let mut locations = Vec::with_capacity(chunk.min(order.len()));
        for piece in order.values().chunks(chunk.max(1)) {
            locations.clear();
            locations.extend(piece.iter().map(|&row| {
                let row = row as usize;
                let batch = starts.partition_point(|&s| s <= row) - 1;
                (batch, row - starts[batch])
            }));
            emit(interleave_record_batch(&sources, &locations)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Date32Array, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    fn batch(days: Vec<Option<i32>>, tags: Vec<&str>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("tag", DataType::Utf8, false),
            Field::new("dia", DataType::Date32, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(tags)),
                Arc::new(Date32Array::from(days)),
            ],
        )
        .unwrap()
    }

    fn drained(buffer: &mut SortBuffer, chunk: usize) -> Vec<RecordBatch> {
        let mut out = Vec::new();
        buffer
            .drain_sorted::<ArrowError>(chunk, |b| {
                out.push(b);
                Ok(())
            })
            .unwrap();
        out
    }

    fn tags(batches: &[RecordBatch]) -> Vec<String> {
        batches
            .iter()
            .flat_map(|b| {
                let tags = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
                (0..tags.len())
                    .map(|i| tags.value(i).to_owned())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn rows_of_several_batches_come_back_in_order_with_missing_values_last() {
        let mut buffer = SortBuffer::new(1);
        buffer.push(batch(
            vec![Some(30), None, Some(10)],
            vec!["c", "nulo", "a"],
        ));
        buffer.push(batch(
            vec![Some(20), Some(10), Some(40)],
            vec!["b", "a2", "d"],
        ));
        assert_eq!(buffer.rows(), 6);
        let out = drained(&mut buffer, 4);
        assert_eq!(
            out.iter().map(RecordBatch::num_rows).collect::<Vec<_>>(),
            [4, 2]
        );
        let mut order = tags(&out);
        // Equal dates ("a", "a2") may come in either order.
        order[..2].sort();
        assert_eq!(order, ["a", "a2", "b", "c", "d", "nulo"]);
        assert_eq!(buffer.rows(), 0);
        assert!(
            drained(&mut buffer, 4).is_empty(),
            "the buffer is empty once drained"
        );
    }

    #[test]
    fn every_column_travels_with_its_row() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("k", DataType::Int64, false),
        ]));
        let mut buffer = SortBuffer::new(1);
        for part in 0..5i64 {
            let n: Vec<i64> = (0..1000).map(|i| part * 1000 + i).collect();
            // A key that scrambles the rows, with n recoverable from it.
            let k: Vec<i64> = n.iter().map(|v| (v * 7919) % 5003 * 10_000 + v).collect();
            buffer.push(
                RecordBatch::try_new(
                    Arc::clone(&schema),
                    vec![Arc::new(Int64Array::from(n)), Arc::new(Int64Array::from(k))],
                )
                .unwrap(),
            );
        }
        let out = drained(&mut buffer, 777);
        let mut previous = i64::MIN;
        let mut seen = 0;
        for b in &out {
            let n = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            let k = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
            for i in 0..b.num_rows() {
                assert!(k.value(i) >= previous, "keys ascend");
                previous = k.value(i);
                assert_eq!(k.value(i) % 10_000, n.value(i), "row {i} kept its own n");
                seen += 1;
            }
        }
        assert_eq!(seen, 5000);
    }

    #[test]
    fn the_default_column_is_the_first_date_or_timestamp() {
        let schema = Schema::new(vec![
            Field::new("municipio", DataType::Utf8, false),
            Field::new(
                "registro",
                DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None),
                true,
            ),
            Field::new("obito", DataType::Date32, true),
        ]);
        assert_eq!(default_sort_column(&schema).as_deref(), Some("registro"));
        let none = Schema::new(vec![Field::new("n", DataType::Int64, false)]);
        assert_eq!(default_sort_column(&none), None);
    }
}
