//! Which nodes of the forecaster plan give a row other bits in a batch than alone: the check
//! behind exact mode's batching (`src/inference/engine/graph.rs`), node by node.
//!
//!   cargo run --release --example batch_bits -- [BATCH] [POINTS] [BUNDLE]
//!
//! Runs BATCH synthetic rows of POINTS points (default 8 and 30; the embedded default model
//! unless BUNDLE) through the batch-BATCH plan and each through the batch-1 plan, both built
//! as the engine builds them, and prints for every node the outputs whose bits differ (the
//! batch-1 outputs concatenated row after row: a node whose batched output is laid out
//! otherwise, say heads before rows, shows as differing although its rows agree; what its
//! consumers get says which). TRACT_ONLY=1 leaves the per-row products to tract's EinSum.

use neuneu::ForecasterRows;
use neuneu::inference::engine::graph::{eval_node, optimize, with_own_products};
use neuneu::inference::features::RunFeatures;
use neuneu::model::architecture::Architecture;
use neuneu::model::bundle::{Bundle, FORECASTER};
use neuneu::model::onnx::{CONTEXT_SYMBOL, TOKENS_SYMBOL};
use neuneu::testing::SyntheticRun;
use std::collections::HashMap;
use tract_onnx::prelude::*;

/// Each node's name and its first output's values, in plan order.
type Trace = Vec<(String, Vec<f32>)>;

fn plan(model: &TypedModel, batch: usize, points: usize) -> TractResult<Arc<TypedRunnableModel>> {
    let sym = |name: &str| model.symbols.sym(name);
    let subs = HashMap::from([
        (sym("B"), TDim::Val(batch as i64)),
        (sym(CONTEXT_SYMBOL), TDim::Val(points as i64)),
        (sym(TOKENS_SYMBOL), TDim::Val(points as i64 + 2)),
    ]);
    let model = if std::env::var("TRACT_ONLY").is_ok() {
        model.clone()
    } else {
        with_own_products(model.clone(), &sym("B"))?
    };
    optimize(model.set_symbols(&subs)?)?.into_runnable()
}

fn inputs(a: &Architecture, seeds: &[u64], points: usize) -> TractResult<TVec<TValue>> {
    let batch = seeds.len();
    let mut r = ForecasterRows::new(a, batch);
    for (i, &seed) in seeds.iter().enumerate() {
        let run = SyntheticRun::new(points.min(30), 1, seed);
        let features = RunFeatures::new(&run.steps, &run.accuracy, a.max_context);
        r.write(i, &features, run.targets[0], None);
    }
    let context = Tensor::from_shape(&[batch, a.max_context, a.context_features], &r.context)?;
    let key_mask = Tensor::from_shape(&[batch, a.seq_len()], &r.key_mask)?;
    Ok(tvec![
        context.slice(1, 0, points)?.into(),
        key_mask.slice(1, 0, points + 2)?.into(),
        Tensor::from_shape(&[batch, 1], &r.anchor)?.into(),
        Tensor::from_shape(&[batch, a.d_model], &r.loss_embedding)?.into(),
        Tensor::from_shape(&[batch, 1], &r.has_loss)?.into(),
    ])
}

fn trace(plan: &Arc<TypedRunnableModel>, inputs: TVec<TValue>) -> TractResult<Trace> {
    let mut seen = Trace::new();
    let mut state = tract_onnx::tract_core::plan::SimpleState::new(plan)?;
    state.run_plan_with_eval(inputs, |ctx, st, node, input| {
        let out = eval_node(ctx, st, node, input)?;
        if let Ok(v) = out[0].to_plain_array_view::<f32>() {
            seen.push((node.name.clone(), v.iter().copied().collect()));
        }
        TractResult::Ok(out)
    })?;
    Ok(seen)
}

fn main() -> TractResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let batch: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(8);
    let points: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(30);
    let bundle = match args.get(3) {
        Some(path) => Bundle::from_bytes(&std::fs::read(path)?).unwrap(),
        None => Bundle::from_bytes(neuneu::inference::engine::DEFAULT_BUNDLE).unwrap(),
    };
    let a = bundle.manifest.architecture.clone();
    let points = points.min(a.max_context);
    let model = tract_onnx::onnx()
        .model_for_read(&mut &bundle.graphs[FORECASTER][..])?
        .into_typed()?
        .into_decluttered()?;
    let seeds: Vec<u64> = (0..batch as u64).collect();
    let together = trace(&plan(&model, batch, points)?, inputs(&a, &seeds, points)?)?;
    let single = plan(&model, 1, points)?;
    let alone: Vec<Trace> = seeds
        .iter()
        .map(|&s| trace(&single, inputs(&a, &[s], points)?))
        .collect::<TractResult<_>>()?;
    let batched: HashMap<&str, &Vec<f32>> = together.iter().map(|(n, v)| (n.as_str(), v)).collect();
    println!("batch {batch}, {points} points: outputs whose bits differ, by node");
    for (k, (name, first)) in alone[0].iter().enumerate() {
        let Some(batched) = batched.get(name.as_str()) else {
            continue;
        };
        let rows: Vec<f32> = alone.iter().flat_map(|t| t[k].1.iter().copied()).collect();
        if rows.len() != batched.len() {
            println!(
                "  {name}: {} values alone, {} batched",
                rows.len(),
                batched.len()
            );
            continue;
        }
        let differ = rows
            .iter()
            .zip(batched.iter())
            .filter(|(x, y)| x.to_bits() != y.to_bits())
            .count();
        println!(
            "  {name}: {differ} of {} ({} a row)",
            rows.len(),
            first.len()
        );
    }
    Ok(())
}
