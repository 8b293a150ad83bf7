//! `neuneu adapt`: a bundle fitted to the user's finished runs (`neuneu::adapt`).

use neuneu::adapt::AdaptOptions;
use neuneu::adapt::input::AdaptInput;
use neuneu::model::bundle::Bundle;
use neuneu::model::inputs::LossSummary;
use neuneu::{Error, Metric, Result};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct AdaptArgs {
    /// Long-format curve files of finished runs (suite,run,shots,task,step,tokens,acc,...).
    #[arg(required = true)]
    pub curves: Vec<PathBuf>,
    /// Where to write the adapted bundle.
    #[arg(short, long)]
    pub output: PathBuf,
    /// The bundle to adapt; the embedded default model if absent.
    #[arg(long)]
    pub from: Option<PathBuf>,
    #[arg(long, default_value = "accuracy", help = crate::commands::METRIC_HELP)]
    pub metric: Metric,
    /// Share of the runs held out (by run, per suite) to recalibrate the bands on and score the
    /// result; 0 fits the trees on every run, keeps the base's bands and scores nothing.
    #[arg(long, default_value_t = 0.2)]
    pub holdout: f64,
    /// Seed of the hold-out draw.
    #[arg(long, default_value_t = 17)]
    pub seed: u64,
    /// The held-out scores' context: checkpoints with compute <= this fraction of the final.
    #[arg(long, default_value_t = 0.2)]
    pub context: f64,
    /// Token losses of the runs' checkpoints: an index, CSV `suite,run,step,path` or JSON
    /// `{run: {compute: file}}` (`.npy` files, float16/32/64). Adds trees that also read a
    /// summary of the last checkpoint's losses, used for requests that give token losses.
    #[arg(long, value_name = "INDEX")]
    pub losses: Option<PathBuf>,
    /// What the loss trees read of the losses: the mean of p = exp(-loss), or the share of
    /// tokens in five bins of p.
    #[arg(long, default_value = "mean-p", value_parser = ["mean-p", "p-histogram"], requires = "losses")]
    pub loss_summary: String,
}

pub fn run(args: &AdaptArgs) -> Result<ExitCode> {
    let base = match &args.from {
        Some(p) => {
            let bytes = std::fs::read(p).map_err(|e| Error::io(p, e))?;
            Bundle::from_bytes(&bytes)?
        }
        None => Bundle::from_bytes(neuneu::inference::engine::DEFAULT_BUNDLE)?,
    };
    let mut input = AdaptInput::default();
    for path in &args.curves {
        input.add_file(path, args.metric)?;
    }
    let command = std::iter::once("neuneu".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let options = AdaptOptions {
        holdout: args.holdout,
        seed: args.seed,
        context: args.context,
    };
    if let Some(index) = &args.losses {
        let n = input.read_losses(index)?;
        crate::emitln!(
            "{}: losses of {n} checkpoints of these runs",
            index.display()
        );
    }
    let kind = LossSummary::from_name(&args.loss_summary).expect("clap checked the name");
    let adapted = input.adapt(base, kind, &command, &options)?;
    let m = &adapted.bundle.manifest;
    if !adapted.left_out.is_empty() {
        let mut names = adapted
            .left_out
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if adapted.left_out.len() > 5 {
            names.push_str(", ...");
        }
        crate::emitln!(
            "left out {} run(s) with no curve long enough to learn from ({names})",
            adapted.left_out.len()
        );
    }
    crate::emitln!(
        "trees for the median refitted on {} runs ({} rows); {} runs held out",
        adapted.runs_fitted,
        adapted.rows.plain,
        adapted.runs_held_out
    );
    if adapted.rows.with_losses > 0 {
        crate::emitln!(
            "loss trees ({}) fitted on the {} rows whose cut has losses",
            args.loss_summary,
            adapted.rows.with_losses
        );
    }
    if let Some(f) = &adapted.band_factors {
        crate::emitln!(
            "bands recalibrated on the held-out runs: factors {:?} (levels {:?})",
            f.iter()
                .map(|v| (v * 100.0).round() / 100.0)
                .collect::<Vec<_>>(),
            m.architecture.quantile_levels
        );
    }
    if let Some(mae) = adapted.held_out_mae() {
        let base = m.training.facts["adapted_from"].as_str().unwrap_or("base");
        crate::emitln!(
            "held-out MAE of the median (the model's space, context {}): adapted {:.4}, {base} {:.4}, persistence {:.4}",
            args.context,
            mae.adapted,
            mae.base,
            mae.persistence,
        );
        if mae.adapted > mae.base {
            crate::emitln!(
                "note: the adapted bundle forecasts the held-out runs worse than {base}: with {} runs to fit on, the trees may not have enough to learn from; more runs, or {base} itself, may serve better",
                adapted.runs_fitted
            );
        }
    }
    let bytes = adapted.bundle.to_bytes();
    std::fs::write(&args.output, &bytes).map_err(|e| Error::io(&args.output, e))?;
    crate::emitln!("wrote {} ({} bytes)", args.output.display(), bytes.len());
    Ok(ExitCode::SUCCESS)
}
