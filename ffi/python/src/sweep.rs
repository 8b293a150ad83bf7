//! `neuneu.Sweep`: the online sweep handle a scheduler feeds result by result.

use crate::convert;
use crate::engine::PyEngine;
use crate::errors::{IntoPy, to_py};
use neuneu::sweep::{Action, Decision};
use neuneu::{Error, Sweep, SweepOptions};
use numpy::IntoPyArray;
use numpy::PyArray2;
use numpy::ndarray::Array2;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};
use std::sync::{Mutex, MutexGuard};

/// An online sweep: arms report points one at a time (`observe`), end (`finish`) or are
/// stopped (`stop`); `decide` says which live arms to stop. Calls from several threads take
/// turns; decisions release the GIL. Pickles to its saved form (`save`) and the engine's source.
#[pyclass(name = "Sweep", module = "neuneu._native", frozen)]
pub struct PySweep {
    inner: Mutex<Sweep>,
    /// The engine `inner` forecasts with; replaced (by `set_engine`) only while `inner` is
    /// locked, so that a pickle's state and engine agree.
    engine: Mutex<PyEngine>,
}

impl PySweep {
    fn lock(&self) -> PyResult<MutexGuard<'_, Sweep>> {
        self.inner.lock().map_err(|_| {
            to_py(Error::Inference(
                "the sweep is unusable: a call on it panicked".into(),
            ))
        })
    }

    /// Runs `f` on the sweep without the GIL. The lock is taken and released inside, so a
    /// thread waiting for it while holding the GIL never blocks this one's return.
    fn detached<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Sweep) -> neuneu::Result<R> + Send,
    ) -> PyResult<R> {
        py.detach(|| self.lock().map(|mut s| f(&mut s)))?.py_err()
    }

    fn engine_ref(&self) -> PyEngine {
        // No call panics while holding this lock: a poisoned one still holds a whole engine.
        self.engine
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone_ref()
    }

    fn engine_or_default(engine: Option<&PyEngine>) -> PyResult<PyEngine> {
        match engine {
            Some(e) => Ok(e.clone_ref()),
            None => PyEngine::default_engine(),
        }
    }
}

#[pymethods]
impl PySweep {
    /// `policy` as the library's JSON (default `{"kind": "stop_within_budget", "k": 1,
    /// "budget": 0.1}`); `metric` "bounded", "loss" or "neg_loss" with `direction` (default: the
    /// kind's usual one); `end_step`: where arms without one of their own (`set_end`) end;
    /// `min_observations`: points an arm needs before it can be stopped; `calibrate`: correct
    /// live arms' forecasts by how the sweep's finished arms went on from the same point of
    /// their runs (from 5 of them; an arm ahead of all of them there is kept).
    #[new]
    #[pyo3(signature = (engine=None, *, policy=None, metric="bounded", direction=None, end_step=None, min_observations=0, samples=neuneu::decisions::killplan::DEFAULT_SAMPLES as i128, seed=0, calibrate=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        engine: Option<PyRef<'_, PyEngine>>,
        policy: Option<Bound<'_, PyDict>>,
        metric: &str,
        direction: Option<&str>,
        end_step: Option<f64>,
        min_observations: i128,
        samples: i128,
        seed: i128,
        calibrate: bool,
    ) -> PyResult<PySweep> {
        let engine = Self::engine_or_default(engine.as_deref())?;
        let options = SweepOptions {
            metric: convert::metric(metric, direction)?,
            policy: convert::policy(py, policy.as_ref())?,
            end_step,
            min_observations: convert::unsigned(min_observations, "min_observations")?,
            samples: convert::unsigned(samples, "samples")?,
            seed: convert::unsigned(seed, "seed")?,
            calibrate,
        };
        let sweep = Sweep::new(engine.inner.clone(), options).py_err()?;
        Ok(PySweep {
            inner: Mutex::new(sweep),
            engine: Mutex::new(engine),
        })
    }

    /// A sweep saved by `save`, continued with `engine` (default: the embedded model; it must
    /// be the model the sweep was saved with).
    #[staticmethod]
    #[pyo3(signature = (data, engine=None))]
    fn load(
        py: Python<'_>,
        data: Vec<u8>,
        engine: Option<PyRef<'_, PyEngine>>,
    ) -> PyResult<PySweep> {
        let engine = Self::engine_or_default(engine.as_deref())?;
        let shared = engine.inner.clone();
        let sweep = py.detach(|| Sweep::load(shared, &data)).py_err()?;
        Ok(PySweep {
            inner: Mutex::new(sweep),
            engine: Mutex::new(engine),
        })
    }

    /// The sweep as versioned JSON bytes: everything its decisions depend on.
    fn save<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, &self.lock()?.save()))
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let py = slf.py();
        let this = slf.get();
        let restore = slf.get_type().getattr("_restore")?;
        let (data, engine) = {
            let sweep = this.lock()?;
            (
                PyBytes::new(py, &sweep.save()).into_any(),
                this.engine_ref(),
            )
        };
        let engine = engine.reload_args(py)?;
        Ok((restore, PyTuple::new(py, [data, engine.into_any()])?))
    }

    #[staticmethod]
    fn _restore(py: Python<'_>, data: Vec<u8>, engine: Bound<'_, PyTuple>) -> PyResult<PySweep> {
        let engine: Bound<'_, PyEngine> = py
            .get_type::<PyEngine>()
            .getattr("_restore")?
            .call1(engine)?
            .cast_into()?;
        let shared = engine.get().inner.clone();
        let sweep = py.detach(|| Sweep::load(shared, &data)).py_err()?;
        Ok(PySweep {
            inner: Mutex::new(sweep),
            engine: Mutex::new(engine.get().clone_ref()),
        })
    }

    /// The engine the sweep forecasts with.
    #[getter]
    fn engine(&self) -> PyEngine {
        self.engine_ref()
    }

    /// Goes on with `engine` (a model adapted to this sweep, say): the next decisions and
    /// forecasts use it, forecasts cached under the old model are dropped; the arms and the
    /// decision count stay. The sweep pickles with it from then on.
    fn set_engine(&self, engine: PyRef<'_, PyEngine>) -> PyResult<()> {
        let mut sweep = self.lock()?;
        sweep.set_engine(engine.inner.clone());
        *self.engine.lock().unwrap_or_else(|p| p.into_inner()) = engine.clone_ref();
        Ok(())
    }

    /// A model adapted to the sweep's finished arms: `neuneu.adapt`'s recipe on their points,
    /// and on the token losses given for them (`observe_losses`), which add loss trees reading
    /// `loss_summary` of them. `base`: the engine to adapt (default: the default model, as for
    /// `neuneu.adapt`; not the sweep's engine, which may be an adapted one already). Live and
    /// stopped arms are not learned from, nor finished arms with fewer points than the model's
    /// minimum context (`left_out` names them); fewer than 5 finished arms to learn from raise
    /// `InvalidArgumentError` saying how many there are. The sweep is locked only while its
    /// arms are copied; the GIL is released while fitting. Go on with the result through
    /// `sweep.set_engine(adapted.engine)`, where its `held_out_mae["adapted"]` beats `["base"]`.
    #[pyo3(signature = (*, base=None, holdout=0.2, seed=17, loss_summary="mean-p"))]
    fn adapt(
        &self,
        py: Python<'_>,
        base: Option<PyRef<'_, PyEngine>>,
        holdout: f64,
        seed: i128,
        loss_summary: &str,
    ) -> PyResult<crate::adapt::PyAdapted> {
        let options = neuneu::adapt::AdaptOptions {
            holdout,
            seed: convert::unsigned(seed, "seed")?,
            ..Default::default()
        };
        let summary = crate::adapt::loss_summary(loss_summary)?;
        let base = Self::engine_or_default(base.as_deref())?;
        let arms = py.detach(|| {
            self.lock()
                .map(|s| neuneu::adapt::sweep::FinishedArms::of(&s))
        })?;
        let (adapted, bytes) = py
            .detach(|| -> neuneu::Result<_> {
                let adapted = arms.adapt(base.bundle()?, summary, &options)?;
                let bytes = adapted.bundle.to_bytes();
                Ok((adapted, bytes))
            })
            .py_err()?;
        crate::adapt::PyAdapted::new(py, adapted, bytes)
    }

    /// The sweep's options as a dict (metric, policy, end_step, min_observations, samples, seed).
    #[getter]
    fn options<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let options = self.lock()?.options().clone();
        convert::to_python(py, &options)
    }

    /// The arms' ids, in the order they were first seen.
    #[getter]
    fn arms(&self) -> PyResult<Vec<String>> {
        Ok(self.lock()?.arm_ids().map(str::to_string).collect())
    }

    /// How many decisions the sweep has made.
    #[getter]
    fn decisions_made(&self) -> PyResult<u64> {
        Ok(self.lock()?.decisions_made())
    }

    /// "live", "finished" or "stopped"; None for an arm the sweep does not know.
    fn status(&self, arm: &str) -> PyResult<Option<String>> {
        Ok(self.lock()?.status(arm).map(|s| {
            match s {
                neuneu::sweep::ArmStatus::Live => "live",
                neuneu::sweep::ArmStatus::Finished => "finished",
                neuneu::sweep::ArmStatus::Stopped => "stopped",
            }
            .to_string()
        }))
    }

    fn __len__(&self) -> PyResult<usize> {
        Ok(self.lock()?.arm_ids().count())
    }

    fn __contains__(&self, arm: &str) -> PyResult<bool> {
        Ok(self.lock()?.status(arm).is_some())
    }

    /// Records `value` at `step` for `arm` (created on its first point). The same point again
    /// is a no-op; a step before the last one, or a value outside the metric, is an
    /// `InvalidInputError` and changes nothing.
    fn observe(&self, arm: &str, step: f64, value: f64) -> PyResult<()> {
        self.lock()?.observe(arm, step, value).py_err()
    }

    /// The token losses (natural-log units) of `arm`'s checkpoint at `step`, a point already
    /// observed: forecasts from a context ending there read them (a bundle adapted with
    /// `neuneu adapt --losses` has trees for them). An unknown arm or step, an arm finished or
    /// stopped, or bad losses is an `InvalidInputError` and changes nothing.
    fn observe_losses(&self, arm: &str, step: f64, losses: Bound<'_, PyAny>) -> PyResult<()> {
        let losses = convert::losses(&losses, "losses")?;
        self.lock()?.observe_losses(arm, step, &losses).py_err()
    }

    /// `observe` for each point of a curve, in order; stops at the first refused point.
    fn observe_curve(
        &self,
        arm: &str,
        steps: Bound<'_, PyAny>,
        values: Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let steps = convert::floats(&steps, "steps")?;
        let values = convert::floats(&values, "values")?;
        if steps.len() != values.len() {
            return Err(to_py(Error::InvalidInput {
                run: arm.to_string(),
                field: "values",
                reason: format!("{} values for {} steps", values.len(), steps.len()),
            }));
        }
        let mut sweep = self.lock()?;
        steps
            .iter()
            .zip(&values)
            .try_for_each(|(&s, &v)| sweep.observe(arm, s, v))
            .py_err()
    }

    /// The step at which `arm` ends (created if new).
    fn set_end(&self, arm: &str, end_step: f64) -> PyResult<()> {
        self.lock()?.set_end(arm, end_step).py_err()
    }

    /// Marks `arm` finished: its last value is final.
    fn finish(&self, arm: &str) -> PyResult<()> {
        self.lock()?.finish(arm).py_err()
    }

    /// Marks `arm` stopped: it takes no further part.
    fn stop(&self, arm: &str) -> PyResult<()> {
        self.lock()?.stop(arm).py_err()
    }

    /// Decides for every live arm (`arms` None) or for the arms named: continue or stop, with
    /// P(top k), the forecast at the arm's end and a reason.
    #[pyo3(signature = (arms=None))]
    fn decide(&self, py: Python<'_>, arms: Option<Vec<String>>) -> PyResult<PyDecision> {
        let decision = self.detached(py, |sweep| {
            let ids: Option<Vec<&str>> = arms
                .as_ref()
                .map(|a| a.iter().map(String::as_str).collect());
            sweep.decide(ids.as_deref())
        })?;
        Ok(PyDecision::from(decision))
    }

    /// Quantile forecasts of `arm` at `steps`: shape (len(steps), len(levels)), user's units.
    fn forecast<'py>(
        &self,
        py: Python<'py>,
        arm: &str,
        steps: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let steps = convert::floats(&steps, "steps")?;
        let rows = self.detached(py, |sweep| sweep.forecast(arm, &steps))?;
        // The rows' own width: the engine may be replaced (set_engine) after they were made.
        let width = rows
            .first()
            .map_or_else(|| self.engine_ref().inner.levels().len(), Vec::len);
        let flat: Vec<f64> = rows.into_iter().flatten().collect();
        Ok(Array2::from_shape_vec((steps.len(), width), flat)
            .expect("one row of levels per step")
            .into_pyarray(py))
    }

    fn __repr__(&self) -> PyResult<String> {
        let sweep = self.lock()?;
        Ok(format!(
            "Sweep(arms={}, decisions={})",
            sweep.arm_ids().count(),
            sweep.decisions_made()
        ))
    }
}

/// The answer to `Sweep.decide`.
#[pyclass(name = "Decision", module = "neuneu._native", frozen, get_all)]
pub struct PyDecision {
    /// Which decision of the sweep this is (0 for the first) and the seed its plan used.
    index: u64,
    seed: u64,
    /// The `k` used (capped at the arms that can still win) and the one the policy asked for.
    k: usize,
    k_requested: usize,
    /// One verdict per arm asked about, in the sweep's order.
    verdicts: Vec<PyVerdict>,
}

impl From<Decision> for PyDecision {
    fn from(d: Decision) -> Self {
        PyDecision {
            index: d.index,
            seed: d.seed,
            k: d.k,
            k_requested: d.k_requested,
            verdicts: d
                .arms
                .into_iter()
                .map(|v| PyVerdict {
                    id: v.id,
                    action: match v.action {
                        Action::Continue => "continue",
                        Action::Stop => "stop",
                        Action::Finished => "finished",
                        Action::Stopped => "stopped",
                    },
                    p_top_k: v.p_top_k,
                    median: v.median,
                    q10: v.q10,
                    q90: v.q90,
                    end_step: v.end_step,
                    reason: v.reason,
                })
                .collect(),
        }
    }
}

#[pymethods]
impl PyDecision {
    /// The ids of the arms to stop.
    #[getter]
    fn to_stop(&self) -> Vec<String> {
        self.verdicts
            .iter()
            .filter(|v| v.action == "stop")
            .map(|v| v.id.clone())
            .collect()
    }

    /// The verdict for `arm`; KeyError if it was not asked about.
    fn __getitem__(&self, arm: &str) -> PyResult<PyVerdict> {
        self.verdicts
            .iter()
            .find(|v| v.id == arm)
            .cloned()
            .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(arm.to_string()))
    }

    fn __len__(&self) -> usize {
        self.verdicts.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "Decision(index={}, k={}, stop={:?})",
            self.index,
            self.k,
            self.to_stop()
        )
    }
}

/// One arm's answer.
#[pyclass(name = "Verdict", module = "neuneu._native", frozen, get_all)]
#[derive(Clone)]
pub struct PyVerdict {
    id: String,
    /// "continue", "stop", "finished" or "stopped".
    action: &'static str,
    /// P(finishing in the top k); None for arms outside the plan (too young, stopped).
    p_top_k: Option<f64>,
    /// The forecast at the arm's end (median, 0.1 and 0.9 quantiles), metric's units.
    median: Option<f64>,
    q10: Option<f64>,
    q90: Option<f64>,
    end_step: Option<f64>,
    /// One line a person can read, with the numbers behind the verdict.
    reason: String,
}

#[pymethods]
impl PyVerdict {
    /// Whether the arm should stop now.
    #[getter]
    fn stop(&self) -> bool {
        self.action == "stop"
    }

    fn __repr__(&self) -> String {
        format!(
            "Verdict(id={:?}, action={:?}, p_top_k={:?})",
            self.id, self.action, self.p_top_k
        )
    }
}
