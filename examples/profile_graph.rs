//! Per-op time of the optimised forecaster (or encoder) plan: where a forecast spends its time.
//!
//!   cargo run --release --example profile_graph -- [small|reference|BUNDLE] [forecaster|encoder] [BATCH] [ITERS] [POINTS]
//!
//! POINTS: the forecaster plan's context length (default `max_context`; graphs from older
//! exporters have only that one); the synthetic runs have min(30, POINTS) points.
//!
//! SHOW=1 prints the plan's nodes and their input shapes first; SHOW=info adds what each op
//! says of itself (for a matrix product: its m, k, n and the kernel tract chose).
//! TRANSFORMS=a,b applies tract's registered model transforms by name (for example
//! `transformers_detect_all`, from tract-transformers) to the decluttered model before
//! optimising it, printing the node count before and after each.

use neuneu::ForecasterRows;
use neuneu::inference::features;
use neuneu::model::architecture::Architecture;
use neuneu::model::bundle::Bundle;
use neuneu::testing::{SyntheticRun, random_bundle, synthetic_losses};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tract_onnx::prelude::*;

fn main() -> TractResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map(String::as_str).unwrap_or("small");
    let graph = args.get(2).map(String::as_str).unwrap_or("forecaster");
    let batch: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    let iters: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(200);
    let points: Option<usize> = args.get(5).and_then(|s| s.parse().ok());
    let bundle = match which {
        "small" => Bundle::from_bytes(neuneu::inference::engine::DEFAULT_BUNDLE).unwrap(),
        "random-small" => random_bundle(&Architecture::small(), 42, "s").unwrap(),
        "reference" => random_bundle(&Architecture::reference(), 42, "r").unwrap(),
        p => Bundle::from_bytes(&std::fs::read(p)?).unwrap(),
    };
    let a = bundle.manifest.architecture.clone();
    let onnx = &bundle.graphs[if graph == "encoder" {
        "loss_encoder"
    } else {
        "forecaster"
    }];
    let model = tract_onnx::onnx()
        .model_for_read(&mut &onnx[..])?
        .into_typed()?
        .into_decluttered()?;
    let sym = model
        .symbols
        .sym(if graph == "encoder" { "N" } else { "B" });
    let mut subs = HashMap::new();
    subs.insert(sym.clone(), TDim::Val(batch as i64));
    let variable = graph != "encoder" && model.input_fact(0)?.shape[1].to_i64().is_err();
    let points = match points {
        Some(p) if variable => p.min(a.max_context),
        _ => a.max_context,
    };
    if variable {
        subs.insert(
            model.symbols.sym(neuneu::model::onnx::CONTEXT_SYMBOL),
            TDim::Val(points as i64),
        );
        subs.insert(
            model.symbols.sym(neuneu::model::onnx::TOKENS_SYMBOL),
            TDim::Val(points as i64 + 2),
        );
    }
    // As the engine loads it: per-row products swapped for neuneu's own op, then fixed shapes.
    let mut model = if std::env::var("TRACT_ONLY").is_ok() {
        model.set_symbols(&subs)?
    } else {
        neuneu::inference::engine::graph::with_own_products(model, &sym)?.set_symbols(&subs)?
    };
    if let Ok(names) = std::env::var("TRANSFORMS") {
        for name in names.split(',') {
            let before = model.nodes.len();
            let t = tract_onnx::tract_core::transform::get_transform(name)?
                .ok_or_else(|| anyhow::anyhow!("no transform {name}"))?;
            t.transform(&mut model)?;
            model = model.into_decluttered()?;
            eprintln!("transform {name}: {before} -> {} nodes", model.nodes.len());
        }
    }
    // Optimised as the engine does it (tract's optimisation, then neuneu's own softmax op).
    let opt = neuneu::inference::engine::graph::optimize(model)?;
    if std::env::var("SHOW").is_ok() {
        for n in &opt.nodes {
            let ins: Vec<String> = n
                .inputs
                .iter()
                .map(|i| format!("{:?}", opt.outlet_fact(*i).unwrap().shape))
                .collect();
            println!(
                "{:4} {:30} {:40} {}",
                n.id,
                n.name.chars().take(30).collect::<String>(),
                n.op.name(),
                ins.join(" , ")
            );
            if std::env::var("SHOW").as_deref() == Ok("info") {
                for line in n.op.info().unwrap_or_default() {
                    println!("       {line}");
                }
            }
        }
    }
    let plan = opt.into_runnable()?;
    let inputs: TVec<TValue> = if graph == "encoder" {
        let e = a.encoder.clone().unwrap();
        let mut p = vec![0f32; batch * e.loss_len];
        for i in 0..batch {
            features::prepare_losses(
                &synthetic_losses(e.loss_len, i as u64),
                &e,
                &mut p[i * e.loss_len..(i + 1) * e.loss_len],
            );
        }
        tvec![Tensor::from_shape(&[batch, e.loss_len], &p)?.into()]
    } else {
        let mut r = ForecasterRows::new(&a, batch);
        for i in 0..batch {
            let run = SyntheticRun::new(30.min(points), 1, i as u64);
            r.write(
                i,
                &neuneu::inference::features::RunFeatures::new(
                    &run.steps,
                    &run.accuracy,
                    a.max_context,
                ),
                run.targets[0],
                None,
            );
        }
        let (t, s, d) = (a.max_context, a.seq_len(), a.d_model);
        let context = Tensor::from_shape(&[batch, t, a.context_features], &r.context)?;
        let key_mask = Tensor::from_shape(&[batch, s], &r.key_mask)?;
        tvec![
            context.slice(1, 0, points)?.into(),
            key_mask.slice(1, 0, points + 2)?.into(),
            Tensor::from_shape(&[batch, 1], &r.anchor)?.into(),
            Tensor::from_shape(&[batch, d], &r.loss_embedding)?.into(),
            Tensor::from_shape(&[batch, 1], &r.has_loss)?.into(),
        ]
    };
    let mut by_op: HashMap<String, Duration> = HashMap::new();
    let mut by_node: HashMap<usize, (String, Duration)> = HashMap::new();
    let mut state = tract_onnx::tract_core::plan::SimpleState::new(&plan)?;
    let t0 = Instant::now();
    for _ in 0..iters {
        state.run_plan_with_eval(inputs.clone(), |ctx, st, node, input| {
            let t = Instant::now();
            // As the engine runs a node (tract's eval, then the vector state cleared).
            let r = neuneu::inference::engine::graph::eval_node(ctx, st, node, input);
            let dt = t.elapsed();
            *by_op.entry(node.op().name().to_string()).or_default() += dt;
            let e = by_node
                .entry(node.id)
                .or_insert_with(|| (format!("{} {}", node.name, node.op), Duration::ZERO));
            e.1 += dt;
            r
        })?;
    }
    let total = t0.elapsed();
    println!(
        "{which} {graph} batch {batch}: {:.3} ms per run",
        total.as_secs_f64() * 1e3 / iters as f64
    );
    let mut ops: Vec<_> = by_op.into_iter().collect();
    ops.sort_by_key(|(_, d)| std::cmp::Reverse(*d));
    for (op, d) in ops.iter().take(15) {
        println!(
            "  {:>6.1}%  {:>8.3} ms  {op}",
            100.0 * d.as_secs_f64() / total.as_secs_f64(),
            d.as_secs_f64() * 1e3 / iters as f64
        );
    }
    let mut nodes: Vec<_> = by_node.into_values().collect();
    nodes.sort_by_key(|(_, d)| std::cmp::Reverse(*d));
    println!("top nodes:");
    for (n, d) in nodes.iter().take(12) {
        println!(
            "  {:>6.1}%  {}",
            100.0 * d.as_secs_f64() / total.as_secs_f64(),
            n.chars().take(150).collect::<String>()
        );
    }
    Ok(())
}
