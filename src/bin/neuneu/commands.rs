//! The `rank`, `plan`, `replay`, `eval`, `heldout` and `upgrade` commands.

use neuneu::decisions::killplan::{PlanOptions, Policy};
use neuneu::decisions::rank_runs;
use neuneu::eval::curves::{ComputeAxis, read_curves};
use neuneu::eval::replay::PlanPruner;
use neuneu::eval::replay::{self as sweeps, ReplayOptions, SuccessiveHalving, render_table};
use neuneu::io::request::{parse_line, read_request_text};
use neuneu::{Engine, Error, Losses, Metric, Result, RunInput};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn rank(engine: &Engine, requests: &str) -> Result<ExitCode> {
    let text = read_request_text(requests)?;
    let base = crate::request_base(requests);
    let parsed: Vec<_> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| parse_line(l, &base))
        .collect();
    let mut failed = false;
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, p) in parsed.iter().enumerate() {
        match &p.request {
            Ok(r) => groups
                .entry(r.run.group.clone().unwrap_or_default())
                .or_default()
                .push(i),
            Err(e) => {
                failed = true;
                crate::emitln!(
                    "{}",
                    serde_json::json!({"id": p.id, "error": e.to_string()})
                );
            }
        }
    }
    for (group, members) in groups {
        let runs: Vec<RunInput> = members
            .iter()
            .filter_map(|&i| parsed[i].run_input())
            .collect();
        let ids: Vec<&serde_json::Value> = members.iter().map(|&i| &parsed[i].id).collect();
        match rank_runs(engine, &runs) {
            Ok(r) => {
                let mut pairs = Vec::new();
                for (a, row) in r.prob_above.iter().enumerate() {
                    for (b, p) in row.iter().enumerate() {
                        if let Some(p) = p.filter(|_| a < b) {
                            pairs.push(
                                serde_json::json!({"a": ids[a], "b": ids[b], "p_a_above_b": p}),
                            );
                        }
                    }
                }
                let order: Vec<_> = r.order.iter().map(|&i| ids[i]).collect();
                crate::emitln!("{}", {
                    // Per run, best first: its id, forecast median and expected wins.
                    // Medians in each run's own units (ranks and probabilities are the same in
                    // the model's space, where higher is better).
                    let median = |i: usize| match &parsed[members[i]].request {
                        Ok(req) if !req.metric().is_identity() => {
                            req.metric().to_user(r.medians[i])
                        }
                        _ => r.medians[i],
                    };
                    let runs: Vec<_> = r
                            .order
                            .iter()
                            .map(|&i| serde_json::json!({"id": ids[i], "median": median(i), "expected_wins": r.expected_wins[i]}))
                            .collect();
                    serde_json::json!({"group": group, "order": order, "runs": runs, "pairs": pairs})
                });
            }
            Err(e) => {
                failed = true;
                let e = match e {
                    Error::InvalidInput { run, field, reason } => {
                        let id = run
                            .parse::<usize>()
                            .ok()
                            .and_then(|i| ids.get(i))
                            .map(|v| v.to_string())
                            .unwrap_or(run);
                        format!("run {id}: {field}: {reason}")
                    }
                    other => other.to_string(),
                };
                crate::emitln!("{}", serde_json::json!({"group": group, "error": e}));
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn plan(engine: &Engine, sweep: &str) -> Result<ExitCode> {
    let text = read_request_text(sweep)?;
    let plan = neuneu::io::request::plan_request(engine, &text)?;
    crate::emitln!(
        "{}",
        serde_json::to_string_pretty(&plan).expect("plans serialise")
    );
    Ok(ExitCode::SUCCESS)
}

/// The help of every `--metric` option of `neuneu` that reads a curve file.
pub(crate) const METRIC_HELP: &str = "The metric in the file's `acc` column, for every curve: accuracy \
(bounded in [0, 1], higher is better), loss (non-negative, lower is better: a validation loss), \
neg_loss (non-positive, higher is better: a loss reported negated, like scikit-learn's \
neg_log_loss), or KIND:DIRECTION with KIND bounded, loss or neg_loss and DIRECTION maximize or \
minimize (bounded:minimize for an error rate). A value the metric cannot take is refused with its file and line.";

/// `neuneu replay`'s options (see its help in `main.rs`).
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    pub curves: PathBuf,
    #[arg(long, default_value = "accuracy", help = METRIC_HELP)]
    pub metric: Metric,
    /// Only this task.
    #[arg(long)]
    pub task: Option<String>,
    /// Rungs as fractions of each arm's planned compute.
    #[arg(long, value_delimiter = ',', default_value = "0.2,0.4,0.6,0.8")]
    pub rungs: Vec<f64>,
    #[arg(long, default_value_t = 3)]
    pub k: usize,
    /// Fractions of the "stop this share of the arms at every rung" policies to replay.
    #[arg(long, value_delimiter = ',', default_value = "0.5")]
    pub fractions: Vec<f64>,
    /// Thresholds of the "stop when P(top-k) < t" policies to replay.
    #[arg(long, value_delimiter = ',', default_value = "0.01,0.05,0.2")]
    pub thresholds: Vec<f64>,
    /// Budgets of the "stop the least likely arms while the sum of their P(top-k) stays
    /// within b" policies to replay (none by default).
    #[arg(long, value_delimiter = ',')]
    pub budgets: Vec<f64>,
    /// Write the summaries as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Token losses of the curves' checkpoints (an index, as `neuneu adapt --losses` reads):
    /// neuneu's plans forecast each arm with its latest checkpoint's losses, where named.
    #[arg(long, value_name = "INDEX")]
    pub losses: Option<PathBuf>,
}

pub fn replay(engine: &Engine, args: &ReplayArgs) -> Result<ExitCode> {
    let ReplayArgs {
        curves,
        metric,
        task,
        rungs,
        k,
        fractions,
        thresholds,
        budgets,
        json,
        losses,
    } = args;
    let (k, json, metric) = (*k, json.as_deref(), *metric);
    let curves_path = curves;
    let mut curves = read_curves(curves, ComputeAxis::Tokens, metric)?;
    if let Some(t) = task {
        curves.retain(|c| &c.task == t);
        if curves.is_empty() {
            return Err(Error::Parse(format!("no curve of task {t}")));
        }
    }
    let opts = ReplayOptions {
        rungs: rungs.clone(),
        k,
        metric,
        ..Default::default()
    };
    let losses = read_losses(losses.as_deref(), &curves)?;
    let mut summaries = Vec::new();
    for eta in [2, 3] {
        summaries.push(sweeps::replay(&curves, &SuccessiveHalving::new(eta)?, &opts)?.summary);
    }
    let mut policies: Vec<(String, Policy)> = fractions
        .iter()
        .map(|&f| {
            (
                format!("neuneu stop {f} of arms (lowest P(top-{k}))"),
                Policy::StopFraction { fraction: f },
            )
        })
        .collect();
    for &t in thresholds {
        policies.push((
            format!("neuneu stop P(top-{k}) < {t}"),
            Policy::StopBelowProbability { k, threshold: t },
        ));
    }
    for &b in budgets {
        policies.push((
            format!("neuneu stop within budget {b} (sum of P(top-{k}))"),
            Policy::StopWithinBudget { k, budget: b },
        ));
    }
    for (label, policy) in policies {
        let pruner = PlanPruner {
            engine,
            options: PlanOptions::new(policy),
            label,
        };
        summaries
            .push(sweeps::replay_with_losses(&curves, &pruner, &opts, losses.as_ref())?.summary);
    }
    if !metric.is_identity() {
        // An accuracy's table reads as it always has; any other metric is stated.
        crate::emitln!(
            "metric: {} (`{}`): the best arm has the {} final value; regret in the file's units",
            metric.describe(),
            metric.name(),
            match metric.direction {
                neuneu::Direction::Maximize => "highest",
                neuneu::Direction::Minimize => "lowest",
            }
        );
    }
    crate::emit!("{}", render_table(&summaries));
    if let Some(path) = json {
        // The shape `tools/optuna_replay.py --merge` reads, so one table holds both.
        let doc = serde_json::json!({"curves": curves_path.display().to_string(), "metric": metric, "summaries": summaries});
        let text = serde_json::to_string_pretty(&doc).expect("summaries serialise");
        std::fs::write(path, text).map_err(|e| Error::io(path, e))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The losses an index names for checkpoints of `curves` (`--losses`), with a line saying how
/// many were found.
fn read_losses(
    index: Option<&Path>,
    curves: &[neuneu::curves::Curve],
) -> Result<Option<neuneu::curves::losses::CurveLosses>> {
    let Some(index) = index else {
        return Ok(None);
    };
    let read = neuneu::curves::losses::CurveLosses::read(index, curves)?;
    eprintln!(
        "{}: losses of {} checkpoints of these runs",
        index.display(),
        read.len()
    );
    Ok(Some(read))
}

/// `neuneu eval`'s options (see its help in `main.rs`).
#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    #[arg(required = true)]
    pub curves: Vec<PathBuf>,
    #[arg(long, default_value = "accuracy", help = METRIC_HELP)]
    pub metric: Metric,
    #[arg(long, default_value_t = 0.2)]
    pub context: f64,
    /// Write the JSON report here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write fan charts (SVG) of sampled curves into this folder.
    #[arg(long)]
    pub plots: Option<PathBuf>,
    /// How many curves to chart, or `--plot-curves` to name them.
    #[arg(long, default_value_t = 6)]
    pub plot_count: usize,
    /// Curves to chart, by id `suite/run/shots/task`.
    #[arg(long, value_delimiter = ',')]
    pub plot_curves: Vec<String>,
    /// Score only the runs the model's trainer held out (its manifest's split: fraction and
    /// seed; for a bundle from `neuneu adapt`, the runs adapt held out), so that no training
    /// run is scored.
    #[arg(long)]
    pub heldout: bool,
    /// Score on a sparser checkpoint schedule than the file's: keep every K-th checkpoint of
    /// each curve (and its last) before cutting context and targets.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_every: u32,
    /// Token losses of the curves' checkpoints (an index, as `neuneu adapt --losses` reads):
    /// the model's forecast from each context is given its last checkpoint's losses, where the
    /// index names them. For a model trained or adapted on real losses.
    #[arg(long, value_name = "INDEX")]
    pub losses: Option<PathBuf>,
}

pub fn eval(engine: &Engine, args: &EvalArgs) -> Result<ExitCode> {
    let EvalArgs {
        curves: files,
        metric,
        context,
        json,
        plots,
        plot_count,
        plot_curves,
        heldout,
        keep_every,
        losses,
    } = args;
    let (context, json, plots) = (*context, json.as_deref(), plots.as_deref());
    use neuneu::eval::{self, EvalOptions, Selection, baselines};
    let mut curves = Vec::new();
    for f in files {
        curves.extend(read_curves(f, ComputeAxis::Tokens, *metric)?);
    }
    if *heldout {
        let (runs, holdout) = heldout_runs(engine, &curves)?;
        curves.retain(|c| runs.contains(&(c.suite.clone(), c.run.clone())));
        eprintln!(
            "scoring {} curves of held-out runs ({})",
            curves.len(),
            holdout.describe()
        );
    }
    let opts = EvalOptions {
        context_fraction: context,
        keep_every: *keep_every as usize,
        metric: *metric,
        ..Default::default()
    };
    let (p, pl, lg) = (
        baselines::Persistence::new(),
        baselines::PowerLaw::new(),
        baselines::Logistic::new(),
    );
    let losses = read_losses(losses.as_deref(), &curves)?;
    let forecasters: [&dyn neuneu::Forecaster; 4] = [engine, &p, &pl, &lg];
    let report = eval::evaluate_with_losses(&curves, &forecasters, &opts, losses.as_ref())?;
    crate::emit!("{}", eval::render_table(&report));
    if let Some(path) = json {
        std::fs::write(path, report.to_json()?).map_err(|e| Error::io(path, e))?;
    }
    if let Some(dir) = plots {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let selection = if plot_curves.is_empty() {
            Selection::Sample(*plot_count)
        } else {
            Selection::Names(plot_curves.clone())
        };
        for path in eval::write_fan_charts(dir, &curves, engine, &selection, &opts)? {
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `neuneu upgrade`: re-export, check the function is unchanged, write.
pub fn upgrade(input: &Path, output: &Path) -> Result<ExitCode> {
    use neuneu::testing::{SyntheticRun, synthetic_losses};
    const TOLERANCE: f32 = 1e-5;
    let bytes = std::fs::read(input).map_err(|e| Error::io(input, e))?;
    let old = neuneu::model::bundle::Bundle::from_bytes(&bytes)?;
    let new = neuneu::model::onnx::reexport(&old)?;
    let new_bytes = new.to_bytes();
    let (before, after) = (Engine::from_bundle(old)?, Engine::from_bytes(&new_bytes)?);

    // Runs of every context length the model takes (and longer, thinned), several targets.
    let max_context = before.manifest().architecture.max_context;
    let runs: Vec<SyntheticRun> = (0..48)
        .map(|i| SyntheticRun::new(3 + i % (max_context + 8), 1 + i % 4, i as u64))
        .collect();
    let losses: Vec<Vec<f32>> = (0..runs.len())
        .map(|i| synthetic_losses(500 + 97 * i, i as u64))
        .collect();
    let with_losses = before.manifest().architecture.encoder.is_some();
    let inputs: Vec<RunInput> = runs
        .iter()
        .zip(&losses)
        .enumerate()
        .map(|(i, (r, l))| {
            let input = r.input();
            if with_losses && i % 2 == 1 {
                input.with_losses(Losses::Tokens(l))
            } else {
                input
            }
        })
        .collect();
    let (a, b) = (before.forecast(&inputs)?, after.forecast(&inputs)?);
    let mut worst = 0.0f32;
    for (x, y) in a.iter().zip(&b) {
        for (fx, fy) in x.forecasts.iter().zip(&y.forecasts) {
            for (qx, qy) in fx.quantiles.iter().zip(&fy.quantiles) {
                worst = worst.max((qx - qy).abs());
            }
        }
    }
    if worst.is_nan() || worst > TOLERANCE {
        return Err(Error::InvalidSetting {
            field: "bundle",
            reason: format!(
                "the re-exported graphs forecast differently (largest difference {worst:e} > \
                 {TOLERANCE:e}); nothing was written"
            ),
        });
    }
    std::fs::write(output, &new_bytes).map_err(|e| Error::io(output, e))?;
    crate::emitln!(
        "wrote {} ({} bytes); forecasts of {} synthetic runs agree within {worst:e}",
        output.display(),
        new_bytes.len(),
        inputs.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// The (suite, run) pairs the model held out (`Holdout::of_bundle`).
/// `curves` must hold every run of their suites, as the trainer saw them, since the split is
/// drawn per suite.
fn heldout_runs(
    engine: &Engine,
    curves: &[neuneu::curves::Curve],
) -> Result<(HashSet<(String, String)>, neuneu::curves::Holdout)> {
    let (holdout, seed) = neuneu::curves::Holdout::of_bundle(engine.manifest())?;
    let (_, held) = holdout.split(curves, seed);
    let runs = held
        .into_iter()
        .map(|i| (curves[i].suite.clone(), curves[i].run.clone()))
        .collect();
    Ok((runs, holdout))
}

/// Writes the rows of a curve file that belong to runs the model never trained on, so that
/// `replay`, `eval` and the Optuna script can all be run on exactly those runs.
pub fn heldout(engine: &Engine, path: &Path, metric: Metric) -> Result<ExitCode> {
    let curves = read_curves(path, ComputeAxis::Tokens, metric)?;
    let (runs, holdout) = heldout_runs(engine, &curves)?;
    let parse = |e: csv::Error| Error::Parse(format!("{}: {e}", path.display()));
    let mut reader = csv::Reader::from_path(path).map_err(parse)?;
    let headers = reader.headers().map_err(parse)?.clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let (Some(c_suite), Some(c_run)) = (col("suite"), col("run")) else {
        return Err(Error::Parse(format!(
            "{}: no suite or run column",
            path.display()
        )));
    };
    let stdout = std::io::stdout();
    let mut writer = csv::Writer::from_writer(stdout.lock());
    let write = |e: csv::Error| Error::io("<stdout>", std::io::Error::other(e));
    writer.write_record(&headers).map_err(write)?;
    let mut rows = 0usize;
    for record in reader.records() {
        let r = record.map_err(parse)?;
        let key = (r[c_suite].to_string(), r[c_run].to_string());
        if runs.contains(&key) {
            writer.write_record(&r).map_err(write)?;
            rows += 1;
        }
    }
    writer.flush().map_err(|e| Error::io("<stdout>", e))?;
    eprintln!(
        "{rows} rows of {} held-out runs ({})",
        runs.len(),
        holdout.describe()
    );
    Ok(ExitCode::SUCCESS)
}

/// `neuneu sweep`: events in, one answer per question out, flushed as it is written.
pub fn sweep(
    engine: Engine,
    bundle: Vec<u8>,
    backend: neuneu::cuda::Backend,
    events: &str,
) -> Result<ExitCode> {
    use std::io::{BufRead, Write};
    let stream_in: Box<dyn BufRead> = if events == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(events).map_err(|e| Error::io(events, e))?;
        Box::new(std::io::BufReader::new(file))
    };
    let mut stream = neuneu::io::events::EventStream::new(
        std::sync::Arc::new(engine),
        crate::request_base(events),
    )
    .with_bundle(bundle, backend);
    let mut failed = false;
    let mut out = std::io::stdout().lock();
    for line in stream_in.lines() {
        let line = line.map_err(|e| Error::io(events, e))?;
        if let Some(answer) = stream.handle(&line) {
            failed |= answer.is_error();
            writeln!(out, "{}", answer.to_json()).map_err(|e| Error::io("<stdout>", e))?;
            out.flush().map_err(|e| Error::io("<stdout>", e))?;
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
