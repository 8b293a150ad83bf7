//! `neuneu::Error` -> the exception classes of `neuneu.errors`.

use neuneu::Error;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// The class of `neuneu.errors` an error is raised as.
fn class_name(e: &Error) -> &'static str {
    match e {
        Error::InvalidInput { .. } => "InvalidInputError",
        Error::InvalidSetting { .. } | Error::Parse(_) => "InvalidArgumentError",
        Error::Bundle(_) | Error::Model(_) => "BundleError",
        Error::Io { .. } => "NeuNeuIOError",
        Error::Cuda(_) => "CudaError",
        // `Inference`, and kinds added later: a failure to answer, not bad input.
        _ => "InferenceError",
    }
}

/// The Python exception for `e`, with the library's message.
pub fn to_py(e: Error) -> PyErr {
    let message = e.to_string();
    Python::attach(|py| {
        match py
            .import("neuneu.errors")
            .and_then(|m| m.getattr(class_name(&e)))
        {
            Ok(class) => match class.call1((message.clone(),)) {
                Ok(instance) => PyErr::from_value(instance),
                Err(err) => err,
            },
            // The native module used without its package: still an exception, never a panic.
            Err(_) => PyRuntimeError::new_err(message),
        }
    })
}

/// A setting the binding itself refuses (an unknown name), as the library's own refusals.
pub fn setting(field: &'static str, reason: impl Into<String>) -> PyErr {
    to_py(Error::InvalidSetting {
        field,
        reason: reason.into(),
    })
}

pub trait IntoPy<T> {
    fn py_err(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for neuneu::Result<T> {
    fn py_err(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
