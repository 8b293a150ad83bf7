//! The forecaster graph's input rows, and how they go through tract.

use crate::error::{Error, Result};
use crate::inference::features::{self, CONTEXT_FEATURES};
use crate::model::architecture::Architecture;

/// The forecaster graph's inputs for `rows` rows, row-major, batch first (the graph's input
/// order; see `onnx::FORECASTER_INPUTS`).
#[derive(Debug, Clone, PartialEq)]
pub struct ForecasterRows {
    pub rows: usize,
    pub max_context: usize,
    pub d_model: usize,
    /// `[rows, max_context, CONTEXT_FEATURES]`
    pub context: Vec<f32>,
    /// `[rows, max_context + 2]`
    pub key_mask: Vec<f32>,
    /// `[rows, 1]`
    pub anchor: Vec<f32>,
    /// `[rows, d_model]`
    pub loss_embedding: Vec<f32>,
    /// `[rows, 1]`
    pub has_loss: Vec<f32>,
}

impl ForecasterRows {
    /// `rows` zero rows for a model of `arch`.
    pub fn new(arch: &Architecture, rows: usize) -> Self {
        let (t, d) = (arch.max_context, arch.d_model);
        ForecasterRows {
            rows,
            max_context: t,
            d_model: d,
            context: vec![0.0; rows * t * CONTEXT_FEATURES],
            key_mask: vec![0.0; rows * (t + 2)],
            anchor: vec![0.0; rows],
            loss_embedding: vec![0.0; rows * d],
            has_loss: vec![0.0; rows],
        }
    }

    /// Fills row `row` from a validated prefix, one target and an optional loss embedding.
    pub fn write(
        &mut self,
        row: usize,
        run: &features::RunFeatures,
        target: f64,
        embedding: Option<&[f32]>,
    ) {
        let (t, s, d) = (self.max_context, self.max_context + 2, self.d_model);
        let c = t * CONTEXT_FEATURES;
        self.anchor[row] = run.write_row(
            target,
            &mut self.context[row * c..(row + 1) * c],
            &mut self.key_mask[row * s..(row + 1) * s],
        );
        match embedding {
            Some(e) => {
                self.loss_embedding[row * d..(row + 1) * d].copy_from_slice(e);
                self.has_loss[row] = 1.0;
            }
            None => {
                self.loss_embedding[row * d..(row + 1) * d].fill(0.0);
                self.has_loss[row] = 0.0;
            }
        }
    }
}

/// How the forecaster's rows go through tract (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RowBatching {
    /// A run's forecast is bit-identical whatever else is in the request: rows of the same
    /// short context length go several at a time (256 tokens a call at 34 tokens and fewer)
    /// once the engine has checked, on the first such batch, that the batched model gives
    /// every row the bits it gets alone (the default model's do); otherwise one at a time.
    #[default]
    Exact,
    /// Short rows several at a time without that check: for a bundle whose batched models
    /// fail it, a forecast may differ in its last bits (about 1e-7) with the other runs of
    /// its request; for the others, the same as `Exact`.
    Throughput,
}

impl std::str::FromStr for RowBatching {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "exact" => Ok(RowBatching::Exact),
            "throughput" => Ok(RowBatching::Throughput),
            other => Err(Error::Parse(format!(
                "row batching {other:?}: expected exact or throughput"
            ))),
        }
    }
}

impl std::fmt::Display for RowBatching {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RowBatching::Exact => "exact",
            RowBatching::Throughput => "throughput",
        })
    }
}
