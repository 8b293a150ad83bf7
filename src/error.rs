//! Every error the library can return. Variants name the run and the field at fault, so that a
//! scheduler can log a line a person understands.

use thiserror::Error;

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A run's input is unusable; `run` is its index (or id) in the request, `field` the input.
    #[error("run {run}: {field}: {reason}")]
    InvalidInput {
        run: String,
        field: &'static str,
        reason: String,
    },
    /// A setting not tied to one run (a policy, a sample count) is out of range.
    #[error("{field}: {reason}")]
    InvalidSetting { field: &'static str, reason: String },
    /// A model bundle could not be read or does not hold together.
    #[error("model bundle: {0}")]
    Bundle(#[from] BundleError),
    /// tract failed while loading or running a graph.
    #[error("inference: {0}")]
    Inference(String),
    /// A request line, option or file the CLI or C ABI could not parse.
    #[error("{0}")]
    Parse(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The CUDA backend was asked for but cannot run here.
    #[error("cuda: {0}")]
    Cuda(String),
    /// Model weights could not be written as graphs (see [`ModelError`]). The engine never
    /// returns it: it comes from the exporter's callers (`testing::random_bundle`).
    #[error("model: {0}")]
    Model(#[from] ModelError),
}

/// Why a model bundle was rejected.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BundleError {
    #[error("not a neuneu bundle (bad magic bytes)")]
    BadMagic,
    #[error("format version {found} is not supported (this library reads {supported})")]
    UnsupportedVersion { found: u32, supported: u32 },
    #[error("truncated: {0}")]
    Truncated(String),
    #[error("checksum mismatch in {0}")]
    Checksum(String),
    #[error("manifest: {0}")]
    Manifest(String),
    #[error("graph {graph}: {reason}")]
    Graph { graph: String, reason: String },
    /// A member beside the graphs (the trees) is malformed or made for other inputs.
    #[error("{member} member: {reason}")]
    Member { member: String, reason: String },
}

/// Why model weights could not be exported as ONNX graphs or read back from one, or why an
/// architecture's sizes make no valid model.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModelError {
    /// The exporter needs a weight the set lacks.
    #[error("missing weight `{name}`")]
    MissingWeight { name: String },
    /// A weight has another shape than the architecture gives it.
    #[error("weight `{name}` has shape {found:?}, expected {expected:?}")]
    WeightShape {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// The bytes are no ONNX model.
    #[error("not ONNX: {0}")]
    NotOnnx(#[from] prost::DecodeError),
    /// An ONNX model that is malformed or lacks what the reader needs.
    #[error("{0}")]
    Onnx(String),
    /// The sizes make no valid model (`Architecture::validate`).
    #[error("architecture: {0}")]
    Architecture(String),
}

impl Error {
    /// The same error with its run named as the caller knows it: the engine names a run by its
    /// index among the runs it was given, and a caller that gave it a subset, or knows its runs
    /// by id, renames it with `name` (given that index as text; `None` keeps the name). Other
    /// errors are returned as they are.
    pub fn rename_run(self, name: impl FnOnce(&str) -> Option<String>) -> Error {
        match self {
            Error::InvalidInput { run, field, reason } => Error::InvalidInput {
                run: name(&run).unwrap_or(run),
                field,
                reason,
            },
            other => other,
        }
    }

    /// [`Error::rename_run`] for a caller that gave the engine the runs `given[0], given[1],
    /// ...` of its own numbering.
    pub fn renumber_run(self, given: &[usize]) -> Error {
        self.rename_run(|run| {
            let i = run.parse::<usize>().ok()?;
            given.get(i).map(usize::to_string)
        })
    }

    pub(crate) fn invalid(
        run: impl ToString,
        field: &'static str,
        reason: impl Into<String>,
    ) -> Self {
        Error::InvalidInput {
            run: run.to_string(),
            field,
            reason: reason.into(),
        }
    }

    pub(crate) fn setting(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidSetting {
            field,
            reason: reason.into(),
        }
    }

    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

impl From<tract_onnx::prelude::TractError> for Error {
    fn from(e: tract_onnx::prelude::TractError) -> Self {
        Error::Inference(format!("{e:#}"))
    }
}

/// The message a caught panic carried (`panic!` payloads are a `&str` or a `String`), for the
/// boundaries that turn panics into errors: the engine around tract, the C ABI, the C++ bridge.
#[doc(hidden)]
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
