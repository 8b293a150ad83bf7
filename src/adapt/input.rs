//! What [`adapt`](super::adapt) learns from: curve files, or runs a program holds in memory (a
//! scheduler's finished trials), read into curves in the model's space, each source described
//! in one line for the manifest; and the token losses of their checkpoints. `neuneu adapt` and
//! the Python package's `neuneu.adapt` both read their input here.

use super::{AdaptOptions, Adapted};
use crate::curves::Curve;
use crate::curves::losses::CurveLosses;
use crate::decisions::metric::Metric;
use crate::error::{Error, Result};
#[cfg(feature = "eval")]
use crate::eval::curves::{ComputeAxis, check_columns, read_curves};
use crate::inference::summary::LossSummary;
use crate::model::bundle::Bundle;
use std::collections::BTreeSet;
use std::path::Path;

/// One run given in memory: its checkpoints' steps (compute, strictly increasing) and values.
#[derive(Debug, Clone, Copy)]
pub struct RunCurve<'a> {
    pub run: &'a str,
    pub steps: &'a [f64],
    pub values: &'a [f64],
}

/// The curves to adapt to, in the model's space, and what they came from.
#[derive(Debug, Default)]
pub struct AdaptInput {
    pub curves: Vec<Curve>,
    /// One line per source, for the manifest's record of what the bundle learned from.
    pub sources: Vec<String>,
    /// The token losses of the curves' checkpoints, where read ([`read_losses`](Self::read_losses)).
    pub losses: Option<CurveLosses>,
}

impl AdaptInput {
    /// Reads a long-format curve file whose `acc` column holds values of `metric`; a column the
    /// format does not have is refused (a fit must not silently ignore one). Feature `eval`
    /// (the CSV reader).
    #[cfg(feature = "eval")]
    pub fn add_file(&mut self, path: &Path, metric: Metric) -> Result<()> {
        check_columns(path)?;
        let read = read_curves(path, ComputeAxis::Tokens, metric)?;
        let runs: BTreeSet<_> = read.iter().map(|c| (&c.suite, &c.run)).collect();
        self.sources.push(format!(
            "{} ({} curves of {} runs{})",
            path.file_name().unwrap_or_default().to_string_lossy(),
            read.len(),
            runs.len(),
            mapped(metric)
        ));
        for c in &read {
            self.curves.push(c.to_model(metric)?);
        }
        Ok(())
    }

    /// Adds runs held in memory, one curve each, of one metric: they form suite `suite` (the
    /// unit the hold-out is drawn in) with task `task`. Each run needs points with finite,
    /// non-negative, strictly increasing steps and values the metric can take; a run id given
    /// twice in the suite is refused. Errors name the run.
    pub fn add_runs(
        &mut self,
        suite: &str,
        task: &str,
        runs: &[RunCurve<'_>],
        metric: Metric,
    ) -> Result<()> {
        let mut seen: BTreeSet<&str> = self
            .curves
            .iter()
            .filter(|c| c.suite == suite)
            .map(|c| c.run.as_str())
            .collect();
        let mut added = Vec::with_capacity(runs.len());
        for r in runs {
            let bad = |field, reason: String| Err(Error::invalid(r.run, field, reason));
            if !seen.insert(r.run) {
                return bad("run", format!("given twice in suite {suite:?}"));
            }
            if r.steps.len() != r.values.len() {
                return bad(
                    "values",
                    format!("{} values for {} steps", r.values.len(), r.steps.len()),
                );
            }
            if r.steps.is_empty() {
                return bad("steps", "no points".into());
            }
            if let Some(s) = r.steps.iter().find(|s| !(s.is_finite() && **s >= 0.0)) {
                return bad("steps", format!("{s} is not a finite non-negative number"));
            }
            if let Some(w) = r.steps.windows(2).find(|w| w[1] <= w[0]) {
                return bad(
                    "steps",
                    format!("not strictly increasing ({} then {})", w[0], w[1]),
                );
            }
            let accuracy = r
                .values
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    metric
                        .to_model(v)
                        .map_err(|p| Error::invalid(r.run, "values", format!("point {i}: {p}")))
                })
                .collect::<Result<Vec<f64>>>()?;
            added.push(Curve {
                suite: suite.to_string(),
                run: r.run.to_string(),
                shots: "0".into(),
                task: task.to_string(),
                compute: r.steps.to_vec(),
                accuracy,
                stderr: vec![None; r.steps.len()],
            });
        }
        self.sources.push(format!(
            "{} runs of {suite}/{task} given in memory{}",
            runs.len(),
            mapped(metric)
        ));
        self.curves.extend(added);
        Ok(())
    }

    /// Gives the token losses of checkpoints of runs added with [`add_runs`](Self::add_runs) to
    /// suite `suite`: `(run, step, losses)`, each step exactly one of the run's, each vector
    /// checked as a request's. Losses already given for a checkpoint are replaced. Errors name
    /// the run, and leave the input as it was.
    pub fn add_run_losses(
        &mut self,
        suite: &str,
        losses: Vec<(String, f64, Vec<f32>)>,
    ) -> Result<()> {
        // Every entry is checked before any is kept.
        let mut curves = Vec::with_capacity(losses.len());
        for (run, step, values) in &losses {
            let bad = |reason: String| Err(Error::invalid(run, "losses", reason));
            let Some(i) = self
                .curves
                .iter()
                .position(|c| c.suite == suite && &c.run == run)
            else {
                return bad(format!("no run {run:?} in suite {suite:?}"));
            };
            if !self.curves[i].compute.contains(step) {
                return bad(format!("no checkpoint at step {step}"));
            }
            if let Err(p) = crate::inference::features::validate_losses(values) {
                return Err(Error::invalid(run, p.field, p.reason));
            }
            curves.push(i);
        }
        let n = losses.len();
        let read = self.losses.get_or_insert_with(CurveLosses::default);
        for (i, (_, step, values)) in curves.into_iter().zip(losses) {
            read.insert(&self.curves[i], step, values)?;
        }
        self.sources.push(format!(
            "token losses of {n} checkpoints of {suite} given in memory"
        ));
        Ok(())
    }

    /// Adapts `base` to these curves ([`adapt`](super::adapt)); where losses were read, its
    /// loss trees read `summary` of them.
    pub fn adapt(
        &self,
        base: Bundle,
        summary: LossSummary,
        command: &str,
        options: &AdaptOptions,
    ) -> Result<Adapted> {
        super::adapt(
            base,
            &self.curves,
            self.losses.as_ref().map(|l| (l, summary)),
            &self.sources,
            command,
            options,
        )
    }

    /// Reads the token losses of the curves' checkpoints from an index (see [`CurveLosses`]);
    /// returns how many checkpoints have them. Give every curve first.
    pub fn read_losses(&mut self, index: &Path) -> Result<usize> {
        let read = CurveLosses::read(index, &self.curves)?;
        let n = read.len();
        self.sources.push(format!(
            "{}: token losses of {n} checkpoints",
            index.file_name().unwrap_or_default().to_string_lossy()
        ));
        self.losses = Some(read);
        Ok(n)
    }
}

/// How the values were mapped into the model's space, for a source's line ("" for an
/// accuracy).
fn mapped(metric: Metric) -> String {
    if metric.is_identity() {
        String::new()
    } else {
        format!(", {} as {}", metric.describe(), metric.model_map())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decisions::metric::{Direction, MetricKind};

    fn run<'a>(run: &'a str, steps: &'a [f64], values: &'a [f64]) -> RunCurve<'a> {
        RunCurve { run, steps, values }
    }

    #[test]
    fn runs_in_memory_become_curves_in_the_models_space() {
        let mut input = AdaptInput::default();
        let loss = Metric::new(MetricKind::Loss, Direction::Minimize);
        input
            .add_runs(
                "study",
                "val_loss",
                &[run("a", &[1.0, 2.0], &[2.0, 1.0]), run("b", &[1.0], &[0.5])],
                loss,
            )
            .unwrap();
        assert_eq!(input.curves.len(), 2);
        let a = &input.curves[0];
        assert_eq!(
            (a.suite.as_str(), a.run.as_str(), a.task.as_str()),
            ("study", "a", "val_loss")
        );
        assert!((a.accuracy[1] - (-1.0f64).exp()).abs() < 1e-12);
        assert!(input.sources[0].starts_with("2 runs of study/val_loss given in memory, "));
    }

    #[test]
    fn losses_in_memory_belong_to_checkpoints_of_the_runs() {
        let mut input = AdaptInput::default();
        let acc = Metric::ACCURACY;
        input
            .add_runs("s", "t", &[run("a", &[1.0, 2.0], &[0.2, 0.3])], acc)
            .unwrap();
        input
            .add_run_losses("s", vec![("a".into(), 2.0, vec![1.0, 2.0])])
            .unwrap();
        let a = &input.curves[0];
        assert_eq!(
            input.losses.as_ref().unwrap().at(a, 2.0),
            Some(&[1.0f32, 2.0][..])
        );
        for (losses, want) in [
            (("b", 2.0, vec![1.0]), "no run \"b\" in suite \"s\""),
            (("a", 3.0, vec![1.0]), "no checkpoint at step 3"),
            (("a", 1.0, vec![]), "empty loss vector"),
        ] {
            let (run, step, values) = losses;
            let e = input
                .add_run_losses("s", vec![(run.into(), step, values)])
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{e}");
        }
        // Refusals left the input as it was.
        assert_eq!(input.losses.as_ref().unwrap().len(), 1);
        assert_eq!(input.sources.len(), 2);
    }

    #[test]
    fn bad_runs_in_memory_are_refused_naming_the_run() {
        let acc = Metric::ACCURACY;
        let cases: [(&[RunCurve], &str); 6] = [
            (&[run("r", &[1.0, 2.0], &[0.5])], "1 values for 2 steps"),
            (&[run("r", &[], &[])], "no points"),
            (
                &[run("r", &[2.0, 1.0], &[0.1, 0.2])],
                "not strictly increasing",
            ),
            (&[run("r", &[f64::NAN], &[0.1])], "not a finite"),
            (&[run("r", &[1.0], &[1.5])], "point 0"),
            (
                &[run("r", &[1.0], &[0.1]), run("r", &[1.0], &[0.2])],
                "given twice",
            ),
        ];
        for (runs, want) in cases {
            let mut input = AdaptInput::default();
            let e = input.add_runs("s", "t", runs, acc).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains('r'), "{e}");
            assert!(input.curves.is_empty() && input.sources.is_empty(), "{e}");
        }
    }
}
