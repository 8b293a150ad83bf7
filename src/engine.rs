//! The inference engine: a loaded bundle, its tract plans, and the forecast path.
//!
//! A request travels: validate each run (`features::validate_prefix`) -> encode token losses
//! once per run (`loss_encoder`) -> one row per (run, target) (`features::write_row`) -> rows one
//! at a time through the fixed-shape forecaster plan of their context length -> clamp to [0, 1]
//! and keep quantiles ordered.
//!
//! Plans: tract runs fixed shapes ~1.4x faster than symbolic ones, and optimising costs far more
//! than a forecast, so each graph is optimised for batch 1, lazily, and cached for the engine's
//! life. Today's forecaster graphs take any context length, and padding changes no output, so the
//! forecaster gets one plan per length of [`plan_lengths`] and each row runs at the shortest that
//! holds it: a 3-point run costs 8 tokens, not `max_context + 2`. Each plan costs its optimisation
//! on first use and its own packed weights (the default model: 22 MB of process memory with one
//! plan, 25 MB with all four; a 19M-parameter reference-size model: 361 MB with one, 565 MB with
//! all five, 746 MB with the three batched plans of the throughput mode too). By default
//! ([`RowBatching::Exact`]) rows go through the plans one at a time, with one reused run state per
//! plan, so that a run's forecast is bit-identical whatever else is in the request (tests hold it
//! to that). That has a price at short contexts: batch-B plans run a row 1.2-2.7x faster at 32
//! tokens and fewer (`examples/profile_plan`, one thread, random weights, 2026-11-30: 8 tokens 80
//! -> 30 us small, 6.5 -> 2.5 ms reference; 32 tokens 123 -> 97 us, 11.5 -> 8.5 ms), but their rows
//! differ from batch-1 rows in the last bit. [`RowBatching::Throughput`] (opt-in:
//! [`Engine::set_row_batching`]) takes that trade: the rows of each plan length at 32 tokens and
//! fewer go 256 tokens at a time (a second, batched plan for each such length), the leftovers one
//! at a time. At 64 tokens and more batching gained nothing or lost (the older full-length graphs:
//! 0.19 ms at batch 1 vs 0.30 ms per row at batch 64 on the small forecaster, 33 vs 50 ms at
//! reference size), so those rows go one at a time in both modes.
//!
//! Bounded memory: a request of any size is processed [`ROW_CHUNK`] runs and rows at a time (and
//! token losses [`ENCODE_CHUNK_VALUES`] prepared values at a time), so 100,000 runs cost the
//! memory of their answers, not of all their graph inputs at once. Because rows are independent,
//! chunking changes no bit of any forecast in the exact mode.
//!
//! No panic escapes: tract reads graphs that come from files, and a malformed graph inside an
//! otherwise well-formed bundle could make it panic. Loading, planning and running are wrapped in
//! `catch_unwind` (`no_panic`), so that becomes an `Error` for the caller of the Rust API too,
//! not only at the C boundary. (An allocation failure still aborts: Rust cannot catch that.)

use crate::architecture::Architecture;
use crate::bundle::{Bundle, ENCODER, FORECASTER, Manifest};
use crate::error::{BundleError, Error, Result};
use crate::features::{self, CONTEXT_FEATURES};
use crate::forecast::{CurvePrefix, Forecast, Forecaster, RunForecast};
use crate::onnx::{
    CONTEXT_SYMBOL, ENCODER_INPUT, ENCODER_OUTPUT, FORECASTER_INPUTS, FORECASTER_OUTPUT,
    TOKENS_SYMBOL,
};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::DimLike;

/// Runs (and forecaster rows) prepared and run together: bounds a request's working memory.
pub const ROW_CHUNK: usize = 1024;

/// Prepared loss values encoded together (64 MiB of f32): 32,768 vectors of the default model's
/// 512, 65 of the reference model's 256,000.
pub const ENCODE_CHUNK_VALUES: usize = 1 << 24;

/// Runs `f`, turning a panic inside it (tract's) into `err(message)`.
fn no_panic<T>(f: impl FnOnce() -> Result<T>, err: impl FnOnce(String) -> Error) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = crate::error::panic_message(payload.as_ref());
            Err(err(format!("tract panicked: {msg}")))
        }
    }
}

/// The embedded default model (the README's "The default model" says what it learned from).
pub static DEFAULT_BUNDLE: &[u8] = include_bytes!("../models/default.nnb");

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

/// The forecaster's variable context length: which symbols carry it, and the plan lengths.
struct ContextLength {
    /// `T`, context points (`context` is `[B, T, F]`).
    points: Symbol,
    /// `T + 2`, tokens (`key_mask` is `[B, T + 2]`).
    tokens: Symbol,
    /// The lengths plans are built for, increasing; the last is `max_context`.
    buckets: Vec<usize>,
}

/// The context lengths forecaster plans are built for: those whose tokens (points + 2: CLS and the
/// loss token) are a power of two from 8, then `max_context`. A row runs at the first one that
/// holds its points, so at most about twice the tokens it needs, and a reference-size model (64
/// points) holds at most 5 plans (8 with [`RowBatching::Throughput`]'s batched ones). Whole powers
/// of two because tract's matrix kernels work in row tiles: 32 tokens ran about 10% faster than 34
/// on the reference forecaster.
pub fn plan_lengths(max_context: usize) -> Vec<usize> {
    let mut lengths: Vec<usize> = std::iter::successors(Some(8usize), |t| t.checked_mul(2))
        .map(|tokens| tokens - 2)
        .take_while(|&l| l < max_context)
        .collect();
    lengths.push(max_context);
    lengths
}

/// The number of context slots up to the last real one: `key_mask` is `[CLS, loss, slots...]`,
/// and a slot with mask 0 after the last real one is padding that changes no output (its key
/// gets exactly zero attention, its own output is never read).
fn used_points(key_mask: &[f32]) -> usize {
    key_mask
        .iter()
        .skip(2)
        .rposition(|&m| m != 0.0)
        .map_or(0, |i| i + 1)
}

/// A plan built on first use; a failure is kept as its message.
type LazyPlan = OnceLock<std::result::Result<Arc<TypedRunnableModel>, String>>;

/// One ONNX graph with lazily built, cached plans: one batch-1 plan, or for a forecaster with a
/// variable context length one per length in [`plan_lengths`] (and, under
/// [`RowBatching::Throughput`], a batched one for each short length).
struct PlannedGraph {
    model: TypedModel,
    batch: Symbol,
    length: Option<ContextLength>,
    /// Per bucket of `length` (one bucket when the length is fixed): the batch-1 plan and the
    /// plan for [`PlannedGraph::rows_per_call`] rows.
    plans: Vec<[LazyPlan; 2]>,
    name: &'static str,
}

/// The error for a graph of the bundle that tract cannot read or that does not match the
/// manifest.
fn graph_error(name: &'static str) -> impl Fn(String) -> Error {
    move |reason| {
        Error::Bundle(BundleError::Graph {
            graph: name.into(),
            reason,
        })
    }
}

/// What a graph's inputs must look like; the dimensions after the batch.
struct InputSpec {
    name: &'static str,
    dims: Vec<usize>,
    /// The axis (after the batch) that may instead be a context-length symbol, and the symbol.
    variable: Option<(usize, &'static str)>,
}

impl InputSpec {
    fn fixed(name: &'static str, dims: Vec<usize>) -> Self {
        InputSpec {
            name,
            dims,
            variable: None,
        }
    }

    /// Axis 0 after the batch is `dims[0]` in older graphs, `symbol` in today's.
    fn variable(name: &'static str, dims: Vec<usize>, symbol: &'static str) -> Self {
        InputSpec {
            name,
            dims,
            variable: Some((0, symbol)),
        }
    }
}

impl PlannedGraph {
    fn load(
        name: &'static str,
        onnx: &[u8],
        symbol: &str,
        inputs: &[InputSpec],
        output: (&str, Vec<usize>),
    ) -> Result<Self> {
        let bad = graph_error(name);
        no_panic(
            || Self::load_checked(name, onnx, symbol, inputs, output),
            bad,
        )
    }

    fn load_checked(
        name: &'static str,
        onnx: &[u8],
        symbol: &str,
        inputs: &[InputSpec],
        output: (&str, Vec<usize>),
    ) -> Result<Self> {
        let bad = graph_error(name);
        let model = tract_onnx::onnx()
            .model_for_read(&mut &onnx[..])
            .map_err(|e| bad(format!("not a readable ONNX graph: {e}")))?;
        let model = model
            .into_typed()
            .map_err(|e| bad(format!("{e}")))?
            .into_decluttered()
            .map_err(|e| bad(format!("{e}")))?;
        let batch = model.symbols.sym(symbol);
        // The graph must be the one the manifest describes: same inputs, same shapes, where the
        // context length is either fixed at the manifest's or the length symbol.
        let facts = model
            .input_outlets()
            .map_err(|e| bad(e.to_string()))?
            .to_vec();
        if facts.len() != inputs.len() {
            return Err(bad(format!(
                "{} inputs, the manifest implies {}",
                facts.len(),
                inputs.len()
            )));
        }
        let mut variable = 0;
        for (outlet, spec) in facts.iter().zip(inputs) {
            let node = &model.nodes[outlet.node];
            let fact = model.outlet_fact(*outlet).map_err(|e| bad(e.to_string()))?;
            let got = fact.shape.to_tvec().to_vec();
            let want =
                |sym: Option<&str>| -> Vec<TDim> {
                    std::iter::once(TDim::Sym(batch.clone()))
                        .chain(spec.dims.iter().enumerate().map(|(i, &d)| {
                            match (spec.variable, sym) {
                                (Some((axis, _)), Some(s)) if axis == i => {
                                    TDim::Sym(model.symbols.sym(s))
                                }
                                _ => d.into(),
                            }
                        }))
                        .collect()
                };
            let symbolic = spec.variable.map(|(_, s)| s);
            if node.name == spec.name && symbolic.is_some() && got == want(symbolic) {
                variable += 1;
            } else if node.name != spec.name || got != want(None) {
                return Err(bad(format!(
                    "input {} {:?} does not match the manifest ({} {:?})",
                    node.name,
                    fact.shape,
                    spec.name,
                    want(None)
                )));
            }
        }
        let out = model.output_outlets().map_err(|e| bad(e.to_string()))?;
        let ofact = out
            .first()
            .and_then(|o| model.outlet_fact(*o).ok())
            .ok_or_else(|| bad("no output".into()))?;
        let want: Vec<TDim> = std::iter::once(TDim::Sym(batch.clone()))
            .chain(output.1.iter().map(|&d| d.into()))
            .collect();
        if out.len() != 1 || ofact.shape.to_tvec().to_vec() != want {
            return Err(bad(format!(
                "output {:?} does not match the manifest ({} {want:?})",
                ofact.shape, output.0
            )));
        }
        let variable_inputs = inputs.iter().filter(|s| s.variable.is_some()).count();
        let length = match variable {
            0 => None,
            n if n == variable_inputs && variable_inputs == 2 => {
                // The context (axis 0 after the batch: points) and the key mask (tokens).
                let max_context = inputs[0].dims[0];
                Some(ContextLength {
                    points: model.symbols.sym(CONTEXT_SYMBOL),
                    tokens: model.symbols.sym(TOKENS_SYMBOL),
                    buckets: plan_lengths(max_context),
                })
            }
            _ => {
                return Err(bad(
                    "the context and key mask must both have a fixed or a variable length".into(),
                ));
            }
        };
        if let Some(l) = &length {
            // A variable length hides how long the graph's own tables are: it must take the
            // manifest's longest context (a graph exported for fewer points fails here).
            let max = *l.buckets.last().expect("at least one length") as i64;
            let subs = std::collections::HashMap::from([
                (batch.clone(), TDim::Val(1)),
                (l.points.clone(), TDim::Val(max)),
                (l.tokens.clone(), TDim::Val(max + 2)),
            ]);
            if model.set_symbols(&subs).is_err() {
                return Err(bad(format!(
                    "input {} [B, T, {}] does not match the manifest (the graph cannot take \
                     its {max} points)",
                    inputs[0].name, inputs[0].dims[1]
                )));
            }
        }
        let buckets = length.as_ref().map_or(1, |l| l.buckets.len());
        Ok(PlannedGraph {
            model,
            batch,
            length,
            plans: (0..buckets)
                .map(|_| [OnceLock::new(), OnceLock::new()])
                .collect(),
            name,
        })
    }

    /// The plan for bucket `bucket` (see [`plan_lengths`]) at batch 1 (`kind` 0) or at
    /// [`PlannedGraph::rows_per_call`] (`kind` 1), built on first use.
    fn plan(&self, bucket: usize, kind: usize) -> Result<Arc<TypedRunnableModel>> {
        let batch = if kind == 0 {
            1
        } else {
            self.rows_per_call(bucket)
        };
        self.plans[bucket][kind]
            .get_or_init(|| {
                let planned = no_panic(
                    || {
                        let mut subs = std::collections::HashMap::new();
                        subs.insert(self.batch.clone(), TDim::Val(batch as i64));
                        if let Some(l) = &self.length {
                            let points = l.buckets[bucket] as i64;
                            subs.insert(l.points.clone(), TDim::Val(points));
                            subs.insert(l.tokens.clone(), TDim::Val(points + 2));
                        }
                        Ok(self
                            .model
                            .set_symbols(&subs)
                            .and_then(|m| m.into_optimized())
                            .and_then(|m| m.into_runnable())?)
                    },
                    Error::Inference,
                );
                planned.map_err(|e| match e {
                    Error::Inference(m) => format!("{} plan: {m}", self.name),
                    other => format!("{} plan: {other}", self.name),
                })
            })
            .clone()
            .map_err(Error::Inference)
    }

    /// Runs `rows` rows (inputs laid out row-major, batch first), each through the plan of the
    /// shortest context length that holds it, one at a time or, under `batching` Throughput,
    /// short ones several at a time (see the module docs). Checks the layout, then runs
    /// `run_rows` with tract's panics caught.
    fn run(
        &self,
        rows: usize,
        inputs: &[(&[f32], usize)],
        out_width: usize,
        batching: RowBatching,
    ) -> Result<Vec<f32>> {
        // The lengths are checked here, before any slicing or tract: `ForecasterRows` has public
        // fields, so a caller of `run_forecaster` can hand us anything.
        if inputs.len() != self.model.inputs.len() {
            return Err(Error::Inference(format!(
                "{}: {} inputs given, the graph has {}",
                self.name,
                inputs.len(),
                self.model.inputs.len()
            )));
        }
        for (k, (data, width)) in inputs.iter().enumerate() {
            if Some(data.len()) != rows.checked_mul(*width) {
                return Err(Error::Inference(format!(
                    "{}: input {k} has {} values, {rows} rows of {width} need {}",
                    self.name,
                    data.len(),
                    rows.saturating_mul(*width)
                )));
            }
        }
        if rows == 0 {
            return Ok(Vec::new());
        }
        no_panic(
            || self.run_rows(rows, inputs, out_width, batching),
            |m| Error::Inference(format!("{}: {m}", self.name)),
        )
    }

    fn run_rows(
        &self,
        rows: usize,
        inputs: &[(&[f32], usize)],
        out_width: usize,
        batching: RowBatching,
    ) -> Result<Vec<f32>> {
        let slice = |k: usize, row: usize| {
            let (data, width) = inputs[k];
            &data[row * width..(row + 1) * width]
        };
        // Rows shorter than the graph's length run trimmed: the slots past their plan's length
        // are padding (see `used_points`).
        let mut by_bucket: Vec<Vec<usize>> = vec![Vec::new(); self.plans.len()];
        for row in 0..rows {
            let bucket = match &self.length {
                Some(l) => {
                    let used = used_points(slice(1, row));
                    let b = l.buckets.iter().position(|&n| n >= used);
                    b.unwrap_or(l.buckets.len() - 1)
                }
                None => 0,
            };
            by_bucket[bucket].push(row);
        }
        let mut out = vec![0.0f32; rows * out_width];
        let mut states: Vec<[Option<TypedSimpleState>; 2]> =
            (0..self.plans.len()).map(|_| [None, None]).collect();
        let mut staged: Vec<Vec<f32>> = vec![Vec::new(); inputs.len()];
        for (bucket, members) in by_bucket.iter().enumerate() {
            if members.is_empty() {
                continue;
            }
            let points = self.length.as_ref().map(|l| l.buckets[bucket]);
            // Each input's shape at this length, the batch first (set per call), and its values
            // per row: worked out once per length, not per call.
            let mut shapes: Vec<Vec<usize>> = (0..inputs.len())
                .map(|k| {
                    std::iter::once(0)
                        .chain(self.input_shape(k, points))
                        .collect()
                })
                .collect();
            let values: Vec<usize> = shapes.iter().map(|s| s[1..].iter().product()).collect();
            // Full batches through the batched plan (kind 1), the rest one at a time (kind 0).
            let per_call = match batching {
                RowBatching::Exact => 1,
                RowBatching::Throughput => self.rows_per_call(bucket),
            };
            let (batched, kind) = (
                members.len() / per_call * per_call,
                usize::from(per_call > 1),
            );
            let calls = members[..batched]
                .chunks(per_call)
                .map(|c| (c, kind))
                .chain(members[batched..].chunks(1).map(|c| (c, 0)));
            for (chunk, kind) in calls {
                if states[bucket][kind].is_none() {
                    states[bucket][kind] = Some(self.plan(bucket, kind)?.spawn()?);
                }
                let state = states[bucket][kind].as_mut().expect("spawned above");
                let mut tensors: TVec<TValue> = tvec![];
                for (k, buffer) in staged.iter_mut().enumerate() {
                    buffer.clear();
                    for &row in chunk {
                        let data = slice(k, row).get(..values[k]).ok_or_else(|| {
                            Error::Inference(format!(
                                "{}: input {k} is shorter than its shape",
                                self.name
                            ))
                        })?;
                        buffer.extend_from_slice(data);
                    }
                    shapes[k][0] = chunk.len();
                    tensors.push(Tensor::from_shape(&shapes[k], buffer)?.into());
                }
                let result = state.run(tensors)?;
                let view = result[0].to_plain_array_view::<f32>()?;
                let flat = view
                    .as_slice()
                    .filter(|f| f.len() == chunk.len() * out_width)
                    .ok_or_else(|| {
                        Error::Inference(format!(
                            "{}: output of shape {:?}, {} x {out_width} expected",
                            self.name,
                            view.shape(),
                            chunk.len()
                        ))
                    })?;
                for (&row, values) in chunk.iter().zip(flat.chunks_exact(out_width)) {
                    out[row * out_width..(row + 1) * out_width].copy_from_slice(values);
                }
            }
        }
        Ok(out)
    }

    /// Rows per call through bucket `bucket`'s batched plan under [`RowBatching::Throughput`]:
    /// below 32 tokens a batch-1 plan leaves tract's matrix kernels short of rows, so short
    /// contexts go 256 tokens at a time (see the module docs for the measurements); at 64
    /// tokens and more batching gained nothing or lost, and rows go one at a time.
    fn rows_per_call(&self, bucket: usize) -> usize {
        match &self.length {
            Some(l) => {
                let tokens = l.buckets[bucket] + 2;
                if tokens.is_power_of_two() && tokens <= 32 {
                    256 / tokens
                } else {
                    1
                }
            }
            None => 1,
        }
    }

    /// Input `index`'s shape after the batch, for a row of `points` context points (the
    /// graph's own length when it is fixed). The variable axis is first in the inputs it is in,
    /// so a row's leading values are the trimmed row.
    fn input_shape(&self, index: usize, points: Option<usize>) -> Vec<usize> {
        let outlet = self.model.input_outlets().unwrap()[index];
        let fact = self.model.outlet_fact(outlet).unwrap();
        fact.shape
            .iter()
            .skip(1)
            .map(|d| match (d.to_usize(), &self.length, points) {
                (Ok(n), _, _) => n,
                (Err(_), Some(l), Some(p)) if d == &TDim::Sym(l.tokens.clone()) => p + 2,
                (Err(_), _, Some(p)) => p,
                (Err(_), _, None) => 1,
            })
            .collect()
    }
}

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
    /// One row at a time: a run's forecast is bit-identical whatever else is in the request.
    #[default]
    Exact,
    /// Rows of the same short context length several at a time (256 tokens a call at 32
    /// tokens and fewer): 1.2-2.7x faster per row there, but a forecast may differ in its last
    /// bits (about 1e-7) with the other runs of its request.
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

/// A loaded model, immutable and shareable across threads (`Send + Sync`).
pub struct Engine {
    manifest: Manifest,
    forecaster: PlannedGraph,
    encoder: Option<PlannedGraph>,
    /// The loss encoder on the GPU, when the backend resolved to CUDA.
    cuda_encoder: Option<crate::cuda::CudaEncoder>,
    /// `RowBatching::Throughput` when set; atomic so that a shared engine can be switched.
    throughput: std::sync::atomic::AtomicBool,
    /// The bundle's trees for the median, when it has them (`booster`).
    trees: Option<crate::booster::Booster>,
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
        let m = bundle.manifest;
        let a = &m.architecture;
        let forecaster = PlannedGraph::load(
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
            (Some(e), Some(g)) => Some(PlannedGraph::load(
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

    /// Whether this model reads token losses (has a loss encoder).
    pub fn reads_losses(&self) -> bool {
        self.encoder.is_some()
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

    /// Checks one run without forecasting it.
    pub fn validate(&self, run: &RunInput<'_>) -> std::result::Result<(), (&'static str, String)> {
        features::validate_prefix(&run.prefix, self.manifest.preparation.min_context)
            .map_err(|p| (p.field, p.reason))?;
        match run.losses {
            Some(Losses::Tokens(l)) => {
                if self.encoder.is_none() {
                    return Err(("token_losses", "this model has no loss encoder".into()));
                }
                features::validate_losses(l).map_err(|p| (p.field, p.reason))
            }
            Some(Losses::Embedding(e))
                if e.0.len() != self.manifest.architecture.d_model
                    || e.0.iter().any(|v| !v.is_finite()) =>
            {
                Err((
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
                    .map(|(field, reason)| Err(Error::invalid(i, field, reason)))
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

        // Token losses are encoded once per run, the chunk's runs in one batch.
        let token_pos: Vec<usize> = (0..valid.len())
            .filter(|&p| matches!(runs[valid[p]].losses, Some(Losses::Tokens(_))))
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
                        failed[p] = Some(Error::Inference(format!("run {}: {e}", valid[p])));
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
        let summaries: Option<Vec<crate::booster::RunSummary<'_>>> =
            self.trees.as_ref().map(|_| {
                valid
                    .iter()
                    .zip(&prepared)
                    .map(|(&i, f)| {
                        let p = &runs[i].prefix;
                        crate::booster::RunSummary::with_fit(p.steps, p.accuracy, f.fit())
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
                    let trees_median = run.last() + trees.predict(&run.at(step));
                    shift_to_median(&mut quantiles, median, trees_median as f32);
                }
                match finalize_quantiles(&mut quantiles, median) {
                    Ok(()) => forecasts[p].push(Forecast { step, quantiles }),
                    Err(m) => failed[p] = Some(Error::Inference(format!("run {}: {m}", valid[p]))),
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

/// Moves every quantile by the same amount so that the median is `median_value`: the network's
/// band widths around the trees' median. A uniform shift keeps the quantiles' order.
pub fn shift_to_median(q: &mut [f32], median: usize, median_value: f32) {
    let shift = median_value - q[median];
    for v in q.iter_mut() {
        *v += shift;
    }
}

/// The documented post-processing: clamp to [0, 1] (the metric's range; clamping is monotone so
/// it keeps the graph's ordering), then make ordering exact outward from the median, which
/// absorbs any last-ulp rounding of the graph's sums. A non-finite output is an error.
pub fn finalize_quantiles(q: &mut [f32], median: usize) -> std::result::Result<(), String> {
    if q.iter().any(|v| !v.is_finite()) {
        return Err(format!("the model produced a non-finite quantile {q:?}"));
    }
    for v in q.iter_mut() {
        *v = v.clamp(0.0, 1.0);
    }
    for j in median + 1..q.len() {
        q[j] = q[j].max(q[j - 1]);
    }
    for j in (0..median).rev() {
        q[j] = q[j].min(q[j + 1]);
    }
    Ok(())
}

impl Forecaster for Engine {
    fn name(&self) -> &str {
        "neuneu"
    }

    fn levels(&self) -> &[f32] {
        Engine::levels(self)
    }

    fn forecast_prefixes(&self, prefixes: &[CurvePrefix<'_>]) -> Result<Vec<RunForecast>> {
        let runs: Vec<RunInput> = prefixes
            .iter()
            .map(|&prefix| RunInput {
                prefix,
                losses: None,
            })
            .collect();
        self.forecast(&runs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finalize_clamps_and_orders() {
        let mut q = [-0.1f32, 0.3, 0.2, 0.19, 1.4];
        finalize_quantiles(&mut q, 2).unwrap();
        assert_eq!(q, [0.0, 0.2, 0.2, 0.2, 1.0]);
        assert!(finalize_quantiles(&mut [0.1, f32::NAN, 0.2], 1).is_err());
    }

    #[test]
    fn plan_lengths_double_up_to_the_maximum() {
        assert_eq!(plan_lengths(32), [6, 14, 30, 32]);
        assert_eq!(plan_lengths(64), [6, 14, 30, 62, 64]);
        assert_eq!(plan_lengths(10), [6, 10]);
        assert_eq!(plan_lengths(6), [6]);
        assert_eq!(plan_lengths(3), [3]);
    }

    #[test]
    fn throughput_batches_only_short_power_of_two_lengths() {
        use crate::random_model::random_bundle;
        let engine =
            Engine::from_bundle(random_bundle(&Architecture::small(), 7, "t").unwrap()).unwrap();
        let g = &engine.forecaster;
        let per_call: Vec<usize> = (0..g.plans.len()).map(|b| g.rows_per_call(b)).collect();
        // Plan lengths 6, 14, 30, 32 points: 8, 16, 32 and 34 tokens.
        assert_eq!(per_call, [32, 16, 8, 1]);
    }

    /// Throughput sends full batches through the batched plan (exact mode never builds it),
    /// and the forecasts stay those of the exact mode.
    #[test]
    fn throughput_runs_full_batches_through_the_batched_plan() {
        use crate::random_model::{SyntheticRun, random_bundle};
        let arch = Architecture::small();
        let engine = Engine::from_bundle(random_bundle(&arch, 7, "t").unwrap()).unwrap();
        // 40 three-point rows: the 6-point plan takes 32 a call, so one batch and 8 singles.
        let mut rows = ForecasterRows::new(&arch, 40);
        for i in 0..40 {
            let r = SyntheticRun::new(3, 1, i as u64);
            let f = features::RunFeatures::new(&r.steps, &r.accuracy, arch.max_context);
            rows.write(i, &f, r.targets[0], None);
        }
        let batched = |e: &Engine| e.forecaster.plans[0][1].get().is_some();
        let exact = engine.run_forecaster(&rows).unwrap();
        assert!(!batched(&engine));
        engine.set_row_batching(RowBatching::Throughput);
        let fast = engine.run_forecaster(&rows).unwrap();
        assert!(batched(&engine));
        for (a, b) in exact.iter().zip(&fast) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn used_points_ends_at_the_last_real_slot() {
        assert_eq!(used_points(&[1.0, 1.0, 0.0, 0.0]), 0);
        assert_eq!(used_points(&[1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]), 3);
        // A gap does not end the context: everything up to the last real slot is kept.
        assert_eq!(used_points(&[1.0, 1.0, 1.0, 0.0, 1.0, 0.0]), 3);
    }

    /// Every row forecast through its trimmed plan equals the same row through the full-length
    /// plan, for every context length the model takes.
    #[test]
    fn trimmed_plans_forecast_what_the_full_length_plan_does() {
        use crate::random_model::{SyntheticRun, random_bundle};
        let arch = Architecture::small();
        let engine = Engine::from_bundle(random_bundle(&arch, 7, "t").unwrap()).unwrap();
        let graph = &engine.forecaster;
        let buckets = &graph
            .length
            .as_ref()
            .expect("a variable-length graph")
            .buckets;
        let full = graph.plan(buckets.len() - 1, 0).unwrap();
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
