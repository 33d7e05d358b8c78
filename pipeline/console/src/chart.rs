//! A bar chart of rows delivered per run over time, drawn as inline SVG on
//! the server (no JavaScript). Failed and rejected runs are red marks on
//! the baseline; runs that found nothing new are left out.

use crate::i18n::Lang;
use chrono_tz::Tz;
use lagoa_core::RunStatus;
use lagoa_lake::catalog::RunRecord;
use maud::{Markup, html};

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 30.0;

/// `runs` in any order; the chart sorts them by start.
pub(crate) fn rows_per_run(lang: Lang, zone: Tz, runs: &[RunRecord]) -> Markup {
    // Runs that brought rows, and runs that failed; not those that found
    // nothing new (`already_ingested`) or are still going.
    let mut runs: Vec<&RunRecord> = runs
        .iter()
        .filter(|r| {
            matches!(
                r.status,
                RunStatus::Committed | RunStatus::Failed | RunStatus::Rejected
            )
        })
        .collect();
    runs.sort_by_key(|r| r.started_at);
    if runs.is_empty() {
        return html! { p.muted { (lang.t("Ainda não há execuções para o gráfico.", "No runs to chart yet.")) } };
    }
    let first = runs[0].started_at as f64;
    let last = runs[runs.len() - 1].started_at as f64;
    let max_rows = runs
        .iter()
        .map(|r| r.rows_written)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let bar_w = (plot_w / runs.len() as f64 * 0.7).clamp(2.0, 24.0);
    let x = |i: usize, at: i64| -> f64 {
        let share = if last > first {
            (at as f64 - first) / (last - first)
        } else if runs.len() > 1 {
            i as f64 / (runs.len() - 1) as f64
        } else {
            0.5
        };
        LEFT + bar_w / 2.0 + share * (plot_w - bar_w)
    };
    let baseline = TOP + plot_h;
    html! {
        svg.chart id="rows-chart" xmlns="http://www.w3.org/2000/svg" width=(WIDTH) height=(HEIGHT)
            viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img"
            aria-label=(lang.t("Linhas gravadas por execução ao longo do tempo", "Rows written per run over time")) {
            line.axis x1=(LEFT) y1=(baseline) x2=(WIDTH - RIGHT) y2=(baseline) {}
            line.axis x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(baseline) {}
            text x=(LEFT - 6.0) y=(TOP + 8.0) text-anchor="end" { (lang.count(max_rows as i64)) }
            text x=(LEFT - 6.0) y=(baseline) text-anchor="end" { "0" }
            text x=(LEFT) y=(HEIGHT - 8.0) { (lang.micros(runs[0].started_at, zone)) }
            text x=(WIDTH - RIGHT) y=(HEIGHT - 8.0) text-anchor="end" { (lang.micros(runs[runs.len() - 1].started_at, zone)) }
            @for (i, r) in runs.iter().enumerate() {
                @let cx = x(i, r.started_at);
                @if matches!(r.status, RunStatus::Failed | RunStatus::Rejected) {
                    rect.bad x=(cx - bar_w / 2.0) y=(baseline - 6.0) width=(bar_w) height="6" data-run=(r.run_id) {
                        title { (lang.micros(r.started_at, zone)) ": " (lang.status(r.status)) }
                    }
                } @else {
                    @let h = (r.rows_written as f64 / max_rows * plot_h).max(if r.rows_written > 0 { 1.0 } else { 0.0 });
                    rect.bar x=(cx - bar_w / 2.0) y=(baseline - h) width=(bar_w) height=(h) data-run=(r.run_id) data-rows=(r.rows_written) {
                        title { (lang.micros(r.started_at, zone)) ": " (lang.count(r.rows_written)) " " (lang.t("linhas", "rows")) }
                    }
                }
            }
        }
    }
}

/// One indicator's values over the years as a line, drawn as inline SVG:
/// suppressed years are gaps with a hollow mark on the axis.
pub(crate) fn series(lang: Lang, points: &[(i64, Option<f64>)], unit: &str) -> Markup {
    if points.is_empty() {
        return html! { p.muted { (lang.t("Ainda não há valores.", "No values yet.")) } };
    }
    let max = points
        .iter()
        .filter_map(|(_, v)| *v)
        .fold(0.0f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let baseline = TOP + plot_h;
    let x = |i: usize| {
        if points.len() > 1 {
            LEFT + 10.0 + i as f64 / (points.len() - 1) as f64 * (plot_w - 20.0)
        } else {
            LEFT + plot_w / 2.0
        }
    };
    let y = |v: f64| baseline - v / max * plot_h;
    // Runs of consecutive published years become one polyline each.
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for (i, (_, v)) in points.iter().enumerate() {
        match v {
            Some(v) => current.push_str(&format!("{:.1},{:.1} ", x(i), y(*v))),
            None if !current.is_empty() => lines.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    html! {
        svg.chart id="series-chart" xmlns="http://www.w3.org/2000/svg" width=(WIDTH) height=(HEIGHT)
            viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label=(unit) {
            line.axis x1=(LEFT) y1=(baseline) x2=(WIDTH - RIGHT) y2=(baseline) {}
            line.axis x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(baseline) {}
            text x=(LEFT - 6.0) y=(TOP + 8.0) text-anchor="end" { (lang.decimal(max, 1)) }
            text x=(LEFT - 6.0) y=(baseline) text-anchor="end" { "0" }
            @for l in &lines {
                polyline.line points=(l) {}
            }
            @for (i, (year, v)) in points.iter().enumerate() {
                text x=(x(i)) y=(HEIGHT - 8.0) text-anchor="middle" { (year) }
                @match v {
                    Some(v) => {
                        circle.point cx=(format!("{:.1}", x(i))) cy=(format!("{:.1}", y(*v))) r="4" data-year=(year) data-value=(v) {
                            title { (year) ": " (lang.decimal(*v, 2)) " " (unit) }
                        }
                    }
                    None => {
                        circle.suppressed cx=(format!("{:.1}", x(i))) cy=(baseline) r="5" data-year=(year) {
                            title { (year) ": " (lang.t("suprimido (células pequenas)", "suppressed (small cells)")) }
                        }
                    }
                }
            }
        }
    }
}
