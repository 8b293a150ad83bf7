//! The evaluation report: serialisable to JSON for tooling, and a plain-text table for people.

use super::EvalOptions;
use super::metrics::{GroupMetrics, HORIZON_EDGES};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// Everything [`super::evaluate`] measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub options: EvalOptions,
    pub curves_total: usize,
    pub curves_evaluated: usize,
    /// Curves with no target left after the context (too short).
    pub curves_skipped: usize,
    pub forecasters: Vec<ForecasterReport>,
}

/// One forecaster's metrics, on all curves and on each family and suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecasterReport {
    pub name: String,
    pub levels: Vec<f32>,
    /// Wall time spent in `forecast_prefixes`.
    pub seconds: f64,
    /// "all" first, then the family and suite breakdowns.
    pub groups: Vec<GroupMetrics>,
}

impl EvalReport {
    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::Parse(format!("report json: {e}")))
    }
}

const NAME_W: usize = 14;
const GROUP_W: usize = 24;

fn cut(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else {
        let head: String = s.chars().take(width - 1).collect();
        format!("{head}~")
    }
}

fn num(v: Option<f64>, decimals: usize, width: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:>width$.decimals$}"),
        _ => format!("{:>width$}", "-"),
    }
}

/// The report as a table for the terminal (under 120 columns): one row per forecaster and
/// group, then the error of the median by horizon on all curves. A metric other than an
/// accuracy is stated on a first line, with the units the errors are in (an accuracy's table
/// reads as it always has; the JSON states the metric in `options` either way).
pub fn render_table(report: &EvalReport) -> String {
    let o = &report.options;
    let mut t = String::new();
    if !o.metric.is_identity() {
        let _ = writeln!(
            t,
            "metric: {} (`{}`); forecasters read {} and are scored in the file's units",
            o.metric.describe(),
            o.metric.name(),
            o.metric.model_map()
        );
    }
    let schedule = if o.keep_every > 1 {
        format!("1 checkpoint in {} kept, and the last; ", o.keep_every)
    } else {
        String::new()
    };
    let _ = writeln!(
        t,
        "{schedule}context: compute <= {} x final (min {} points); {} curves, {} evaluated, {} \
         skipped",
        o.context_fraction,
        o.min_context,
        report.curves_total,
        report.curves_evaluated,
        report.curves_skipped
    );
    let _ = writeln!(
        t,
        "{:<NAME_W$} {:<GROUP_W$} {:>6} {:>7} {:>7} {:>7} {:>7} {:>7} {:>6} {:>6} {:>6}",
        "forecaster",
        "group",
        "curves",
        "MAE",
        "final",
        "floor",
        "excess",
        "pinball",
        "cov80",
        "cov50",
        "rank"
    );
    for f in &report.forecasters {
        for (i, g) in f.groups.iter().enumerate() {
            let name = if i == 0 {
                cut(&f.name, NAME_W)
            } else {
                String::new()
            };
            let group = if g.by == "all" {
                "all".to_string()
            } else {
                cut(&format!("{}={}", g.by, g.value), GROUP_W)
            };
            let _ = writeln!(
                t,
                "{name:<NAME_W$} {group:<GROUP_W$} {:>6} {} {} {} {} {} {} {} {}",
                g.curves,
                num(Some(g.mae), 4, 7),
                num(Some(g.final_mae), 4, 7),
                num(g.floor, 4, 7),
                num(g.excess, 4, 7),
                num(Some(g.pinball), 5, 7),
                num(g.coverage80, 3, 6),
                num(g.coverage50, 3, 6),
                num(g.rank_accuracy, 3, 6),
            );
        }
    }

    let _ = writeln!(
        t,
        "\nMAE of the median by horizon (target compute / last context compute), all curves:"
    );
    let mut labels: Vec<String> = HORIZON_EDGES.iter().map(|e| format!("<={e}x")).collect();
    labels.push(format!(">{}x", HORIZON_EDGES[HORIZON_EDGES.len() - 1]));
    let _ = write!(t, "{:<NAME_W$}", "forecaster");
    for l in &labels {
        let _ = write!(t, " {l:>8}");
    }
    let _ = writeln!(t, " {:>9}", "seconds");
    let all = |f: &ForecasterReport| f.groups.first().map(|g| g.horizon.clone());
    for f in &report.forecasters {
        let _ = write!(t, "{:<NAME_W$}", cut(&f.name, NAME_W));
        for b in all(f).unwrap_or_default() {
            let _ = write!(t, " {}", num(b.mae, 4, 8));
        }
        let _ = writeln!(t, " {:>9.2}", f.seconds);
    }
    if let Some(bins) = report.forecasters.first().and_then(all) {
        let _ = write!(t, "{:<NAME_W$}", "(targets)");
        for b in bins {
            let _ = write!(t, " {:>8}", b.targets);
        }
        let _ = writeln!(t);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::HorizonBin;

    fn report() -> EvalReport {
        let group = |by: &str, value: &str| GroupMetrics {
            by: by.into(),
            value: value.into(),
            curves: 2,
            targets: 5,
            mae: 0.0123,
            final_mae: 0.02,
            floor: None,
            excess: None,
            pinball: 0.004,
            coverage80: Some(0.8),
            coverage50: Some(0.5),
            rank_accuracy: Some(0.75),
            rank_pairs: 1,
            horizon: vec![HorizonBin {
                label: "<=1.5x".into(),
                targets: 5,
                mae: Some(0.01),
            }],
        };
        EvalReport {
            options: EvalOptions::default(),
            curves_total: 3,
            curves_evaluated: 2,
            curves_skipped: 1,
            forecasters: vec![ForecasterReport {
                name: "persistence".into(),
                levels: vec![0.1, 0.5, 0.9],
                seconds: 0.5,
                groups: vec![
                    group("all", "all"),
                    group("suite", "a-very-long-suite-name-indeed"),
                ],
            }],
        }
    }

    #[test]
    fn table_fits_in_120_columns_and_shows_the_numbers() {
        let text = render_table(&report());
        assert!(text.lines().all(|l| l.chars().count() <= 120), "{text}");
        assert!(text.contains("0.0123") && text.contains("0.750"), "{text}");
        assert!(text.contains("suite=a-very-long-suite~"), "{text}");
    }

    #[test]
    fn the_metric_is_stated_unless_it_is_an_accuracy() {
        let mut r = report();
        assert!(!render_table(&r).contains("metric"));
        r.options.metric = "loss".parse().unwrap();
        let text = render_table(&r);
        assert!(
            text.starts_with("metric: loss, minimized (`loss:minimize`); forecasters read exp(-v)"),
            "{text}"
        );
        let json = r.to_json().unwrap();
        assert!(json.contains(r#""kind": "loss""#) && json.contains(r#""direction": "minimize""#));
    }

    #[test]
    fn json_round_trips() {
        let r = report();
        let back: EvalReport = serde_json::from_str(&r.to_json().unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
