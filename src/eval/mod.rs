//! The evaluation harness: cut each curve into a context and future targets, ask forecasters
//! (the engine and the [`baselines`]) for quantile forecasts of the targets, and score them.
//!
//! Every forecaster is driven through `&dyn Forecaster` in the same way, so the engine and the
//! baselines see exactly the same prefixes. All prefixes of a call go to the forecaster in a
//! few large batches so that the engine can batch its inference.
//!
//! # Units
//!
//! Curves are in their metric's own units ([`EvalOptions::metric`]: an accuracy, a validation
//! loss, ...). Every forecaster, the engine and the [`baselines`] alike, reads the curves in the
//! model's space (higher is better, in [0, 1]: `exp(-loss)` for a minimized loss, see
//! [`crate::decisions::metric`]) and its quantiles are mapped back into the curves' units before
//! they are scored, so that errors are in the file's units (a loss's MAE in nats). The baselines
//! run in the model's space rather than on the raw values because their bands and bounds assume
//! [0, 1] (a loss would be clamped there), and so that every forecaster gets the same input and
//! the same way back: the scores then differ only by the forecaster. For an accuracy both maps
//! are the identity.
//!
//! ```no_run
//! use neuneu::eval::curves::{read_curves, ComputeAxis};
//! use neuneu::eval::{evaluate, baselines, render_table, EvalOptions};
//! use neuneu::{Forecaster, Metric};
//!
//! let curves = read_curves("pythia-dev.csv", ComputeAxis::Tokens, Metric::ACCURACY)?;
//! let (p, l) = (baselines::Persistence::new(), baselines::Logistic::new());
//! let forecasters: [&dyn Forecaster; 2] = [&p, &l];
//! let opts = EvalOptions { context_fraction: 0.2, ..EvalOptions::default() };
//! let report = evaluate(&curves, &forecasters, &opts)?;
//! println!("{}", render_table(&report));
//! std::fs::write("report.json", report.to_json()?).unwrap();
//! # Ok::<(), neuneu::Error>(())
//! ```

pub mod baselines;
pub mod curves;
pub mod metrics;
pub mod plots;
pub mod replay;
pub mod report;

pub use metrics::{GroupMetrics, HorizonBin};
pub use plots::{Selection, write_fan_charts};
pub use report::{EvalReport, ForecasterReport, render_table};

use crate::curves::{Curve, context_len, prefix};
use crate::decisions::metric::Metric;
use crate::error::{Error, Result};
use crate::inference::forecast::{CurvePrefix, Forecaster, RunForecast};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::time::Instant;

/// How curves are cut and forecasts requested.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EvalOptions {
    /// Context is every checkpoint with compute at most this fraction of the curve's final
    /// compute.
    pub context_fraction: f64,
    /// ... but at least this many checkpoints.
    pub min_context: usize,
    /// Prefixes per `forecast_prefixes` call.
    pub batch_size: usize,
    /// Score on a sparser checkpoint schedule than the data's: every `keep_every`-th checkpoint
    /// of each curve and its last ([`Curve::keep_every`]), before the cut. 1 keeps them all.
    pub keep_every: usize,
    /// The metric the curves' values are in (see the module docs, "Units"): forecasters read
    /// them mapped into the model's space, and are scored in these units.
    pub metric: Metric,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            context_fraction: 0.2,
            min_context: 3,
            batch_size: 4096,
            keep_every: 1,
            metric: Metric::ACCURACY,
        }
    }
}

/// The curves on the checkpoint schedule `opts` asks for: borrowed unless it thins them.
pub(crate) fn on_schedule<'a>(curves: &'a [Curve], opts: &EvalOptions) -> Cow<'a, [Curve]> {
    if opts.keep_every > 1 {
        Cow::Owned(
            curves
                .iter()
                .map(|c| c.keep_every(opts.keep_every))
                .collect(),
        )
    } else {
        Cow::Borrowed(curves)
    }
}

/// The curves in the model's space of `metric`, what every forecaster reads (see the module
/// docs, "Units"); a value the metric cannot take is an error naming its curve.
pub(crate) fn in_model_space(curves: &[Curve], metric: Metric) -> Result<Vec<Curve>> {
    curves.iter().map(|c| c.to_model(metric)).collect()
}

/// The curves that have targets under `opts`, as (index, context length).
pub fn split(curves: &[Curve], opts: &EvalOptions) -> Vec<(usize, usize)> {
    curves
        .iter()
        .enumerate()
        .filter_map(|(i, c)| Some((i, context_len(c, opts.context_fraction, opts.min_context)?)))
        .collect()
}

/// Asks `forecaster` for every prefix, `batch_size` at a time, and checks it answered each.
/// `losses[i]`, the token losses of `prefixes[i]`'s last checkpoint where known, go with it.
pub(crate) fn forecast_all(
    forecaster: &dyn Forecaster,
    prefixes: &[CurvePrefix<'_>],
    losses: &[Option<&[f32]>],
    batch_size: usize,
) -> Result<Vec<RunForecast>> {
    let mut out = Vec::with_capacity(prefixes.len());
    for (chunk, losses) in prefixes.chunks(batch_size).zip(losses.chunks(batch_size)) {
        let got = forecaster.forecast_prefixes_with_losses(chunk, losses)?;
        if got.len() != chunk.len() {
            let reason = format!("{} forecasts for {} prefixes", got.len(), chunk.len());
            return Err(Error::invalid(
                forecaster.name(),
                "forecast_prefixes",
                reason,
            ));
        }
        out.extend(got);
    }
    Ok(out)
}

/// Evaluates each forecaster on every curve that has targets under `opts`.
///
/// Errors if a forecaster fails, has no 0.5 level, or returns a forecast that does not match
/// its prefix (wrong count, wrong number of quantiles, non-finite values).
pub fn evaluate(
    curves: &[Curve],
    forecasters: &[&dyn Forecaster],
    opts: &EvalOptions,
) -> Result<EvalReport> {
    evaluate_with_losses(curves, forecasters, opts, None)
}

/// [`evaluate`], each forecast given the token losses of its context's last checkpoint where
/// `losses` has them (forecasters that read no losses ignore them).
pub fn evaluate_with_losses(
    curves: &[Curve],
    forecasters: &[&dyn Forecaster],
    opts: &EvalOptions,
    losses: Option<&crate::curves::losses::CurveLosses>,
) -> Result<EvalReport> {
    metrics::check_options(opts)?;
    let curves = &*on_schedule(curves, opts);
    let model = in_model_space(curves, opts.metric)?;
    let cut = split(curves, opts);
    let prefixes: Vec<CurvePrefix<'_>> = cut.iter().map(|&(i, n)| prefix(&model[i], n)).collect();
    let given: Vec<Option<&[f32]>> = cut
        .iter()
        .map(|&(i, n)| losses.and_then(|l| l.of_context(&curves[i], n)))
        .collect();
    let mut reports = Vec::with_capacity(forecasters.len());
    for &f in forecasters {
        let at = metrics::LevelIndex::new(f.name(), f.levels(), opts.metric)?;
        let start = Instant::now();
        let forecasts = forecast_all(f, &prefixes, &given, opts.batch_size)?;
        let seconds = start.elapsed().as_secs_f64();
        let scores = cut
            .iter()
            .zip(&forecasts)
            .map(|(&(i, n), r)| {
                metrics::score_curve(i, &curves[i], n, r, f.levels(), at, opts.metric)
            })
            .collect::<Result<Vec<_>>>()?;
        reports.push(ForecasterReport {
            name: f.name().to_string(),
            levels: f.levels().to_vec(),
            seconds,
            groups: metrics::breakdown(curves, &scores),
        });
    }
    Ok(EvalReport {
        options: opts.clone(),
        curves_total: curves.len(),
        curves_evaluated: cut.len(),
        curves_skipped: curves.len() - cut.len(),
        forecasters: reports,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::forecast::Forecast;

    /// Answers the truth it was built with, to check the plumbing end to end.
    struct Oracle {
        levels: Vec<f32>,
        answer: f32,
        chunks: std::sync::Mutex<Vec<usize>>,
    }

    impl Forecaster for Oracle {
        fn name(&self) -> &str {
            "oracle"
        }
        fn levels(&self) -> &[f32] {
            &self.levels
        }
        fn forecast_prefixes(&self, prefixes: &[CurvePrefix<'_>]) -> Result<Vec<RunForecast>> {
            self.chunks.lock().unwrap().push(prefixes.len());
            Ok(prefixes
                .iter()
                .map(|p| RunForecast {
                    forecasts: p
                        .targets
                        .iter()
                        .map(|&step| Forecast {
                            step,
                            quantiles: vec![self.answer; self.levels.len()],
                        })
                        .collect(),
                })
                .collect())
        }
    }

    impl Oracle {
        /// Answers `answer` at the levels 0.1, 0.5 and 0.9 (no 0.25/0.75).
        fn flat_at(answer: f32) -> Self {
            Oracle {
                levels: vec![0.1, 0.5, 0.9],
                answer,
                chunks: Default::default(),
            }
        }
    }

    fn flat(run: &str, n: usize, value: f64) -> Curve {
        Curve {
            suite: "s".into(),
            run: run.into(),
            shots: "0".into(),
            task: "t".into(),
            compute: (1..=n).map(|i| i as f64).collect(),
            accuracy: vec![value; n],
            stderr: vec![Some(0.01); n],
        }
    }

    #[test]
    fn evaluates_batches_and_counts_skipped_curves() {
        let curves = vec![flat("a", 10, 0.5), flat("b", 10, 0.5), flat("c", 3, 0.5)];
        let oracle = Oracle::flat_at(0.5);
        let opts = EvalOptions {
            batch_size: 1,
            ..EvalOptions::default()
        };
        let report = evaluate(&curves, &[&oracle], &opts).unwrap();
        assert_eq!((report.curves_evaluated, report.curves_skipped), (2, 1));
        assert_eq!(*oracle.chunks.lock().unwrap(), vec![1, 1]);
        let all = &report.forecasters[0].groups[0];
        assert_eq!(all.mae, 0.0);
        assert_eq!(all.coverage80, Some(1.0));
        // No 0.25/0.75 levels: no 50% coverage rather than a made-up one.
        assert_eq!(all.coverage50, None);
        // 10 points, 0.2 * 10 = 2 -> lifted to 3 context points, 7 targets each.
        assert_eq!(all.targets, 14);
        assert!(all.excess.unwrap() < 0.0);
    }

    #[test]
    fn a_sparser_schedule_is_cut_and_scored_on_the_kept_checkpoints() {
        // 10 checkpoints, every 3rd kept and the last: steps 1, 4, 7, 10. At least 3 context
        // points, so one target (step 10) instead of 7.
        let curves = vec![flat("a", 10, 0.5)];
        let oracle = Oracle::flat_at(0.5);
        let opts = EvalOptions {
            keep_every: 3,
            ..EvalOptions::default()
        };
        let report = evaluate(&curves, &[&oracle], &opts).unwrap();
        assert_eq!(report.forecasters[0].groups[0].targets, 1);
        assert_eq!(report.options.keep_every, 3);
    }

    #[test]
    fn a_loss_file_is_scored_in_nats() {
        use crate::eval::baselines::Persistence;
        use crate::eval::curves::{ComputeAxis, parse_curves};
        // One run: context 4.0, 3.0, 2.5 (at least 3 points), targets 2.2 and 2.0.
        let text = "suite,run,task,tokens,acc\n\
                    s,a,val_loss,1,4.0\ns,a,val_loss,2,3.0\ns,a,val_loss,3,2.5\n\
                    s,a,val_loss,4,2.2\ns,a,val_loss,5,2.0\n";
        let loss = "loss".parse().unwrap();
        let curves = parse_curves(text, ComputeAxis::Tokens, loss).unwrap();
        let opts = EvalOptions {
            metric: loss,
            ..EvalOptions::default()
        };
        let report = evaluate(&curves, &[&Persistence::new()], &opts).unwrap();
        let all = &report.forecasters[0].groups[0];
        // Persistence forecasts the last context loss, 2.5 nats: errors 0.3 and 0.5 nats.
        // (In the model's space they would be exp(-2.2) - exp(-2.5) and so on, about 0.03.)
        assert!((all.mae - 0.4).abs() < 1e-6, "{}", all.mae);
        assert!((all.final_mae - 0.5).abs() < 1e-6, "{}", all.final_mae);
        assert_eq!(report.options.metric, loss);
        // Read as an accuracy, the same values never reach a forecaster.
        let as_accuracy = EvalOptions::default();
        assert!(evaluate(&curves, &[&Persistence::new()], &as_accuracy).is_err());
    }

    #[test]
    fn rejects_bad_options() {
        let opts = EvalOptions {
            context_fraction: 0.0,
            ..EvalOptions::default()
        };
        assert!(evaluate(&[], &[], &opts).is_err());
        let opts = EvalOptions {
            keep_every: 0,
            ..EvalOptions::default()
        };
        assert!(evaluate(&[], &[], &opts).is_err());
    }
}
