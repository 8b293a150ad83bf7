//! A sweep's saved form: JSON, versioned, holding everything its decisions depend on.
//!
//! ```json
//! {"format": "neuneu-sweep", "version": 1, "model": "<manifest name>",
//!  "model_sha256": "<Manifest::weights_sha256>",
//!  "options": {"metric": {"kind": "loss", "direction": "minimize"},
//!              "policy": {"kind": "keep_top_k", "k": 3}, "end_step": 100.0,
//!              "min_observations": 0, "samples": 4000, "seed": 7},
//!  "decisions": 12,
//!  "arms": [{"id": "a", "steps": [1.0, 2.0], "values": [3.1, 2.7], "end_step": null,
//!            "status": "live"}]}
//! ```
//!
//! An arm given token losses (`Sweep::observe_losses`) also has `"losses"`: one entry per
//! point, the vector or `null`; arms without losses have no such field (and a library that
//! predates it refuses a sweep that has one, rather than drop the losses).
//!
//! Cached forecasts are not saved: they are recomputed, bit-identically (the engine's exact
//! row mode), on the next decision. A sweep saved with one model is refused by an engine with
//! another (`model` is the manifest's name; `model_sha256` tells apart models of one name, such
//! as two adapted from the same base; a saved sweep without it is checked by name), since its
//! decisions would not continue the same.

use super::{ArmState, ArmStatus, Sweep, SweepOptions};
use crate::error::{Error, Result};
use crate::inference::engine::Engine;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The `format` field of a saved sweep.
pub const SAVE_FORMAT: &str = "neuneu-sweep";
/// The version of the saved form this library writes and reads.
pub const SAVE_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Saved {
    format: String,
    version: u32,
    model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    model_sha256: Option<String>,
    options: SweepOptions,
    decisions: u64,
    arms: Vec<SavedArm>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedArm {
    id: String,
    steps: Vec<f64>,
    values: Vec<f64>,
    end_step: Option<f64>,
    status: ArmStatus,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    losses: Vec<Option<Vec<f32>>>,
}

impl Sweep {
    /// The sweep as versioned JSON bytes (see the module docs).
    pub fn save(&self) -> Vec<u8> {
        let saved = Saved {
            format: SAVE_FORMAT.into(),
            version: SAVE_VERSION,
            model: self.engine.manifest().name.clone(),
            model_sha256: Some(self.engine.manifest().weights_sha256()),
            options: self.options.clone(),
            decisions: self.decisions,
            arms: self
                .arms
                .iter()
                .map(|a| SavedArm {
                    id: a.id.clone(),
                    steps: a.steps.clone(),
                    values: a.values.clone(),
                    end_step: a.end,
                    status: a.status,
                    losses: if a.losses.iter().any(Option::is_some) {
                        a.losses
                            .iter()
                            .map(|l| l.as_deref().map(<[f32]>::to_vec))
                            .collect()
                    } else {
                        Vec::new()
                    },
                })
                .collect(),
        };
        serde_json::to_vec(&saved).expect("a sweep serialises")
    }

    /// A sweep from [`Sweep::save`]'s bytes, on `engine` (the model it was saved with). Every
    /// point is checked again as [`Sweep::observe`] checks it.
    pub fn load(engine: Arc<Engine>, bytes: &[u8]) -> Result<Self> {
        let parse = |reason: String| Error::Parse(format!("saved sweep: {reason}"));
        let saved: Saved = serde_json::from_slice(bytes).map_err(|e| parse(e.to_string()))?;
        if saved.format != SAVE_FORMAT {
            return Err(parse(format!(
                "format {:?}, expected {SAVE_FORMAT:?}",
                saved.format
            )));
        }
        if saved.version != SAVE_VERSION {
            return Err(parse(format!(
                "version {} (this library reads {SAVE_VERSION})",
                saved.version
            )));
        }
        let model = &engine.manifest().name;
        if &saved.model != model {
            return Err(parse(format!(
                "saved with the model {:?}, not this engine's {model:?}",
                saved.model
            )));
        }
        let weights = engine.manifest().weights_sha256();
        if saved.model_sha256.as_ref().is_some_and(|s| *s != weights) {
            return Err(parse(format!(
                "saved with other weights of the model {model:?} (an adapted model, say) than this engine's"
            )));
        }
        let mut sweep = Sweep::new(engine, saved.options)?;
        for arm in saved.arms {
            if arm.steps.len() != arm.values.len() {
                return Err(parse(format!(
                    "arm {:?}: {} steps and {} values",
                    arm.id,
                    arm.steps.len(),
                    arm.values.len()
                )));
            }
            if sweep.index.contains_key(&arm.id) {
                return Err(parse(format!("arm {:?} appears twice", arm.id)));
            }
            if !arm.losses.is_empty() && arm.losses.len() != arm.steps.len() {
                return Err(parse(format!(
                    "arm {:?}: {} steps and {} loss entries",
                    arm.id,
                    arm.steps.len(),
                    arm.losses.len()
                )));
            }
            for (&s, &v) in arm.steps.iter().zip(&arm.values) {
                sweep.observe(&arm.id, s, v)?;
            }
            for (&s, losses) in arm.steps.iter().zip(&arm.losses) {
                if let Some(losses) = losses {
                    sweep.observe_losses(&arm.id, s, losses)?;
                }
            }
            let i = sweep.arm_index(&arm.id);
            if let Some(end) = arm.end_step {
                sweep.set_end(&arm.id, end)?;
            }
            let a: &mut ArmState = &mut sweep.arms[i];
            if arm.status == ArmStatus::Finished && a.steps.is_empty() {
                return Err(parse(format!("arm {:?} is finished with no value", arm.id)));
            }
            a.status = arm.status;
        }
        sweep.decisions = saved.decisions;
        Ok(sweep)
    }
}
