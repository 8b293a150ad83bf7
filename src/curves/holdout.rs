//! Which runs are held out for validation.

use super::Curve;
use crate::error::{Error, Result};
use crate::model::bundle::Manifest;
use std::collections::BTreeMap;

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
}
