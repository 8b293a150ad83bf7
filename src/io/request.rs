//! The request and response formats of the CLI: JSON Lines for `neuneu forecast` and `rank`,
//! one JSON sweep for `neuneu plan` ([`plan_request`]). They live in the library, not the CLI,
//! so that the fuzz targets and tests exercise exactly what the CLI runs.
//!
//! Request line:
//! `{"id": "a", "steps": [...], "accuracy": [...], "target_steps": [...]}`, optionally with
//! `"token_losses": [...]` or `"token_losses_npy": "path"` (relative to the request file's
//! folder) and `"group": "..."` (for `rank`).

use crate::decisions::killplan::{Plan, PlanOptions, Policy};
use crate::decisions::metric::{Metric, OutOfRange};
use crate::decisions::{SweepArm, plan_sweep};
use crate::error::{Error, Result};
use crate::inference::engine::{Engine, Losses, RunInput};
use crate::inference::forecast::Forecast;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    #[serde(default)]
    pub id: serde_json::Value,
    pub steps: Vec<f64>,
    /// The metric at each step (`values` is accepted too), in the units of `metric`.
    #[serde(alias = "values")]
    pub accuracy: Vec<f64>,
    pub target_steps: Vec<f64>,
    /// The metric's kind and direction; absent: bounded in [0, 1], higher is better.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<Metric>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_losses: Option<Vec<f32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_losses_npy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// One output line: forecasts, or the error of this line alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ForecastResponse {
    Forecasts {
        id: serde_json::Value,
        levels: Vec<f32>,
        forecasts: Vec<Forecast>,
    },
    Failed {
        id: serde_json::Value,
        error: String,
    },
}

/// A parsed line: the request with its losses loaded, or the error for that line.
pub struct ParsedLine {
    pub id: serde_json::Value,
    pub request: std::result::Result<LineRequest, LineError>,
}

/// A request line that parsed: the request, its token losses, its values in the model's space.
#[derive(Debug, Clone, PartialEq)]
pub struct LineRequest {
    pub run: RunRequest,
    pub losses: Option<Vec<f32>>,
    /// `run.accuracy` mapped by its metric (the same values when it has none).
    pub model_values: Vec<f64>,
}

impl LineRequest {
    /// The request's metric (the model's own when it names none).
    pub fn metric(&self) -> Metric {
        self.run.metric.unwrap_or_default()
    }
}

/// Why a request line was not read; its message is the line's `error` in the response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// Not JSON, an unknown field, a value of the wrong type.
    #[error("invalid request: {0}")]
    Invalid(#[source] serde_json::Error),
    /// Both `token_losses` and `token_losses_npy`.
    #[error("give token_losses or token_losses_npy, not both")]
    BothLosses,
    /// The `token_losses_npy` file could not be read (`npy::read_npy_f32`).
    #[error("token_losses_npy: {0}")]
    Npy(#[source] Error),
    /// A value is not one of the request's metric.
    #[error("accuracy[{index}]: {problem}")]
    Value {
        index: usize,
        #[source]
        problem: OutOfRange,
    },
}

/// Parses one request line; `base` resolves relative `.npy` paths.
pub fn parse_line(line: &str, base: &Path) -> ParsedLine {
    let req: RunRequest = match serde_json::from_str(line) {
        Ok(r) => r,
        Err(e) => {
            // Keep the id if the line is JSON with an id, so the caller can match the error.
            let id = serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("id").cloned())
                .unwrap_or(serde_json::Value::Null);
            return ParsedLine {
                id,
                request: Err(LineError::Invalid(e)),
            };
        }
    };
    let id = req.id.clone();
    let losses = match (&req.token_losses, &req.token_losses_npy) {
        (Some(_), Some(_)) => Err(LineError::BothLosses),
        (Some(l), None) => Ok(Some(l.clone())),
        (None, Some(p)) => crate::io::npy::read_npy_f32(base.join(p))
            .map(Some)
            .map_err(LineError::Npy),
        (None, None) => Ok(None),
    };
    // Without a metric the engine checks the values itself (they are the model's already).
    let model_values = match req.metric {
        None => Ok(req.accuracy.clone()),
        Some(metric) => req
            .accuracy
            .iter()
            .enumerate()
            .map(|(index, &v)| {
                metric
                    .to_model(v)
                    .map_err(|problem| LineError::Value { index, problem })
            })
            .collect(),
    };
    ParsedLine {
        id,
        request: losses.and_then(|losses| {
            Ok(LineRequest {
                model_values: model_values?,
                run: req,
                losses,
            })
        }),
    }
}

impl ParsedLine {
    /// The line as an engine input, if it parsed.
    pub fn run_input(&self) -> Option<RunInput<'_>> {
        let r = self.request.as_ref().ok()?;
        let run = RunInput::new(&r.run.steps, &r.model_values, &r.run.target_steps);
        Some(match &r.losses {
            Some(l) => run.with_losses(Losses::Tokens(l)),
            None => run,
        })
    }
}

/// Forecasts parsed lines in one batch; one response per line, in order.
pub fn forecast_lines(engine: &Engine, lines: &[ParsedLine]) -> Vec<ForecastResponse> {
    let runs: Vec<RunInput> = lines.iter().filter_map(ParsedLine::run_input).collect();
    let mut results = engine.forecast_each(&runs).into_iter();
    lines
        .iter()
        .map(|line| match &line.request {
            Err(e) => ForecastResponse::Failed {
                id: line.id.clone(),
                error: e.to_string(),
            },
            Ok(request) => match results.next().expect("one result per valid line") {
                Ok(f) => ForecastResponse::Forecasts {
                    id: line.id.clone(),
                    levels: engine.levels().to_vec(),
                    forecasts: to_user_units(f.forecasts, request.metric()),
                },
                Err(e) => ForecastResponse::Failed {
                    id: line.id.clone(),
                    error: describe(&e),
                },
            },
        })
        .collect()
}

/// Forecasts in the model's space as the metric's own (unchanged for the model's own metric).
fn to_user_units(forecasts: Vec<Forecast>, metric: Metric) -> Vec<Forecast> {
    if metric.is_identity() {
        return forecasts;
    }
    forecasts
        .into_iter()
        .map(|f| Forecast {
            step: f.step,
            quantiles: metric
                .quantiles_to_user(&f.quantiles)
                .into_iter()
                .map(|q| q as f32)
                .collect(),
        })
        .collect()
}

/// An engine error as a response names the field, not the batch index.
fn describe(e: &Error) -> String {
    match e {
        Error::InvalidInput { field, reason, .. } => format!("{field}: {reason}"),
        other => other.to_string(),
    }
}

/// Reads a request file (or stdin for `-`) into lines, skipping blank ones.
pub fn read_request_text(path: &str) -> Result<String> {
    if path == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| Error::io("<stdin>", e))?;
        Ok(s)
    } else {
        std::fs::read_to_string(path).map_err(|e| Error::io(path, e))
    }
}

/// A sweep to plan (`neuneu plan SWEEP.json`): every arm is forecast at its own `end_step`,
/// else at the sweep's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepRequest {
    /// The end step of the arms that have none of their own.
    #[serde(default)]
    pub end_step: Option<f64>,
    pub policy: Policy,
    #[serde(default)]
    pub min_observations: Option<usize>,
    #[serde(default)]
    pub samples: Option<usize>,
    #[serde(default)]
    pub seed: u64,
    /// The arms' metric (kind and direction); absent: bounded in [0, 1], higher is better.
    #[serde(default)]
    pub metric: Metric,
    pub arms: Vec<ArmRequest>,
}

/// One arm of a [`SweepRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArmRequest {
    pub id: String,
    pub steps: Vec<f64>,
    /// The metric at each step (`values` is accepted too).
    #[serde(alias = "values")]
    pub accuracy: Vec<f64>,
    /// The step this arm ends at, if not the sweep's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_step: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_losses: Option<Vec<f32>>,
}

/// Parses a sweep; bad JSON is `Error::Parse("invalid sweep: ...")`.
pub fn parse_sweep(text: &str) -> Result<SweepRequest> {
    serde_json::from_str(text).map_err(|e| Error::Parse(format!("invalid sweep: {e}")))
}

impl SweepRequest {
    /// The plan options the request asks for (defaults for what it leaves out).
    pub fn options(&self) -> PlanOptions {
        let mut options = PlanOptions::new(self.policy);
        options.min_observations = self.min_observations;
        options.seed = self.seed;
        options.metric = self.metric;
        if let Some(s) = self.samples {
            options.samples = s;
        }
        options
    }
}

/// Parses a sweep and plans it. An arm's input error names the arm by its id, not its index.
pub fn plan_request(engine: &Engine, text: &str) -> Result<Plan> {
    let req = parse_sweep(text)?;
    // Each arm's values in the model's space (unchanged for the model's own metric, whose
    // values the engine checks itself).
    let model_values: Vec<Vec<f64>> = req
        .arms
        .iter()
        .map(|a| {
            if req.metric.is_identity() {
                return Ok(a.accuracy.clone());
            }
            a.accuracy
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    req.metric.to_model(v).map_err(|problem| {
                        Error::invalid(&a.id, "accuracy", format!("accuracy[{i}]: {problem}"))
                    })
                })
                .collect()
        })
        .collect::<Result<_>>()?;
    let arms: Vec<SweepArm> = req
        .arms
        .iter()
        .zip(&model_values)
        .map(|(a, values)| {
            let run = RunInput::new(&a.steps, values, &[]);
            SweepArm {
                id: a.id.clone(),
                run: a
                    .token_losses
                    .as_deref()
                    .map_or(run, |l| run.with_losses(Losses::Tokens(l))),
                end_step: a.end_step,
            }
        })
        .collect();
    let end_step = match (req.end_step, req.arms.iter().find(|a| a.end_step.is_none())) {
        (Some(end), _) => end,
        // Every arm has its own end: the sweep's is never read.
        (None, None) => f64::NAN,
        (None, Some(a)) => {
            return Err(Error::invalid(
                &a.id,
                "end_step",
                "no end step: give the arm one, or the sweep an end_step",
            ));
        }
    };
    plan_sweep(engine, &arms, end_step, &req.options()).map_err(|e| {
        e.rename_run(|run| {
            let i = run.parse::<usize>().ok()?;
            req.arms.get(i).map(|a| a.id.clone())
        })
    })
}
