//! Training curves in memory: one run's metric at its checkpoints ([`Curve`]), how a curve is
//! cut into a context and the targets after it ([`context_len`], [`prefix`]), which runs are
//! held out ([`Holdout`]) and the token losses of checkpoints ([`losses::CurveLosses`]). What
//! evaluation (`eval`, which also reads curve files), adaptation (`adapt`) and training share;
//! no file format and no optional dependency lives here, so that the C library can adapt too.

pub mod holdout;
pub mod losses;

pub use holdout::{Holdout, split_by_run};

use crate::decisions::metric::Metric;
use crate::error::{Error, Result};
use crate::inference::forecast::CurvePrefix;

/// One training curve of one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    pub suite: String,
    pub run: String,
    pub shots: String,
    pub task: String,
    /// Compute at each checkpoint, strictly increasing.
    pub compute: Vec<f64>,
    /// The metric at each checkpoint, in the units the file was read in (`eval::curves::read_curves`):
    /// in [0, 1] for a bounded metric, non-negative for a loss. The name is the format's column.
    pub accuracy: Vec<f64>,
    /// Standard error of each accuracy, where the file has it.
    pub stderr: Vec<Option<f64>>,
}

impl Curve {
    /// A curve of suite `s`, shots `0`, with no standard errors: for tests.
    #[cfg(test)]
    pub(crate) fn synthetic(run: &str, task: &str, compute: &[f64], accuracy: &[f64]) -> Self {
        Curve {
            suite: "s".into(),
            run: run.into(),
            shots: "0".into(),
            task: task.into(),
            compute: compute.to_vec(),
            accuracy: accuracy.to_vec(),
            stderr: vec![None; compute.len()],
        }
    }

    /// The same curve in the model's space of `metric` (higher is better, in [0, 1]), which is
    /// what forecasters read: each value mapped by [`Metric::to_model`]. A value the metric
    /// cannot take is an error naming the curve, the checkpoint and the value.
    pub fn to_model(&self, metric: Metric) -> Result<Curve> {
        let accuracy = self
            .accuracy
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                metric.to_model(v).map_err(|problem| {
                    let id = curve_id(self);
                    Error::invalid(id, "accuracy", format!("checkpoint {i}: {problem}"))
                })
            })
            .collect::<Result<Vec<f64>>>()?;
        Ok(Curve {
            accuracy,
            ..self.clone()
        })
    }

    /// The key that groups curves into a sweep: runs compared with each other.
    pub fn sweep_key(&self) -> (String, String, String) {
        (self.suite.clone(), self.shots.clone(), self.task.clone())
    }

    /// MMLU subjects (`hendrycksTest-*`, `mmlu*`) are a family of their own in reports.
    pub fn family(&self) -> &'static str {
        let t = self.task.to_ascii_lowercase();
        if t.starts_with("hendryckstest") || t.starts_with("mmlu") {
            "mmlu"
        } else {
            "other"
        }
    }

    /// The same run checkpointed `k` times less often: every `k`-th checkpoint from the first,
    /// and always the last, so the curve still ends where it did. `eval --keep-every` scores a
    /// forecaster on schedules sparser than the file's, the way a scheduler that evaluates
    /// rarely would see the run. `k` of 0 or 1 keeps every checkpoint.
    pub fn keep_every(&self, k: usize) -> Curve {
        let n = self.compute.len();
        let kept: Vec<usize> = (0..n)
            .filter(|&i| k <= 1 || i % k == 0 || i + 1 == n)
            .collect();
        fn pick<T: Copy>(v: &[T], kept: &[usize]) -> Vec<T> {
            kept.iter().map(|&i| v[i]).collect()
        }
        Curve {
            suite: self.suite.clone(),
            run: self.run.clone(),
            shots: self.shots.clone(),
            task: self.task.clone(),
            compute: pick(&self.compute, &kept),
            accuracy: pick(&self.accuracy, &kept),
            stderr: pick(&self.stderr, &kept),
        }
    }
}

/// A stable name for a curve, used in errors and to select curves to plot.
pub fn curve_id(c: &Curve) -> String {
    format!("{}/{}/{}/{}", c.suite, c.run, c.shots, c.task)
}

/// How many leading checkpoints of `curve` are context, or `None` if nothing would be left to
/// forecast.
///
/// Context is every checkpoint whose compute is at most `context_fraction` times the final
/// compute, and at least `min_context` checkpoints.
pub fn context_len(curve: &Curve, context_fraction: f64, min_context: usize) -> Option<usize> {
    let last = *curve.compute.last()?;
    let cutoff = context_fraction * last;
    let within = curve.compute.iter().take_while(|&&x| x <= cutoff).count();
    let n = within.max(min_context);
    (n < curve.compute.len()).then_some(n)
}

/// The prefix of `curve` with `context` observed points and the rest as targets.
pub fn prefix(curve: &Curve, context: usize) -> CurvePrefix<'_> {
    CurvePrefix {
        steps: &curve.compute[..context],
        accuracy: &curve.accuracy[..context],
        targets: &curve.compute[context..],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_every_keeps_the_first_every_kth_and_the_last_checkpoint() {
        let curve = Curve {
            suite: "s".into(),
            run: "r".into(),
            shots: "0".into(),
            task: "t".into(),
            compute: (1..=10).map(f64::from).collect(),
            accuracy: (1..=10).map(|i| f64::from(i) / 100.0).collect(),
            stderr: (1..=10).map(|i| Some(f64::from(i) / 1000.0)).collect(),
        };
        let thinned = curve.keep_every(4);
        assert_eq!(thinned.compute, [1.0, 5.0, 9.0, 10.0]);
        assert_eq!(thinned.accuracy, [0.01, 0.05, 0.09, 0.10]);
        assert_eq!(
            thinned.stderr,
            [Some(0.001), Some(0.005), Some(0.009), Some(0.010)]
        );
        assert_eq!((thinned.suite.as_str(), thinned.task.as_str()), ("s", "t"));
        // The last checkpoint falls on the stride: kept once, not twice.
        assert_eq!(curve.keep_every(3).compute, [1.0, 4.0, 7.0, 10.0]);
        assert_eq!(curve.keep_every(1), curve);
        assert_eq!(curve.keep_every(0), curve);
    }

    #[test]
    fn context_is_the_cutoff_or_at_least_min_points() {
        let c = Curve::synthetic(
            "r",
            "t",
            &[0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 100.0],
            &[0.0; 7],
        );
        // 0.4 * 100 = 40: five points at or below the cutoff (inclusive).
        assert_eq!(context_len(&c, 0.4, 3), Some(5));
        // 0.1 * 100 = 10: two points, lifted to the minimum of three.
        assert_eq!(context_len(&c, 0.1, 3), Some(3));
        // Nothing left to forecast.
        assert_eq!(context_len(&c, 1.0, 3), None);
        let short = Curve::synthetic("r", "t", &[1.0, 2.0, 3.0], &[0.0; 3]);
        assert_eq!(context_len(&short, 0.2, 3), None);
    }
}
