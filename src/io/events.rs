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
//! {"adapt": {"save": "adapted.nnb"}}  (all optional: "holdout": 0.2, "seed": 17,
//!                                      "loss_summary": "mean-p", "switch": true)
//! ```
//!
//! Questions (`decide`, `forecast`, `adapt`) are answered with one line each: `{"line": N,
//! "decide": {...}}` (a [`Decision`](crate::sweep::Decision)), `{"line": N, "forecast": {"arm",
//! "levels", "steps", "quantiles"}}` or `{"line": N, "adapt": {...}}` ([`AdaptAnswer`]). A
//! refused event is answered `{"line": N, "error": "..."}` and the stream goes on; other events
//! are silent. Paths are relative to the event file's folder.
//!
//! `adapt` fits a model to the sweep's finished arms ([`crate::adapt::sweep`]), always from the
//! model the stream was started with ([`EventStream::with_bundle`]: a second `adapt` refits it
//! to the arms finished by then, rather than adapting an adapted model), writes it to `save` if
//! given, and, unless `switch` is false, goes on with it: later decisions, forecasts, `create`s
//! and `load`s use it (a sweep saved from then on loads with it: `neuneu sweep --model
//! adapted.nnb`).

use crate::adapt::sweep::FinishedArms;
use crate::adapt::{AdaptOptions, HeldOutMae};
use crate::cuda::Backend;
use crate::error::{Error, Result};
use crate::inference::engine::Engine;
use crate::model::bundle::Bundle;
use crate::model::inputs::LossSummary;
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
    Adapt(AdaptEvent),
}

/// The settings of an `adapt` event.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdaptEvent {
    #[serde(default = "default_holdout")]
    holdout: f64,
    #[serde(default = "default_seed")]
    seed: u64,
    #[serde(default = "default_loss_summary")]
    loss_summary: String,
    #[serde(default)]
    save: Option<String>,
    #[serde(default = "default_switch")]
    switch: bool,
}

fn default_holdout() -> f64 {
    AdaptOptions::default().holdout
}

fn default_seed() -> u64 {
    AdaptOptions::default().seed
}

fn default_loss_summary() -> String {
    LossSummary::MeanP.name().to_string()
}

fn default_switch() -> bool {
    true
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
    Adapt {
        line: usize,
        adapt: AdaptAnswer,
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

/// An `adapt` event's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdaptAnswer {
    /// Finished arms the trees were fitted on, and held out to recalibrate and score.
    pub runs_fitted: usize,
    pub runs_held_out: usize,
    /// Finished arms not learned from (too few points), `sweep/ID`.
    pub left_out: Vec<String>,
    /// MAE of the median on the held-out arms (the model's space): the adapted model's, the
    /// base's and persistence's; absent when nothing was held out.
    pub held_out_mae: Option<HeldOutMae>,
    /// Whether the stream goes on with the adapted model.
    pub switched: bool,
    /// Where the bundle was written, if asked.
    pub saved: Option<String>,
}

/// A sweep driven by events (see the module docs).
pub struct EventStream {
    engine: Arc<Engine>,
    /// The bytes of the bundle `engine` was loaded from (what `adapt` starts from) and the
    /// backend it was loaded on (what an adapted model is loaded on).
    bundle: Option<(Arc<[u8]>, Backend)>,
    base: PathBuf,
    sweep: Option<Sweep>,
    line: usize,
}

impl EventStream {
    /// A stream whose relative paths are taken from `base` (the event file's folder).
    pub fn new(engine: Arc<Engine>, base: impl Into<PathBuf>) -> Self {
        EventStream {
            engine,
            bundle: None,
            base: base.into(),
            sweep: None,
            line: 0,
        }
    }

    /// Gives the bytes of the bundle the stream's engine was loaded from, and the backend it
    /// was loaded on: `adapt` events start from them (without them, an `adapt` event is
    /// refused).
    pub fn with_bundle(mut self, bundle: impl Into<Arc<[u8]>>, backend: Backend) -> Self {
        self.bundle = Some((bundle.into(), backend));
        self
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
            Ok(Some(Reply::Adapt(adapt))) => Some(Answer::Adapt { line, adapt }),
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
            Event::Adapt(event) => return self.adapt(event).map(|a| Some(Reply::Adapt(a))),
        }
        Ok(None)
    }

    fn adapt(&mut self, event: AdaptEvent) -> Result<AdaptAnswer> {
        let summary =
            LossSummary::from_name(&event.loss_summary).ok_or_else(|| Error::InvalidSetting {
                field: "loss_summary",
                reason: format!(
                    "unknown loss summary {:?} (mean-p or p-histogram)",
                    event.loss_summary
                ),
            })?;
        let (bytes, backend) = self.bundle.clone().ok_or_else(|| {
            Error::Parse("this stream was not given its model's bundle to adapt".into())
        })?;
        let sweep = self.sweep.as_mut().expect("checked by apply");
        let options = AdaptOptions {
            holdout: event.holdout,
            seed: event.seed,
            ..AdaptOptions::default()
        };
        let adapted =
            FinishedArms::of(sweep).adapt(Bundle::from_bytes(&bytes)?, summary, &options)?;
        if let Some(p) = &event.save {
            let file = self.base.join(p);
            std::fs::write(&file, adapted.bundle.to_bytes()).map_err(|e| Error::io(&file, e))?;
        }
        let held_out_mae = adapted.held_out_mae();
        if event.switch {
            let engine = Engine::from_bundle_with_backend(adapted.bundle, backend)?;
            engine.set_row_batching(self.engine.row_batching());
            self.engine = Arc::new(engine);
            sweep.set_engine(self.engine.clone());
        }
        Ok(AdaptAnswer {
            runs_fitted: adapted.runs_fitted,
            runs_held_out: adapted.runs_held_out,
            left_out: adapted.left_out,
            held_out_mae,
            switched: event.switch,
            saved: event.save,
        })
    }
}

enum Reply {
    Decide(Decision),
    Forecast(ForecastAnswer),
    Adapt(AdaptAnswer),
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

    /// Ten arms whose value jumps by 0.3 at their 6th point, finished; a live arm five points
    /// in. The lines of the stream, and the live arm's truth at its end.
    fn jumping_sweep() -> (String, f64) {
        let value = |a: usize, t: usize| {
            0.2 + 0.01 * a as f64 + 0.02 * t as f64 + if t >= 5 { 0.3 } else { 0.0 }
        };
        let mut text = String::from(
            "{\"create\": {\"policy\": {\"kind\": \"keep_top_k\", \"k\": 2}, \"end_step\": 8}}\n",
        );
        for a in 0..10 {
            for t in 0..8 {
                text.push_str(&format!(
                    "{{\"observe\": {{\"arm\": \"a{a}\", \"step\": {}, \"value\": {}}}}}\n",
                    t + 1,
                    value(a, t)
                ));
            }
            text.push_str(&format!("{{\"finish\": {{\"arm\": \"a{a}\"}}}}\n"));
        }
        for t in 0..5 {
            text.push_str(&format!(
                "{{\"observe\": {{\"arm\": \"live\", \"step\": {}, \"value\": {}}}}}\n",
                t + 1,
                value(3, t)
            ));
        }
        (text, value(3, 7))
    }

    #[test]
    fn an_adapt_event_learns_from_the_finished_arms_and_the_stream_goes_on_with_it() {
        let dir = std::env::temp_dir().join(format!("neuneu-events-adapt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let engine = Arc::new(Engine::embedded().unwrap());
        let (head, truth) = jumping_sweep();
        let ask = "{\"forecast\": {\"arm\": \"live\", \"steps\": [8]}}\n";
        let text = format!(
            "{head}{ask}{{\"adapt\": {{\"switch\": false}}}}\n{ask}{{\"adapt\": {{\"save\": \"adapted.nnb\"}}}}\n{ask}\
             {{\"adapt\": {{\"loss_summary\": \"mode\"}}}}\n{{\"adapt\": {{\"holdout\": 0.9}}}}\n\
             {{\"adapt\": {{\"save\": \"again.nnb\"}}}}\n"
        );
        let mut stream = EventStream::new(engine.clone(), &dir).with_bundle(
            crate::inference::engine::DEFAULT_BUNDLE,
            crate::cuda::Backend::Cpu,
        );
        let out: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| stream.handle(l))
            .map(|a| serde_json::from_str(&a.to_json()).unwrap())
            .collect();
        assert_eq!(out.len(), 8, "{out:?}");
        let median = |i: usize| out[i]["forecast"]["quantiles"][0][2].as_f64().unwrap();
        // Not switched: the same forecast; switched: the jump the finished arms showed.
        let report = &out[1]["adapt"];
        assert_eq!(report["switched"], false);
        assert_eq!(
            report["runs_fitted"].as_u64().unwrap() + report["runs_held_out"].as_u64().unwrap(),
            10
        );
        let mae = &report["held_out_mae"];
        assert!(
            mae["adapted"].as_f64().unwrap() < mae["base"].as_f64().unwrap(),
            "{mae}"
        );
        assert_eq!(median(2), median(0));
        assert_eq!(out[3]["adapt"]["saved"], "adapted.nnb");
        let adapted = Engine::from_path(dir.join("adapted.nnb")).unwrap();
        assert_eq!(adapted.manifest().name, stream.engine.manifest().name);
        // Adapting again starts from the stream's model, not from the adapted one: the same
        // arms make the same bundle.
        assert_eq!(
            std::fs::read(dir.join("again.nnb")).unwrap(),
            std::fs::read(dir.join("adapted.nnb")).unwrap()
        );
        assert!(
            (median(4) - truth).abs() < 0.3 * (median(0) - truth).abs(),
            "{} then {} for {truth}",
            median(0),
            median(4)
        );
        assert!(
            out[5]["error"]
                .as_str()
                .unwrap()
                .contains("unknown loss summary")
        );
        assert!(
            out[6]["error"]
                .as_str()
                .unwrap()
                .contains("lower the hold-out"),
            "{}",
            out[6]
        );

        // A stream not given its model's bundle cannot adapt; a sweep with too few finished
        // arms says how many it has.
        let bare = run_events(
            engine.clone(),
            &format!("{head}{{\"adapt\": {{}}}}\n"),
            &dir,
        );
        assert!(bare[0].to_json().contains("not given its model's bundle"));
        let mut few = EventStream::new(engine, &dir).with_bundle(
            crate::inference::engine::DEFAULT_BUNDLE,
            crate::cuda::Backend::Cpu,
        );
        let short: String = head
            .lines()
            .take(1 + 2 * 9)
            .map(|l| format!("{l}\n"))
            .collect();
        let answers: Vec<Answer> = format!("{short}{{\"adapt\": {{}}}}\n")
            .lines()
            .filter_map(|l| few.handle(l))
            .collect();
        assert!(
            answers[0].to_json().contains("2 finished arm(s)"),
            "{answers:?}"
        );
    }
}
