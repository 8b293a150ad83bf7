//! `neuneu`: forecasts, rankings and model inspection from the command line.

use clap::{Parser, Subcommand};
use neuneu::Engine;
use neuneu::io::request::{ForecastResponse, forecast_lines, parse_line, read_request_text};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// tract allocates every op's output afresh, so a forecast makes a few hundred allocations, and
/// glibc's malloc spent about 12% of a small forecast in them (perf): mimalloc made the 30-point
/// forecast 7% faster and `neuneu eval` 12% (`benches/README.md`). Only this binary: a program
/// that links the library keeps its own allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Where is each training run heading? Quantile forecasts, rankings and kill plans (NeuNeu).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Forecast each run of a JSON Lines file; one JSON line out per request line, in order.
    ///
    /// Example:
    ///   neuneu forecast examples/requests.jsonl
    ///   echo '{"id":"a","steps":[1,2,4],"accuracy":[0.3,0.35,0.4],"target_steps":[16]}' | neuneu forecast -
    ///
    /// Request line: {"id", "steps", "accuracy", "target_steps"} plus optional "token_losses"
    /// (array) or "token_losses_npy" (path, relative to the request file). "values" is accepted
    /// for "accuracy"; "metric": {"kind": "bounded"|"loss"|"neg_loss", "direction": "maximize"|"minimize"}
    /// forecasts a loss or a minimized metric in its own units (default: bounded, maximized).
    /// An invalid line gets {"id", "error"}; the others still get answers. Exit status 1 if any
    /// line failed.
    #[command(verbatim_doc_comment)]
    Forecast {
        /// Requests (JSON Lines), or `-` for stdin.
        requests: String,
        #[command(flatten)]
        model: ModelArg,
    },
    /// Rank runs by their forecast at each run's last target step.
    ///
    /// Runs sharing a "group" value are compared (absent = one group). Prints one JSON line per
    /// group: the order (best first), each run's median and expected wins, and P(A ends above B)
    /// for every pair (independent forecasts, exact on 64-point quantile grids).
    ///
    /// Example:
    ///   neuneu rank examples/requests.jsonl
    #[command(verbatim_doc_comment)]
    Rank {
        /// Requests (JSON Lines, as for `forecast`), or `-` for stdin.
        requests: String,
        #[command(flatten)]
        model: ModelArg,
    },
    /// Plan which arms of a sweep to stop (JSON in, JSON out).
    ///
    /// Input: {"end_step": S, "policy": {"kind": "keep_top_k", "k": 3}, "min_observations": 3,
    ///         "arms": [{"id": "a", "steps": [...], "accuracy": [...]}, ...]}
    /// An arm may have its own "end_step" (then the sweep's may be left out); "values" is
    /// accepted for "accuracy"; "metric" as for `forecast`, for every arm.
    /// Policies: keep_top_k {k}, stop_fraction {fraction}, stop_below_probability {k, threshold},
    /// stop_within_budget {k, budget}.
    ///
    /// Example:
    ///   neuneu plan examples/sweep.json
    #[command(verbatim_doc_comment)]
    Plan {
        /// The sweep (JSON), or `-` for stdin.
        sweep: String,
        #[command(flatten)]
        model: ModelArg,
    },
    /// Drive an online sweep with a stream of events, one JSON object per line; each question
    /// is answered on stdout as it arrives, so a scheduler in any language can pipe to it.
    ///
    /// Events: {"create": {"policy": {...}, "end_step": S, "metric": {"kind": "bounded"|"loss"|"neg_loss",
    /// "direction": "maximize"|"minimize"}, "min_observations": N, "seed": N,
    /// "calibrate": true (learn from the finished arms, from 5 of them)}},
    /// {"observe": {"arm", "step", "value"}}, {"set_end": {"arm", "end_step"}},
    /// {"finish": {"arm"}}, {"stop": {"arm"}}, {"decide": {}} or {"decide": {"arms": [...]}},
    /// {"forecast": {"arm", "steps": [...]}}, {"save": {"path"}}, {"load": {"path"}},
    /// {"adapt": {"save": "adapted.nnb"}} (fit a model to the finished arms, from 5 of them,
    /// and go on with it; optional "holdout": 0.2, "seed": 17, "loss_summary": "mean-p",
    /// "switch": false to only report and save).
    /// Answers: {"line": N, "decide": {...}}, {"line": N, "forecast": {...}},
    /// {"line": N, "adapt": {"runs_fitted", "runs_held_out", "held_out_mae", ...}}, and
    /// {"line": N, "error": "..."} for a refused event (the stream goes on; exit status 1).
    ///
    /// Example:
    ///   neuneu sweep examples/sweep-events.jsonl
    ///   my-scheduler | neuneu sweep -
    #[command(verbatim_doc_comment)]
    Sweep {
        /// Events (JSON Lines), or `-` for stdin.
        events: String,
        #[command(flatten)]
        model: ModelArg,
    },
    /// Replay a curve file as sweeps: neuneu's plans against successive halving.
    ///
    /// Each (suite, shots, task) is a sweep, one arm per run; rungs at fractions of each arm's
    /// planned compute. Reports compute spent, regret, best-arm survival and top-k recall.
    /// With --metric loss the best arm is the one with the lowest final loss, and regret is in
    /// the loss's units.
    ///
    /// Example:
    ///   neuneu replay ../shared/data/scan-vlm-dev.csv --task imagenet1k_acc1
    ///   neuneu replay ../shared/data/shakespeare-lm-dev/val-loss.csv --metric loss
    #[command(verbatim_doc_comment)]
    Replay {
        #[command(flatten)]
        args: commands::ReplayArgs,
        #[command(flatten)]
        model: ModelArg,
    },
    /// Score the model and baselines (persistence, power law, logistic) on curve files.
    ///
    /// For each curve, the context is every checkpoint with compute <= FRACTION x the curve's
    /// final compute (at least 3 points); the targets are the rest. Every forecaster reads the
    /// curves in the model's space (exp(-loss) for --metric loss) and is scored in the file's
    /// own units (a loss's MAE in nats).
    ///
    /// Example:
    ///   neuneu eval ../shared/data/pythia-dev.csv --context 0.2 --plots docs/plots
    ///   neuneu eval ../shared/data/shakespeare-lm-dev/val-loss.csv --metric loss
    #[command(verbatim_doc_comment)]
    Eval {
        #[command(flatten)]
        args: commands::EvalArgs,
        #[command(flatten)]
        model: ModelArg,
    },
    /// Print the rows of a curve file whose runs the model's trainer held out (its manifest's
    /// split; for a bundle from `neuneu adapt`, the runs adapt held out), as CSV on stdout:
    /// replay, eval and tools/optuna_replay.py can then be run on runs the model never saw.
    /// Give the whole file the model was trained (or adapted) on: the split is drawn per suite.
    ///
    /// Example:
    ///   neuneu heldout ../shared/data/scan-vlm-dev.csv > scan-heldout.csv
    ///   neuneu replay scan-heldout.csv
    #[command(verbatim_doc_comment)]
    Heldout {
        curves: PathBuf,
        #[arg(long, default_value = "accuracy", help = commands::METRIC_HELP)]
        metric: neuneu::Metric,
        #[command(flatten)]
        model: ModelArg,
    },
    /// Fit a bundle to your own finished runs: the trees for the median are refitted on them (the
    /// network is kept), less a held-out share on which the bands are recalibrated and the base
    /// and the adapted bundle are scored side by side; the manifest records what it learned
    /// from. Needs at least 5 runs with a curve of 4 points or more (shorter runs are left out
    /// and named). To fit beside other data, give those files too.
    ///
    /// Example:
    ///   neuneu adapt ../shared/data/shakespeare-lm-dev/curves.csv -o adapted.nnb
    ///   neuneu forecast requests.jsonl --model adapted.nnb
    #[command(verbatim_doc_comment)]
    Adapt(adapt::AdaptArgs),
    /// Print a model bundle's manifest (the embedded default model if no path is given).
    ///
    /// Example:
    ///   neuneu inspect
    ///   neuneu inspect models/default.nnb --json
    #[command(verbatim_doc_comment)]
    Inspect {
        bundle: Option<PathBuf>,
        /// The whole manifest as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Latency percentiles (p50, p90, p99) and throughput of a workload (see benches/README.md).
    ///
    /// Example:
    ///   neuneu bench --batch 64 --threads 2
    ///   neuneu bench --random reference --workload forecaster --batch 1 --json
    #[command(verbatim_doc_comment)]
    Bench(bench::BenchArgs),
    /// Write a bundle's graphs again with this version's exporter: same weights, same manifest,
    /// faster graphs where the exporter improved. Refuses to write unless the new bundle
    /// forecasts what the old one does (within 1e-5) on synthetic runs, with and without losses.
    ///
    /// Example:
    ///   neuneu upgrade old.nnb -o new.nnb
    #[command(verbatim_doc_comment)]
    Upgrade {
        bundle: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
    },
}

#[derive(clap::Args, Debug)]
struct ModelArg {
    /// Model bundle; the embedded default model if absent.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Where the loss encoder runs: auto (CUDA when a driver and device are present), cpu, cuda.
    #[arg(long, default_value = "auto")]
    backend: neuneu::cuda::Backend,
    /// How forecaster rows run: exact (a run's forecast never depends on the rest of the
    /// request; short contexts are batched where that keeps every row's bits, as with the
    /// default model) or throughput (short contexts batched regardless; with other models
    /// forecasts may differ in the last bits, about 1e-7, with the request).
    #[arg(long, default_value = "exact")]
    row_batching: neuneu::RowBatching,
}

impl ModelArg {
    fn load(&self) -> neuneu::Result<Engine> {
        Ok(self.load_with_bytes()?.0)
    }

    /// The engine and the bundle bytes it was loaded from (what `neuneu sweep`'s `adapt`
    /// events start from).
    fn load_with_bytes(&self) -> neuneu::Result<(Engine, Vec<u8>)> {
        let bytes = match &self.model {
            Some(p) => std::fs::read(p).map_err(|e| neuneu::Error::io(p, e))?,
            None => neuneu::inference::engine::DEFAULT_BUNDLE.to_vec(),
        };
        let engine = Engine::from_bytes_with_backend(&bytes, self.backend)?;
        engine.set_row_batching(self.row_batching);
        Ok((engine, bytes))
    }
}

/// `print!` that returns an error instead of panicking when stdout is closed (`| head`).
#[macro_export]
macro_rules! emit {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*).map_err(|e| neuneu::Error::io("<stdout>", e))?
    }};
}

/// `println!` that returns an error instead of panicking when stdout is closed.
#[macro_export]
macro_rules! emitln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*).map_err(|e| neuneu::Error::io("<stdout>", e))?
    }};
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        // A reader that stops early (`neuneu rank x | head`) is not an error.
        Err(neuneu::Error::Io { source, .. })
            if source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("neuneu: {e}");
            ExitCode::from(2)
        }
    }
}

/// Lines forecast per engine call: large enough to batch, small enough to stream.
const CHUNK: usize = 4096;

fn run(command: Command) -> neuneu::Result<ExitCode> {
    match command {
        Command::Forecast { requests, model } => {
            let engine = model.load()?;
            let text = read_request_text(&requests)?;
            let base = request_base(&requests);
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            let mut failed = false;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            for chunk in lines.chunks(CHUNK) {
                let parsed: Vec<_> = chunk.iter().map(|l| parse_line(l, &base)).collect();
                for resp in forecast_lines(&engine, &parsed) {
                    failed |= matches!(resp, ForecastResponse::Failed { .. });
                    let line = serde_json::to_string(&resp).expect("responses serialise");
                    writeln!(out, "{line}").map_err(|e| neuneu::Error::io("<stdout>", e))?;
                }
            }
            out.flush().map_err(|e| neuneu::Error::io("<stdout>", e))?;
            Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Rank { requests, model } => commands::rank(&model.load()?, &requests),
        Command::Plan { sweep, model } => commands::plan(&model.load()?, &sweep),
        Command::Sweep { events, model } => {
            let (engine, bytes) = model.load_with_bytes()?;
            commands::sweep(engine, bytes, model.backend, &events)
        }
        Command::Replay { args, model } => commands::replay(&model.load()?, &args),
        Command::Eval { args, model } => commands::eval(&model.load()?, &args),
        Command::Heldout {
            curves,
            metric,
            model,
        } => commands::heldout(&model.load()?, &curves, metric),
        Command::Inspect { bundle, json } => {
            let engine = match &bundle {
                Some(p) => Engine::from_path(p)?,
                None => Engine::embedded()?,
            };
            let m = engine.manifest();
            if json {
                crate::emitln!(
                    "{}",
                    serde_json::to_string_pretty(m).expect("manifest serialises")
                );
            } else {
                crate::emit!("{}", neuneu::model::inspect::describe_manifest(m));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(args) => bench::bench(&args),
        Command::Adapt(args) => adapt::run(&args),
        Command::Upgrade { bundle, output } => commands::upgrade(&bundle, &output),
    }
}

mod adapt;
mod bench;
mod commands;

pub(crate) fn request_base(requests: &str) -> PathBuf {
    if requests == "-" {
        PathBuf::from(".")
    } else {
        Path::new(requests)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }
}
