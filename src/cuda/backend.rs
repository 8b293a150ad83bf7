//! Choosing where the encoder runs: `auto`, `cpu` or `cuda`.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use crate::{Error, Result};

/// Where the loss encoder runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// CUDA when a driver and a device are present, else the CPU.
    #[default]
    Auto,
    Cpu,
    /// CUDA or an error saying why it cannot run here.
    Cuda,
}

impl Backend {
    /// The concrete backend to use now: `Cpu` or `Cuda`. `Cuda` requested where it cannot run
    /// is an [`Error::Cuda`] naming the reason; `Auto` falls back to the CPU silently.
    pub fn resolve(self) -> Result<Backend> {
        match (self, cuda_unavailable_reason()) {
            (Backend::Cpu, _) | (Backend::Auto, Some(_)) => Ok(Backend::Cpu),
            (Backend::Cuda | Backend::Auto, None) => Ok(Backend::Cuda),
            (Backend::Cuda, Some(reason)) => Err(Error::Cuda(reason.to_string())),
        }
    }
}

impl FromStr for Backend {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Backend::Auto),
            "cpu" => Ok(Backend::Cpu),
            "cuda" | "gpu" => Ok(Backend::Cuda),
            other => Err(Error::Parse(format!(
                "backend {other:?}: expected auto, cpu or cuda"
            ))),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Auto => "auto",
            Backend::Cpu => "cpu",
            Backend::Cuda => "cuda",
        })
    }
}

/// Whether the CUDA encoder can run here: built with the `cuda` feature, the driver and NVRTC
/// load, and at least one device answers.
pub fn cuda_available() -> bool {
    cuda_unavailable_reason().is_none()
}

/// Why the CUDA encoder cannot run here, or `None` when it can. Probed once per process.
pub fn cuda_unavailable_reason() -> Option<&'static str> {
    static REASON: OnceLock<Option<String>> = OnceLock::new();
    REASON.get_or_init(probe).as_deref()
}

#[cfg(not(feature = "cuda"))]
fn probe() -> Option<String> {
    Some("this build of neuneu has no CUDA support (enable the `cuda` feature)".into())
}

#[cfg(feature = "cuda")]
fn probe() -> Option<String> {
    use cudarc::driver::CudaContext;
    // SAFETY: both only try to dlopen the library and drop it; no CUDA call is made. They must
    // come first: cudarc panics on the first call into a library that is absent.
    let (driver, nvrtc) = unsafe {
        (
            cudarc::driver::sys::is_culib_present(),
            cudarc::nvrtc::sys::is_culib_present(),
        )
    };
    if !driver {
        return Some("the CUDA driver library (libcuda.so) is not installed".into());
    }
    if !nvrtc {
        return Some("NVRTC (libnvrtc.so.12) was not found; install the CUDA 12 runtime compiler or add it to LD_LIBRARY_PATH".into());
    }
    match CudaContext::device_count() {
        Ok(0) => Some("no CUDA device is visible".into()),
        Ok(_) => None,
        Err(e) => Some(format!("the CUDA driver failed to initialise: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays() {
        for backend in [Backend::Auto, Backend::Cpu, Backend::Cuda] {
            assert_eq!(backend.to_string().parse::<Backend>().unwrap(), backend);
        }
        assert_eq!(" CUDA ".parse::<Backend>().unwrap(), Backend::Cuda);
        assert!(matches!("tpu".parse::<Backend>(), Err(Error::Parse(_))));
    }

    #[test]
    fn resolves_consistently_with_availability() {
        assert_eq!(Backend::Cpu.resolve().unwrap(), Backend::Cpu);
        if cuda_available() {
            assert_eq!(Backend::Auto.resolve().unwrap(), Backend::Cuda);
            assert_eq!(Backend::Cuda.resolve().unwrap(), Backend::Cuda);
        } else {
            assert_eq!(Backend::Auto.resolve().unwrap(), Backend::Cpu);
            assert!(matches!(Backend::Cuda.resolve(), Err(Error::Cuda(_))));
        }
    }
}
