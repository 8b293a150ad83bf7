//! `neuneu-train`: trains a NeuNeu model on long-format curve files and writes a bundle.

use anyhow::Context;
use clap::Parser;
use neuneu::eval::curves::{ComputeAxis, read_curves};
use neuneu::model::architecture::{Architecture, LossRepresentation};
use neuneu::model::bundle::TrainingRecord;
use neuneu::train::{LossSource, TrainConfig, add_trees, train};
use std::path::PathBuf;
use std::process::ExitCode;

/// Train a NeuNeu forecaster and export it as a model bundle.
///
/// Example (the embedded default model):
///   neuneu-train ../shared/data/pythia-dev.csv ../shared/data/scan-vlm-dev.csv -o models/default.nnb
#[derive(Parser, Debug)]
#[command(version, about, long_about = None, verbatim_doc_comment)]
struct Args {
    /// Long-format curve CSV files (suite,run,shots,task,step,tokens,acc,...).
    #[arg(required = true)]
    data: Vec<PathBuf>,
    /// Output bundle.
    #[arg(short, long)]
    output: PathBuf,
    /// Compute axis column.
    #[arg(long, value_enum, default_value = "tokens")]
    axis: AxisArg,
    /// The metric in the files' `acc` column, for every curve: accuracy (bounded in [0, 1],
    /// higher is better), loss (non-negative, lower is better), or KIND:DIRECTION (as for
    /// `neuneu eval`). A value it cannot take is refused with its file and line. The model is
    /// trained, validated and calibrated in its own space: each value mapped into [0, 1], higher
    /// is better (exp(-v) for a loss), as the engine maps requests of that metric.
    #[arg(long, default_value = "accuracy")]
    metric: neuneu::Metric,
    /// Model size preset.
    #[arg(long, value_enum, default_value = "small")]
    size: SizeArg,
    /// Transformer layers, replacing the size preset's.
    #[arg(long)]
    layers: Option<usize>,
    /// Transformer width, replacing the size preset's; the feed-forward width keeps the preset's
    /// ratio to it (2 for small, 4 for reference).
    #[arg(long)]
    d_model: Option<usize>,
    /// Token losses: none, synthetic (generated), or an index of `.npy` files (float16, 32 or
    /// 64): a CSV `suite,run,step,path` (step in the compute axis' unit) or a JSON
    /// `{run: {compute: file}}` as `shakespeare-lm-dev/losses/index.json` ships.
    #[arg(long, default_value = "synthetic")]
    losses: String,
    /// Loss representation of the encoder.
    #[arg(long, value_enum, default_value = "sketch")]
    loss_repr: ReprArg,
    #[arg(long, default_value_t = 3000)]
    steps: usize,
    #[arg(long, default_value_t = 128)]
    batch: usize,
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    #[arg(long, default_value_t = 17)]
    seed: u64,
    /// Runs held out for validation, always whole runs: a share of each suite's runs (`0.2`) or
    /// one fold of a k-fold split (`2/5`: fold 2 of 5; train once per fold for k-fold over runs).
    #[arg(long, default_value = "0.2", value_parser = neuneu::curves::Holdout::parse)]
    holdout: neuneu::curves::Holdout,
    /// Where the data comes from and its licence, recorded in the manifest (repeatable), e.g.
    /// "pythia-dev.csv: EleutherAI Pythia evaluations, Apache-2.0".
    #[arg(long)]
    data_note: Vec<String>,
    /// Model name recorded in the manifest.
    #[arg(long, default_value = "neuneu-default")]
    name: String,
    /// Share of training samples drawn from the synthetic curve prior (0: none).
    #[arg(long, default_value_t = 0.0)]
    prior_share: f64,
    /// Decay of the moving average of the weights that is validated and exported (0: none).
    #[arg(long, default_value_t = 0.0)]
    ema_decay: f64,
    /// Hidden width of the summary path, an MLP from the context's summary features straight to
    /// the quantile head (0: none; see `Architecture::summary`).
    #[arg(long, default_value_t = 0)]
    summary: usize,
    /// Probability of dropping each interior context point of a training sample, so the model
    /// sees irregular checkpoint spacing (the paper's 0.4).
    #[arg(long, default_value_t = 0.4)]
    drop_points: f64,
    /// How training samples are shared between suites: in proportion to (the suite's curves)^B.
    /// 0 gives every suite the same share; 1 samples every curve alike.
    #[arg(long, default_value_t = 0.0)]
    suite_balance: f64,
    /// Keep the quantile bands as trained (no calibration on the held-out runs).
    #[arg(long)]
    no_calibrate: bool,
    /// After training, add boosted trees for the median (trained on the same training runs):
    /// the engine then moves the network's quantiles onto the trees' median.
    #[arg(long)]
    trees: bool,
    /// Train no network: add trees to this bundle, on the runs its manifest says it trained on
    /// (pass the same curve files), and write the result to -o.
    #[arg(long, value_name = "BUNDLE", conflicts_with = "trees")]
    trees_for: Option<std::path::PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(clap::ValueEnum, Clone, Debug)]
enum AxisArg {
    Tokens,
    Step,
}
#[derive(clap::ValueEnum, Clone, Debug)]
enum SizeArg {
    Small,
    Reference,
}
#[derive(clap::ValueEnum, Clone, Debug)]
enum ReprArg {
    Sketch,
    Ordered,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The outermost message alone: the library's errors already carry their causes'.
            eprintln!("neuneu-train: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let axis = match args.axis {
        AxisArg::Tokens => ComputeAxis::Tokens,
        AxisArg::Step => ComputeAxis::Step,
    };
    let metric = args.metric;
    let mut curves = Vec::new();
    let mut data = Vec::new();
    for path in &args.data {
        let c = read_curves(path, axis, metric)?;
        // The manifest says how a file of another metric was turned into training curves (an
        // accuracy's note reads as it always has).
        let mapped = if metric.is_identity() {
            String::new()
        } else {
            format!("; {}: trained as {}", metric.describe(), metric.model_map())
        };
        data.push(format!(
            "{} ({} curves{mapped})",
            path.file_name().unwrap_or_default().to_string_lossy(),
            c.len()
        ));
        // The trainer, its validation and calibration all work in the model's space, where the
        // engine will forecast this metric: values mapped, never clamped.
        for curve in &c {
            curves.push(curve.to_model(metric)?);
        }
    }
    if !metric.is_identity() {
        eprintln!(
            "neuneu-train: metric {} (`{}`): training on {} in [0, 1], higher is better; the \
             held-out scores below are in that space",
            metric.describe(),
            metric.name(),
            metric.model_map()
        );
    }
    let mut arch = match args.size {
        SizeArg::Small => Architecture::small(),
        SizeArg::Reference => Architecture::reference(),
    };
    arch.summary = args.summary;
    if let Some(l) = args.layers {
        arch.layers = l;
    }
    if let Some(d) = args.d_model {
        arch = arch.with_width(d);
    }
    arch.validate()?;
    let losses = match args.losses.as_str() {
        "none" => {
            arch.encoder = None;
            LossSource::None
        }
        "synthetic" => LossSource::Synthetic { tokens: 2048 },
        index => LossSource::Files(neuneu::curves::losses::CurveLosses::read(index, &curves)?),
    };
    if let Some(e) = arch.encoder.as_mut() {
        e.representation = match args.loss_repr {
            ReprArg::Sketch => LossRepresentation::Sketch,
            ReprArg::Ordered => LossRepresentation::Ordered,
        };
    }
    let loss_inputs = match &losses {
        LossSource::None => "none: this model has no loss encoder".to_string(),
        LossSource::Synthetic { .. } => "generated token losses (neuneu::train::synthetic): exponential per-token losses whose mean \
follows the checkpoint's current accuracy and a per-run factor; they carry no information beyond the observed curve. \
Pass real losses only to a model trained on real losses."
            .to_string(),
        LossSource::Files(m) => format!("{} real loss vectors from {}", m.len(), args.losses),
    };
    let cfg = TrainConfig {
        arch,
        seed: args.seed,
        steps: args.steps,
        batch: args.batch,
        lr: args.lr,
        losses,
        holdout: args.holdout,
        show_progress: !args.quiet,
        prior_share: args.prior_share,
        calibrate: !args.no_calibrate,
        ema_decay: args.ema_decay,
        drop_points: args.drop_points,
        suite_balance: args.suite_balance,
        ..Default::default()
    };
    let record = TrainingRecord {
        command: std::iter::once("neuneu-train".to_string())
            .chain(std::env::args().skip(1))
            .collect::<Vec<_>>()
            .join(" "),
        data,
        loss_inputs,
        ..Default::default()
    };
    let command = record.command.clone();
    let (mut bundle, report) = match &args.trees_for {
        Some(base) => {
            let bytes = std::fs::read(base).map_err(|e| neuneu::Error::io(base, e))?;
            let base = neuneu::model::bundle::Bundle::from_bytes(&bytes)?;
            let bundle = add_trees(base, &curves, &command)?;
            (bundle, "added trees to the bundle's network".to_string())
        }
        None => {
            let trained = train(&cfg, &curves, record, &args.name)?;
            let bundle = if args.trees {
                add_trees(trained.bundle, &curves, &command)?
            } else {
                trained.bundle
            };
            (bundle, trained.report)
        }
    };
    // Score the exported bundle itself, through the engine, on the held-out runs (the split its
    // manifest records: with --trees-for, the base bundle's).
    let holdout = neuneu::curves::Holdout::from_facts(&bundle.manifest.training.facts)
        .context("the bundle's manifest records no validation split")?;
    let seed = bundle.manifest.training.seed;
    let (_, held_out) = holdout.split(&curves, seed);
    let held: Vec<&neuneu::curves::Curve> = held_out.iter().map(|&i| &curves[i]).collect();
    let engine = neuneu::Engine::from_bytes(&bundle.to_bytes())?;
    bundle.manifest.validation =
        neuneu::adapt::validate::validation_scores(&engine, &held, 0.2, None)?;
    bundle.manifest.validation_protocol = format!(
        "held-out runs ({}, split by run, seed {}); context = checkpoints with compute <= 0.2 x final (at least 3), targets = the rest; MAE of the median per curve, then mean over curves",
        holdout.describe(),
        seed
    );
    print!(
        "{}",
        neuneu::model::inspect::describe_manifest(&bundle.manifest)
    );
    let bytes = bundle.to_bytes();
    std::fs::write(&args.output, &bytes).map_err(|e| neuneu::Error::io(&args.output, e))?;
    println!("{report}");
    println!("wrote {} ({} bytes)", args.output.display(), bytes.len());
    Ok(())
}
