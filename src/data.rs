//! Reading the long curve format (`suite,run,shots,task,step,tokens,acc,...`) into curves.
//!
//! Columns are picked by name, so extra columns and any column order are fine. One curve is one
//! (suite, run, shots, task); its points are sorted by the compute axis.

use crate::error::{Error, Result};
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
    /// The metric at each checkpoint, in [0, 1].
    pub accuracy: Vec<f64>,
    /// Standard error of each accuracy, where the file has it.
    pub stderr: Vec<Option<f64>>,
}

impl Curve {
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
}

/// Reads a long-format CSV file into curves, sorted by (suite, run, shots, task).
pub fn read_curves(path: impl AsRef<Path>, axis: ComputeAxis) -> Result<Vec<Curve>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_curves(&text, axis).map_err(|e| match e {
        Error::Parse(m) => Error::Parse(format!("{}: {m}", path.display())),
        other => other,
    })
}

/// Parses long-format CSV text (see [`read_curves`]).
pub fn parse_curves(text: &str, axis: ComputeAxis) -> Result<Vec<Curve>> {
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
        let acc = num(c_acc, "acc")?;
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
            accuracy: dedup.iter().map(|p| p.1.clamp(0.0, 1.0)).collect(),
            stderr: dedup.iter().map(|p| p.2).collect(),
        });
    }
    Ok(curves)
}

/// Held-out runs: a deterministic share of each suite's runs (by a hash of the run name and the
/// seed), never individual samples, so no held-out run leaks into training.
pub fn split_by_run(curves: &[Curve], fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
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
        let k = ((names.len() as f64 * fraction).round() as usize)
            .clamp(usize::from(fraction > 0.0), names.len().saturating_sub(1));
        for r in names.into_iter().take(k) {
            held.insert((suite, r));
        }
    }
    (0..curves.len())
        .partition(|&i| !held.contains(&(curves[i].suite.as_str(), curves[i].run.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn groups_sorts_and_picks_columns_by_name() {
        let text = "task,run,suite,tokens,acc,shots,step,acc_stderr\n\
                    a,r1,s,200,0.5,0,2,0.01\n\
                    a,r1,s,100,0.4,0,1,\n\
                    b,r1,s,100,0.3,0,1,0.02\n";
        let curves = parse_curves(text, ComputeAxis::Tokens).unwrap();
        assert_eq!(curves.len(), 2);
        assert_eq!(curves[0].task, "a");
        assert_eq!(curves[0].compute, vec![100.0, 200.0]);
        assert_eq!(curves[0].accuracy, vec![0.4, 0.5]);
        assert_eq!(curves[0].stderr, vec![None, Some(0.01)]);
        let by_step = parse_curves(text, ComputeAxis::Step).unwrap();
        assert_eq!(by_step[0].compute, vec![1.0, 2.0]);
    }

    #[test]
    fn missing_column_and_bad_number_are_errors() {
        assert!(parse_curves("run,task\n", ComputeAxis::Tokens).is_err());
        let bad = "suite,run,task,tokens,acc\ns,r,t,abc,0.5\n";
        let e = parse_curves(bad, ComputeAxis::Tokens)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
    }
}
