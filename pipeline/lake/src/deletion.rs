//! Deletion vectors: which rows of a data file no longer belong to the
//! current state of its dataset (replaced by an upsert, or deleted).
//!
//! A data file is never rewritten to drop a row. An upsert writes the new
//! versions of its rows in new files and records, for every older file that
//! held one of their keys, the positions of the rows it replaces; readers
//! skip those positions (merge-on-read, as Delta Lake's deletion vectors
//! and Iceberg's position deletes do). Each vector is versioned by snapshot
//! like every catalog row, so a read as of an earlier snapshot sees the
//! rows as they were then; `lagoa compact` folds the vectors into new files.
//!
//! In the catalog a vector is the file's sorted row positions, each stored
//! as the gap from the previous one in LEB128 and the whole in base64: a
//! one-percent upsert costs about a byte per replaced row.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeletionVector {
    /// Sorted, without repeats.
    positions: Vec<u64>,
}

impl DeletionVector {
    pub fn new(mut positions: Vec<u64>) -> Self {
        positions.sort_unstable();
        positions.dedup();
        Self { positions }
    }

    pub fn len(&self) -> usize {
        self.positions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    pub fn contains(&self, position: u64) -> bool {
        self.positions.binary_search(&position).is_ok()
    }

    pub fn positions(&self) -> &[u64] {
        &self.positions
    }

    /// This vector with `more` positions deleted too.
    pub fn with(&self, more: &[u64]) -> Self {
        let mut all = Vec::with_capacity(self.positions.len() + more.len());
        all.extend_from_slice(&self.positions);
        all.extend_from_slice(more);
        Self::new(all)
    }

    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(self.positions.len() + 8);
        let mut previous = 0u64;
        for (i, &p) in self.positions.iter().enumerate() {
            let gap = if i == 0 { p } else { p - previous };
            previous = p;
            let mut v = gap;
            loop {
                let byte = (v & 0x7f) as u8;
                v >>= 7;
                if v == 0 {
                    bytes.push(byte);
                    break;
                }
                bytes.push(byte | 0x80);
            }
        }
        STANDARD.encode(bytes)
    }

    pub fn decode(text: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(text)
            .map_err(|e| format!("a deletion vector is not base64: {e}"))?;
        let mut positions = Vec::new();
        let (mut value, mut shift, mut previous) = (0u64, 0u32, 0u64);
        for byte in bytes {
            if shift > 63 {
                return Err("a deletion vector holds a gap too large".into());
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                let position = if positions.is_empty() {
                    value
                } else {
                    previous
                        .checked_add(value)
                        .filter(|_| value > 0)
                        .ok_or("a deletion vector's positions are not increasing")?
                };
                positions.push(position);
                previous = position;
                (value, shift) = (0, 0);
            } else {
                shift += 7;
            }
        }
        if shift != 0 {
            return Err("a deletion vector ends in the middle of a position".into());
        }
        Ok(Self { positions })
    }

    /// The rows a reader keeps out of a file of `total_rows` rows.
    pub fn row_selection(&self, total_rows: u64) -> RowSelection {
        let mut selectors = Vec::new();
        let mut at = 0u64;
        for &p in self.positions.iter().take_while(|&&p| p < total_rows) {
            if p > at {
                selectors.push(RowSelector::select((p - at) as usize));
            }
            selectors.push(RowSelector::skip(1));
            at = p + 1;
        }
        if total_rows > at {
            selectors.push(RowSelector::select((total_rows - at) as usize));
        }
        RowSelection::from(selectors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vector_survives_its_text_form() {
        for positions in [
            vec![],
            vec![0],
            vec![5, 6, 7, 300, 1 << 40],
            (0..10_000).map(|i| i * 97 + 3).collect(),
        ] {
            let v = DeletionVector::new(positions.clone());
            assert_eq!(
                DeletionVector::decode(&v.encode()).unwrap().positions(),
                positions
            );
        }
        // About a byte per position when one row in a hundred goes.
        let v = DeletionVector::new((0..100_000).map(|i| i * 100).collect());
        assert!(
            v.encode().len() < 100_000 * 4 / 3 + 8,
            "{}",
            v.encode().len()
        );
    }

    #[test]
    fn damaged_text_is_refused() {
        assert!(DeletionVector::decode("not base64!").is_err());
        // A continuation byte with nothing after it.
        assert!(DeletionVector::decode(&STANDARD.encode([0x80])).is_err());
        // The same position twice (a zero gap).
        assert!(DeletionVector::decode(&STANDARD.encode([3, 0])).is_err());
    }

    #[test]
    fn the_selection_skips_exactly_the_deleted_rows() {
        let v = DeletionVector::new(vec![0, 3, 4, 9]);
        let selection = v.row_selection(10);
        let kept: Vec<usize> = (0..10)
            .filter(|&i| {
                let mut row = 0;
                for s in selection.iter() {
                    if i < row + s.row_count {
                        return !s.skip;
                    }
                    row += s.row_count;
                }
                false
            })
            .collect();
        assert_eq!(kept, vec![1, 2, 5, 6, 7, 8]);
        assert_eq!(selection.row_count(), 6);
        assert_eq!(DeletionVector::new(vec![]).row_selection(4).row_count(), 4);
        assert!(v.with(&[1, 3]).contains(1) && v.with(&[1, 3]).len() == 5);
    }
}
