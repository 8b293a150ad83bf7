//! `neuneu`: forecasts, rankings and model inspection from the command line.

use clap::{Parser, Subcommand};
use neuneu::Engine;
use neuneu::request::{ForecastResponse, forecast_lines, parse_line, read_request_text};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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
    /// (array) or "token_losses_npy" (path, relative to the request file). An invalid line gets
    /// {"id", "error"}; the others still get answers. Exit status 1 if any line failed.
    #[command(verbatim_doc_comment)]
    Forecast {
        /// Requests (JSON Lines), or `-` for stdin.
        requests: String,
        #[command(flatten)]
        model: ModelArg,
    },
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
}

#[derive(clap::Args, Debug)]
struct ModelArg {
    /// Model bundle; the embedded default model if absent.
    #[arg(long)]
    model: Option<PathBuf>,
}

impl ModelArg {
    fn load(&self) -> neuneu::Result<Engine> {
        match &self.model {
            Some(p) => Engine::from_path(p),
            None => Engine::embedded(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
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
        Command::Inspect { bundle, json } => {
            let engine = match &bundle {
                Some(p) => Engine::from_path(p)?,
                None => Engine::embedded()?,
            };
            let m = engine.manifest();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(m).expect("manifest serialises")
                );
            } else {
                print!("{}", neuneu::inspect::describe_manifest(m));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn request_base(requests: &str) -> PathBuf {
    if requests == "-" {
        PathBuf::from(".")
    } else {
        Path::new(requests)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }
}
