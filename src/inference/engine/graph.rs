//! A bundle graph checked against its manifest and compiled by tract on first use.
//!
//! tract runs fixed shapes about 1.4x faster than symbolic ones, and optimising costs far more
//! than a forecast, so each graph is optimised for batch 1, lazily, and cached for the engine's
//! life. The forecaster graphs take any context length, and padding changes no output, so the
//! forecaster is compiled once per length of [`context_lengths`] and each row runs at the
//! shortest that holds it: a 3-point run costs 8 tokens, not `max_context + 2`. Each compiled
//! length costs its optimisation on first use and its own packed weights (`benches/README.md`
//! has the memory).
//!
//! Rows of at most [`BATCHED_TOKENS`] tokens (why that many: its docs) go 256 tokens at a time
//! through a second, batched model for their length, the leftovers one at a time, with one
//! reused run state per model; longer rows go one at a time. A run's forecast must be
//! bit-identical whatever else is in the request ([`RowBatching::Exact`], the default; tests hold
//! it to that): the graph's products run as our ops ([`with_own_products`]), whose bits do not
//! depend on the batch, and on the first batch of each length the engine checks that the batched
//! model gives every row the bits the batch-1 model gives it (answering that batch from the
//! batch-1 model); where it does not, exact mode runs that length one row at a time.
//! [`RowBatching::Throughput`] batches without the check.

use super::RowBatching;
use crate::error::{BundleError, Error, Result};
use crate::model::onnx::{CONTEXT_SYMBOL, TOKENS_SYMBOL};
use std::sync::{Arc, OnceLock};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::DimLike;

/// Runs `f`, turning a panic inside it (tract's) into `err(message)`.
pub(crate) fn no_panic<T>(
    f: impl FnOnce() -> Result<T>,
    err: impl FnOnce(String) -> Error,
) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = crate::error::panic_message(payload.as_ref());
            Err(err(format!("tract panicked: {msg}")))
        }
    }
}

/// The longest rows, in tokens, that go through a batched model: a batch-1 model leaves the
/// products short of rows and pays each op's fixed cost for few of them. 34 is the small
/// architecture's (the default model's) longest context, 32 points, which most long runs fill once
/// thinned: batched 7 a call it ran 64 rows in 4.5 ms against 6.1 ms one at a time
/// (`benches/README.md`). At 64 tokens and more (the reference size, whose large products stay
/// tract's) batching gained nothing or lost.
pub(crate) const BATCHED_TOKENS: usize = 34;

/// The forecaster's variable context length: which symbols carry it, and the compiled lengths.
pub(super) struct ContextLength {
    /// `T`, context points (`context` is `[B, T, F]`).
    points: Symbol,
    /// `T + 2`, tokens (`key_mask` is `[B, T + 2]`).
    tokens: Symbol,
    /// The lengths compiled for, increasing; the last is `max_context`.
    pub(super) buckets: Vec<usize>,
}

/// The context lengths the forecaster is compiled for: those whose tokens (points + 2: CLS and the
/// loss token) are a power of two from 8, then `max_context`. A row runs at the first one that
/// holds its points, so at most about twice the tokens it needs, and a reference-size model (64
/// points) is compiled at most 5 times (8 with [`RowBatching::Throughput`]'s batched ones). Whole powers
/// of two because tract's matrix kernels work in row tiles: 32 tokens ran about 10% faster than 34
/// on the reference forecaster.
pub fn context_lengths(max_context: usize) -> Vec<usize> {
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
pub(super) fn used_points(key_mask: &[f32]) -> usize {
    key_mask
        .iter()
        .skip(2)
        .rposition(|&m| m != 0.0)
        .map_or(0, |i| i + 1)
}

/// A model compiled on first use; a failure is kept as its message.
type LazyModel = OnceLock<std::result::Result<Arc<TypedRunnableModel>, String>>;

/// One ONNX graph compiled lazily and cached: one batch-1 model, or for a forecaster with a
/// variable context length one per length in [`context_lengths`] (and, under
/// [`RowBatching::Throughput`], a batched one for each short length).
pub(crate) struct CompiledGraph {
    model: TypedModel,
    batch: Symbol,
    pub(super) length: Option<ContextLength>,
    /// Per bucket of `length` (one bucket when the length is fixed): the batch-1 model and the
    /// model for [`CompiledGraph::rows_per_call`] rows.
    pub(super) models: Vec<[LazyModel; 2]>,
    /// Per bucket, under [`RowBatching::Exact`]: whether the batched model gave every row of
    /// the first batch it ran the bits the batch-1 model gives it (checked once, on that batch).
    pub(super) batches_exact: Vec<OnceLock<bool>>,
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
pub(crate) struct InputSpec {
    name: &'static str,
    dims: Vec<usize>,
    /// The axis (after the batch) that may instead be a context-length symbol, and the symbol.
    variable: Option<(usize, &'static str)>,
}

impl InputSpec {
    pub(crate) fn fixed(name: &'static str, dims: Vec<usize>) -> Self {
        InputSpec {
            name,
            dims,
            variable: None,
        }
    }

    /// Axis 0 after the batch is `dims[0]` in older graphs, `symbol` in today's.
    pub(crate) fn variable(name: &'static str, dims: Vec<usize>, symbol: &'static str) -> Self {
        InputSpec {
            name,
            dims,
            variable: Some((0, symbol)),
        }
    }
}

impl CompiledGraph {
    pub(crate) fn load(
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
        let model = with_own_products(model, &batch).map_err(|e| bad(e.to_string()))?;
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
                    buckets: context_lengths(max_context),
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
        Ok(CompiledGraph {
            model,
            batch,
            length,
            models: (0..buckets)
                .map(|_| [OnceLock::new(), OnceLock::new()])
                .collect(),
            batches_exact: (0..buckets).map(|_| OnceLock::new()).collect(),
            name,
        })
    }

    /// The compiled model for bucket `bucket` (see [`context_lengths`]) at batch 1 (`kind` 0) or at
    /// [`CompiledGraph::rows_per_call`] (`kind` 1), built on first use.
    pub(super) fn runnable(&self, bucket: usize, kind: usize) -> Result<Arc<TypedRunnableModel>> {
        let batch = if kind == 0 {
            1
        } else {
            self.rows_per_call(bucket)
        };
        self.models[bucket][kind]
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
                        Ok(optimize(self.model.set_symbols(&subs)?)?.into_runnable()?)
                    },
                    Error::Inference,
                );
                planned.map_err(|e| match e {
                    Error::Inference(m) => format!("{} model: {m}", self.name),
                    other => format!("{} model: {other}", self.name),
                })
            })
            .clone()
            .map_err(Error::Inference)
    }

    /// Runs `rows` rows (inputs laid out row-major, batch first), each through the model compiled for the
    /// shortest context length that holds it, one at a time or, under `batching` Throughput,
    /// short ones several at a time (see the module docs). Checks the layout, then runs
    /// `run_rows` with tract's panics caught.
    pub(crate) fn run(
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
        // Rows shorter than the graph's length run trimmed: the slots past their length
        // are padding (see `used_points`).
        let mut by_bucket: Vec<Vec<usize>> = vec![Vec::new(); self.models.len()];
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
            (0..self.models.len()).map(|_| [None, None]).collect();
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
            // Full batches through the batched model (kind 1), the rest one at a time (kind 0).
            // Exact mode batches only where the batched model keeps every row's bits: checked
            // on the first batch, which is answered from the batch-1 model either way.
            let exact = &self.batches_exact[bucket];
            let per_call = match (batching, exact.get()) {
                (RowBatching::Exact, Some(false)) => 1,
                _ => self.rows_per_call(bucket),
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
                // The rows' outputs, `rows.len()` rows of `out_width`, as one tensor.
                let mut run = |rows: &[usize], kind: usize| -> Result<TValue> {
                    if states[bucket][kind].is_none() {
                        states[bucket][kind] = Some(self.runnable(bucket, kind)?.spawn()?);
                    }
                    let state = states[bucket][kind].as_mut().expect("spawned above");
                    let mut tensors: TVec<TValue> = tvec![];
                    for (k, buffer) in staged.iter_mut().enumerate() {
                        buffer.clear();
                        for &row in rows {
                            let data = slice(k, row).get(..values[k]).ok_or_else(|| {
                                Error::Inference(format!(
                                    "{}: input {k} is shorter than its shape",
                                    self.name
                                ))
                            })?;
                            buffer.extend_from_slice(data);
                        }
                        shapes[k][0] = rows.len();
                        tensors.push(Tensor::from_shape(&shapes[k], buffer)?.into());
                    }
                    let result = state.run_plan_with_eval(tensors, eval_node)?;
                    let output = result.into_iter().next();
                    match output {
                        Some(o) if o.len() == rows.len() * out_width => Ok(o),
                        o => Err(Error::Inference(format!(
                            "{}: output of shape {:?}, {} x {out_width} expected",
                            self.name,
                            o.map(|o| o.shape().to_vec()),
                            rows.len()
                        ))),
                    }
                };
                let mut keep = |row: usize, values: &[f32]| {
                    out[row * out_width..(row + 1) * out_width].copy_from_slice(values);
                };
                if kind == 1 && batching == RowBatching::Exact && exact.get().is_none() {
                    let together = run(chunk, 1)?;
                    let together = together.try_as_plain_ram()?;
                    let together = together.as_slice::<f32>()?;
                    let mut same = true;
                    for (&row, batched) in chunk.iter().zip(together.chunks_exact(out_width)) {
                        let alone = run(&[row], 0)?;
                        let alone = alone.try_as_plain_ram()?;
                        let alone = alone.as_slice::<f32>()?;
                        same &= alone
                            .iter()
                            .zip(batched)
                            .all(|(a, b)| a.to_bits() == b.to_bits());
                        keep(row, alone);
                    }
                    let _ = exact.set(same);
                } else {
                    let flat = run(chunk, kind)?;
                    let flat = flat.try_as_plain_ram()?;
                    let flat = flat.as_slice::<f32>()?;
                    for (&row, values) in chunk.iter().zip(flat.chunks_exact(out_width)) {
                        keep(row, values);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Rows per call through bucket `bucket`'s batched model (in exact mode once its bits are
    /// checked, see the module docs): up to [`BATCHED_TOKENS`] tokens, 256 tokens a call; longer
    /// rows one at a time.
    pub(super) fn rows_per_call(&self, bucket: usize) -> usize {
        match &self.length {
            Some(l) => {
                let tokens = l.buckets[bucket] + 2;
                if tokens <= BATCHED_TOKENS {
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

/// A decluttered graph with its products by constant matrices swapped for our ops, as the engine
/// loads every graph: the per-row products (one row of the batch `batch` times a constant) for
/// [`RowProduct`](super::row_product::RowProduct), the token-level ones (every token's
/// activations times a constant) for [`DenseProduct`](super::dense_product::DenseProduct). A
/// row's bits through either do not depend on the batch size. A profiler should start here.
pub fn with_own_products(mut model: TypedModel, batch: &Symbol) -> TractResult<TypedModel> {
    super::row_product::use_row_products(&mut model, batch)?;
    super::dense_product::use_dense_products(&mut model)?;
    super::signed_columns::use_signed_columns(&mut model)?;
    super::activation_product::use_activation_products(&mut model)?;
    model.into_decluttered()
}

/// A graph with all its shapes fixed, optimised as the engine runs it: tract's optimisation, then
/// the attention softmax swapped for [`RowSoftmax`](super::softmax::RowSoftmax), which takes in
/// the key mask's addition where tract left it to an `Add`. A profiler looking at the engine's
/// plan should build it here.
pub fn optimize(model: TypedModel) -> TractResult<TypedModel> {
    let mut optimized = model.into_optimized()?;
    super::softmax::use_row_softmax(&mut optimized)?;
    Ok(optimized)
}

/// Evaluates one node of a plan as tract does, then clears the upper halves of the vector
/// registers. tract's hand-written x86-64 matrix kernels return without `vzeroupper`, and on the
/// development machine (AMD Zen 4) every legacy-SSE instruction after them then ran many times
/// slower until something cleared that state: the power-law fit after a forecast took 375 us instead of
/// 15 us, glibc's `exp` was 57% of a forecast (`benches/README.md`). The engine runs every node
/// through this; a profiler timing nodes should too.
pub fn eval_node(
    ctx: &tract_onnx::tract_core::plan::EvalContext,
    state: Option<&mut (dyn tract_onnx::tract_core::ops::OpState + 'static)>,
    node: &TypedNode,
    input: TVec<TValue>,
) -> TractResult<TVec<TValue>> {
    let out = tract_onnx::tract_core::plan::eval(ctx, state, node, input);
    clear_upper_vector_state();
    out
}

/// `vzeroupper` on x86-64 CPUs with AVX; nothing elsewhere.
fn clear_upper_vector_state() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU has AVX, all that `vzeroupper` needs.
        unsafe { zero_upper() }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn zero_upper() {
    std::arch::x86_64::_mm256_zeroupper();
}
