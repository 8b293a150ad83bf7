//! `neuneu bench`: latency percentiles and throughput of a configurable workload.
//!
//! Workloads:
//! - `forecast`: one `Engine::forecast` call per iteration on `--batch` runs of `--context`
//!   points and `--targets` targets each (with `--losses`, each run carries `--loss-len` token
//!   losses, encoded in the call).
//! - `scheduler`: one iteration = `--batch` arms x `--tasks` tasks x 3 targets; each arm's
//!   token losses are encoded once (`encode_losses_batch`) and shared by its tasks as
//!   `Losses::Embedding`.
//! - `forecaster` / `encoder`: the bare graph on prepared inputs (`--batch` rows), for
//!   comparisons with other runtimes on the same graph (`benches/compare_onnxruntime.py`).
//!
//! `--threads T` runs T workers, each issuing calls, over one shared `Engine`. `--dump DIR`
//! writes the prepared inputs and the outputs as `.npy` (flat; shapes in the JSON report).

use neuneu::model::architecture::Architecture;
use neuneu::testing::{SyntheticRun, random_bundle, synthetic_losses};
use neuneu::{Engine, ForecasterRows, LossEmbedding, Losses, RunInput};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Model bundle; the embedded default model if neither this nor `--random` is given.
    #[arg(long, conflicts_with = "random")]
    pub model: Option<PathBuf>,
    /// A random-weight model of this size instead: `small` or `reference`.
    #[arg(long)]
    pub random: Option<String>,
    /// Write the model used (e.g. the random one) to this bundle file.
    #[arg(long)]
    pub save_model: Option<PathBuf>,
    /// forecast | scheduler | forecaster | encoder
    #[arg(long, default_value = "forecast")]
    pub workload: String,
    /// Runs per call (forecast), rows (forecaster), loss vectors (encoder), arms (scheduler).
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Observed points per run.
    #[arg(long, default_value_t = 30)]
    pub context: usize,
    /// How forecaster rows run: exact (short contexts batched where every row keeps its bits)
    /// or throughput (short contexts batched regardless).
    #[arg(long, default_value = "exact")]
    pub row_batching: neuneu::RowBatching,
    /// Targets per run (forecast workload; the scheduler uses 3).
    #[arg(long, default_value_t = 1)]
    pub targets: usize,
    /// Tasks per arm (scheduler workload).
    #[arg(long, default_value_t = 66)]
    pub tasks: usize,
    /// Token losses with every run (forecast workload; always on for scheduler and encoder).
    #[arg(long)]
    pub losses: bool,
    /// Token losses per run; the encoder's input length by default.
    #[arg(long)]
    pub loss_len: Option<usize>,
    /// Worker threads issuing calls concurrently.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Timed calls (after the warm-up); by default as many as fit in `--seconds`.
    #[arg(long)]
    pub iters: Option<usize>,
    /// Time budget for the timed calls when `--iters` is absent.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Untimed calls first (plan optimisation happens here).
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write inputs and outputs of one call as .npy files into this folder.
    #[arg(long)]
    pub dump: Option<PathBuf>,
}

enum Work {
    Forecast {
        runs: Vec<SyntheticRun>,
        losses: Vec<Vec<f32>>,
    },
    Scheduler {
        arms: Vec<Vec<f32>>,
        tasks: Vec<SyntheticRun>,
    },
    Forecaster(ForecasterRows),
    Encoder(Vec<f32>),
}

fn setting_error(field: &'static str, reason: impl Into<String>) -> neuneu::Error {
    neuneu::Error::InvalidSetting {
        field,
        reason: reason.into(),
    }
}

fn load(args: &BenchArgs) -> neuneu::Result<(Engine, String)> {
    let setting = |m: String| setting_error("--random", m);
    if let Some(kind) = &args.random {
        let arch = match kind.as_str() {
            "small" => Architecture::small(),
            "reference" => Architecture::reference(),
            k => return Err(setting(format!("`{k}`: use small or reference"))),
        };
        let bundle = random_bundle(&arch, 42, &format!("random-{kind}"))
            .map_err(|e| setting(e.to_string()))?;
        if let Some(p) = &args.save_model {
            std::fs::write(p, bundle.to_bytes()).map_err(|e| neuneu::Error::io(p, e))?;
        }
        return Ok((Engine::from_bundle(bundle)?, format!("random-{kind}")));
    }
    let (engine, name) = match &args.model {
        Some(p) => (Engine::from_path(p)?, p.display().to_string()),
        None => (Engine::embedded()?, "embedded default".to_string()),
    };
    if let Some(p) = &args.save_model {
        let bytes = match &args.model {
            Some(m) => std::fs::read(m).map_err(|e| neuneu::Error::io(m, e))?,
            None => neuneu::inference::engine::DEFAULT_BUNDLE.to_vec(),
        };
        std::fs::write(p, bytes).map_err(|e| neuneu::Error::io(p, e))?;
    }
    Ok((engine, name))
}

fn loss_len(engine: &Engine, args: &BenchArgs) -> usize {
    args.loss_len.unwrap_or_else(|| {
        engine
            .architecture()
            .encoder
            .as_ref()
            .map_or(4096, |e| e.loss_len)
    })
}

fn build(engine: &Engine, args: &BenchArgs) -> neuneu::Result<(Work, usize)> {
    let n = args.batch.max(1);
    let a = engine.architecture();
    let runs = |count: usize, targets: usize| -> Vec<SyntheticRun> {
        (0..count)
            .map(|i| SyntheticRun::new(args.context, targets, i as u64 + 1))
            .collect()
    };
    let losses = |count: usize| -> Vec<Vec<f32>> {
        (0..count)
            .map(|i| synthetic_losses(loss_len(engine, args), 1000 + i as u64))
            .collect()
    };
    Ok(match args.workload.as_str() {
        "forecast" => {
            let l = if args.losses { losses(n) } else { vec![] };
            (
                Work::Forecast {
                    runs: runs(n, args.targets),
                    losses: l,
                },
                n * args.targets,
            )
        }
        "scheduler" => (
            Work::Scheduler {
                arms: losses(n),
                tasks: runs(n * args.tasks, 3),
            },
            n * args.tasks * 3,
        ),
        "forecaster" => {
            let mut rows = ForecasterRows::new(a, n);
            let emb: Vec<f32> = (0..a.d_model)
                .map(|j| ((j % 7) as f32 - 3.0) * 0.1)
                .collect();
            for (i, r) in runs(n, 1).iter().enumerate() {
                let e = if i % 2 == 0 { Some(&emb[..]) } else { None };
                rows.write(
                    i,
                    &neuneu::inference::features::RunFeatures::new(
                        &r.steps,
                        &r.accuracy,
                        a.max_context,
                    ),
                    r.targets[0],
                    e,
                );
            }
            (Work::Forecaster(rows), n)
        }
        "encoder" => {
            let e = a
                .encoder
                .clone()
                .ok_or_else(|| setting_error("--workload", "this model has no loss encoder"))?;
            let mut prepared = vec![0.0f32; n * e.loss_len];
            for (i, l) in losses(n).iter().enumerate() {
                neuneu::inference::features::prepare_losses(
                    l,
                    &e,
                    &mut prepared[i * e.loss_len..(i + 1) * e.loss_len],
                );
            }
            (Work::Encoder(prepared), n)
        }
        w => {
            return Err(setting_error(
                "--workload",
                format!("`{w}`: use forecast, scheduler, forecaster or encoder"),
            ));
        }
    })
}

/// One call of the workload; returns a flat output (for `--dump`).
fn call(engine: &Engine, work: &Work, args: &BenchArgs) -> neuneu::Result<Vec<f32>> {
    match work {
        Work::Forecast { runs, losses } => {
            let inputs: Vec<RunInput> = runs
                .iter()
                .enumerate()
                .map(|(i, r)| match losses.get(i) {
                    Some(l) => r.input().with_losses(Losses::Tokens(l)),
                    None => r.input(),
                })
                .collect();
            let f = engine.forecast(&inputs)?;
            Ok(flatten(&f))
        }
        Work::Scheduler { arms, tasks } => {
            let slices: Vec<&[f32]> = arms.iter().map(|l| &l[..]).collect();
            let embeddings: Vec<LossEmbedding> = engine.encode_losses_batch(&slices)?;
            let inputs: Vec<RunInput> = tasks
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    r.input()
                        .with_losses(Losses::Embedding(&embeddings[i / args.tasks]))
                })
                .collect();
            let f = engine.forecast(&inputs)?;
            Ok(flatten(&f))
        }
        Work::Forecaster(rows) => engine.run_forecaster(rows),
        Work::Encoder(prepared) => engine.run_encoder(args.batch.max(1), prepared),
    }
}

fn flatten(f: &[neuneu::RunForecast]) -> Vec<f32> {
    f.iter()
        .flat_map(|r| r.forecasts.iter().flat_map(|x| x.quantiles.iter().copied()))
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn dump(
    dir: &Path,
    engine: &Engine,
    work: &Work,
    out: &[f32],
) -> neuneu::Result<serde_json::Value> {
    std::fs::create_dir_all(dir).map_err(|e| neuneu::Error::io(dir, e))?;
    let write =
        |name: &str, v: &[f32]| neuneu::io::npy::write_npy_f32(dir.join(format!("{name}.npy")), v);
    let a = engine.architecture();
    let mut shapes = serde_json::Map::new();
    match work {
        Work::Forecaster(r) => {
            write("context", &r.context)?;
            write("key_mask", &r.key_mask)?;
            write("anchor", &r.anchor)?;
            write("loss_embedding", &r.loss_embedding)?;
            write("has_loss", &r.has_loss)?;
            shapes.insert(
                "context".into(),
                json!([r.rows, a.max_context, a.context_features]),
            );
            shapes.insert("key_mask".into(), json!([r.rows, a.seq_len()]));
            shapes.insert("anchor".into(), json!([r.rows, 1]));
            shapes.insert("loss_embedding".into(), json!([r.rows, a.d_model]));
            shapes.insert("has_loss".into(), json!([r.rows, 1]));
            shapes.insert("quantiles".into(), json!([r.rows, a.quantile_levels.len()]));
        }
        Work::Encoder(p) => {
            let l = a.encoder.as_ref().map_or(0, |e| e.loss_len);
            write("loss_features", p)?;
            shapes.insert("loss_features".into(), json!([p.len() / l.max(1), l]));
            shapes.insert(
                "loss_embedding_out".into(),
                json!([p.len() / l.max(1), a.d_model]),
            );
        }
        Work::Scheduler { arms, tasks } => {
            // What a plain per-request loop needs: the arms' raw token losses (each request
            // prepares its own), the same prepared by neuneu (to check the loop's preparation),
            // and every (arm, task, target) row with the loss embedding left for the loop to fill.
            let e = a
                .encoder
                .clone()
                .ok_or_else(|| setting_error("--workload", "this model has no loss encoder"))?;
            let mut prepared = vec![0.0f32; arms.len() * e.loss_len];
            for (i, l) in arms.iter().enumerate() {
                neuneu::inference::features::prepare_losses(
                    l,
                    &e,
                    &mut prepared[i * e.loss_len..(i + 1) * e.loss_len],
                );
            }
            let mut rows = ForecasterRows::new(a, tasks.len() * 3);
            let zero = vec![0.0f32; a.d_model];
            for (i, r) in tasks.iter().enumerate() {
                for (k, &t) in r.targets.iter().enumerate() {
                    rows.write(
                        i * 3 + k,
                        &neuneu::inference::features::RunFeatures::new(
                            &r.steps,
                            &r.accuracy,
                            a.max_context,
                        ),
                        t,
                        Some(&zero),
                    );
                }
            }
            let raw: Vec<f32> = arms.iter().flatten().copied().collect();
            write("token_losses", &raw)?;
            write("loss_features", &prepared)?;
            write("context", &rows.context)?;
            write("key_mask", &rows.key_mask)?;
            write("anchor", &rows.anchor)?;
            write("has_loss", &rows.has_loss)?;
            shapes.insert(
                "token_losses".into(),
                json!([arms.len(), arms.first().map_or(0, Vec::len)]),
            );
            shapes.insert("loss_features".into(), json!([arms.len(), e.loss_len]));
            shapes.insert(
                "context".into(),
                json!([rows.rows, a.max_context, a.context_features]),
            );
            shapes.insert("key_mask".into(), json!([rows.rows, a.seq_len()]));
            shapes.insert("anchor".into(), json!([rows.rows, 1]));
            shapes.insert("has_loss".into(), json!([rows.rows, 1]));
            shapes.insert(
                "quantiles".into(),
                json!([rows.rows, a.quantile_levels.len()]),
            );
        }
        Work::Forecast { .. } => {
            shapes.insert(
                "quantiles".into(),
                json!([out.len() / a.quantile_levels.len(), a.quantile_levels.len()]),
            );
        }
    }
    write("output", out)?;
    Ok(serde_json::Value::Object(shapes))
}

pub fn bench(args: &BenchArgs) -> neuneu::Result<ExitCode> {
    let threads = args.threads.max(1);
    let started = Instant::now();
    let (engine, model_name) = load(args)?;
    engine.set_row_batching(args.row_batching);
    let (work, rows) = build(&engine, args)?;
    let load_s = started.elapsed().as_secs_f64();
    for _ in 0..args.warmup.max(1) {
        call(&engine, &work, args)?;
    }
    let shapes = match &args.dump {
        Some(dir) => Some(dump(dir, &engine, &work, &call(&engine, &work, args)?)?),
        None => None,
    };

    let budget = Duration::from_secs_f64(args.seconds.max(0.0));
    let next = AtomicUsize::new(0);
    let begin = Instant::now();
    let per_thread: Vec<neuneu::Result<Vec<Duration>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut lat = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let more = match args.iters {
                            Some(n) => i < n,
                            None => begin.elapsed() < budget || i < threads,
                        };
                        if !more {
                            break;
                        }
                        let t0 = Instant::now();
                        call(&engine, &work, args)?;
                        lat.push(t0.elapsed());
                    }
                    Ok(lat)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench worker"))
            .collect()
    });
    let wall = begin.elapsed().as_secs_f64();
    let mut lat = Vec::new();
    for r in per_thread {
        lat.extend(r?);
    }
    lat.sort();
    let calls = lat.len();
    let report = json!({
        "model": model_name,
        "workload": args.workload,
        "batch": args.batch,
        "context": args.context,
        "row_batching": args.row_batching.to_string(),
        "rows_per_call": rows,
        "threads": threads,
        "calls": calls,
        "load_s": load_s,
        "p50_ms": percentile(&lat, 0.5),
        "p90_ms": percentile(&lat, 0.9),
        "p99_ms": percentile(&lat, 0.99),
        "mean_ms": lat.iter().map(|d| d.as_secs_f64()).sum::<f64>() * 1e3 / calls.max(1) as f64,
        "calls_per_s": calls as f64 / wall,
        "rows_per_s": (calls * rows) as f64 / wall,
        "shapes": shapes,
    });
    if args.json {
        println!("{report}");
    } else {
        println!(
            "{} on {model_name}: batch {}, {rows} rows/call, {threads} thread(s), {calls} calls\n  p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms\n  {:.1} calls/s, {:.0} rows/s",
            args.workload,
            args.batch,
            report["p50_ms"].as_f64().unwrap_or(f64::NAN),
            report["p90_ms"].as_f64().unwrap_or(f64::NAN),
            report["p99_ms"].as_f64().unwrap_or(f64::NAN),
            report["calls_per_s"].as_f64().unwrap_or(f64::NAN),
            report["rows_per_s"].as_f64().unwrap_or(f64::NAN),
        );
    }
    Ok(ExitCode::SUCCESS)
}
