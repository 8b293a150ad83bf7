//! Reading the long curve format (`suite,run,shots,task,step,tokens,acc,...`) into curves.
//!
//! Columns are picked by name, so extra columns and any column order are fine. One curve is one
//! (suite, run, shots, task); its points are sorted by the compute axis.
//!
//! A file is read as one [`Metric`] (a validation loss, an accuracy, ...): its `acc` column holds
//! that metric's values in its own units, and a value the metric cannot take is refused with its
//! line, never clamped. Curves keep the file's units; [`Curve::to_model`] gives the copy a
//! forecaster reads.

use crate::curves::Curve;
use crate::decisions::metric::Metric;
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

#[cfg(test)]
mod tests {
    use super::*;

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
