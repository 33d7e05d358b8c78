//! When a source runs: a cron expression read in a time zone (default
//! `America/Sao_Paulo`), so "06:00" stays 06:00 local whatever the offset.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::str::FromStr;

pub const DEFAULT_TIME_ZONE: &str = "America/Sao_Paulo";

#[derive(Clone, Debug)]
pub struct Schedule {
    expression: String,
    cron: cron::Schedule,
    tz: Tz,
}

impl Schedule {
    /// `expression`: five fields (`minute hour day month weekday`, as in
    /// crontab) or six with seconds first. Weekdays are best written by
    /// name (`Mon-Fri`): in numbers, 1 is Sunday.
    pub fn parse(expression: &str, time_zone: &str) -> Result<Schedule, String> {
        let fields = expression.split_whitespace().count();
        let full = match fields {
            5 => format!("0 {expression}"),
            6 | 7 => expression.to_owned(),
            _ => {
                return Err(format!(
                    "cron {expression:?}: expected 5 fields (minute hour day month weekday), got {fields}"
                ));
            }
        };
        let cron = cron::Schedule::from_str(&full)
            .map_err(|e| format!("cron {expression:?} is not valid: {e}"))?;
        let tz = Tz::from_str(time_zone)
            .map_err(|_| format!("time zone {time_zone:?} is not an IANA zone name"))?;
        if cron.upcoming(tz).next().is_none() {
            return Err(format!("cron {expression:?} never fires"));
        }
        Ok(Schedule {
            expression: expression.to_owned(),
            cron,
            tz,
        })
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    pub fn time_zone(&self) -> &str {
        self.tz.name()
    }

    /// The first firing strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .after(&t.with_timezone(&self.tz))
            .next()
            .map(|d| d.with_timezone(&Utc))
    }

    /// Firings in `(after, until]`, at most `limit` of them (the latest),
    /// oldest first. Walks back from `until`, so a long gap in a
    /// frequent schedule costs `limit` steps, not one per missed firing.
    pub fn firings_between(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Vec<DateTime<Utc>> {
        let start = (until + chrono::Duration::seconds(1)).with_timezone(&self.tz);
        let mut out: Vec<DateTime<Utc>> = self
            .cron
            .after(&start)
            .rev()
            .map(|d| d.with_timezone(&Utc))
            .skip_while(|d| *d > until)
            .take_while(|d| *d > after)
            .take(limit)
            .collect();
        out.reverse();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn five_fields_read_in_the_source_time_zone() {
        let s = Schedule::parse("0 6 * * *", DEFAULT_TIME_ZONE).unwrap();
        // 06:00 in São Paulo (UTC-3, no daylight saving since 2019) is 09:00 UTC.
        assert_eq!(
            s.next_after(utc("2026-03-10T12:00:00Z")),
            Some(utc("2026-03-11T09:00:00Z"))
        );
        let s = Schedule::parse("30 2 1 * *", "UTC").unwrap();
        assert_eq!(
            s.next_after(utc("2026-03-10T12:00:00Z")),
            Some(utc("2026-04-01T02:30:00Z"))
        );
    }

    #[test]
    fn bad_expressions_and_zones_are_named() {
        assert!(
            Schedule::parse("0 6 * *", "UTC")
                .unwrap_err()
                .contains("5 fields")
        );
        assert!(
            Schedule::parse("0 61 * * *", "UTC")
                .unwrap_err()
                .contains("not valid")
        );
        assert!(
            Schedule::parse("0 6 * * *", "America/Atlantida")
                .unwrap_err()
                .contains("IANA")
        );
    }

    #[test]
    fn missed_firings_are_listed_up_to_a_limit() {
        let s = Schedule::parse("0 * * * *", "UTC").unwrap();
        let missed =
            s.firings_between(utc("2026-01-01T00:30:00Z"), utc("2026-01-01T05:00:00Z"), 10);
        assert_eq!(missed.len(), 5);
        assert_eq!(missed[0], utc("2026-01-01T01:00:00Z"));
        assert_eq!(missed[4], utc("2026-01-01T05:00:00Z"));
        let latest = s.firings_between(utc("2026-01-01T00:30:00Z"), utc("2026-01-01T05:00:00Z"), 2);
        assert_eq!(
            latest,
            vec![utc("2026-01-01T04:00:00Z"), utc("2026-01-01T05:00:00Z")]
        );
    }
}
