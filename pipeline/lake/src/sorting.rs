//! Rows held back and sorted by one column before they are written, so that
//! each row group of a file covers a narrow range of that column and a
//! query filtering on it (a period of dates) reads few row groups and pages
//! instead of all of them.
//!
//! Rows are sorted in runs: the buffer keeps batches as they came and, when
//! drained, hands them back in order a chunk at a time, gathering one
//! column at a time on two threads, so memory holds the run plus two
//! columns.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::kernels::sort::SortOptions;
use arrow::compute::{concat, sort_to_indices, take};
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
    ///
    /// Each column is gathered on its own from one contiguous copy of its
    /// held pieces, which are released as soon as it is done: the run costs
    /// its held rows plus two columns, and a plain `take` by row
    /// number reads far fewer cache lines than gathering from many batches.
    pub fn drain_sorted<E: From<ArrowError>>(
        &mut self,
        chunk: usize,
        mut emit: impl FnMut(RecordBatch) -> Result<(), E>,
    ) -> Result<(), E> {
        let batches = std::mem::take(&mut self.batches);
        let rows = std::mem::take(&mut self.rows);
        let Some(schema) = batches.first().map(RecordBatch::schema) else {
            return Ok(());
        };
        let mut pieces: Vec<Vec<ArrayRef>> =
            vec![Vec::with_capacity(batches.len()); schema.fields().len()];
        for batch in batches {
            for (column, array) in pieces.iter_mut().zip(batch.columns()) {
                column.push(Arc::clone(array));
            }
        }
        let keys = contiguous(&pieces[self.column])?;
        pieces[self.column] = vec![Arc::clone(&keys)];
        let order = sort_to_indices(
            &keys,
            Some(SortOptions {
                descending: false,
                nulls_first: false,
            }),
            None,
        )?;
        drop(keys);
        let sorted = RecordBatch::try_new(schema, gather_in_two_halves(pieces, &order)?)?;
        let chunk = chunk.max(1);
        for offset in (0..rows).step_by(chunk) {
            emit(sorted.slice(offset, chunk.min(rows - offset)))?;
        }
        Ok(())
    }
}

/// Every column's pieces put in `order`, the columns split in two groups of
/// about equal bytes gathered side by side: gathering is memory-bound work
/// a second core shortens, and the writer thread that does it is otherwise
/// the slowest stage of an ingest.
fn gather_in_two_halves(
    pieces: Vec<Vec<ArrayRef>>,
    order: &UInt32Array,
) -> Result<Vec<ArrayRef>, ArrowError> {
    let bytes = |column: &Vec<ArrayRef>| -> usize {
        column.iter().map(|a| a.get_array_memory_size()).sum()
    };
    let mut by_size: Vec<(usize, Vec<ArrayRef>)> = pieces.into_iter().enumerate().collect();
    by_size.sort_by_key(|(_, column)| std::cmp::Reverse(bytes(column)));
    let (mut here, mut there) = (Vec::new(), Vec::new());
    let (mut here_bytes, mut there_bytes) = (0, 0);
    for (index, column) in by_size {
        if here_bytes <= there_bytes {
            here_bytes += bytes(&column);
            here.push((index, column));
        } else {
            there_bytes += bytes(&column);
            there.push((index, column));
        }
    }
    let gathered = std::thread::scope(|scope| {
        let other = scope.spawn(|| gather(there, order));
        let mine = gather(here, order);
        let theirs = other
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        mine.and_then(|mut mine| {
            mine.extend(theirs?);
            Ok(mine)
        })
    })?;
    let mut columns: Vec<Option<ArrayRef>> = vec![None; gathered.len()];
    for (index, array) in gathered {
        columns[index] = Some(array);
    }
    Ok(columns.into_iter().flatten().collect())
}

/// Each column put in `order`, its pieces released as soon as it is done.
fn gather(
    columns: Vec<(usize, Vec<ArrayRef>)>,
    order: &UInt32Array,
) -> Result<Vec<(usize, ArrayRef)>, ArrowError> {
    columns
        .into_iter()
        .map(|(index, pieces)| {
            let whole = contiguous(&pieces)?;
            drop(pieces);
            Ok((index, take(&whole, order, None)?))
        })
        .collect()
}

/// One array holding the pieces one after the other.
fn contiguous(pieces: &[ArrayRef]) -> Result<ArrayRef, ArrowError> {
    match pieces {
        [single] => Ok(Arc::clone(single)),
        _ => concat(
            &pieces
                .iter()
                .map(AsRef::as_ref)
                .collect::<Vec<&dyn Array>>(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Date32Array, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

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
        // Columns of several types and sizes, so that they are gathered in
        // two groups and must come back in the schema's order.
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("k", DataType::Int64, false),
            Field::new("texto", DataType::Utf8, true),
            Field::new("curto", DataType::Utf8, false),
        ]));
        let mut buffer = SortBuffer::new(1);
        for part in 0..5i64 {
            let n: Vec<i64> = (0..1000).map(|i| part * 1000 + i).collect();
            // A key that scrambles the rows, with n recoverable from it.
            let k: Vec<i64> = n.iter().map(|v| (v * 7919) % 5003 * 10_000 + v).collect();
            let texto: Vec<Option<String>> = n
                .iter()
                .map(|v| (v % 7 != 0).then(|| format!("linha numero {v} de um texto longo")))
                .collect();
            let curto: Vec<String> = n.iter().map(|v| (v % 100).to_string()).collect();
            buffer.push(
                RecordBatch::try_new(
                    Arc::clone(&schema),
                    vec![
                        Arc::new(Int64Array::from(n)),
                        Arc::new(Int64Array::from(k)),
                        Arc::new(StringArray::from(texto)),
                        Arc::new(StringArray::from(curto)),
                    ],
                )
                .unwrap(),
            );
        }
        let out = drained(&mut buffer, 777);
        let mut previous = i64::MIN;
        let mut seen = 0;
        for b in &out {
            assert_eq!(b.schema(), schema, "columns keep their order");
            let n = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            let k = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
            let texto = b.column(2).as_any().downcast_ref::<StringArray>().unwrap();
            let curto = b.column(3).as_any().downcast_ref::<StringArray>().unwrap();
            for i in 0..b.num_rows() {
                assert!(k.value(i) >= previous, "keys ascend");
                previous = k.value(i);
                let own = n.value(i);
                assert_eq!(k.value(i) % 10_000, own, "row {i} kept its own n");
                if own % 7 == 0 {
                    assert!(texto.is_null(i), "row {own} kept its missing text");
                } else {
                    assert_eq!(
                        texto.value(i),
                        format!("linha numero {own} de um texto longo")
                    );
                }
                assert_eq!(curto.value(i), (own % 100).to_string());
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
