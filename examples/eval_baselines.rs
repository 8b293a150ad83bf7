//! Evaluates the three baselines on curve files and prints the table.
//!
//! `cargo run --example eval_baselines -- [--context 0.2] [--json-dir DIR] [--plots DIR]
//!  [--plot-count N] FILE...`
//!
//! For each FILE: prints the table, writes `<json-dir>/<file stem>.json` and
//! `<plots>/<file stem>/<forecaster>_<curve>.svg` for a fixed sample of curves.

use neuneu::Forecaster;
use neuneu::eval::baselines::{Logistic, Persistence, PowerLaw};
use neuneu::eval::curves::{ComputeAxis, read_curves};
use neuneu::eval::{EvalOptions, Selection, evaluate, render_table, write_fan_charts};
use std::path::PathBuf;

fn main() -> neuneu::Result<()> {
    let mut opts = EvalOptions::default();
    let (mut json, mut plots, mut plot_count, mut files) = (None, None, 6usize, Vec::new());
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| neuneu::Error::Parse(format!("{a} needs a value")))
        };
        match a.as_str() {
            "--context" => {
                let v = value()?;
                opts.context_fraction = v.parse().map_err(|_| neuneu::Error::Parse(v))?;
            }
            "--json-dir" => json = Some(PathBuf::from(value()?)),
            "--plots" => plots = Some(PathBuf::from(value()?)),
            "--plot-count" => {
                let v = value()?;
                plot_count = v.parse().map_err(|_| neuneu::Error::Parse(v))?;
            }
            _ => files.push(a),
        }
    }
    let (p, pl, l) = (Persistence::new(), PowerLaw::new(), Logistic::new());
    let forecasters: [&dyn Forecaster; 3] = [&p, &pl, &l];
    for file in &files {
        let curves = read_curves(file, ComputeAxis::Tokens, neuneu::Metric::ACCURACY)?;
        let report = evaluate(&curves, &forecasters, &opts)?;
        println!("== {file}\n{}", render_table(&report));
        let stem = std::path::Path::new(file)
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy();
        if let Some(dir) = &json {
            let io = |e: std::io::Error| neuneu::Error::Parse(format!("{}: {e}", dir.display()));
            std::fs::create_dir_all(dir).map_err(io)?;
            std::fs::write(dir.join(format!("{stem}.json")), report.to_json()?).map_err(io)?;
        }
        if let Some(dir) = &plots {
            for f in forecasters {
                let written = write_fan_charts(
                    &dir.join(&*stem),
                    &curves,
                    f,
                    &Selection::Sample(plot_count),
                    &opts,
                )?;
                eprintln!(
                    "{}: {} charts in {}",
                    f.name(),
                    written.len(),
                    dir.join(&*stem).display()
                );
            }
        }
    }
    Ok(())
}
