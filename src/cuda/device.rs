//! The CUDA encoder: kernels compiled once by NVRTC for the device at hand, weights uploaded
//! once, then one stream of launches per batch following [`plan`](super::plan).

use std::collections::HashMap;
use std::sync::Arc;

use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::{CompileError, CompileOptions, Ptx};

use super::backend::cuda_unavailable_reason;
use super::launch::{self, Arg, Buf, KERNEL_SOURCE, Kernel};
use super::reference::check_batch;
use super::spec::EncoderSpec;
use super::weights::{EncoderWeights, WeightSource};
use crate::{Error, Result};

/// Runs per batch sent to the device at once; bounds scratch memory (~1.6 MB per run at the
/// reference size, so ~400 MB) while still filling an H100 many times over.
const RUNS_PER_BATCH: usize = 256;

/// Compiles [`KERNEL_SOURCE`] to PTX for `arch` (e.g. `"compute_80"`) with NVRTC.
///
/// NVRTC is loaded at run time (libnvrtc.so.12); without it this returns [`Error::Cuda`].
pub fn compile_kernels(arch: &str) -> Result<String> {
    // SAFETY: only tries to dlopen the library. It must come first: cudarc panics on the first
    // call into an NVRTC that is absent.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Err(Error::Cuda("NVRTC (libnvrtc.so.12) was not found".into()));
    }
    let options = CompileOptions {
        options: vec![format!("--gpu-architecture={arch}")],
        name: Some("encoder.cu".into()),
        ..Default::default()
    };
    let ptx =
        cudarc::nvrtc::compile_ptx_with_opts(KERNEL_SOURCE, options).map_err(|e| match e {
            CompileError::CompileError { log, .. } => Error::Cuda(format!(
                "NVRTC rejected encoder.cu for {arch}:\n{}",
                log.to_string_lossy()
            )),
            other => Error::Cuda(format!("NVRTC failed for {arch}: {other}")),
        })?;
    Ok(ptx.to_src())
}

/// The loss encoder on one CUDA device.
pub struct CudaEncoder {
    spec: EncoderSpec,
    stream: Arc<CudaStream>,
    /// In [`Kernel::ALL`] order.
    functions: Vec<CudaFunction>,
    /// In [`launch::device_weights`] order.
    weights: Vec<CudaSlice<f32>>,
    device_name: String,
}

impl CudaEncoder {
    /// Prepares the encoder on device `device_ordinal`: checks that CUDA can run here, compiles
    /// the kernels for the device's architecture and uploads the weights (read from `weights`
    /// by their `enc.*` names).
    pub fn new(
        spec: &EncoderSpec,
        weights: &dyn WeightSource,
        device_ordinal: usize,
    ) -> Result<Self> {
        let weights = EncoderWeights::gather(spec, weights)?;
        Self::from_weights(spec, &weights, device_ordinal)
    }

    /// As [`CudaEncoder::new`], from weights already gathered.
    pub fn from_weights(
        spec: &EncoderSpec,
        weights: &EncoderWeights,
        device_ordinal: usize,
    ) -> Result<Self> {
        spec.validate()?;
        if let Some(reason) = cuda_unavailable_reason() {
            return Err(Error::Cuda(reason.into()));
        }
        // Safe to call now that the driver is known to load (CudaContext::new panics otherwise).
        let devices = CudaContext::device_count().map_err(driver("counting devices"))?;
        if device_ordinal >= devices as usize {
            return Err(Error::Cuda(format!(
                "device {device_ordinal} requested, {devices} present"
            )));
        }
        let ctx = CudaContext::new(device_ordinal).map_err(driver("creating a context"))?;
        let device_name = ctx.name().map_err(driver("reading the device name"))?;
        let (major, minor) = ctx
            .compute_capability()
            .map_err(driver("reading the compute capability"))?;
        let ptx = compile_kernels(&format!("compute_{major}{minor}"))?;
        let module = ctx
            .load_module(Ptx::from_src(ptx))
            .map_err(driver("loading the PTX (is the driver older than NVRTC?)"))?;
        let functions = Kernel::ALL
            .iter()
            .map(|k| module.load_function(k.name()).map_err(driver(k.name())))
            .collect::<Result<Vec<_>>>()?;
        let stream = ctx.default_stream();
        let weights = launch::device_weights(spec, weights)
            .iter()
            .map(|t| stream.clone_htod(t).map_err(driver("uploading weights")))
            .collect::<Result<Vec<_>>>()?;
        Ok(CudaEncoder {
            spec: spec.clone(),
            stream,
            functions,
            weights,
            device_name,
        })
    }

    pub fn spec(&self) -> &EncoderSpec {
        &self.spec
    }

    /// The device's name, e.g. "NVIDIA H100 80GB HBM3".
    pub fn device_name(&self) -> &str {
        &self.device_name
    }

    /// Encodes `n` loss vectors (`losses` is `n * loss_len` values, run after run) into
    /// `n * d_model` embedding values, run after run.
    pub fn encode(&self, losses: &[f32], n: usize) -> Result<Vec<f32>> {
        check_batch(&self.spec, losses, n)?;
        let mut out = Vec::with_capacity(n * self.spec.d_model);
        for chunk in losses.chunks(RUNS_PER_BATCH * self.spec.loss_len) {
            out.extend(self.encode_batch(chunk, chunk.len() / self.spec.loss_len)?);
        }
        Ok(out)
    }

    fn encode_batch(&self, losses: &[f32], n: usize) -> Result<Vec<f32>> {
        let plan = launch::plan(&self.spec, n, launch::THREADS)?;
        // Scratch is allocated per batch: stream-ordered allocations come from the driver's
        // pool, so this is cheap after the first call.
        let mut buffers: HashMap<Buf, CudaSlice<f32>> = HashMap::new();
        for &(buf, len) in &plan.sizes {
            let slice = match buf {
                Buf::Input => self.stream.clone_htod(losses),
                _ => self.stream.alloc_zeros::<f32>(len),
            };
            buffers.insert(buf, slice.map_err(driver("allocating scratch"))?);
        }
        for launch in &plan.launches {
            let function = &self.functions[launch.kernel as usize];
            let mut args = self.stream.launch_builder(function);
            for arg in &launch.args {
                match arg {
                    Arg::Buf(Buf::Weight(i)) => args.arg(&self.weights[*i]),
                    // Every buffer is passed by shared reference, written ones included: one
                    // stream orders all the launches, so cudarc's cross-stream tracking has
                    // nothing to do.
                    Arg::Buf(buf) => args.arg(&buffers[buf]),
                    Arg::I32(v) => args.arg(v),
                    Arg::F32(v) => args.arg(v),
                };
            }
            let config = LaunchConfig {
                grid_dim: (launch.grid[0], launch.grid[1], launch.grid[2]),
                block_dim: (launch.block, 1, 1),
                shared_mem_bytes: 0,
            };
            // SAFETY: the arguments follow the kernel's signature in encoder.cu (plan.rs builds
            // them from it) and every buffer holds the sizes the plan computed for this batch.
            unsafe { args.launch(config) }.map_err(driver(launch.kernel.name()))?;
        }
        self.stream
            .clone_dtoh(&buffers[&Buf::Output])
            .map_err(driver("reading the embeddings"))
    }
}

fn driver(what: &str) -> impl Fn(cudarc::driver::DriverError) -> Error + '_ {
    move |e| Error::Cuda(format!("{what}: {e}"))
}
