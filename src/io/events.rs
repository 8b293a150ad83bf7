//! The event stream of `neuneu sweep`: one JSON object per line drives a [`Sweep`], so that a
//! scheduler in any language can use it through a pipe.
//!
//! ```text
//! {"create": {"policy": {"kind": "keep_top_k", "k": 3}, "end_step": 10000,
//!             "metric": {"kind": "loss", "direction": "minimize"}}}
//! {"observe": {"arm": "a", "step": 1000, "value": 2.31}}
//! {"losses": {"arm": "a", "step": 1000, "token_losses": [2.1, 0.3, ...]}}
//!                                     (or "token_losses_npy": "a-1000.npy"; see Sweep::observe_losses)
//! {"set_end": {"arm": "a", "end_step": 20000}}
//! {"finish": {"arm": "a"}}
//! {"stop": {"arm": "b"}}
//! {"decide": {}}                      (or {"decide": {"arms": ["a", "c"]}})
//! {"forecast": {"arm": "c", "steps": [5000, 10000]}}
//! {"save": {"path": "sweep.json"}}    (and {"load": {"path": "sweep.json"}} in place of create)
//! ```
//!
//! Questions (`decide`, `forecast`) are answered with one line each: `{"line": N, "decide":
//! {...}}` (a [`Decision`](crate::sweep::Decision)) or `{"line": N, "forecast": {"arm", "levels",
//! "steps", "quantiles"}}`. A refused event is answered `{"line": N, "error": "..."}` and the
//! stream goes on; other events are silent. Paths are relative to the event file's folder.

use crate::error::{Error, Result};
use crate::inference::engine::Engine;
use crate::sweep::{Decision, Sweep, SweepOptions};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One line of the stream.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Event {
    Create(SweepOptions),
    Load {
        path: String,
    },
    Save {
        path: String,
    },
    Observe {
        arm: String,
        step: f64,
        value: f64,
    },
    Losses {
        arm: String,
        step: f64,
        #[serde(default)]
        token_losses: Option<Vec<f32>>,
        #[serde(default)]
        token_losses_npy: Option<String>,
    },
    SetEnd {
        arm: String,
        end_step: f64,
    },
    Finish {
        arm: String,
    },
    Stop {
        arm: String,
    },
    Decide {
        #[serde(default)]
        arms: Option<Vec<String>>,
    },
    Forecast {
        arm: String,
        steps: Vec<f64>,
    },
}

/// The answer to one line of the stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    Decide {
        line: usize,
        decide: Decision,
    },
    Forecast {
        line: usize,
        forecast: ForecastAnswer,
    },
    Error {
        line: usize,
        error: String,
    },
}

impl Answer {
    pub fn is_error(&self) -> bool {
        matches!(self, Answer::Error { .. })
    }

    /// The answer as one JSON line (no newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("answers serialise")
    }
}

/// A `forecast` event's answer: one row of quantiles per step, in the metric's units.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForecastAnswer {
    pub arm: String,
    pub levels: Vec<f32>,
    pub steps: Vec<f64>,
    pub quantiles: Vec<Vec<f64>>,
}

/// A sweep driven by events (see the module docs).
pub struct EventStream {
    engine: Arc<Engine>,
    base: PathBuf,
    sweep: Option<Sweep>,
    line: usize,
}

impl EventStream {
    /// A stream whose relative paths are taken from `base` (the event file's folder).
    pub fn new(engine: Arc<Engine>, base: impl Into<PathBuf>) -> Self {
        EventStream {
            engine,
            base: base.into(),
            sweep: None,
            line: 0,
        }
    }

    /// The sweep, once created or loaded.
    pub fn sweep(&self) -> Option<&Sweep> {
        self.sweep.as_ref()
    }

    /// Handles the next line: the answer to print, if any. Blank lines are skipped (but
    /// counted, so that `line` numbers match the file).
    pub fn handle(&mut self, text: &str) -> Option<Answer> {
        self.line += 1;
        if text.trim().is_empty() {
            return None;
        }
        let line = self.line;
        match self.apply(text) {
            Ok(None) => None,
            Ok(Some(Reply::Decide(decide))) => Some(Answer::Decide { line, decide }),
            Ok(Some(Reply::Forecast(forecast))) => Some(Answer::Forecast { line, forecast }),
            Err(e) => Some(Answer::Error {
                line,
                error: e.to_string(),
            }),
        }
    }

    fn apply(&mut self, text: &str) -> Result<Option<Reply>> {
        let event: Event =
            serde_json::from_str(text).map_err(|e| Error::Parse(format!("invalid event: {e}")))?;
        let path = |p: &str| -> PathBuf { self.base.join(p) };
        match event {
            Event::Create(options) => {
                self.sweep = Some(Sweep::new(self.engine.clone(), options)?);
                return Ok(None);
            }
            Event::Load { path: p } => {
                let file = path(&p);
                let bytes = std::fs::read(&file).map_err(|e| Error::io(&file, e))?;
                self.sweep = Some(Sweep::load(self.engine.clone(), &bytes)?);
                return Ok(None);
            }
            _ => {}
        }
        let sweep = self.sweep.as_mut().ok_or_else(|| {
            Error::Parse("no sweep yet: start with a create or load event".into())
        })?;
        match event {
            Event::Create(_) | Event::Load { .. } => unreachable!("handled above"),
            Event::Save { path: p } => {
                let file = path(&p);
                std::fs::write(&file, sweep.save()).map_err(|e| Error::io(&file, e))?;
            }
            Event::Observe { arm, step, value } => sweep.observe(&arm, step, value)?,
            Event::Losses {
                arm,
                step,
                token_losses,
                token_losses_npy,
            } => {
                let losses = match (token_losses, token_losses_npy) {
                    (Some(l), None) => l,
                    (None, Some(p)) => crate::io::npy::read_npy_f32(path(&p))?,
                    _ => {
                        return Err(Error::invalid(
                            &arm,
                            "token_losses",
                            "give token_losses or token_losses_npy (one of them)",
                        ));
                    }
                };
                sweep.observe_losses(&arm, step, &losses)?
            }
            Event::SetEnd { arm, end_step } => sweep.set_end(&arm, end_step)?,
            Event::Finish { arm } => sweep.finish(&arm)?,
            Event::Stop { arm } => sweep.stop(&arm)?,
            Event::Decide { arms } => {
                let ids: Option<Vec<&str>> = arms
                    .as_ref()
                    .map(|a| a.iter().map(String::as_str).collect());
                return Ok(Some(Reply::Decide(sweep.decide(ids.as_deref())?)));
            }
            Event::Forecast { arm, steps } => {
                let quantiles = sweep.forecast(&arm, &steps)?;
                return Ok(Some(Reply::Forecast(ForecastAnswer {
                    arm,
                    levels: self.engine.levels().to_vec(),
                    steps,
                    quantiles,
                })));
            }
        }
        Ok(None)
    }
}

enum Reply {
    Decide(Decision),
    Forecast(ForecastAnswer),
}

/// Runs every line of `text` (an event file in `base`): the answers, in order.
pub fn run_events(engine: Arc<Engine>, text: &str, base: &Path) -> Vec<Answer> {
    let mut stream = EventStream::new(engine, base);
    text.lines().filter_map(|l| stream.handle(l)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_creates_observes_decides_and_reports_errors_by_line() {
        let engine = Arc::new(Engine::embedded().unwrap());
        let text = r#"{"observe": {"arm": "a", "step": 1, "value": 0.2}}
{"create": {"policy": {"kind": "keep_top_k", "k": 1}, "end_step": 100}}
{"observe": {"arm": "a", "step": 1, "value": 0.2}}
{"observe": {"arm": "a", "step": 2, "value": 0.25}}
{"observe": {"arm": "a", "step": 3, "value": 0.27}}
{"observe": {"arm": "b", "step": 1, "value": 0.1}}

{"observe": {"arm": "b", "step": 0.5, "value": 0.1}}
{"decide": {}}
{"forecast": {"arm": "a", "steps": [50]}}
{"launch": {}}
"#;
        let out: Vec<serde_json::Value> = run_events(engine, text, Path::new("."))
            .iter()
            .map(|a| serde_json::from_str(&a.to_json()).unwrap())
            .collect();
        assert_eq!(out.len(), 5, "{out:?}");
        assert_eq!(out[0]["line"], 1);
        assert!(out[0]["error"].as_str().unwrap().contains("no sweep yet"));
        assert_eq!(out[1]["line"], 8);
        assert!(
            out[1]["error"]
                .as_str()
                .unwrap()
                .contains("before the last step")
        );
        let decide = &out[2]["decide"];
        assert_eq!(decide["arms"][0]["action"], "continue");
        assert_eq!(decide["arms"][1]["id"], "b");
        assert!(
            decide["arms"][1]["reason"]
                .as_str()
                .unwrap()
                .contains("needs")
        );
        assert_eq!(
            out[3]["forecast"]["quantiles"][0].as_array().unwrap().len(),
            5
        );
        assert!(out[4]["error"].as_str().unwrap().contains("invalid event"));
    }

    #[test]
    fn losses_events_reach_the_forecast_inline_or_from_npy() {
        let dir = std::env::temp_dir().join(format!("neuneu-events-losses-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let losses: Vec<f32> = (0..128).map(|i| 0.2 + (i % 5) as f32 * 0.4).collect();
        crate::io::npy::write_npy_f32(dir.join("a3.npy"), &losses).unwrap();
        let inline = serde_json::to_string(&losses).unwrap();
        let head = r#"{"create": {"policy": {"kind": "keep_top_k", "k": 1}, "end_step": 100}}
{"observe": {"arm": "a", "step": 1, "value": 0.2}}
{"observe": {"arm": "a", "step": 2, "value": 0.25}}
{"observe": {"arm": "a", "step": 3, "value": 0.27}}
"#;
        let ask = "{\"forecast\": {\"arm\": \"a\", \"steps\": [50]}}\n";
        let engine = Arc::new(Engine::embedded().unwrap());
        let run = |middle: &str| -> Vec<serde_json::Value> {
            run_events(engine.clone(), &format!("{head}{middle}{ask}"), &dir)
                .iter()
                .map(|a| serde_json::from_str(&a.to_json()).unwrap())
                .collect()
        };
        let bare = run("");
        let from_npy =
            run("{\"losses\": {\"arm\": \"a\", \"step\": 3, \"token_losses_npy\": \"a3.npy\"}}\n");
        let given = run(&format!(
            "{{\"losses\": {{\"arm\": \"a\", \"step\": 3, \"token_losses\": {inline}}}}}\n"
        ));
        assert_eq!(from_npy, given);
        assert_ne!(given, bare);
        let wrong = run(
            "{\"losses\": {\"arm\": \"a\", \"step\": 3}}\n{\"losses\": {\"arm\": \"a\", \"step\": 9, \"token_losses\": [1.0]}}\n",
        );
        assert!(
            wrong[0]["error"].as_str().unwrap().contains("one of them"),
            "{wrong:?}"
        );
        assert!(
            wrong[1]["error"]
                .as_str()
                .unwrap()
                .contains("no value observed at step 9"),
            "{wrong:?}"
        );
        assert_eq!(wrong[2]["forecast"], bare[0]["forecast"]);
    }
}
