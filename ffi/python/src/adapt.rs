//! `neuneu.adapt`: a bundle fitted to a user's finished runs (`neuneu::adapt`, the recipe of
//! `neuneu adapt`), from curve files or from runs held in memory.

use crate::convert;
use crate::engine::PyEngine;
use crate::errors::{IntoPy, setting};
use neuneu::adapt::input::{AdaptInput, RunCurve};
use neuneu::adapt::validate::Scores;
use neuneu::adapt::{AdaptOptions, HeldOutMae};
use neuneu::model::inputs::LossSummary;
use neuneu::{Error, Metric};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyMapping, PyString};
use std::path::PathBuf;
use std::sync::Arc;

/// What `adapt` was given: curve files, or runs in memory as (id, steps, values).
enum Given {
    Files(Vec<PathBuf>),
    Runs(Vec<(String, Vec<f64>, Vec<f64>)>),
}

/// What `adapt` was given as token losses: an index file, or (run, step, losses) in memory.
enum GivenLosses {
    Index(PathBuf),
    InMemory(Vec<(String, f64, Vec<f32>)>),
}

/// `losses` as Python passes it: a path to an index, or (with runs in memory) a mapping of run
/// id to a mapping of step to losses.
fn given_losses(losses: &Bound<'_, PyAny>, runs_in_memory: bool) -> PyResult<GivenLosses> {
    let Ok(mapping) = losses.cast::<PyMapping>() else {
        return Ok(GivenLosses::Index(losses.extract()?));
    };
    if !runs_in_memory {
        return Err(setting(
            "losses",
            "losses held in memory need runs given in memory (a mapping); with curve files, give an index file",
        ));
    }
    let mut out = Vec::new();
    for item in mapping.items()?.iter() {
        let (run, by_step): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item.extract()?;
        let run = run.str()?.to_string();
        let by_step = by_step.cast::<PyMapping>().map_err(|_| {
            setting(
                "losses",
                format!("run {run:?}: expected a mapping of step to losses"),
            )
        })?;
        for entry in by_step.items()?.iter() {
            let (step, values): (f64, Bound<'_, PyAny>) = entry
                .extract()
                .map_err(|_| setting("losses", format!("run {run:?}: steps must be numbers")))?;
            // The engine reads f32 losses, as `Sweep.observe_losses` takes them.
            let values = convert::floats(&values, "losses")?
                .into_iter()
                .map(|x| x as f32)
                .collect();
            out.push((run.clone(), step, values));
        }
    }
    Ok(GivenLosses::InMemory(out))
}

/// `runs` as Python passes it: a path, a sequence of paths, or a mapping of run id to
/// (steps, values).
fn given(runs: &Bound<'_, PyAny>) -> PyResult<Given> {
    if let Ok(mapping) = runs.cast::<PyMapping>() {
        let mut out = Vec::new();
        for item in mapping.items()?.iter() {
            let (id, curve): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item.extract()?;
            let id = id.str()?.to_string();
            let (steps, values): (Bound<'_, PyAny>, Bound<'_, PyAny>) =
                curve.extract().map_err(|_| {
                    setting(
                        "runs",
                        format!("run {id:?}: expected a (steps, values) pair"),
                    )
                })?;
            out.push((
                id,
                convert::floats(&steps, "steps")?,
                convert::floats(&values, "values")?,
            ));
        }
        return Ok(Given::Runs(out));
    }
    let is_path = |o: &Bound<'_, PyAny>| -> PyResult<bool> {
        let fspath = o.py().import("os")?.getattr("PathLike")?;
        Ok(o.is_instance_of::<PyString>() || o.is_instance(&fspath)?)
    };
    if is_path(runs)? {
        return Ok(Given::Files(vec![runs.extract()?]));
    }
    let mut files = Vec::new();
    for item in runs.try_iter().map_err(|_| {
        setting(
            "runs",
            "expected a curve file, a list of curve files, or a mapping of run id to (steps, values)",
        )
    })? {
        let item = item?;
        if !is_path(&item)? {
            return Err(setting(
                "runs",
                format!("{}: not a path to a curve file", item.repr()?),
            ));
        }
        files.push(item.extract()?);
    }
    Ok(Given::Files(files))
}

/// Fits a bundle to finished runs: the trees for the median are refitted on them (the network is
/// kept), less a held-out share (`holdout`, by run) on which the bands are recalibrated and the
/// base and the adapted bundle are scored. The same recipe as `neuneu adapt`.
///
/// `runs`: a long-format curve file (or several), or a mapping of run id to (steps, values) of
/// one metric (a finished study's trials, say; they form one suite, `suite`, of task `task`).
/// `base`: the engine to adapt (its bundle; the default model if None). `losses`: the runs'
/// token losses, which add loss trees: an index file (as `neuneu adapt --losses`), or, for runs
/// in memory, a mapping of run id to a mapping of step to the checkpoint's losses. The GIL is
/// released while fitting.
#[pyfunction]
#[pyo3(signature = (
    runs, *, base=None, losses=None, loss_summary="mean-p", metric="bounded", direction=None,
    holdout=0.2, seed=17, context=0.2, suite="runs", task="metric"
))]
#[allow(clippy::too_many_arguments)]
pub fn adapt(
    py: Python<'_>,
    runs: &Bound<'_, PyAny>,
    base: Option<PyRef<'_, PyEngine>>,
    losses: Option<Bound<'_, PyAny>>,
    loss_summary: &str,
    metric: &str,
    direction: Option<&str>,
    holdout: f64,
    seed: i128,
    context: f64,
    suite: &str,
    task: &str,
) -> PyResult<PyAdapted> {
    let seed: u64 = convert::unsigned(seed, "seed")?;
    let metric: Metric = convert::metric(metric, direction)?;
    let summary = self::loss_summary(loss_summary)?;
    let given = given(runs)?;
    let mut losses = match losses {
        None => None,
        Some(l) => Some(given_losses(&l, matches!(given, Given::Runs(_)))?),
    };
    let base_engine = match base {
        Some(e) => e.clone_ref(),
        None => PyEngine::default_engine()?,
    };
    let options = AdaptOptions {
        holdout,
        seed,
        context,
    };
    let command = format!(
        "neuneu.adapt (Python): metric {}, holdout {holdout}, seed {seed}, context {context}{}",
        metric.name(),
        if losses.is_some() {
            ", with losses"
        } else {
            ""
        }
    );
    let adapted = py
        .detach(|| -> neuneu::Result<_> {
            let base = base_engine.bundle()?;
            let mut input = AdaptInput::default();
            match &given {
                Given::Files(paths) => {
                    if paths.is_empty() {
                        return Err(Error::InvalidSetting {
                            field: "runs",
                            reason: "no curve file given".into(),
                        });
                    }
                    for p in paths {
                        input.add_file(p, metric)?;
                    }
                }
                Given::Runs(runs) => {
                    let curves: Vec<RunCurve> = runs
                        .iter()
                        .map(|(run, steps, values)| RunCurve { run, steps, values })
                        .collect();
                    input.add_runs(suite, task, &curves, metric)?;
                }
            }
            match &mut losses {
                Some(GivenLosses::Index(index)) => {
                    input.read_losses(index)?;
                }
                Some(GivenLosses::InMemory(list)) => {
                    input.add_run_losses(suite, std::mem::take(list))?;
                }
                None => {}
            }
            let adapted = input.adapt(base, summary, &command, &options)?;
            let bytes = adapted.bundle.to_bytes();
            Ok((adapted, bytes))
        })
        .py_err()?;
    let (adapted, bytes) = adapted;
    PyAdapted::new(py, adapted, bytes)
}

/// The loss summary `name` means, or `InvalidArgumentError` naming `loss_summary`.
pub(crate) fn loss_summary(name: &str) -> PyResult<LossSummary> {
    LossSummary::from_name(name).ok_or_else(|| {
        setting(
            "loss_summary",
            format!("unknown loss summary {name:?} (mean-p or p-histogram)"),
        )
    })
}

/// `PyAdapted::__reduce__`'s arguments of `Adapted._restore`.
type Saved<'py> = (
    Bound<'py, PyBytes>,
    usize,
    usize,
    usize,
    usize,
    Vec<String>,
    Option<Vec<f64>>,
    Scores,
    Scores,
    Option<(f64, f64, f64)>,
);

/// The result of `neuneu.adapt`: the adapted model (`engine`, `to_bytes`, `save`) and what the
/// fit did; picklable.
#[pyclass(name = "Adapted", module = "neuneu._native", frozen)]
pub struct PyAdapted {
    engine: PyEngine,
    /// The bundle's bytes, shared with `engine` (its source).
    bytes: Arc<Vec<u8>>,
    /// Runs the trees were fitted on, and runs held out to recalibrate the bands and score.
    #[pyo3(get)]
    runs_fitted: usize,
    #[pyo3(get)]
    runs_held_out: usize,
    /// (cut, target) rows the trees were fitted on; rows of the loss trees (0 without losses).
    #[pyo3(get)]
    rows: usize,
    #[pyo3(get)]
    loss_rows: usize,
    /// Runs given but left out, none of their curves long enough to learn from.
    #[pyo3(get)]
    left_out: Vec<String>,
    /// The band factors fitted on the held-out runs (one per level); None with no hold-out.
    #[pyo3(get)]
    band_factors: Option<Vec<f64>>,
    scores: Scores,
    base_scores: Scores,
    held_out_mae: Option<HeldOutMae>,
}

impl PyAdapted {
    /// The result of a fit, its bundle's `bytes` made once.
    pub(crate) fn new(
        py: Python<'_>,
        adapted: neuneu::adapt::Adapted,
        bytes: Vec<u8>,
    ) -> PyResult<PyAdapted> {
        let held_out_mae = adapted.held_out_mae();
        let bytes = Arc::new(bytes);
        let engine = PyEngine::from_bundle_bytes(py, bytes.clone())?;
        Ok(PyAdapted {
            engine,
            bytes,
            runs_fitted: adapted.runs_fitted,
            runs_held_out: adapted.runs_held_out,
            rows: adapted.rows.plain,
            loss_rows: adapted.rows.with_losses,
            left_out: adapted.left_out,
            band_factors: adapted
                .band_factors
                // Through the f32's shortest decimal, so that 0.14 reads 0.14.
                .map(|f| {
                    f.iter()
                        .map(|v| v.to_string().parse().expect("a float's decimal parses"))
                        .collect()
                }),
            scores: adapted.bundle.manifest.validation.clone(),
            base_scores: adapted.base_scores,
            held_out_mae,
        })
    }
}

#[pymethods]
impl PyAdapted {
    /// The adapted model, ready to forecast (pass it to `NeuNeuPruner(engine=...)`).
    #[getter]
    fn engine(&self) -> PyEngine {
        self.engine.clone_ref()
    }

    /// The adapted bundle's bytes (`Engine.from_bytes` loads them).
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.bytes)
    }

    /// Writes the adapted bundle (`.nnb`) to `path`.
    fn save(&self, path: PathBuf) -> PyResult<()> {
        std::fs::write(&path, self.bytes.as_slice())
            .map_err(|e| Error::io(&path, e))
            .py_err()
    }

    /// Held-out MAE of the median, overall, in the model's space: `{"adapted": .., "base": ..,
    /// "persistence": ..}`; None with no hold-out. An adapted MAE above the base's says the
    /// runs were too few (or too unlike each other) to learn from: the base may serve better.
    #[getter]
    fn held_out_mae<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(m) = self.held_out_mae else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        d.set_item("adapted", m.adapted)?;
        d.set_item("base", m.base)?;
        d.set_item("persistence", m.persistence)?;
        Ok(Some(d))
    }

    /// Held-out scores, in the model's space: `{"adapted": ..., "base": ...}`, each keyed by
    /// `"neuneu/<suite or all>"` and `"persistence/<...>"` with `mae` and `coverage_80`; empty
    /// with no hold-out.
    #[getter]
    fn scores<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("adapted", convert::to_python(py, &self.scores)?)?;
        d.set_item("base", convert::to_python(py, &self.base_scores)?)?;
        Ok(d)
    }

    /// Pickled as its bundle and what the fit measured (`pickle`, `copy`, Ray's object store).
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, Saved<'py>)> {
        let py = slf.py();
        let this = slf.get();
        let restore = slf.get_type().getattr("_restore")?;
        let held = this
            .held_out_mae
            .map(|m| (m.adapted, m.base, m.persistence));
        Ok((
            restore,
            (
                PyBytes::new(py, &this.bytes),
                this.runs_fitted,
                this.runs_held_out,
                this.rows,
                this.loss_rows,
                this.left_out.clone(),
                this.band_factors.clone(),
                this.scores.clone(),
                this.base_scores.clone(),
                held,
            ),
        ))
    }

    #[staticmethod]
    #[allow(clippy::too_many_arguments)]
    fn _restore(
        py: Python<'_>,
        bytes: Vec<u8>,
        runs_fitted: usize,
        runs_held_out: usize,
        rows: usize,
        loss_rows: usize,
        left_out: Vec<String>,
        band_factors: Option<Vec<f64>>,
        scores: Scores,
        base_scores: Scores,
        held_out_mae: Option<(f64, f64, f64)>,
    ) -> PyResult<PyAdapted> {
        let bytes = Arc::new(bytes);
        Ok(PyAdapted {
            engine: PyEngine::from_bundle_bytes(py, bytes.clone())?,
            bytes,
            runs_fitted,
            runs_held_out,
            rows,
            loss_rows,
            left_out,
            band_factors,
            scores,
            base_scores,
            held_out_mae: held_out_mae.map(|(adapted, base, persistence)| HeldOutMae {
                adapted,
                base,
                persistence,
            }),
        })
    }

    fn __repr__(&self) -> String {
        let held = match self.held_out_mae {
            Some(m) => format!(
                ", held-out MAE {:.4} (base {:.4}, persistence {:.4})",
                m.adapted, m.base, m.persistence
            ),
            None => String::new(),
        };
        format!(
            "Adapted(runs_fitted={}, runs_held_out={}{held})",
            self.runs_fitted, self.runs_held_out
        )
    }
}
