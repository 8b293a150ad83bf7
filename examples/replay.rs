//! Replays plain successive halving on a curve file under the issue 5 protocol (see
//! `neuneu::replay`) and prints the table that `tools/optuna_replay.py` prints for Optuna.
//!
//! `cargo run --example replay -- CURVES.csv [--task imagenet1k_acc1] [--json out.json]`

use clap::Parser;
use neuneu::data::{ComputeAxis, read_curves};
use neuneu::replay::{RankBy, ReplayOptions, SuccessiveHalving, render_table, replay};

#[derive(Parser)]
struct Args {
    /// Long-format curve CSV.
    curves: String,
    /// Replay only this task.
    #[arg(long)]
    task: Option<String>,
    /// Rungs as fractions of each arm's planned compute.
    #[arg(long, value_delimiter = ',', default_value = "0.2,0.4,0.6,0.8")]
    rungs: Vec<f64>,
    /// The k of top-k recall.
    #[arg(long, default_value_t = 3)]
    k: usize,
    /// Skip sweeps with fewer arms.
    #[arg(long, default_value_t = 4)]
    min_arms: usize,
    /// Write the summaries here as JSON.
    #[arg(long)]
    json: Option<String>,
}

fn main() -> neuneu::Result<()> {
    let args = Args::parse();
    let mut curves = read_curves(&args.curves, ComputeAxis::Tokens)?;
    if let Some(task) = &args.task {
        curves.retain(|c| &c.task == task);
    }
    let opts = ReplayOptions {
        rungs: args.rungs,
        k: args.k,
        min_arms: args.min_arms,
    };
    let mut summaries = Vec::new();
    for eta in [2, 3] {
        for by in [RankBy::Last, RankBy::BestSoFar] {
            let pruner = SuccessiveHalving::new(eta)?.ranked_by(by);
            summaries.push(replay(&curves, &pruner, &opts)?.summary);
        }
    }
    let sweeps = summaries[0].sweeps;
    let task = args
        .task
        .as_deref()
        .map(|t| format!(" task={t}"))
        .unwrap_or_default();
    println!("{}{task}: {sweeps} sweeps", args.curves);
    print!("{}", render_table(&summaries));
    if let Some(path) = &args.json {
        let out =
            serde_json::json!({ "curves": args.curves, "task": args.task, "summaries": summaries });
        let text = serde_json::to_string_pretty(&out).expect("summaries serialize");
        std::fs::write(path, text).map_err(|e| neuneu::Error::Parse(format!("{path}: {e}")))?;
    }
    Ok(())
}
