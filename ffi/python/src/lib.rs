//! `neuneu._native`: the Python binding of the `neuneu` library (PyO3). The Python package
//! (`python/neuneu/`) re-exports it and adds the Optuna pruner and the Ray Tune scheduler.
//!
//! Every call that forecasts or plans releases the GIL. Errors become the exception classes
//! of `neuneu.errors` (defined in Python so that they can derive from both `NeuNeuError` and
//! the matching built-in: `ValueError` for bad input, `OSError` for files).

mod adapt;
mod convert;
mod engine;
mod errors;
mod sweep;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(adapt::adapt, m)?)?;
    m.add_function(wrap_pyfunction!(engine::token_losses, m)?)?;
    m.add_class::<adapt::PyAdapted>()?;
    m.add_class::<engine::PyEngine>()?;
    m.add_class::<engine::PyRanking>()?;
    m.add_class::<engine::PyPlan>()?;
    m.add_class::<engine::PyArmDecision>()?;
    m.add_class::<sweep::PySweep>()?;
    m.add_class::<sweep::PyDecision>()?;
    m.add_class::<sweep::PyVerdict>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("SWEEP_SAVE_FORMAT", neuneu::sweep::SAVE_FORMAT)?;
    m.add("SWEEP_SAVE_VERSION", neuneu::sweep::SAVE_VERSION)?;
    Ok(())
}
