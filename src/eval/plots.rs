//! Fan charts: what a forecaster said about a curve against what the curve then did.
//!
//! SVG only, so that no font or image library is needed: text is left to the viewer's
//! sans-serif font. Compute is on a log axis; checkpoints at zero compute cannot be placed on
//! it and are not drawn.

use super::metrics::LevelIndex;
use super::{EvalOptions, forecast_all, split};
use crate::curves::{Curve, curve_id, prefix};
use crate::decisions::metric::{Metric, MetricKind};
use crate::error::{Error, Result};
use crate::inference::forecast::{Forecaster, RunForecast};
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Which curves to chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Curves by [`curve_id`] (`suite/run/shots/task`); every name must match a curve that has
    /// targets under the options.
    Names(Vec<String>),
    /// `n` curves drawn from those that have targets by a fixed-seed shuffle: the same curves
    /// on every call, spread over suites, runs and tasks (an even stride through the sorted
    /// curves would keep landing on one task).
    Sample(usize),
}

const BAND80: RGBColor = RGBColor(66, 133, 244);
const MEDIAN: RGBColor = RGBColor(25, 80, 180);
const TRUTH: RGBColor = RGBColor(215, 60, 40);

/// Draws one SVG fan chart per selected curve into `dir` (created if missing) and returns the
/// paths written, named `<forecaster>_<curve id>.svg`.
///
/// Each chart shows the observed context, the forecaster's median and its 50% and 80% bands
/// from the last observed point on, and the curve's true future values dashed, all in the
/// curves' own units (`opts.metric`; the forecaster reads them in the model's space, as in
/// [`super::evaluate`]).
pub fn write_fan_charts(
    dir: &Path,
    curves: &[Curve],
    forecaster: &dyn Forecaster,
    selection: &Selection,
    opts: &EvalOptions,
) -> Result<Vec<PathBuf>> {
    super::metrics::check_options(opts)?;
    let curves = &*super::on_schedule(curves, opts);
    let at = LevelIndex::new(forecaster.name(), forecaster.levels(), opts.metric)?;
    let chosen = select(curves, selection, opts)?;
    let model = super::in_model_space(curves, opts.metric)?;
    let prefixes: Vec<_> = chosen.iter().map(|&(i, n)| prefix(&model[i], n)).collect();
    let forecasts = forecast_all(
        forecaster,
        &prefixes,
        &vec![None; prefixes.len()],
        opts.batch_size,
    )?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut written = Vec::with_capacity(chosen.len());
    for (&(i, n), forecast) in chosen.iter().zip(&forecasts) {
        let c = &curves[i];
        let file = format!("{}_{}.svg", forecaster.name(), curve_id(c));
        let path = dir.join(sanitize(&file));
        draw(&path, c, n, forecast, forecaster.name(), at, opts.metric)
            .map_err(|e| Error::io(&path, e))?;
        written.push(path);
    }
    Ok(written)
}

fn select(
    curves: &[Curve],
    selection: &Selection,
    opts: &EvalOptions,
) -> Result<Vec<(usize, usize)>> {
    let cut = split(curves, opts);
    match selection {
        Selection::Sample(n) => {
            let mut pool = cut;
            let n = (*n).min(pool.len());
            let mut rng = crate::rng::SplitMix64::new(0x5eed);
            // Partial Fisher-Yates: the first n slots end up a uniform sample.
            for k in 0..n {
                let j = k + (rng.next_u64() % (pool.len() - k) as u64) as usize;
                pool.swap(k, j);
            }
            pool.truncate(n);
            Ok(pool)
        }
        Selection::Names(names) => names
            .iter()
            .map(|name| {
                cut.iter()
                    .find(|&&(i, _)| curve_id(&curves[i]) == *name)
                    .copied()
                    .ok_or_else(|| {
                        let reason = "no such curve with targets to forecast";
                        Error::invalid(name, "selection", reason)
                    })
            })
            .collect(),
    }
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Tick labels such as `3e10` or `1.5e8`.
fn sci(x: &f64) -> String {
    let short = format!("{x:.0e}");
    // Keep a digit after the point only where the short form would misplace the tick.
    match short.parse::<f64>() {
        Ok(v) if (v - x).abs() <= 1e-6 * x.abs() => short,
        _ => format!("{x:.1e}"),
    }
}

fn draw(
    path: &Path,
    c: &Curve,
    context: usize,
    forecast: &RunForecast,
    forecaster: &str,
    at: LevelIndex,
    metric: Metric,
) -> std::io::Result<()> {
    let observed: Vec<(f64, f64)> = (0..context)
        .map(|k| (c.compute[k], c.accuracy[k]))
        .filter(|p| p.0 > 0.0)
        .collect();
    let anchor = (c.compute[context - 1], c.accuracy[context - 1]);
    let truth: Vec<(f64, f64)> = std::iter::once(anchor)
        .chain((context..c.compute.len()).map(|k| (c.compute[k], c.accuracy[k])))
        .filter(|p| p.0 > 0.0)
        .collect();
    // The forecasts in the curve's units, each at the same levels as the model's.
    let user: Vec<Vec<f64>> = forecast
        .forecasts
        .iter()
        .map(|f| metric.quantiles_to_user(&f.quantiles))
        .collect();
    // Each forecast path starts at the last observed point, so the fan opens from it.
    let path_at = |level: usize| -> Vec<(f64, f64)> {
        std::iter::once(anchor)
            .chain(
                forecast
                    .forecasts
                    .iter()
                    .zip(&user)
                    .map(|(f, q)| (f.step, q[level])),
            )
            .filter(|p| p.0 > 0.0)
            .collect()
    };
    let band = |pair: Option<(usize, usize)>| -> Vec<(f64, f64)> {
        let Some((lo, hi)) = pair else {
            return Vec::new();
        };
        let mut poly = path_at(hi);
        poly.extend(path_at(lo).into_iter().rev());
        poly
    };
    let median = path_at(at.median);
    let (band80, band50) = (band(at.band80), band(at.band50));

    let all_points = || observed.iter().chain(&truth).chain(&band80).chain(&median);
    let (mut x_lo, mut x_hi, mut y_lo, mut y_hi) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all_points() {
        (x_lo, x_hi, y_lo, y_hi) = (x_lo.min(x), x_hi.max(x), y_lo.min(y), y_hi.max(y));
    }
    if !(x_lo > 0.0 && x_hi >= x_lo) {
        return Err(std::io::Error::other(
            "no checkpoint with positive compute to plot",
        ));
    }
    let y_pad = ((y_hi - y_lo) * 0.08).max(0.01);
    // The axis stops where the metric does: a bounded one at 0 and 1, a loss at 0, a negated
    // loss at 0 from below.
    let (y_bottom, y_top) = match metric.kind {
        MetricKind::Bounded => (0.0, 1.0),
        MetricKind::Loss => (0.0, f64::INFINITY),
        MetricKind::NegLoss => (f64::NEG_INFINITY, 0.0),
    };
    let (y_lo, y_hi) = ((y_lo - y_pad).max(y_bottom), (y_hi + y_pad).min(y_top));
    let y_desc = if metric.is_identity() {
        "accuracy"
    } else {
        metric.describe()
    };

    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(std::io::Error::other)?;
    let title = format!(
        "{} · run {} · {} ({}-shot) — {}",
        c.suite, c.run, c.task, c.shots, forecaster
    );
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(title, ("sans-serif", 20))
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(64);
    let fan = Fan {
        observed,
        truth,
        median,
        band80,
        band50,
    };
    // Within a decade a log axis gets a single tick label; a linear one reads better there.
    if x_hi / x_lo > 20.0 {
        let x = (x_lo / 1.15..x_hi * 1.15).log_scale();
        let chart = builder
            .build_cartesian_2d(x, y_lo..y_hi)
            .map_err(std::io::Error::other)?;
        render(chart, &fan, "compute (log scale)", y_desc)?;
    } else {
        let pad = (x_hi - x_lo).max(x_hi * 0.01) * 0.04;
        let chart = builder
            .build_cartesian_2d(x_lo - pad..x_hi + pad, y_lo..y_hi)
            .map_err(std::io::Error::other)?;
        render(chart, &fan, "compute", y_desc)?;
    }
    root.present().map_err(std::io::Error::other)?;
    Ok(())
}

/// The paths of one chart, in chart coordinates.
struct Fan {
    observed: Vec<(f64, f64)>,
    truth: Vec<(f64, f64)>,
    median: Vec<(f64, f64)>,
    band80: Vec<(f64, f64)>,
    band50: Vec<(f64, f64)>,
}

fn render<'a, X>(
    mut chart: ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, RangedCoordf64>>,
    fan: &Fan,
    x_desc: &str,
    y_desc: &str,
) -> std::io::Result<()>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&sci)
        .y_label_formatter(&|y| format!("{y:.2}"))
        .x_labels(8)
        .y_labels(10)
        // Log axes get a light line per minor tick, which reads as grey smudges: keep one.
        .max_light_lines(1)
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(215, 215, 215))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(std::io::Error::other)?;

    let rect = |color: RGBAColor| {
        move |(x, y): (i32, i32)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], color.filled())
    };
    for (band, alpha, label) in [
        (&fan.band80, 0.18, "80% band (q0.1-q0.9)"),
        (&fan.band50, 0.38, "50% band (q0.25-q0.75)"),
    ] {
        if band.is_empty() {
            continue;
        }
        let fill = BAND80.mix(alpha);
        chart
            .draw_series(std::iter::once(Polygon::new(band.clone(), fill.filled())))
            .map_err(std::io::Error::other)?
            .label(label)
            .legend(rect(fill));
    }
    chart
        .draw_series(LineSeries::new(fan.median.clone(), MEDIAN.stroke_width(2)))
        .map_err(std::io::Error::other)?
        .label("forecast median")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], MEDIAN.stroke_width(2)));
    chart
        .draw_series(DashedLineSeries::new(
            fan.truth.clone(),
            6,
            4,
            TRUTH.stroke_width(2),
        ))
        .map_err(std::io::Error::other)?
        .label("actual (future)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], TRUTH.stroke_width(2)));
    chart
        .draw_series(
            fan.truth
                .iter()
                .skip(1)
                .map(|&p| Circle::new(p, 3, TRUTH.stroke_width(1))),
        )
        .map_err(std::io::Error::other)?;
    chart
        .draw_series(
            fan.observed
                .iter()
                .map(|&p| Circle::new(p, 4, BLACK.filled())),
        )
        .map_err(std::io::Error::other)?
        .label("observed (context)")
        .legend(|(x, y)| Circle::new((x + 8, y), 4, BLACK.filled()));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(std::io::Error::other)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::baselines::PowerLaw;

    fn curve(run: &str) -> Curve {
        let compute: Vec<f64> = (0..12).map(|i| 1e9 * 1.5f64.powi(i)).collect();
        let accuracy = compute
            .iter()
            .map(|x| 0.7 - 0.4 * (x / 1e9).powf(-0.3))
            .collect();
        Curve {
            suite: "pythia-v1".into(),
            run: run.into(),
            shots: "0".into(),
            task: "lambada".into(),
            stderr: vec![None; compute.len()],
            compute,
            accuracy,
        }
    }

    #[test]
    fn writes_svgs_for_names_and_samples() {
        let dir = std::env::temp_dir().join(format!("neuneu-fan-{}", std::process::id()));
        let curves = vec![curve("160m"), curve("1.4b"), curve("6.9b")];
        let opts = EvalOptions::default();
        let by_name = Selection::Names(vec!["pythia-v1/1.4b/0/lambada".into()]);
        let paths = write_fan_charts(&dir, &curves, &PowerLaw::new(), &by_name, &opts).unwrap();
        assert_eq!(paths.len(), 1);
        assert!(paths[0].ends_with("power-law_pythia-v1_1.4b_0_lambada.svg"));
        let svg = std::fs::read_to_string(&paths[0]).unwrap();
        assert!(svg.contains("<svg") && svg.contains("forecast median"));
        let sample = write_fan_charts(
            &dir,
            &curves,
            &PowerLaw::new(),
            &Selection::Sample(2),
            &opts,
        );
        let sample_paths = sample.unwrap();
        assert_eq!(sample_paths.len(), 2);
        let again = write_fan_charts(
            &dir,
            &curves,
            &PowerLaw::new(),
            &Selection::Sample(2),
            &opts,
        );
        assert_eq!(again.unwrap(), sample_paths, "the sample is deterministic");
        let missing = Selection::Names(vec!["nope".into()]);
        assert!(write_fan_charts(&dir, &curves, &PowerLaw::new(), &missing, &opts).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_loss_is_charted_in_its_own_units() {
        let dir = std::env::temp_dir().join(format!("neuneu-fan-loss-{}", std::process::id()));
        // Losses from 4.6 down to about 2.4 nats: above 1, where an accuracy's axis would stop.
        let mut c = curve("160m");
        c.accuracy = c
            .compute
            .iter()
            .map(|x| 1.8 + 2.8 * (x / 1e9).powf(-0.3))
            .collect();
        let opts = EvalOptions {
            metric: "loss".parse().unwrap(),
            ..EvalOptions::default()
        };
        let paths =
            write_fan_charts(&dir, &[c], &PowerLaw::new(), &Selection::Sample(1), &opts).unwrap();
        let svg = std::fs::read_to_string(&paths[0]).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(svg.contains("loss, minimized"), "the axis names the metric");
        // Tick labels ("{y:.2}") in nats, well above 1, where an accuracy's axis stops.
        let top = svg
            .lines()
            .map(str::trim)
            .filter(|l| l.len() == 4 && l.as_bytes()[1] == b'.')
            .filter_map(|l| l.parse::<f64>().ok())
            .fold(0.0, f64::max);
        assert!(top >= 4.0, "highest tick {top}");
    }
}
