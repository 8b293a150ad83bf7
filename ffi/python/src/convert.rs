//! Python values -> the library's types: metrics, policies and options (as the library's JSON,
//! so that Python spells them as the CLI and the saved sweeps do), and numeric arrays.

use crate::errors::{setting, to_py};
use neuneu::{Direction, Metric, MetricKind, Policy};
use numpy::PyReadonlyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// A 1-D float array from anything NumPy turns into one (lists, tuples, arrays of any numeric
/// type); anything else is an `InvalidArgumentError` naming `field`.
pub fn floats(obj: &Bound<'_, PyAny>, field: &'static str) -> PyResult<Vec<f64>> {
    let array = obj
        .py()
        .import("numpy")?
        .call_method1("asarray", (obj, "float64"))
        .map_err(|e| setting(field, format!("not an array of numbers ({e})")))?;
    let ndim: usize = array.getattr("ndim")?.extract()?;
    if ndim != 1 {
        return Err(setting(
            field,
            format!("expected a 1-D array, got {ndim} dimensions"),
        ));
    }
    let array: PyReadonlyArray1<'_, f64> = array.extract()?;
    Ok(array.as_array().to_vec())
}

/// A non-negative integer setting (a seed, a count), taken from Python's unbounded `int`: out
/// of range is an `InvalidArgumentError` naming `field` (a `u64` argument would raise a bare
/// `OverflowError` that names nothing).
pub fn unsigned<T: TryFrom<i128>>(value: i128, field: &'static str) -> PyResult<T> {
    T::try_from(value).map_err(|_| setting(field, format!("{value} is negative or too large")))
}

/// Token losses as the engine reads them: f32 (doubles beyond f32's range become infinities).
/// A 1-D float32 array is copied as it is: losses are long, and kept as float32 by callers
/// that store them (`neuneu.optuna.report_losses`).
pub fn losses(obj: &Bound<'_, PyAny>, field: &'static str) -> PyResult<Vec<f32>> {
    if let Ok(array) = obj.extract::<PyReadonlyArray1<'_, f32>>() {
        return Ok(array.as_array().to_vec());
    }
    Ok(floats(obj, field)?.into_iter().map(|x| x as f32).collect())
}

/// `kind` is "bounded" (alias "accuracy": in [0, 1]), "loss" (non-negative) or "neg_loss"
/// (non-positive: a loss reported negated, maximized by default); `direction`
/// "maximize"/"minimize" (or "max"/"min"), else the kind's usual one.
pub fn metric(kind: &str, direction: Option<&str>) -> PyResult<Metric> {
    let kind = match kind {
        "bounded" | "accuracy" => MetricKind::Bounded,
        "loss" => MetricKind::Loss,
        "neg_loss" => MetricKind::NegLoss,
        other => {
            return Err(setting(
                "metric",
                format!("unknown metric kind {other:?} (bounded, accuracy, loss or neg_loss)"),
            ));
        }
    };
    let direction = match direction {
        None => kind.usual_direction(),
        Some("maximize" | "max") => Direction::Maximize,
        Some("minimize" | "min") => Direction::Minimize,
        Some(other) => {
            return Err(setting(
                "direction",
                format!("unknown direction {other:?} (maximize or minimize)"),
            ));
        }
    };
    Ok(Metric::new(kind, direction))
}

/// A Python dict as the library's JSON, deserialized into `T` (a policy, sweep options).
pub fn from_dict<T: serde::de::DeserializeOwned>(
    py: Python<'_>,
    value: &Bound<'_, PyDict>,
    field: &'static str,
) -> PyResult<T> {
    let json: String = py
        .import("json")?
        .call_method1("dumps", (value,))?
        .extract()?;
    serde_json::from_str(&json).map_err(|e| setting(field, e.to_string()))
}

/// The default policy of sweeps and plans made from Python: stop the arms least likely to
/// finish first, as long as their chances sum to at most 0.1.
pub fn default_policy() -> Policy {
    Policy::StopWithinBudget { k: 1, budget: 0.1 }
}

/// A policy from its dict (`{"kind": "keep_top_k", "k": 3}`, as in the library's JSON).
pub fn policy(py: Python<'_>, value: Option<&Bound<'_, PyDict>>) -> PyResult<Policy> {
    match value {
        None => Ok(default_policy()),
        Some(d) => from_dict(py, d, "policy"),
    }
}

/// The library's JSON of `value` back as a Python object (dicts, lists, numbers).
pub fn to_python<'py, T: serde::Serialize>(
    py: Python<'py>,
    value: &T,
) -> PyResult<Bound<'py, PyAny>> {
    let json =
        serde_json::to_string(value).map_err(|e| to_py(neuneu::Error::Parse(e.to_string())))?;
    py.import("json")?.call_method1("loads", (json,))
}
