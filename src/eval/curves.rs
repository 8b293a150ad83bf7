//! Reading the long curve format (`suite,run,shots,task,step,tokens,acc,...`) into curves.
//!
//! Columns are picked by name, so extra columns and any column order are fine. One curve is one
//! (suite, run, shots, task); its points are sorted by the compute axis.
//!
//! A file is read as one [`Metric`] (a validation loss, an accuracy, ...): its `acc` column holds
//! that metric's values in its own units, and a value the metric cannot take is refused with its
//! line, never clamped. Curves keep the file's units; [`Curve::to_model`] gives the copy a
//! forecaster reads.

use crate::decisions::metric::Metric;
use crate::error::{Error, Result};
use crate::model::bundle::Manifest;
use std::collections::BTreeMap;
use std::path::Path;

/// Which column is the compute axis of a curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ComputeAxis {
    /// The `tokens` column (compute seen): tokens for Pythia, GFLOPs for ScAn.
    #[default]
    Tokens,
    /// The `step` column.
    Step,
}

/// One training curve of one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    pub suite: String,
    pub run: String,
    pub shots: String,
    pub task: String,
    /// Compute at each checkpoint, strictly increasing.
    pub compute: Vec<f64>,
    /// The metric at each checkpoint, in the units the file was read in (see [`read_curves`]):
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
                    let id = crate::eval::curve_id(self);
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

/// The long format's columns: `suite`, `run`, `task` and the compute axis (`tokens` or `step`)
/// and `acc` are read; `shots`, `acc_norm`, `acc_stderr` may be present.
pub const LONG_FORMAT_COLUMNS: [&str; 9] = [
    "suite",
    "run",
    "shots",
    "task",
    "step",
    "tokens",
    "acc",
    "acc_norm",
    "acc_stderr",
];

/// Refuses a curve file with a column the long format does not have (a misspelt `tokens`, a
/// wide-format file), naming it: for commands that fit a model to the file, where a column
/// silently ignored would fit the wrong thing. `read_curves` itself reads columns by name and
/// ignores the others.
pub fn check_columns(path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    // The header line only: the whole file is read again by `read_curves`.
    let mut header = String::new();
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    std::io::BufRead::read_line(&mut std::io::BufReader::new(file), &mut header)
        .map_err(|e| Error::io(path, e))?;
    let header = header.trim_end_matches(['\r', '\n']);
    let unknown: Vec<&str> = header
        .split(',')
        .map(str::trim)
        .filter(|h| !LONG_FORMAT_COLUMNS.contains(h))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(Error::Parse(format!(
            "{}: unknown column(s) {}; the long format's columns are {}",
            path.display(),
            unknown
                .iter()
                .map(|u| format!("`{u}`"))
                .collect::<Vec<_>>()
                .join(", "),
            LONG_FORMAT_COLUMNS.join(",")
        )))
    }
}

/// Reads a long-format CSV file into curves, sorted by (suite, run, shots, task), whose `acc`
/// column holds values of `metric` ([`Metric::ACCURACY`] for accuracies). A value outside the
/// metric's range (above 1 for a bounded metric, negative for a loss, not finite) is an error
/// naming the file, the line and the value.
pub fn read_curves(
    path: impl AsRef<Path>,
    axis: ComputeAxis,
    metric: Metric,
) -> Result<Vec<Curve>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_curves(&text, axis, metric).map_err(|e| match e {
        Error::Parse(m) => Error::Parse(format!("{}: {m}", path.display())),
        other => other,
    })
}

/// Parses long-format CSV text (see [`read_curves`]).
pub fn parse_curves(text: &str, axis: ComputeAxis, metric: Metric) -> Result<Vec<Curve>> {
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| Error::Parse(format!("header: {e}")))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| Error::Parse(format!("missing column `{name}`")))
    };
    let axis_name = match axis {
        ComputeAxis::Tokens => "tokens",
        ComputeAxis::Step => "step",
    };
    let (c_suite, c_run, c_task, c_x, c_acc) = (
        col("suite")?,
        col("run")?,
        col("task")?,
        col(axis_name)?,
        col("acc")?,
    );
    let c_shots = col("shots").ok();
    let c_err = col("acc_stderr").ok();

    type Key = (String, String, String, String);
    let mut points: BTreeMap<Key, Vec<(f64, f64, Option<f64>)>> = BTreeMap::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let r = record.map_err(|e| Error::Parse(format!("line {line}: {e}")))?;
        let num = |c: usize, name: &str| -> Result<f64> {
            let s = r.get(c).unwrap_or("").trim();
            s.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    Error::Parse(format!("line {line}: `{name}` is not a number: {s:?}"))
                })
        };
        let x = num(c_x, axis_name)?;
        let text = r.get(c_acc).unwrap_or("").trim();
        let acc = text
            .parse::<f64>()
            .map_err(|_| Error::Parse(format!("line {line}: `acc` is not a number: {text:?}")))?;
        // A value the metric cannot take (a loss read as a bounded metric, a negative or NaN
        // loss) is refused, never clamped into a silently wrong curve. The metric's own check,
        // the one requests and sweeps run, decides.
        if let Err(problem) = metric.to_model(acc) {
            return Err(Error::Parse(format!(
                "line {line}: `acc`: {problem}; the file is read as metric {}",
                metric.name()
            )));
        }
        let err = c_err
            .and_then(|c| r.get(c))
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite());
        let key = (
            r.get(c_suite).unwrap_or("").to_string(),
            r.get(c_run).unwrap_or("").to_string(),
            c_shots.and_then(|c| r.get(c)).unwrap_or("0").to_string(),
            r.get(c_task).unwrap_or("").to_string(),
        );
        points.entry(key).or_default().push((x, acc, err));
    }

    let mut curves = Vec::with_capacity(points.len());
    for ((suite, run, shots, task), mut pts) in points {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        // A repeated compute value (a re-evaluated checkpoint) keeps its last row.
        let mut dedup: Vec<(f64, f64, Option<f64>)> = Vec::with_capacity(pts.len());
        for p in pts {
            match dedup.last_mut() {
                Some(last) if last.0 == p.0 => *last = p,
                _ => dedup.push(p),
            }
        }
        curves.push(Curve {
            suite,
            run,
            shots,
            task,
            compute: dedup.iter().map(|p| p.0).collect(),
            accuracy: dedup.iter().map(|p| p.1).collect(),
            stderr: dedup.iter().map(|p| p.2).collect(),
        });
    }
    Ok(curves)
}

/// Which runs are held out for validation: always whole runs, chosen per suite by a hash of the
/// run name and the seed, so no held-out run leaks into training.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Holdout {
    /// A share of each suite's runs (rounded, at least one run, never all).
    Fraction(f64),
    /// Fold `index` (0-based) of `count`: each suite's runs in hash order cut into `count`
    /// near-equal slices. Training once per fold validates every run exactly once (k-fold over
    /// runs).
    Fold { index: usize, count: usize },
}

impl Holdout {
    /// `(training, held out)` indices into `curves`.
    pub fn split(&self, curves: &[Curve], seed: u64) -> (Vec<usize>, Vec<usize>) {
        let mut runs: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for c in curves {
            let v = runs.entry(&c.suite).or_default();
            if !v.contains(&c.run.as_str()) {
                v.push(&c.run);
            }
        }
        let mut held: std::collections::HashSet<(&str, &str)> = Default::default();
        for (suite, mut names) in runs {
            let key = |r: &str| {
                r.bytes().fold(seed ^ 0x9e3779b97f4a7c15, |h, b| {
                    (h ^ b as u64).wrapping_mul(0x100000001b3)
                })
            };
            names.sort_by_key(|r| key(r));
            let n = names.len();
            let range = match *self {
                Holdout::Fraction(fraction) => {
                    // At least one run held out where the fraction is positive, and at least
                    // one kept: a suite of one run holds out nothing.
                    let most = n.saturating_sub(1);
                    let k = ((n as f64 * fraction).round() as usize)
                        .clamp(usize::from(fraction > 0.0).min(most), most);
                    0..k
                }
                Holdout::Fold { index, count } => {
                    let count = count.max(1);
                    n * index / count..n * (index + 1) / count
                }
            };
            for r in names.into_iter().skip(range.start).take(range.len()) {
                held.insert((suite, r));
            }
        }
        (0..curves.len())
            .partition(|&i| !held.contains(&(curves[i].suite.as_str(), curves[i].run.as_str())))
    }

    /// Parses `I/K` (a fold) or a fraction such as `0.2`; anything else is `Error::Parse`.
    pub fn parse(text: &str) -> Result<Self> {
        if let Some((i, k)) = text.split_once('/') {
            let (index, count): (usize, usize) = match (i.trim().parse(), k.trim().parse()) {
                (Ok(i), Ok(k)) => (i, k),
                _ => return Err(Error::Parse(format!("`{text}` is not a fold I/K"))),
            };
            if count < 2 || index >= count {
                return Err(Error::Parse(format!(
                    "fold `{text}`: need K >= 2 and 0 <= I < K"
                )));
            }
            return Ok(Holdout::Fold { index, count });
        }
        match text.trim().parse::<f64>() {
            Ok(f) if (0.0..1.0).contains(&f) => Ok(Holdout::Fraction(f)),
            _ => Err(Error::Parse(format!(
                "`{text}` is neither a fraction in [0, 1) nor a fold I/K"
            ))),
        }
    }

    /// For people: "20% of each suite's runs", "fold 2 of 5 of each suite's runs".
    pub fn describe(&self) -> String {
        match self {
            Holdout::Fraction(f) => format!("{:.0}% of each suite's runs", f * 100.0),
            Holdout::Fold { index, count } => {
                format!("fold {index} of {count} of each suite's runs")
            }
        }
    }

    /// The manifest facts that record it (`validation_fraction` or `validation_fold`).
    pub fn fact(&self) -> (&'static str, serde_json::Value) {
        match self {
            Holdout::Fraction(f) => ("validation_fraction", serde_json::json!(f)),
            Holdout::Fold { index, count } => (
                "validation_fold",
                serde_json::json!(format!("{index}/{count}")),
            ),
        }
    }

    /// The runs a bundle held out, and the seed of their draw (`neuneu eval --heldout`,
    /// `neuneu heldout`): for a bundle made by `neuneu adapt`, the share of the user's runs adapt
    /// held out (its trees never saw them; an error if it held out none), else the split its
    /// trainer records.
    pub fn of_bundle(manifest: &Manifest) -> Result<(Holdout, u64)> {
        let facts = &manifest.training.facts;
        if let Some(share) = facts.get("adapt_holdout").and_then(|v| v.as_f64()) {
            let seed = facts.get("adapt_seed").and_then(|v| v.as_u64());
            return match seed {
                Some(seed) if share > 0.0 => Ok((Holdout::Fraction(share), seed)),
                _ => Err(Error::Parse(
                    "this bundle was adapted with --holdout 0: every run it learned from was fitted, none held out"
                        .into(),
                )),
            };
        }
        let holdout = Holdout::from_facts(facts).ok_or_else(|| {
            Error::Parse("this model's manifest records no validation split".into())
        })?;
        Ok((holdout, manifest.training.seed))
    }

    /// Reads back what [`fact`](Self::fact) recorded.
    pub fn from_facts(facts: &BTreeMap<String, serde_json::Value>) -> Option<Self> {
        if let Some(fold) = facts.get("validation_fold").and_then(|v| v.as_str()) {
            return Holdout::parse(fold).ok();
        }
        facts
            .get("validation_fraction")
            .and_then(|v| v.as_f64())
            .map(Holdout::Fraction)
    }
}

/// Held-out runs: a deterministic share of each suite's runs (see [`Holdout::Fraction`]).
pub fn split_by_run(curves: &[Curve], fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    Holdout::Fraction(fraction).split(curves, seed)
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
    fn folds_hold_out_every_run_exactly_once() {
        let curves: Vec<Curve> = (0..23)
            .flat_map(|r| {
                ["a", "b"].map(|task| Curve {
                    suite: if r % 3 == 0 { "s1" } else { "s2" }.into(),
                    run: format!("run{r}"),
                    shots: "0".into(),
                    task: task.into(),
                    compute: vec![1.0, 2.0, 3.0],
                    accuracy: vec![0.1, 0.2, 0.3],
                    stderr: vec![None; 3],
                })
            })
            .collect();
        let mut times_held = vec![0; curves.len()];
        for index in 0..5 {
            let (train, held) = Holdout::Fold { index, count: 5 }.split(&curves, 9);
            assert_eq!(train.len() + held.len(), curves.len());
            assert!(!held.is_empty());
            for &i in &held {
                times_held[i] += 1;
                // Whole runs: the run's other task is held out too.
                assert!(
                    held.iter()
                        .any(|&j| j != i && curves[j].run == curves[i].run)
                );
            }
        }
        assert!(times_held.iter().all(|&n| n == 1), "{times_held:?}");
    }

    #[test]
    fn holdouts_parse_and_round_trip_through_facts() {
        assert_eq!(
            Holdout::parse("2/5").ok(),
            Some(Holdout::Fold { index: 2, count: 5 })
        );
        assert_eq!(Holdout::parse("0.25").ok(), Some(Holdout::Fraction(0.25)));
        for bad in ["5/5", "1/1", "x/3", "1.5", "-0.1", "", "2/"] {
            assert!(matches!(Holdout::parse(bad), Err(Error::Parse(_))), "{bad}");
        }
        for h in [Holdout::Fold { index: 1, count: 4 }, Holdout::Fraction(0.2)] {
            let (name, value) = h.fact();
            let facts = BTreeMap::from([(name.to_string(), value)]);
            assert_eq!(Holdout::from_facts(&facts), Some(h));
        }
        assert_eq!(Holdout::from_facts(&BTreeMap::new()), None);
    }

    #[test]
    fn split_holds_out_whole_runs() {
        let mk = |run: &str, task: &str| Curve {
            suite: "s".into(),
            run: run.into(),
            shots: "0".into(),
            task: task.into(),
            compute: vec![1.0, 2.0, 3.0],
            accuracy: vec![0.1, 0.2, 0.3],
            stderr: vec![None; 3],
        };
        let curves: Vec<Curve> = (0..10)
            .flat_map(|r| ["a", "b"].map(|t| mk(&format!("r{r}"), t)))
            .collect();
        let (train, val) = split_by_run(&curves, 0.2, 5);
        assert_eq!(val.len(), 4);
        for &v in &val {
            assert!(train.iter().all(|&t| curves[t].run != curves[v].run));
        }
    }

    #[test]
    fn a_suite_of_one_run_holds_out_nothing() {
        let one = Curve::synthetic("only", "t", &[1.0, 2.0], &[0.1, 0.2]);
        for f in [0.2, 0.9] {
            let (train, val) = split_by_run(std::slice::from_ref(&one), f, 5);
            assert_eq!((train, val), (vec![0], vec![]));
        }
    }

    #[test]
    fn groups_sorts_and_picks_columns_by_name() {
        let text = "task,run,suite,tokens,acc,shots,step,acc_stderr\n\
                    a,r1,s,200,0.5,0,2,0.01\n\
                    a,r1,s,100,0.4,0,1,\n\
                    b,r1,s,100,0.3,0,1,0.02\n";
        let curves = parse_curves(text, ComputeAxis::Tokens, Metric::ACCURACY).unwrap();
        assert_eq!(curves.len(), 2);
        assert_eq!(curves[0].task, "a");
        assert_eq!(curves[0].compute, vec![100.0, 200.0]);
        assert_eq!(curves[0].accuracy, vec![0.4, 0.5]);
        assert_eq!(curves[0].stderr, vec![None, Some(0.01)]);
        let by_step = parse_curves(text, ComputeAxis::Step, Metric::ACCURACY).unwrap();
        assert_eq!(by_step[0].compute, vec![1.0, 2.0]);
    }

    #[test]
    fn missing_column_and_bad_number_are_errors() {
        assert!(parse_curves("run,task\n", ComputeAxis::Tokens, Metric::ACCURACY).is_err());
        let bad = "suite,run,task,tokens,acc\ns,r,t,abc,0.5\n";
        let e = parse_curves(bad, ComputeAxis::Tokens, Metric::ACCURACY)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn values_outside_the_unit_interval_are_refused_with_their_line() {
        let text = "suite,run,task,tokens,acc\ns,r,t,1,0.5\ns,r,t,2,4.97\n";
        let e = parse_curves(text, ComputeAxis::Tokens, Metric::ACCURACY)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 3") && e.contains("4.97") && e.contains("outside [0, 1]"),
            "{e}"
        );
    }

    const LOSS: Metric = Metric {
        kind: crate::decisions::metric::MetricKind::Loss,
        direction: crate::decisions::metric::Direction::Minimize,
    };

    #[test]
    fn a_loss_file_is_read_in_its_own_units_and_mapped_for_forecasters() {
        let text = "suite,run,task,tokens,acc\ns,r,val_loss,1,4.5\ns,r,val_loss,2,2.0\n";
        // The same file is refused as a bounded metric, with its line and value.
        let e = parse_curves(text, ComputeAxis::Tokens, Metric::ACCURACY)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("4.5") && e.contains("outside [0, 1]"));
        let curves = parse_curves(text, ComputeAxis::Tokens, LOSS).unwrap();
        assert_eq!(curves[0].accuracy, [4.5, 2.0]);
        let model = curves[0].to_model(LOSS).unwrap();
        assert_eq!(model.accuracy, [(-4.5f64).exp(), (-2.0f64).exp()]);
        assert_eq!(model.compute, curves[0].compute);
        // A curve built by hand is checked too: a loss is no bounded value.
        let e = curves[0]
            .to_model(Metric::ACCURACY)
            .unwrap_err()
            .to_string();
        assert!(e.contains("s/r/0/val_loss") && e.contains("4.5"), "{e}");
    }

    #[test]
    fn negative_and_non_finite_losses_are_refused_with_their_line() {
        for (value, says) in [
            ("-0.1", "negative"),
            ("NaN", "not a finite number"),
            ("inf", "not a finite number"),
            ("x", "not a number"),
        ] {
            let text = format!("suite,run,task,tokens,acc\ns,r,t,1,0.5\ns,r,t,2,{value}\n");
            let e = parse_curves(&text, ComputeAxis::Tokens, LOSS)
                .unwrap_err()
                .to_string();
            assert!(e.contains("line 3") && e.contains(says), "{value}: {e}");
        }
    }

    #[test]
    fn a_refused_value_names_the_file() {
        let path = std::env::temp_dir().join(format!("neuneu-curves-{}.csv", std::process::id()));
        std::fs::write(
            &path,
            "suite,run,task,tokens,acc\ns,r,t,1,0.5\ns,r,t,2,1.2\n",
        )
        .unwrap();
        let e = read_curves(&path, ComputeAxis::Tokens, Metric::ACCURACY)
            .unwrap_err()
            .to_string();
        std::fs::remove_file(&path).unwrap();
        assert!(
            e.starts_with(&path.display().to_string())
                && e.contains("line 3")
                && e.contains("1.2 is outside [0, 1]"),
            "{e}"
        );
    }
}
