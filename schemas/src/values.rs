//! Turning delivered text into typed values, the Brazilian way: decimal
//! commas, thousands dots, `DDMMYYYY` and `DD/MM/YYYY` dates, `--` for
//! missing. Reasons name the expectation, never the value.

use crate::contract::ParseOptions;
use chrono::{NaiveDate, NaiveDateTime};

/// `str::trim` with a fast exit when there is nothing to trim: a value
/// that starts and ends with a visible ASCII character (nearly all of
/// them) is returned as is.
pub fn trim(text: &str) -> &str {
    let visible = |b: Option<&u8>| b.is_some_and(|b| *b > b' ' && *b < 0x7f);
    let bytes = text.as_bytes();
    if visible(bytes.first()) && visible(bytes.last()) {
        text
    } else {
        text.trim()
    }
}

/// Days from 0001-01-01 (chrono's CE day 1) to 1970-01-01.
const UNIX_EPOCH_CE_DAYS: i32 = 719_163;

/// Parses text per a contract's [`ParseOptions`].
#[derive(Clone, Debug)]
pub struct ValueParser {
    decimal_comma: bool,
    thousands: Option<char>,
    date_formats: Vec<String>,
    timestamp_formats: Vec<String>,
    nulls: Vec<String>,
    /// The longest null marker and the bytes they start with: most values
    /// are told apart from every marker without a comparison.
    null_max_len: usize,
    null_first: [bool; 256],
    trues: Vec<String>,
    falses: Vec<String>,
}

impl ValueParser {
    pub fn new(options: &ParseOptions) -> Self {
        let lower = |v: &Vec<String>| v.iter().map(|s| s.trim().to_lowercase()).collect();
        let nulls: Vec<String> = options
            .null_values
            .iter()
            .map(|s| s.trim().to_owned())
            .collect();
        let mut null_first = [false; 256];
        for n in &nulls {
            if let Some(b) = n.as_bytes().first() {
                null_first[*b as usize] = true;
            }
        }
        ValueParser {
            decimal_comma: options.decimal == ",",
            thousands: options.thousands.as_deref().and_then(|t| t.chars().next()),
            date_formats: options.date_formats.clone(),
            timestamp_formats: options.timestamp_formats.clone(),
            null_max_len: nulls.iter().map(String::len).max().unwrap_or(0),
            null_first,
            nulls,
            trues: lower(&options.true_values),
            falses: lower(&options.false_values),
        }
    }

    /// Whether the (trimmed) text means "absent".
    pub fn is_null(&self, text: &str) -> bool {
        self.is_null_trimmed(trim(text))
    }

    /// [`Self::is_null`] for text already trimmed.
    pub fn is_null_trimmed(&self, trimmed: &str) -> bool {
        let Some(first) = trimmed.as_bytes().first() else {
            return true;
        };
        trimmed.len() <= self.null_max_len
            && self.null_first[*first as usize]
            && self.nulls.iter().any(|n| n == trimmed)
    }

    /// The number as `.`-decimal text without thousands separators.
    fn normalize_number<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        let t = trim(text);
        if !self.decimal_comma && self.thousands.is_none() {
            return std::borrow::Cow::Borrowed(t);
        }
        if let Some(sep) = self.thousands
            && !thousands_well_placed(t, sep, if self.decimal_comma { ',' } else { '.' })
        {
            // "14.16" is not 1416: separators only between groups of three.
            return std::borrow::Cow::Owned("!".into());
        }
        let mut out = String::with_capacity(t.len());
        for c in t.chars() {
            if Some(c) == self.thousands {
                continue;
            }
            if self.decimal_comma && c == ',' {
                out.push('.');
            } else if self.decimal_comma && c == '.' && self.thousands.is_none() {
                // "1.234,5" without a declared thousands separator: refuse
                // rather than guess.
                out.push('!');
            } else {
                out.push(c);
            }
        }
        std::borrow::Cow::Owned(out)
    }

    pub fn integer(&self, text: &str) -> Result<i64, &'static str> {
        let t = self.normalize_number(text);
        let t = t.strip_prefix('+').unwrap_or(&t);
        t.parse::<i64>().or_else(|_| {
            // "12.0" / "12,0" from spreadsheets: integral values are fine.
            match t.parse::<f64>() {
                Ok(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
                _ => Err("not an integer"),
            }
        })
    }

    pub fn float(&self, text: &str) -> Result<f64, &'static str> {
        let t = self.normalize_number(text);
        let t: &str = &t;
        // ",09" in DATASUS coverage files.
        let padded;
        let t = if t.starts_with('.') || t.starts_with("-.") {
            padded = format!(
                "{}0{}",
                if t.starts_with('-') { "-" } else { "" },
                t.trim_start_matches('-')
            );
            padded.as_str()
        } else {
            t
        };
        match t.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(f),
            _ => Err("not a number"),
        }
    }

    /// A decimal with `scale` digits after the point, as an unscaled i128.
    pub fn decimal(&self, text: &str, precision: u8, scale: i8) -> Result<i128, &'static str> {
        let t = self.normalize_number(text);
        let (negative, digits) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t.strip_prefix('+').unwrap_or(&t)),
        };
        let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
        if (int_part.is_empty() && frac_part.is_empty())
            || !int_part.bytes().all(|b| b.is_ascii_digit())
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
        {
            return Err("not a decimal number");
        }
        let scale = scale.max(0) as usize;
        if frac_part.len() > scale && frac_part[scale..].bytes().any(|b| b != b'0') {
            return Err("has more decimal places than the column's scale");
        }
        let mut value: i128 = 0;
        let mut digits_used = 0usize;
        for b in int_part
            .bytes()
            .chain(frac_part.bytes().chain(std::iter::repeat(b'0')).take(scale))
        {
            value = value * 10 + (b - b'0') as i128;
            if value != 0 {
                digits_used += 1;
            }
            if digits_used > precision as usize {
                return Err("has more digits than the column's precision");
            }
        }
        Ok(if negative { -value } else { value })
    }

    pub fn boolean(&self, text: &str) -> Result<bool, &'static str> {
        let t = text.trim().to_lowercase();
        if self.trues.contains(&t) {
            Ok(true)
        } else if self.falses.contains(&t) {
            Ok(false)
        } else {
            Err("not a boolean (see parse.true_values and parse.false_values)")
        }
    }

    /// Days since 1970-01-01.
    pub fn date(&self, text: &str) -> Result<i32, &'static str> {
        let t = trim(text);
        for format in &self.date_formats {
            let parsed = match fast_date(t, format) {
                Some(fast) => fast,
                None => NaiveDate::parse_from_str(t, format).ok(),
            };
            if let Some(date) = parsed
                && plausible_year(date)
            {
                return Ok(days_since_epoch(date));
            }
        }
        // A timestamp delivered for a date column keeps its day.
        if let Ok(micros) = self.timestamp(t) {
            return Ok(micros.div_euclid(86_400_000_000) as i32);
        }
        Err("not a date in the contract's date formats")
    }

    /// Microseconds since 1970-01-01T00:00:00 (no time zone).
    pub fn timestamp(&self, text: &str) -> Result<i64, &'static str> {
        let t = trim(text);
        for format in &self.timestamp_formats {
            if let Ok(ts) = NaiveDateTime::parse_from_str(t, format)
                && plausible_year(ts.date())
            {
                return Ok(ts.and_utc().timestamp_micros());
            }
        }
        for format in &self.date_formats {
            if let Ok(date) = NaiveDate::parse_from_str(t, format)
                && plausible_year(date)
            {
                return Ok(days_since_epoch(date) as i64 * 86_400_000_000);
            }
        }
        Err("not a timestamp in the contract's timestamp formats")
    }
}

/// The common all-digit formats, parsed without chrono's format
/// interpreter (which re-reads the format for every value): `Some(result)`
/// for those formats, `None` for any other format.
fn fast_date(text: &str, format: &str) -> Option<Option<NaiveDate>> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(range)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(part.iter().fold(0u32, |n, d| n * 10 + (d - b'0') as u32))
    };
    let ymd = |y: Option<u32>, m: Option<u32>, d: Option<u32>| -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(y? as i32, m?, d?)
    };
    let sep_at = |positions: &[usize], sep: u8| positions.iter().all(|&i| b.get(i) == Some(&sep));
    Some(match format {
        "%Y-%m-%d" => (b.len() == 10 && sep_at(&[4, 7], b'-'))
            .then(|| ymd(digits(0..4), digits(5..7), digits(8..10)))
            .flatten(),
        "%d/%m/%Y" => (b.len() == 10 && sep_at(&[2, 5], b'/'))
            .then(|| ymd(digits(6..10), digits(3..5), digits(0..2)))
            .flatten(),
        "%Y%m%d" => (b.len() == 8)
            .then(|| ymd(digits(0..4), digits(4..6), digits(6..8)))
            .flatten(),
        "%d%m%Y" => (b.len() == 8)
            .then(|| ymd(digits(4..8), digits(2..4), digits(0..2)))
            .flatten(),
        _ => return None,
    })
}

/// Whether every thousands separator in `text` sits between groups of
/// exactly three digits of the integer part (`1.234.567,8`; not `14.16`).
fn thousands_well_placed(text: &str, sep: char, decimal: char) -> bool {
    let int_part = text.split(decimal).next().unwrap_or("");
    let int_part = int_part.trim_start_matches(['-', '+']);
    let mut groups = int_part.split(sep);
    let first = groups.next().unwrap_or("");
    let rest: Vec<&str> = groups.collect();
    rest.is_empty() || (!first.is_empty() && first.len() <= 3 && rest.iter().all(|g| g.len() == 3))
}

/// Dates outside 1800–2200 are misparsed formats (`20110102` read as
/// day-month-year is the year 102), not real reference dates.
fn plausible_year(date: NaiveDate) -> bool {
    use chrono::Datelike;
    (1800..=2200).contains(&date.year())
}

pub fn days_since_epoch(date: NaiveDate) -> i32 {
    use chrono::Datelike;
    date.num_days_from_ce() - UNIX_EPOCH_CE_DAYS
}

pub fn date_from_days(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(days + UNIX_EPOCH_CE_DAYS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_markers_are_matched_whole_after_trimming() {
        let p = ValueParser::new(&ParseOptions {
            null_values: vec!["--".into(), " NA ".into(), "não informado".into()],
            ..Default::default()
        });
        for null in ["", "   ", " -- ", "NA", "não informado"] {
            assert!(p.is_null(null), "{null:?}");
        }
        for value in ["-", "---", "NAO", "N", "não", "0", "nã"] {
            assert!(!p.is_null(value), "{value:?}");
        }
    }

    #[test]
    fn the_fast_trim_trims_like_str_trim() {
        for text in [
            "",
            " ",
            "a",
            " a",
            "a ",
            "\ta\r",
            "\u{a0}12\u{a0}",
            "1\u{2003}",
            "ab c",
            "\u{b}x",
        ] {
            assert_eq!(trim(text), text.trim(), "{text:?}");
        }
    }

    fn brazilian() -> ValueParser {
        ValueParser::new(&ParseOptions {
            decimal: ",".into(),
            thousands: Some(".".into()),
            ..Default::default()
        })
    }

    #[test]
    fn decimal_commas_and_thousands() {
        let p = brazilian();
        assert_eq!(p.float("14,16").unwrap(), 14.16);
        assert_eq!(p.float(",09").unwrap(), 0.09);
        assert_eq!(p.float("1.234,5").unwrap(), 1234.5);
        assert_eq!(p.decimal("1.234,50", 12, 2).unwrap(), 123_450);
        assert_eq!(p.decimal("-0,5", 12, 2).unwrap(), -50);
        assert!(p.decimal("1,234", 12, 2).is_err());
        assert!(p.decimal("123456789012", 10, 2).is_err());
        assert_eq!(p.integer("1.000").unwrap(), 1000);
        assert!(p.float("14.16").is_err(), "a misplaced thousands separator");
        assert!(p.decimal("1.23,5", 12, 2).is_err());
        assert!(p.float(",1e999").is_err(), "no infinities");
        let plain = ValueParser::new(&ParseOptions {
            decimal: ",".into(),
            ..Default::default()
        });
        assert!(
            plain.float("1.234,5").is_err(),
            "ambiguous without thousands"
        );
    }

    #[test]
    fn brazilian_dates() {
        let p = brazilian();
        let day = |s| days_since_epoch(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap());
        assert_eq!(p.date("01012016").unwrap(), day("2016-01-01"));
        assert_eq!(p.date("31/12/2023").unwrap(), day("2023-12-31"));
        assert_eq!(p.date("20160528").unwrap(), day("2016-05-28"));
        assert_eq!(p.date("2024-02-29").unwrap(), day("2024-02-29"));
        assert!(p.date("31022023").is_err());
        // One-digit days miss the fast path and still parse.
        assert_eq!(p.date("1/02/2023").unwrap(), day("2023-02-01"));
        // The fast path agrees with chrono on every day of a leap year.
        let mut current = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        for _ in 0..366 {
            for format in ["%Y-%m-%d", "%d/%m/%Y", "%Y%m%d", "%d%m%Y"] {
                let text = current.format(format).to_string();
                assert_eq!(fast_date(&text, format), Some(Some(current)), "{text}");
            }
            current = current.succ_opt().unwrap();
        }
        assert!(p.date("ontem").is_err());
        assert_eq!(
            date_from_days(day("2016-01-01")).unwrap().to_string(),
            "2016-01-01"
        );
        assert_eq!(
            p.timestamp("31/12/2023 23:59:00").unwrap(),
            (day("2023-12-31") as i64 * 86_400 + 86_340) * 1_000_000
        );
    }

    #[test]
    fn nulls_and_booleans() {
        let p = brazilian();
        assert!(p.is_null("--") && p.is_null("  ") && !p.is_null("0"));
        assert_eq!(p.boolean("Sim"), Ok(true));
        assert_eq!(p.boolean("N"), Ok(false));
        assert!(p.boolean("talvez").is_err());
    }
}
