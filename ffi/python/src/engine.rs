//! `neuneu.Engine`: a loaded model, and the one-shot calls (forecast, rank, plan).

use crate::convert;
use crate::errors::{IntoPy, setting, to_py};
use neuneu::cuda::Backend;
use neuneu::decisions::{SweepArm, plan_sweep};
use neuneu::model::bundle::Bundle;
use neuneu::{Engine, Error, Losses, PlanOptions, RunInput};
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// Where an engine's model came from: how a pickled engine is loaded again.
#[derive(Clone)]
pub enum Source {
    Embedded,
    Path(PathBuf),
    Bytes(Arc<Vec<u8>>),
}

/// A loaded model. Safe to share between threads; forecasts release the GIL.
///
/// `Engine()` is the embedded default model; `Engine(path)` reads a bundle (`.nnb`).
#[pyclass(name = "Engine", module = "neuneu._native", frozen)]
pub struct PyEngine {
    pub inner: Arc<Engine>,
    source: Source,
    backend: Backend,
}

/// The process's one embedded engine (`Engine.default()`), loaded on first use.
fn shared_default() -> Result<Arc<Engine>, Error> {
    static DEFAULT: OnceLock<Arc<Engine>> = OnceLock::new();
    if let Some(e) = DEFAULT.get() {
        return Ok(e.clone());
    }
    let engine = Arc::new(Engine::embedded()?);
    Ok(DEFAULT.get_or_init(|| engine).clone())
}

fn backend(name: &str) -> PyResult<Backend> {
    name.parse::<Backend>().map_err(|_| {
        setting(
            "backend",
            format!("unknown backend {name:?} (auto, cpu or cuda)"),
        )
    })
}

impl PyEngine {
    pub fn default_engine() -> PyResult<PyEngine> {
        Ok(PyEngine {
            inner: shared_default().py_err()?,
            source: Source::Embedded,
            backend: Backend::Auto,
        })
    }

    fn load(py: Python<'_>, source: Source, backend: Backend) -> PyResult<PyEngine> {
        let loaded = py.detach(|| match &source {
            Source::Embedded => {
                Engine::from_bytes_with_backend(neuneu::inference::engine::DEFAULT_BUNDLE, backend)
            }
            Source::Path(p) => std::fs::read(p)
                .map_err(|e| Error::io(p, e))
                .and_then(|bytes| Engine::from_bytes_with_backend(&bytes, backend)),
            Source::Bytes(b) => Engine::from_bytes_with_backend(b, backend),
        });
        Ok(PyEngine {
            inner: Arc::new(loaded.py_err()?),
            source,
            backend,
        })
    }

    /// A bundle's bytes (`neuneu.adapt`'s result) loaded on the default backend; the engine
    /// keeps them as its source, shared with the caller.
    pub fn from_bundle_bytes(py: Python<'_>, bytes: Arc<Vec<u8>>) -> PyResult<PyEngine> {
        PyEngine::load(py, Source::Bytes(bytes), Backend::Auto)
    }

    /// The bundle this engine was loaded from (read again from its source), for `neuneu.adapt`.
    pub fn bundle(&self) -> Result<Bundle, Error> {
        match &self.source {
            Source::Embedded => Bundle::from_bytes(neuneu::inference::engine::DEFAULT_BUNDLE),
            Source::Path(p) => {
                let bytes = std::fs::read(p).map_err(|e| Error::io(p, e))?;
                Bundle::from_bytes(&bytes)
            }
            Source::Bytes(b) => Bundle::from_bytes(b),
        }
    }

    pub fn clone_ref(&self) -> PyEngine {
        PyEngine {
            inner: self.inner.clone(),
            source: self.source.clone(),
            backend: self.backend,
        }
    }

    /// The arguments that load this engine again (pickling): its source and its backend.
    pub fn reload_args<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let source = match &self.source {
            Source::Embedded => py.None().into_bound(py),
            Source::Path(p) => p.clone().into_pyobject(py)?.into_any(),
            Source::Bytes(b) => PyBytes::new(py, b).into_any(),
        };
        PyTuple::new(
            py,
            [
                source,
                self.backend.to_string().into_pyobject(py)?.into_any(),
            ],
        )
    }
}

/// A run's curve as Python passes it: (steps, values), each anything `convert::floats` reads.
type Curve<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>);

#[pymethods]
impl PyEngine {
    /// `path` None: the embedded default model (shared by every such engine of the process
    /// when `backend` is "auto"). `backend`: "auto", "cpu" or "cuda", for the loss encoder.
    #[new]
    #[pyo3(signature = (path=None, *, backend="auto"))]
    fn new(py: Python<'_>, path: Option<Bound<'_, PyAny>>, backend: &str) -> PyResult<PyEngine> {
        let b = self::backend(backend)?;
        match path {
            None if b == Backend::Auto => PyEngine::default_engine(),
            None => PyEngine::load(py, Source::Embedded, b),
            Some(p) => {
                if let Ok(bytes) = p.cast::<PyBytes>() {
                    let bytes = Arc::new(bytes.as_bytes().to_vec());
                    return PyEngine::load(py, Source::Bytes(bytes), b);
                }
                let path: PathBuf = p.extract()?;
                PyEngine::load(py, Source::Path(path), b)
            }
        }
    }

    /// The embedded default model, loaded once per process.
    #[staticmethod]
    fn default() -> PyResult<PyEngine> {
        PyEngine::default_engine()
    }

    /// A bundle read from `path`.
    #[staticmethod]
    #[pyo3(signature = (path, *, backend="auto"))]
    fn from_file(py: Python<'_>, path: PathBuf, backend: &str) -> PyResult<PyEngine> {
        PyEngine::load(py, Source::Path(path), self::backend(backend)?)
    }

    /// A bundle held in memory.
    #[staticmethod]
    #[pyo3(signature = (data, *, backend="auto"))]
    fn from_bytes(py: Python<'_>, data: Vec<u8>, backend: &str) -> PyResult<PyEngine> {
        PyEngine::load(py, Source::Bytes(Arc::new(data)), self::backend(backend)?)
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let py = slf.py();
        let restore = slf.get_type().getattr("_restore")?;
        Ok((restore, slf.get().reload_args(py)?))
    }

    #[staticmethod]
    fn _restore(
        py: Python<'_>,
        source: Option<Bound<'_, PyAny>>,
        backend: &str,
    ) -> PyResult<PyEngine> {
        PyEngine::new(py, source, backend)
    }

    /// The quantile levels of every forecast, increasing.
    #[getter]
    fn levels(&self) -> Vec<f64> {
        // Through the shortest decimal of the f32, so that 0.1 reads 0.1 and not 0.10000000149.
        self.inner
            .levels()
            .iter()
            .map(|l| l.to_string().parse().expect("a float's decimal parses"))
            .collect()
    }

    /// The fewest points a run needs to be forecast.
    #[getter]
    fn min_context(&self) -> usize {
        self.inner.manifest().preparation.min_context
    }

    /// The most points the model reads (longer runs are thinned evenly).
    #[getter]
    fn max_context(&self) -> usize {
        self.inner.architecture().max_context
    }

    /// The model's name.
    #[getter]
    fn name(&self) -> String {
        self.inner.manifest().name.clone()
    }

    /// Whether the model reads token losses.
    #[getter]
    fn reads_losses(&self) -> bool {
        self.inner.reads_losses()
    }

    /// The backend that runs the loss encoder: "cpu" or "cuda".
    #[getter]
    fn backend(&self) -> String {
        self.inner.loss_encoder_backend().to_string()
    }

    /// The model's manifest (sizes, training record, held-out scores) as a dict.
    fn manifest<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::to_python(py, self.inner.manifest())
    }

    fn __repr__(&self) -> String {
        format!(
            "Engine(model={:?}, backend={:?})",
            self.inner.manifest().name,
            self.backend()
        )
    }

    /// Quantile forecasts of one run at each of `targets` (each after its last step): an array
    /// of shape (len(targets), len(levels)) in the metric's units. `steps` increase (any compute
    /// unit), `values` are the metric at those steps; `token_losses` (natural-log, float32) of
    /// the last checkpoint when the model reads them. `metric`: "bounded" (an accuracy, in
    /// [0, 1]), "loss" (non-negative) or "neg_loss" (non-positive: a loss reported negated);
    /// `direction`: "maximize"/"minimize" (default: the kind's usual one).
    #[pyo3(signature = (steps, values, targets, *, token_losses=None, metric="bounded", direction=None))]
    #[allow(clippy::too_many_arguments)]
    fn forecast<'py>(
        &self,
        py: Python<'py>,
        steps: Bound<'py, PyAny>,
        values: Bound<'py, PyAny>,
        targets: Bound<'py, PyAny>,
        token_losses: Option<Bound<'py, PyAny>>,
        metric: &str,
        direction: Option<&str>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let metric = convert::metric(metric, direction)?;
        let steps = convert::floats(&steps, "steps")?;
        let model = metric
            .values_to_model(0, &convert::floats(&values, "values")?)
            .py_err()?;
        let targets = convert::floats(&targets, "targets")?;
        let losses = token_losses
            .map(|l| convert::losses(&l, "token_losses"))
            .transpose()?;
        let engine = self.inner.clone();
        let forecast = py.detach(|| {
            let mut run = RunInput::new(&steps, &model, &targets);
            if let Some(l) = &losses {
                run = run.with_losses(Losses::Tokens(l));
            }
            engine.forecast(&[run])
        });
        let forecast = forecast.py_err()?;
        let rows: Vec<f64> = forecast[0]
            .forecasts
            .iter()
            .flat_map(|f| metric.quantiles_to_user(&f.quantiles))
            .collect();
        let array = Array2::from_shape_vec((targets.len(), self.inner.levels().len()), rows)
            .expect("one row of levels per target");
        Ok(array.into_pyarray(py))
    }

    /// Ranks runs by their forecasts at `target`: `runs` is a sequence of (steps, values).
    #[pyo3(signature = (runs, target, *, metric="bounded", direction=None))]
    fn rank(
        &self,
        py: Python<'_>,
        runs: Vec<Curve<'_>>,
        target: f64,
        metric: &str,
        direction: Option<&str>,
    ) -> PyResult<PyRanking> {
        let metric = convert::metric(metric, direction)?;
        let data: Vec<(Vec<f64>, Vec<f64>)> = runs
            .iter()
            .enumerate()
            .map(|(i, (s, v))| {
                let values = convert::floats(v, "values")?;
                Ok((
                    convert::floats(s, "steps")?,
                    metric.values_to_model(i, &values).py_err()?,
                ))
            })
            .collect::<PyResult<_>>()?;
        let engine = self.inner.clone();
        let targets = [target];
        let ranking = py.detach(|| {
            let inputs: Vec<RunInput> = data
                .iter()
                .map(|(s, v)| RunInput::new(s, v, &targets))
                .collect();
            neuneu::decisions::rank_runs(&engine, &inputs)
        });
        let r = ranking.py_err()?;
        let n = r.order.len();
        let prob: Vec<f64> = r
            .prob_above
            .iter()
            .flat_map(|row| row.iter().map(|p| p.unwrap_or(f64::NAN)))
            .collect();
        Ok(PyRanking {
            order: r.order,
            prob_above: Array2::from_shape_vec((n, n), prob).expect("n x n"),
            expected_wins: r.expected_wins,
            medians: r.medians.iter().map(|&m| metric.to_user(m)).collect(),
        })
    }

    /// A kill plan over `arms` (a mapping of id -> (steps, values), or a sequence of (id,
    /// (steps, values)) pairs), each forecast at its end
    /// (`end_steps[id]`, else `end_step`). `policy` as the library's JSON, e.g.
    /// `{"kind": "keep_top_k", "k": 3}` (default: stop within a budget of 0.1 of P(best)).
    #[pyo3(signature = (arms, end_step, *, policy=None, metric="bounded", direction=None, end_steps=None, min_observations=0, samples=neuneu::decisions::killplan::DEFAULT_SAMPLES as i128, seed=0))]
    #[allow(clippy::too_many_arguments)]
    fn plan(
        &self,
        py: Python<'_>,
        arms: Bound<'_, PyAny>,
        end_step: f64,
        policy: Option<Bound<'_, PyDict>>,
        metric: &str,
        direction: Option<&str>,
        end_steps: Option<std::collections::HashMap<String, f64>>,
        min_observations: i128,
        samples: i128,
        seed: i128,
    ) -> PyResult<PyPlan> {
        let min_observations = convert::unsigned(min_observations, "min_observations")?;
        let samples = convert::unsigned(samples, "samples")?;
        let seed = convert::unsigned(seed, "seed")?;
        let metric = convert::metric(metric, direction)?;
        let policy = convert::policy(py, policy.as_ref())?;
        // A mapping of id -> curve, or a sequence of (id, curve) pairs.
        let arms: Vec<(String, Curve<'_>)> = match arms.cast::<PyDict>() {
            Ok(d) => d.items().extract()?,
            Err(_) => arms.extract()?,
        };
        let data: Vec<(String, Vec<f64>, Vec<f64>)> = arms
            .iter()
            .map(|(id, (s, v))| {
                let values = convert::floats(v, "values")?;
                Ok((
                    id.clone(),
                    convert::floats(s, "steps")?,
                    metric.values_to_model(id, &values).py_err()?,
                ))
            })
            .collect::<PyResult<_>>()?;
        let ends = end_steps.unwrap_or_default();
        if let Some(id) = ends.keys().find(|id| !data.iter().any(|(a, ..)| a == *id)) {
            return Err(setting(
                "end_steps",
                format!("{id:?} is not one of the arms"),
            ));
        }
        let options = PlanOptions {
            policy,
            min_observations: Some(min_observations),
            samples,
            seed,
            metric,
        };
        let engine = self.inner.clone();
        let plan = py.detach(|| {
            let sweep: Vec<SweepArm> = data
                .iter()
                .map(|(id, s, v)| SweepArm {
                    id: id.clone(),
                    run: RunInput::new(s, v, &[]),
                    end_step: ends.get(id).copied(),
                })
                .collect();
            plan_sweep(&engine, &sweep, end_step, &options)
        });
        let plan = plan.py_err()?;
        Ok(PyPlan {
            k: plan.k,
            k_requested: plan.k_requested,
            decisions: plan
                .decisions
                .into_iter()
                .map(|d| PyArmDecision {
                    id: d.id,
                    keep: d.keep,
                    p_top_k: d.p_top_k,
                    median: d.median,
                    q10: d.q10,
                    q90: d.q90,
                    reason: d.reason,
                })
                .collect(),
        })
    }
}

/// The answer to `Engine.rank`.
#[pyclass(name = "Ranking", module = "neuneu._native", frozen)]
pub struct PyRanking {
    order: Vec<usize>,
    prob_above: Array2<f64>,
    expected_wins: Vec<f64>,
    medians: Vec<f64>,
}

#[pymethods]
impl PyRanking {
    /// Run indices, best first.
    #[getter]
    fn order(&self) -> Vec<usize> {
        self.order.clone()
    }

    /// `prob_above[a, b]` = P(run a ends better than run b); NaN on the diagonal.
    #[getter]
    fn prob_above<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f64>> {
        self.prob_above.clone().into_pyarray(py)
    }

    /// Sum over the other runs of P(this run ends better).
    #[getter]
    fn expected_wins<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.expected_wins.clone().into_pyarray(py)
    }

    /// Each run's forecast median at the target, in the metric's units.
    #[getter]
    fn medians<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.medians.clone().into_pyarray(py)
    }

    fn __repr__(&self) -> String {
        format!("Ranking(order={:?})", self.order)
    }
}

/// The answer to `Engine.plan`.
#[pyclass(name = "Plan", module = "neuneu._native", frozen, get_all)]
pub struct PyPlan {
    /// The `k` of `p_top_k`, and the one the policy asked for (larger when capped).
    k: usize,
    k_requested: usize,
    decisions: Vec<PyArmDecision>,
}

/// One arm of a plan.
#[pyclass(name = "ArmDecision", module = "neuneu._native", frozen, get_all)]
#[derive(Clone)]
pub struct PyArmDecision {
    id: String,
    keep: bool,
    p_top_k: f64,
    median: f64,
    q10: f64,
    q90: f64,
    reason: String,
}

/// A checkpoint's token losses as the engine reads them (float32), checked as a forecast checks
/// them: not empty, at most the accepted count, none NaN or negative (`inf`: a token given
/// probability 0). For code that keeps losses to hand to the engine later (the Optuna pruner's
/// `report_losses`): a bad vector is refused when it is kept, not at every later decision.
/// Refusals name `run` when it is given (`InvalidInputError`), else only the field
/// (`InvalidArgumentError`).
#[pyfunction]
#[pyo3(signature = (losses, *, run=None))]
pub fn token_losses<'py>(
    py: Python<'py>,
    losses: Bound<'py, PyAny>,
    run: Option<String>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let losses = convert::losses(&losses, "token_losses")?;
    if let Err(p) = neuneu::inference::features::validate_losses(&losses) {
        return Err(match run {
            Some(run) => to_py(Error::InvalidInput {
                run,
                field: p.field,
                reason: p.reason,
            }),
            None => setting(p.field, p.reason),
        });
    }
    Ok(losses.into_pyarray(py))
}
