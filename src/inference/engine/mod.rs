//! The inference engine: a loaded bundle and the forecast path.
//!
//! A request travels: validate each run (`features::validate_prefix`) -> encode token losses
//! once per run (the loss encoder graph, or the CUDA encoder) -> one row per (run, target)
//! (`features::RunFeatures::write_row`, packed by [`ForecasterRows`]) -> rows through the
//! forecaster graph compiled for their context length ([`graph`]) -> the trees' median, when the
//! bundle has trees, and the quantiles' post-processing ([`quantiles`]).
//!
//! - [`graph`]: a bundle graph checked against its manifest, compiled by tract per context
//!   length on first use and cached; how rows are grouped into calls.
//! - [`rows`]: the forecaster's input rows, and [`RowBatching`] (batched only where every row
//!   keeps its bits, or regardless).
//! - Our ops in tract's plans, each swapped in for tract's where it is faster or keeps a row's
//!   bits whatever the batch: `row_product` (per-row products by a constant), `dense_product`
//!   (token-level products by a constant, on the `gemm` crate), `signed_columns` (a product
//!   another product of the same input already computed, its columns reordered and signed: the
//!   folded rotate-half), `activation_product` (attention's products of two activations, on
//!   `gemm`), `softmax` (the attention softmax as one op over its rows).
//! - [`quantiles`]: moving the quantiles onto the trees' median; the clamp and ordering.
//!
//! Bounded memory: a request of any size is processed [`ROW_CHUNK`] runs and rows at a time (and
//! token losses [`ENCODE_CHUNK_VALUES`] prepared values at a time), so 100,000 runs cost the
//! memory of their answers, not of all their graph inputs at once. Because rows are independent,
//! chunking changes no bit of any forecast in the exact mode.
//!
//! No panic escapes: tract reads graphs that come from files, and a malformed graph inside an
//! otherwise well-formed bundle could make it panic. Loading, compiling and running are wrapped
//! in `catch_unwind` (`graph::no_panic`), so that becomes an `Error` for the caller of the Rust
//! API too, not only at the C boundary. (An allocation failure still aborts: Rust cannot catch
//! that.)

mod activation_product;
mod dense_product;
mod einsum_swap;
pub mod graph;
pub mod quantiles;
pub(crate) mod row_product;
pub mod rows;
mod signed_columns;
mod softmax;
#[cfg(test)]
mod test_graphs;

pub use quantiles::{NonFiniteQuantiles, finalize_quantiles, shift_to_median};
pub use rows::{ForecasterRows, RowBatching};

use crate::error::{Error, Result};
use crate::inference::features::{self, CONTEXT_FEATURES, InputProblem};
use crate::inference::forecast::{CurvePrefix, Forecast, Forecaster, RunForecast};
use crate::inference::summary::{
    LossSummary, MAX_LOSS_SUMMARY, RunSummary, SUMMARY_FEATURES, summarize_losses,
};
use crate::model::architecture::Architecture;
use crate::model::bundle::{Bundle, ENCODER, FORECASTER, Manifest};
use crate::model::onnx::{
    CONTEXT_SYMBOL, ENCODER_INPUT, ENCODER_OUTPUT, FORECASTER_INPUTS, FORECASTER_OUTPUT,
    TOKENS_SYMBOL,
};
use graph::{CompiledGraph, InputSpec};
use std::path::Path;

/// Runs (and forecaster rows) prepared and run together: bounds a request's working memory.
pub const ROW_CHUNK: usize = 1024;

/// Prepared loss values encoded together (64 MiB of f32): 32,768 vectors of the default model's
/// 512, 65 of the reference model's 256,000.
pub const ENCODE_CHUNK_VALUES: usize = 1 << 24;

/// The embedded default model (docs/MODEL.md says what it learned from).
pub static DEFAULT_BUNDLE: &[u8] = include_bytes!("../../../models/default.nnb");

/// A loss embedding computed once and shared by every task of a checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct LossEmbedding(pub Vec<f32>);

/// A checkpoint's token losses, raw or already encoded.
#[derive(Debug, Clone, Copy)]
pub enum Losses<'a> {
    /// Per-token (or per-example) validation losses, natural log units.
    Tokens(&'a [f32]),
    /// The output of [`Engine::encode_losses`], to share one encoding across tasks.
    Embedding(&'a LossEmbedding),
}

/// One run to forecast: its observed curve, targets and optional losses of its last checkpoint.
#[derive(Debug, Clone, Copy)]
pub struct RunInput<'a> {
    pub prefix: CurvePrefix<'a>,
    pub losses: Option<Losses<'a>>,
}

impl<'a> RunInput<'a> {
    pub fn new(steps: &'a [f64], accuracy: &'a [f64], targets: &'a [f64]) -> Self {
        RunInput {
            prefix: CurvePrefix {
                steps,
                accuracy,
                targets,
            },
            losses: None,
        }
    }

    pub fn with_losses(mut self, losses: Losses<'a>) -> Self {
        self.losses = Some(losses);
        self
    }
}

/// A loaded model, immutable and shareable across threads (`Send + Sync`).
pub struct Engine {
    manifest: Manifest,
    forecaster: CompiledGraph,
    encoder: Option<CompiledGraph>,
    /// The loss encoder on the GPU, when the backend resolved to CUDA.
    cuda_encoder: Option<crate::cuda::CudaEncoder>,
    /// `RowBatching::Throughput` when set; atomic so that a shared engine can be switched.
    throughput: std::sync::atomic::AtomicBool,
    /// The bundle's trees for the median, when it has them (`model::trees`).
    trees: Option<crate::model::trees::Booster>,
    /// Its trees for runs given token losses (`model::bundle::TREES_LOSSES`) and the loss
    /// summary they read, when it has them.
    loss_trees: Option<(crate::model::trees::Booster, LossSummary)>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("model", &self.manifest.name)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// The embedded default model: no files needed.
    pub fn embedded() -> Result<Self> {
        Self::from_bytes(DEFAULT_BUNDLE)
    }

    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let bytes = std::fs::read(path.as_ref()).map_err(|e| Error::io(path.as_ref(), e))?;
        Self::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_bundle(Bundle::from_bytes(bytes)?)
    }

    /// Loads a bundle with an explicit backend for the loss encoder: `Cpu` (tract), `Cuda` (our
    /// kernels; an error if CUDA cannot run here) or `Auto` (CUDA only when a driver and a
    /// device are present). The other constructors use `Auto`. The forecaster always runs on
    /// tract.
    pub fn from_bytes_with_backend(bytes: &[u8], backend: crate::cuda::Backend) -> Result<Self> {
        Self::from_bundle_with_backend(Bundle::from_bytes(bytes)?, backend)
    }

    pub fn from_bundle(bundle: Bundle) -> Result<Self> {
        Self::from_bundle_with_backend(bundle, crate::cuda::Backend::Auto)
    }

    /// How forecaster rows are run from now on ([`RowBatching::Exact`] unless set). Safe to call
    /// while other threads forecast: each request reads the setting once.
    pub fn set_row_batching(&self, batching: RowBatching) {
        let on = batching == RowBatching::Throughput;
        self.throughput
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn row_batching(&self) -> RowBatching {
        if self.throughput.load(std::sync::atomic::Ordering::Relaxed) {
            RowBatching::Throughput
        } else {
            RowBatching::Exact
        }
    }

    /// Which backend runs the loss encoder.
    pub fn loss_encoder_backend(&self) -> crate::cuda::Backend {
        if self.cuda_encoder.is_some() {
            crate::cuda::Backend::Cuda
        } else {
            crate::cuda::Backend::Cpu
        }
    }

    pub fn from_bundle_with_backend(bundle: Bundle, backend: crate::cuda::Backend) -> Result<Self> {
        let trees = bundle.trees()?;
        let loss_trees = bundle.loss_trees()?;
        let m = bundle.manifest;
        let a = &m.architecture;
        let forecaster = CompiledGraph::load(
            FORECASTER,
            &bundle.graphs[FORECASTER],
            "B",
            &[
                InputSpec::variable(
                    FORECASTER_INPUTS[0],
                    vec![a.max_context, CONTEXT_FEATURES],
                    CONTEXT_SYMBOL,
                ),
                InputSpec::variable(FORECASTER_INPUTS[1], vec![a.seq_len()], TOKENS_SYMBOL),
                InputSpec::fixed(FORECASTER_INPUTS[2], vec![1]),
                InputSpec::fixed(FORECASTER_INPUTS[3], vec![a.d_model]),
                InputSpec::fixed(FORECASTER_INPUTS[4], vec![1]),
            ],
            (FORECASTER_OUTPUT, vec![a.quantile_levels.len()]),
        )?;
        let encoder = match (&a.encoder, bundle.graphs.get(ENCODER)) {
            (Some(e), Some(g)) => Some(CompiledGraph::load(
                ENCODER,
                g,
                "N",
                &[InputSpec::fixed(ENCODER_INPUT, vec![e.loss_len])],
                (ENCODER_OUTPUT, vec![a.d_model]),
            )?),
            _ => None,
        };
        let cuda_encoder = match (
            backend.resolve()?,
            crate::cuda::spec_for(a),
            bundle.graphs.get(ENCODER),
        ) {
            (crate::cuda::Backend::Cuda, Some(spec), Some(g)) => {
                let weights = crate::cuda::weights_from_graph(g, &spec)?;
                Some(crate::cuda::CudaEncoder::new(&spec, &weights, 0)?)
            }
            _ => None,
        };
        Ok(Engine {
            manifest: m,
            forecaster,
            encoder,
            cuda_encoder,
            throughput: std::sync::atomic::AtomicBool::new(false),
            trees,
            loss_trees,
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn architecture(&self) -> &Architecture {
        &self.manifest.architecture
    }

    /// The quantile levels of every forecast, increasing.
    pub fn levels(&self) -> &[f32] {
        &self.manifest.architecture.quantile_levels
    }

    /// Whether this model reads token losses: it has a loss encoder, or loss trees (a bundle
    /// from `neuneu adapt --losses`), or both.
    pub fn reads_losses(&self) -> bool {
        self.encoder.is_some() || self.loss_trees.is_some()
    }

    /// Encodes several checkpoints' token losses at once; one embedding per vector. Vectors are
    /// prepared and encoded [`ENCODE_CHUNK_VALUES`] prepared values at a time (bounded memory).
    pub fn encode_losses_batch(&self, losses: &[&[f32]]) -> Result<Vec<LossEmbedding>> {
        let (enc_graph, enc) = match (&self.encoder, &self.manifest.architecture.encoder) {
            (Some(g), Some(e)) => (g, e),
            _ => {
                return Err(Error::invalid(
                    "-",
                    "token_losses",
                    "this model has no loss encoder",
                ));
            }
        };
        for (i, l) in losses.iter().enumerate() {
            features::validate_losses(l).map_err(|p| Error::invalid(i, p.field, p.reason))?;
        }
        let len = enc.loss_len;
        let d = self.manifest.architecture.d_model;
        let per_chunk = (ENCODE_CHUNK_VALUES / len.max(1)).max(1);
        let mut embeddings = Vec::with_capacity(losses.len());
        for chunk in losses.chunks(per_chunk) {
            let mut prepared = vec![0.0f32; chunk.len() * len];
            for (l, out) in chunk.iter().zip(prepared.chunks_exact_mut(len)) {
                features::prepare_losses(l, enc, out);
            }
            let out = match &self.cuda_encoder {
                Some(gpu) => gpu.encode(&prepared, chunk.len())?,
                None => enc_graph.run(chunk.len(), &[(&prepared, len)], d, RowBatching::Exact)?,
            };
            embeddings.extend(out.chunks_exact(d).map(|c| LossEmbedding(c.to_vec())));
        }
        Ok(embeddings)
    }

    /// Encodes one checkpoint's token losses, to pass to many runs as [`Losses::Embedding`].
    pub fn encode_losses(&self, losses: &[f32]) -> Result<LossEmbedding> {
        Ok(self.encode_losses_batch(&[losses])?.remove(0))
    }

    /// Checks one run without forecasting it: the field at fault and why, if it is refused
    /// (`forecast` reports the same as `Error::InvalidInput`, naming the run).
    pub fn validate(&self, run: &RunInput<'_>) -> std::result::Result<(), InputProblem> {
        features::validate_prefix(&run.prefix, self.manifest.preparation.min_context)?;
        match run.losses {
            Some(Losses::Tokens(l)) => {
                if !self.reads_losses() {
                    return Err(InputProblem::new(
                        "token_losses",
                        "this model has no loss encoder",
                    ));
                }
                features::validate_losses(l)
            }
            Some(Losses::Embedding(e))
                if e.0.len() != self.manifest.architecture.d_model
                    || e.0.iter().any(|v| !v.is_finite()) =>
            {
                Err(InputProblem::new(
                    "loss_embedding",
                    format!(
                        "{} values, the model needs {} finite values",
                        e.0.len(),
                        self.manifest.architecture.d_model
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Forecasts every run; fails on the first invalid run, naming it by index.
    pub fn forecast(&self, runs: &[RunInput<'_>]) -> Result<Vec<RunForecast>> {
        self.forecast_each(runs).into_iter().collect()
    }

    /// Forecasts every run; an invalid run gets its own error and the others still get answers.
    /// Runs go [`ROW_CHUNK`] at a time (bounded memory; no bit of a forecast depends on it).
    pub fn forecast_each(&self, runs: &[RunInput<'_>]) -> Vec<Result<RunForecast>> {
        let mut results: Vec<Option<Result<RunForecast>>> = runs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                self.validate(r)
                    .err()
                    .map(|p| Err(Error::invalid(i, p.field, p.reason)))
            })
            .collect();
        let valid: Vec<usize> = (0..runs.len()).filter(|&i| results[i].is_none()).collect();
        for chunk in valid.chunks(ROW_CHUNK) {
            for (&i, r) in chunk.iter().zip(self.forecast_valid(runs, chunk)) {
                results[i] = Some(r);
            }
        }
        results
            .into_iter()
            .map(|r| r.expect("every run answered"))
            .collect()
    }

    /// Runs the forecaster graph on prepared rows: `rows x Q` raw quantiles, before
    /// [`finalize_quantiles`]. For benchmarks and runtime comparisons; `forecast` is the API.
    pub fn run_forecaster(&self, r: &ForecasterRows) -> Result<Vec<f32>> {
        let a = &self.manifest.architecture;
        let (t, s, d) = (a.max_context, a.seq_len(), a.d_model);
        self.forecaster.run(
            r.rows,
            &[
                (&r.context, t * CONTEXT_FEATURES),
                (&r.key_mask, s),
                (&r.anchor, 1),
                (&r.loss_embedding, d),
                (&r.has_loss, 1),
            ],
            a.quantile_levels.len(),
            self.row_batching(),
        )
    }

    /// Runs the encoder graph on `n` prepared loss vectors (`features::prepare_losses`):
    /// `n x D` embeddings. For benchmarks and runtime comparisons.
    pub fn run_encoder(&self, n: usize, prepared: &[f32]) -> Result<Vec<f32>> {
        let (g, e) = match (&self.encoder, &self.manifest.architecture.encoder) {
            (Some(g), Some(e)) => (g, e),
            _ => return Err(Error::Inference("this model has no loss encoder".into())),
        };
        g.run(
            n,
            &[(prepared, e.loss_len)],
            self.manifest.architecture.d_model,
            RowBatching::Exact,
        )
    }

    /// Forecasts validated runs `valid` (at most [`ROW_CHUNK`] of them): one result per run. A
    /// failure (the loss encoder, tract, a non-finite output) fails only the runs it touches.
    fn forecast_valid(&self, runs: &[RunInput<'_>], valid: &[usize]) -> Vec<Result<RunForecast>> {
        let a = &self.manifest.architecture;
        let q = a.quantile_levels.len();
        let mut failed: Vec<Option<Error>> = (0..valid.len()).map(|_| None).collect();

        // Token losses are encoded once per run, the chunk's runs in one batch; a model with loss
        // trees but no encoder reads them with its trees only.
        let token_pos: Vec<usize> = (0..valid.len())
            .filter(|&p| matches!(runs[valid[p]].losses, Some(Losses::Tokens(_))))
            .filter(|_| self.encoder.is_some())
            .collect();
        let token_slices: Vec<&[f32]> = token_pos
            .iter()
            .map(|&p| match runs[valid[p]].losses {
                Some(Losses::Tokens(l)) => l,
                _ => unreachable!("filtered above"),
            })
            .collect();
        let mut embeddings: Vec<Option<LossEmbedding>> = (0..valid.len()).map(|_| None).collect();
        if !token_slices.is_empty() {
            match self.encode_losses_batch(&token_slices) {
                Ok(encoded) => {
                    for (&p, e) in token_pos.iter().zip(encoded) {
                        embeddings[p] = Some(e);
                    }
                }
                Err(e) => {
                    for &p in &token_pos {
                        failed[p] = Some(for_run(&e, valid[p]));
                    }
                }
            }
        }
        let prepared: Vec<features::RunFeatures> = valid
            .iter()
            .map(|&i| {
                let p = &runs[i].prefix;
                features::RunFeatures::new(p.steps, p.accuracy, a.max_context)
            })
            .collect();
        // The trees' summaries read every observed point and the same power-law fit.
        let summaries: Option<Vec<RunSummary<'_>>> = self.trees.as_ref().map(|_| {
            valid
                .iter()
                .zip(&prepared)
                .map(|(&i, f)| {
                    let p = &runs[i].prefix;
                    RunSummary::with_fit(p.steps, p.accuracy, f.fit())
                })
                .collect()
        });
        // Runs given token losses, in a bundle with loss trees: the summary of their losses
        // (nothing is computed or allocated for a bundle without loss trees).
        let loss_numbers: Option<Vec<Option<Vec<f64>>>> =
            self.loss_trees.as_ref().map(|(_, kind)| {
                valid
                    .iter()
                    .map(|&i| match runs[i].losses {
                        Some(Losses::Tokens(tokens)) => {
                            let mut numbers = Vec::with_capacity(kind.width());
                            summarize_losses(*kind, tokens, &mut numbers);
                            Some(numbers)
                        }
                        _ => None,
                    })
                    .collect()
            });
        let mut forecasts: Vec<Vec<Forecast>> = valid
            .iter()
            .map(|&i| Vec::with_capacity(runs[i].prefix.targets.len()))
            .collect();

        // Every (run, target) row, ROW_CHUNK rows at a time: a run with a million targets
        // needs no more graph-input memory than one with a few.
        let live: Vec<usize> = (0..valid.len()).filter(|&p| failed[p].is_none()).collect();
        let mut pending = live
            .into_iter()
            .flat_map(|p| runs[valid[p]].prefix.targets.iter().map(move |&t| (p, t)))
            .peekable();
        let median = a.median_index();
        while pending.peek().is_some() {
            let window: Vec<(usize, f64)> = pending.by_ref().take(ROW_CHUNK).collect();
            let mut rows = ForecasterRows::new(a, window.len());
            for (row, &(p, target)) in window.iter().enumerate() {
                let emb = match runs[valid[p]].losses {
                    Some(Losses::Tokens(_)) => embeddings[p].as_ref().map(|e| e.0.as_slice()),
                    Some(Losses::Embedding(e)) => Some(e.0.as_slice()),
                    None => None,
                };
                rows.write(row, &prepared[p], target, emb);
            }
            let raw = match self.run_forecaster(&rows) {
                Ok(raw) => raw,
                Err(e) => {
                    for &(p, _) in &window {
                        failed[p].get_or_insert_with(|| {
                            Error::Inference(format!("run {}: {e}", valid[p]))
                        });
                    }
                    continue;
                }
            };
            for (&(p, step), out) in window.iter().zip(raw.chunks_exact(q)) {
                if failed[p].is_some() {
                    continue;
                }
                let mut quantiles = out.to_vec();
                if let (Some(trees), Some(summaries)) = (&self.trees, &summaries) {
                    let run = &summaries[p];
                    let given = loss_numbers.as_ref().and_then(|n| n[p].as_deref());
                    let offset = match (&self.loss_trees, given) {
                        (Some((loss_trees, _)), Some(numbers)) => {
                            // The run summary, then the loss summary, on the stack.
                            let mut row = [0.0; SUMMARY_FEATURES + MAX_LOSS_SUMMARY];
                            let width = SUMMARY_FEATURES + numbers.len();
                            row[..SUMMARY_FEATURES].copy_from_slice(&run.at(step));
                            row[SUMMARY_FEATURES..width].copy_from_slice(numbers);
                            loss_trees.predict(&row[..width])
                        }
                        _ => trees.predict(&run.at(step)),
                    };
                    shift_to_median(&mut quantiles, median, (run.last() + offset) as f32);
                }
                match finalize_quantiles(&mut quantiles, median) {
                    Ok(()) => forecasts[p].push(Forecast { step, quantiles }),
                    Err(e) => failed[p] = Some(Error::Inference(format!("run {}: {e}", valid[p]))),
                }
            }
        }
        failed
            .into_iter()
            .zip(forecasts)
            .map(|(f, forecasts)| match f {
                Some(e) => Err(e),
                None => Ok(RunForecast { forecasts }),
            })
            .collect()
    }
}

/// `e`, which failed the loss encoding of a whole chunk, as the error of run `run`. A CUDA
/// failure stays one (the C ABI gives it its own status); anything else failed inference.
fn for_run(e: &Error, run: usize) -> Error {
    match e {
        Error::Cuda(m) => Error::Cuda(format!("run {run}: {m}")),
        other => Error::Inference(format!("run {run}: {other}")),
    }
}

impl Forecaster for Engine {
    fn name(&self) -> &str {
        "neuneu"
    }

    fn levels(&self) -> &[f32] {
        Engine::levels(self)
    }

    fn forecast_prefixes(&self, prefixes: &[CurvePrefix<'_>]) -> Result<Vec<RunForecast>> {
        self.forecast_prefixes_with_losses(prefixes, &vec![None; prefixes.len()])
    }

    fn forecast_prefixes_with_losses(
        &self,
        prefixes: &[CurvePrefix<'_>],
        losses: &[Option<&[f32]>],
    ) -> Result<Vec<RunForecast>> {
        if prefixes.len() != losses.len() {
            return Err(Error::Inference(format!(
                "{} prefixes but {} loss entries",
                prefixes.len(),
                losses.len()
            )));
        }
        let runs: Vec<RunInput> = prefixes
            .iter()
            .zip(losses)
            .map(|(&prefix, &losses)| RunInput {
                prefix,
                losses: losses.map(Losses::Tokens),
            })
            .collect();
        self.forecast(&runs)
    }
}

#[cfg(test)]
mod tests {
    use super::graph::{context_lengths, used_points};
    use super::*;
    use tract_onnx::prelude::*;

    #[test]
    fn context_lengths_double_up_to_the_maximum() {
        assert_eq!(context_lengths(32), [6, 14, 30, 32]);
        assert_eq!(context_lengths(64), [6, 14, 30, 62, 64]);
        assert_eq!(context_lengths(10), [6, 10]);
        assert_eq!(context_lengths(6), [6]);
        assert_eq!(context_lengths(3), [3]);
    }

    #[test]
    fn rows_are_batched_up_to_the_small_architectures_longest_context() {
        use crate::testing::random_bundle;
        let engine =
            Engine::from_bundle(random_bundle(&Architecture::small(), 7, "t").unwrap()).unwrap();
        let g = &engine.forecaster;
        let per_call: Vec<usize> = (0..g.models.len()).map(|b| g.rows_per_call(b)).collect();
        // Compiled lengths 6, 14, 30, 32 points: 8, 16, 32 and 34 tokens.
        assert_eq!(per_call, [32, 16, 8, 7]);
        let engine =
            Engine::from_bundle(random_bundle(&Architecture::reference(), 7, "r").unwrap())
                .unwrap();
        let g = &engine.forecaster;
        let per_call: Vec<usize> = (0..g.models.len()).map(|b| g.rows_per_call(b)).collect();
        // 6, 14, 30, 62, 64 points: 8, 16, 32, 64 and 66 tokens.
        assert_eq!(per_call, [32, 16, 8, 1, 1]);
    }

    /// 40 three-point rows of the small architecture: the 6-point model takes 32 a call, so one
    /// batch and 8 singles.
    fn three_point_rows(arch: &Architecture) -> ForecasterRows {
        use crate::testing::SyntheticRun;
        let mut rows = ForecasterRows::new(arch, 40);
        for i in 0..40 {
            let r = SyntheticRun::new(3, 1, i as u64);
            let f = features::RunFeatures::new(&r.steps, &r.accuracy, arch.max_context);
            rows.write(i, &f, r.targets[0], None);
        }
        rows
    }

    /// Each row of `rows` forecast alone.
    fn one_at_a_time(engine: &Engine, rows: &ForecasterRows) -> Vec<f32> {
        let (c, s, d) = (
            rows.max_context * CONTEXT_FEATURES,
            rows.max_context + 2,
            rows.d_model,
        );
        (0..rows.rows)
            .flat_map(|i| {
                let one = ForecasterRows {
                    rows: 1,
                    context: rows.context[i * c..(i + 1) * c].to_vec(),
                    key_mask: rows.key_mask[i * s..(i + 1) * s].to_vec(),
                    anchor: vec![rows.anchor[i]],
                    loss_embedding: rows.loss_embedding[i * d..(i + 1) * d].to_vec(),
                    has_loss: vec![rows.has_loss[i]],
                    ..rows.clone()
                };
                engine.run_forecaster(&one).unwrap()
            })
            .collect()
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// Exact mode checks the batched model on its first batch, answering it one row at a time,
    /// then batches: every row keeps the bits it gets alone, as under throughput batching.
    #[test]
    fn exact_mode_batches_once_the_batched_model_keeps_every_rows_bits() {
        use crate::testing::random_bundle;
        let arch = Architecture::small();
        let engine = Engine::from_bundle(random_bundle(&arch, 7, "t").unwrap()).unwrap();
        let rows = three_point_rows(&arch);
        let alone = bits(&one_at_a_time(&engine, &rows));
        assert_eq!(engine.forecaster.batches_exact[0].get(), None);
        let first = engine.run_forecaster(&rows).unwrap();
        assert_eq!(engine.forecaster.batches_exact[0].get(), Some(&true));
        let batched = engine.run_forecaster(&rows).unwrap();
        assert_eq!(bits(&first), alone);
        assert_eq!(bits(&batched), alone);
        engine.set_row_batching(RowBatching::Throughput);
        assert_eq!(bits(&engine.run_forecaster(&rows).unwrap()), alone);
    }

    /// A batched model that gives a row other bits than it gets alone (here: another bundle's)
    /// is found out on the first batch, whose answers are the batch-1 model's, and exact mode
    /// then runs rows one at a time; throughput batching still uses it.
    #[test]
    fn a_batched_model_that_changes_bits_is_not_used_in_exact_mode() {
        use crate::testing::random_bundle;
        let arch = Architecture::small();
        let engine = Engine::from_bundle(random_bundle(&arch, 7, "t").unwrap()).unwrap();
        let other = Engine::from_bundle(random_bundle(&arch, 8, "u").unwrap()).unwrap();
        let foreign = other.forecaster.runnable(0, 1).unwrap();
        assert!(engine.forecaster.models[0][1].set(Ok(foreign)).is_ok());
        let rows = three_point_rows(&arch);
        let alone = bits(&one_at_a_time(&engine, &rows));
        assert_eq!(bits(&engine.run_forecaster(&rows).unwrap()), alone);
        assert_eq!(engine.forecaster.batches_exact[0].get(), Some(&false));
        assert_eq!(bits(&engine.run_forecaster(&rows).unwrap()), alone);
        engine.set_row_batching(RowBatching::Throughput);
        assert_ne!(bits(&engine.run_forecaster(&rows).unwrap()), alone);
    }

    #[test]
    fn used_points_ends_at_the_last_real_slot() {
        assert_eq!(used_points(&[1.0, 1.0, 0.0, 0.0]), 0);
        assert_eq!(used_points(&[1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]), 3);
        // A gap does not end the context: everything up to the last real slot is kept.
        assert_eq!(used_points(&[1.0, 1.0, 1.0, 0.0, 1.0, 0.0]), 3);
    }

    /// Every row forecast through its trimmed model equals the same row through the full-length
    /// model, for every context length the model takes.
    #[test]
    fn trimmed_rows_forecast_what_full_length_rows_do() {
        use crate::testing::{SyntheticRun, random_bundle};
        let arch = Architecture::small();
        let engine = Engine::from_bundle(random_bundle(&arch, 7, "t").unwrap()).unwrap();
        let graph = &engine.forecaster;
        let buckets = &graph
            .length
            .as_ref()
            .expect("a variable-length graph")
            .buckets;
        let full = graph.runnable(buckets.len() - 1, 0).unwrap();
        let runs: Vec<SyntheticRun> = (3..=arch.max_context)
            .map(|n| SyntheticRun::new(n, 1, n as u64))
            .collect();
        let mut rows = ForecasterRows::new(&arch, runs.len());
        let embedding: Vec<f32> = (0..arch.d_model).map(|i| (i as f32 * 0.37).sin()).collect();
        for (i, r) in runs.iter().enumerate() {
            let features = features::RunFeatures::new(&r.steps, &r.accuracy, arch.max_context);
            let emb = (i % 2 == 0).then_some(&embedding[..]);
            rows.write(i, &features, r.targets[0], emb);
        }
        let trimmed = engine.run_forecaster(&rows).unwrap();
        let q = arch.quantile_levels.len();
        let (t, s, d) = (arch.max_context, arch.seq_len(), arch.d_model);
        let mut state = full.spawn().unwrap();
        for i in 0..rows.rows {
            let one = |data: &[f32], shape: &[usize]| -> TValue {
                let n: usize = shape.iter().product();
                Tensor::from_shape(shape, &data[i * n..(i + 1) * n])
                    .unwrap()
                    .into()
            };
            let out = state
                .run(tvec![
                    one(&rows.context, &[1, t, CONTEXT_FEATURES]),
                    one(&rows.key_mask, &[1, s]),
                    one(&rows.anchor, &[1, 1]),
                    one(&rows.loss_embedding, &[1, d]),
                    one(&rows.has_loss, &[1, 1]),
                ])
                .unwrap();
            let want = out[0].to_plain_array_view::<f32>().unwrap();
            for (a, b) in want.iter().zip(&trimmed[i * q..(i + 1) * q]) {
                assert!((a - b).abs() < 1e-5, "{} points: {a} vs {b}", i + 3);
            }
        }
    }

    fn _engine_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<Engine>();
    }
}
