//! Sniffing a delimited file before reading it: its encoding (a BOM,
//! UTF-16 without one, else UTF-8 or Windows-1252), the lines to skip,
//! the delimiter and quote, and whether the first row is a header.

use super::*;

/// Sniffs a file without reading it all (for `contract infer` and messages).
pub fn sniff(path: &std::path::Path, options: &CsvOptions) -> Result<Sniffed, SourceError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut input = crate::formats::open_stream(path, &name)?;
    let sample = read_sample(&mut input, &name)?;
    let (encoding, bom) = detect_encoding(&sample, options.encoding.as_deref());
    let text = encoding.decode_without_bom_handling(&sample[bom..]).0;
    let text = skip_lines(&text, options.skip_lines);
    let delimiter = options
        .delimiter
        .as_deref()
        .and_then(single_byte)
        .unwrap_or_else(|| sniff_delimiter(text));
    let quote = sniff_quote(text, delimiter);
    let first = text.lines().next().unwrap_or("");
    let fields: Vec<String> = first
        .split(delimiter as char)
        .map(|f| f.trim_matches(quote as char).to_owned())
        .collect();
    Ok(Sniffed {
        encoding: encoding.name(),
        delimiter,
        quote,
        header: options.header.unwrap_or_else(|| looks_like_header(&fields)),
    })
}

pub(super) fn read_sample(input: &mut dyn Read, name: &str) -> Result<Vec<u8>, SourceError> {
    let mut sample = Vec::with_capacity(SAMPLE_BYTES);
    input
        .take(SAMPLE_BYTES as u64)
        .read_to_end(&mut sample)
        .map_err(|e| read_error(name, &e))?;
    Ok(sample)
}

pub(super) fn read_error(name: &str, e: &std::io::Error) -> SourceError {
    SourceError::input(name, format!("cannot read: {e}"))
}

/// The encoding and the length of a byte-order mark to skip. A BOM
/// decides (UTF-8, or UTF-16 as Windows programs export); without one,
/// text whose every other byte is zero is UTF-16 too; then UTF-8 if the
/// sample is valid UTF-8, else Windows-1252. A declared encoding wins, its
/// own BOM skipped.
pub(super) fn detect_encoding(sample: &[u8], declared: Option<&str>) -> (&'static Encoding, usize) {
    let by_bom = Encoding::for_bom(sample);
    if let Some(encoding) = declared.filter(|d| *d != "auto").and_then(encoding_for) {
        let utf16 = |e: &'static Encoding| e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE;
        return match by_bom {
            Some((found, length)) if found == encoding => (encoding, length),
            // Declared UTF-16: the BOM says which byte order.
            Some((found, length)) if utf16(found) && utf16(encoding) => (found, length),
            _ => (encoding, 0),
        };
    }
    if let Some(found) = by_bom {
        return found;
    }
    if let Some(encoding) = utf16_without_bom(sample) {
        return (encoding, 0);
    }
    match std::str::from_utf8(sample) {
        Ok(_) => (UTF_8, 0),
        // A multi-byte character cut by the end of the sample is still UTF-8.
        Err(e) if e.error_len().is_none() => (UTF_8, 0),
        Err(_) => (WINDOWS_1252, 0),
    }
}

/// UTF-16 without a BOM: Latin text has a zero in every other byte (the
/// high byte first in big-endian). Text in any 8-bit encoding has none.
pub(super) fn utf16_without_bom(sample: &[u8]) -> Option<&'static Encoding> {
    let pairs = sample.len() / 2;
    if pairs < 8 {
        return None;
    }
    let zeros_at = |offset: usize| {
        sample
            .iter()
            .skip(offset)
            .step_by(2)
            .filter(|b| **b == 0)
            .count()
    };
    let (even, odd) = (zeros_at(0), zeros_at(1));
    if odd * 10 >= pairs * 7 && even * 10 < pairs {
        Some(encoding_rs::UTF_16LE)
    } else if even * 10 >= pairs * 7 && odd * 10 < pairs {
        Some(encoding_rs::UTF_16BE)
    } else {
        None
    }
}

pub(super) fn skip_lines(text: &str, lines: usize) -> &str {
    let mut rest = text;
    for _ in 0..lines {
        rest = rest.split_once('\n').map(|(_, r)| r).unwrap_or("");
    }
    rest
}

/// The candidate that splits the sample's lines into the same number of
/// fields most consistently (ignoring quoted text), preferring more fields.
pub fn sniff_delimiter(sample: &str) -> u8 {
    let lines: Vec<&str> = sample
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(50)
        .collect();
    let mut best = (b',', 0usize, 0usize);
    for candidate in [b';', b',', b'\t', b'|'] {
        let counts: Vec<usize> = lines
            .iter()
            .map(|l| count_outside_quotes(l, candidate))
            .collect();
        let Some(&first) = counts.first() else {
            continue;
        };
        if first == 0 {
            continue;
        }
        let agreeing = counts.iter().filter(|&&c| c == first).count();
        if (agreeing, first) > (best.1, best.2) {
            best = (candidate, agreeing, first);
        }
    }
    best.0
}

pub(super) fn count_outside_quotes(line: &str, delimiter: u8) -> usize {
    let mut quoted = false;
    let mut count = 0;
    for b in line.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if b == delimiter && !quoted {
            count += 1;
        }
    }
    count
}

pub(super) fn sniff_quote(sample: &str, delimiter: u8) -> u8 {
    let d = delimiter as char;
    let single = sample.matches(&format!("{d}'")).count();
    let double = sample.matches(&format!("{d}\"")).count();
    if single > double { b'\'' } else { b'"' }
}

/// A header names things; a data row holds numbers or dates somewhere.
pub fn looks_like_header(fields: &[String]) -> bool {
    !fields.iter().any(|f| {
        let f = f.trim();
        !f.is_empty()
            && f.chars().any(|c| c.is_ascii_digit())
            && f.chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | ',' | '-' | '/' | ':' | ' ' | '+'))
    })
}
