//! Writing deliveries as their systems do: `;`-separated text in Latin-1
//! with CRLF line ends, UTF-8 with a byte-order mark, and dBase III files.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// A failure writing one delivery, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("writing {path}: {source}")]
pub struct WriteError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

pub(crate) fn create(path: &Path) -> Result<BufWriter<File>, WriteError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| WriteError {
            path: parent.to_owned(),
            source,
        })?;
    }
    File::create(path)
        .map(|f| BufWriter::with_capacity(1 << 20, f))
        .map_err(|source| WriteError {
            path: path.to_owned(),
            source,
        })
}

/// The text encodings of the deliveries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// ISO-8859-1: one byte per character (DATASUS, INEP).
    Latin1,
    /// UTF-8 with a byte-order mark (SINESP).
    Utf8Bom,
}

/// A `;`-separated file, one record at a time.
pub(crate) struct DelimitedWriter {
    out: BufWriter<File>,
    path: PathBuf,
    encoding: Encoding,
    pub rows: u64,
    line: String,
}

impl DelimitedWriter {
    pub(crate) fn create(
        path: &Path,
        encoding: Encoding,
        header: &[&str],
    ) -> Result<Self, WriteError> {
        let mut w = DelimitedWriter {
            out: create(path)?,
            path: path.to_owned(),
            encoding,
            rows: 0,
            line: String::new(),
        };
        if encoding == Encoding::Utf8Bom {
            w.write_bytes(&[0xEF, 0xBB, 0xBF])?;
        }
        w.record(header)?;
        w.rows = 0;
        Ok(w)
    }

    fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        self.out.write_all(bytes).map_err(|source| WriteError {
            path: self.path.clone(),
            source,
        })
    }

    /// One record; fields never hold `;`, quotes or line breaks here.
    pub(crate) fn record<S: AsRef<str>>(&mut self, fields: &[S]) -> Result<(), WriteError> {
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                line.push(';');
            }
            line.push_str(f.as_ref());
        }
        line.push_str("\r\n");
        match self.encoding {
            Encoding::Utf8Bom => self.write_bytes(line.as_bytes())?,
            Encoding::Latin1 => {
                let bytes = latin1(&line);
                self.write_bytes(&bytes)?;
            }
        }
        self.line = line;
        self.rows += 1;
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<u64, WriteError> {
        self.out.flush().map_err(|source| WriteError {
            path: self.path.clone(),
            source,
        })?;
        Ok(self.rows)
    }
}

/// Latin-1 bytes of `text` (every character used here is in Latin-1).
pub(crate) fn latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

/// One field of a dBase III table: a name and its width (all fields are
/// character fields, as DATASUS writes them).
#[derive(Debug)]
pub struct DbfField {
    pub name: &'static str,
    pub width: u8,
}

/// A dBase III file (`.dbf`), Latin-1, written record by record; the record
/// count in the header is filled in at the end.
pub(crate) struct DbfWriter {
    out: BufWriter<File>,
    path: PathBuf,
    widths: Vec<u8>,
    pub rows: u32,
}

impl DbfWriter {
    pub(crate) fn create(path: &Path, fields: &[DbfField], year: i32) -> Result<Self, WriteError> {
        let mut out = create(path)?;
        let header_len = 32 + 32 * fields.len() + 1;
        let record_len = 1 + fields.iter().map(|f| usize::from(f.width)).sum::<usize>();
        let mut header = vec![0u8; 32];
        header[0] = 0x03;
        header[1] = ((year - 1900).clamp(0, 255)) as u8;
        header[2] = 12;
        header[3] = 31;
        // Bytes 4..8: the record count, written by `finish`.
        header[8..10].copy_from_slice(&(header_len as u16).to_le_bytes());
        header[10..12].copy_from_slice(&(record_len as u16).to_le_bytes());
        for f in fields {
            let mut d = [0u8; 32];
            d[..f.name.len()].copy_from_slice(f.name.as_bytes());
            d[11] = b'C';
            d[16] = f.width;
            header.extend_from_slice(&d);
        }
        header.push(0x0D);
        out.write_all(&header).map_err(|source| WriteError {
            path: path.to_owned(),
            source,
        })?;
        Ok(DbfWriter {
            out,
            path: path.to_owned(),
            widths: fields.iter().map(|f| f.width).collect(),
            rows: 0,
        })
    }

    /// One record: values left-aligned and space-padded to their width.
    pub(crate) fn record<S: AsRef<str>>(&mut self, values: &[S]) -> Result<(), WriteError> {
        let mut bytes = Vec::with_capacity(256);
        bytes.push(b' ');
        for (v, &w) in values.iter().zip(&self.widths) {
            let mut field = latin1(v.as_ref());
            field.resize(usize::from(w), b' ');
            bytes.extend_from_slice(&field);
        }
        self.out.write_all(&bytes).map_err(|source| WriteError {
            path: self.path.clone(),
            source,
        })?;
        self.rows += 1;
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<u64, WriteError> {
        let err = |source| WriteError {
            path: self.path.clone(),
            source,
        };
        self.out.write_all(&[0x1A]).map_err(err)?;
        let mut file = self.out.into_inner().map_err(|e| WriteError {
            path: self.path.clone(),
            source: e.into_error(),
        })?;
        use std::io::{Seek, SeekFrom};
        file.seek(SeekFrom::Start(4))
            .and_then(|_| file.write_all(&self.rows.to_le_bytes()))
            .map_err(|source| WriteError {
                path: self.path.clone(),
                source,
            })?;
        Ok(u64::from(self.rows))
    }
}
