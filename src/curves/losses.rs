//! Token losses for the checkpoints of curves, from an index file (`io::loss_index`): what
//! `neuneu eval --losses`, `neuneu adapt --losses` and `neuneu-train --losses` read. A
//! checkpoint is matched by its curve's suite and run and its exact compute.

use super::Curve;
use crate::error::{Error, Result};
use crate::inference::features::validate_losses;
use std::collections::HashMap;
use std::path::Path;

/// The loss vectors of the checkpoints of some curves.
#[derive(Debug, Clone, Default)]
pub struct CurveLosses {
    /// (suite, run, compute bits) -> token losses.
    by_checkpoint: HashMap<(String, String, u64), Vec<f32>>,
}

impl CurveLosses {
    /// Reads every entry of the index at `index` that names a checkpoint of `curves` (any
    /// other entry is skipped, its file unread); each vector is checked as a request's would
    /// be, an error naming its file.
    pub fn read(index: impl AsRef<Path>, curves: &[Curve]) -> Result<CurveLosses> {
        let entries = crate::io::loss_index::read_loss_index(index)?;
        // (run, compute bits) -> the suites with that checkpoint.
        let mut checkpoints: HashMap<(&str, u64), Vec<&str>> = HashMap::new();
        for c in curves {
            for x in &c.compute {
                let s = checkpoints
                    .entry((c.run.as_str(), x.to_bits()))
                    .or_default();
                if !s.contains(&c.suite.as_str()) {
                    s.push(c.suite.as_str());
                }
            }
        }
        let mut by_checkpoint = HashMap::new();
        for e in entries {
            let Some(suites) = checkpoints.get(&(e.run.as_str(), e.compute.to_bits())) else {
                continue;
            };
            let suites: Vec<&str> = suites.iter().copied().filter(|s| e.in_suite(s)).collect();
            if suites.is_empty() {
                continue;
            }
            let values = crate::io::npy::read_npy_f32(&e.path)?;
            validate_losses(&values)
                .map_err(|p| Error::Parse(format!("{}: {}", e.path.display(), p.reason)))?;
            for suite in suites {
                by_checkpoint.insert(
                    (suite.to_string(), e.run.clone(), e.compute.to_bits()),
                    values.clone(),
                );
            }
        }
        Ok(CurveLosses { by_checkpoint })
    }

    /// Sets the losses of `curve`'s checkpoint at `compute` (losses held in memory rather than
    /// named by an index), replacing any there; checked as [`CurveLosses::read`] checks a file's.
    pub fn insert(&mut self, curve: &Curve, compute: f64, losses: Vec<f32>) -> Result<()> {
        validate_losses(&losses).map_err(|p| Error::invalid(&curve.run, p.field, p.reason))?;
        self.by_checkpoint.insert(
            (curve.suite.clone(), curve.run.clone(), compute.to_bits()),
            losses,
        );
        Ok(())
    }

    /// The losses of `curve`'s checkpoint at `compute`, if the index named them.
    pub fn at(&self, curve: &Curve, compute: f64) -> Option<&[f32]> {
        self.by_checkpoint
            .get(&(curve.suite.clone(), curve.run.clone(), compute.to_bits()))
            .map(Vec::as_slice)
    }

    /// The losses of the last of the first `context` points of `curve`: what a forecast from
    /// that context is given.
    pub fn of_context(&self, curve: &Curve, context: usize) -> Option<&[f32]> {
        context
            .checked_sub(1)
            .and_then(|last| self.at(curve, curve.compute[last]))
    }

    /// How many checkpoints have losses.
    pub fn len(&self) -> usize {
        self.by_checkpoint.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_checkpoint.is_empty()
    }
}
