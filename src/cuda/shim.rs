//! Runs `kernels/encoder.cu` on the CPU, compiled as host C++ under `kernels/shim/`, following
//! the same launch plan as the CUDA backend, and compares it with the CPU reference.
//! TEST CODE ONLY: this is how the kernels' arithmetic is checked on machines without a GPU.

use std::collections::HashMap;
use std::ffi::{CString, c_char, c_void};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use super::launch::{self, Arg, Buf, Plan};
use super::reference::{encode_reference, max_relative_error, synthetic_inputs};
use super::spec::EncoderSpec;
use super::weights::EncoderWeights;

type LaunchFn = unsafe extern "C" fn(*const c_char, *const u32, u32, *mut *mut c_void) -> i32;

struct Shim {
    _library: libloading::Library,
    launch: LaunchFn,
}

/// Builds the shim library once per test process. Launches go through the mutex: the kernels'
/// `__shared__` arrays are `static` in the shim, so two launches at once would share them.
fn shim() -> &'static Mutex<Shim> {
    static SHIM: OnceLock<Mutex<Shim>> = OnceLock::new();
    SHIM.get_or_init(|| {
        Mutex::new(build().unwrap_or_else(|e| panic!("building the host shim: {e}")))
    })
}

fn build() -> Result<Shim, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::temp_dir().join(format!("neuneu-cuda-shim-{}", std::process::id()));
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let library = out.join("libencoder_shim.so");
    let compiler = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    let status = Command::new(&compiler)
        .args([
            "-std=c++17",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-shared",
            "-fPIC",
            "-pthread",
        ])
        .arg(root.join("kernels/shim/launch.cpp"))
        .arg("-o")
        .arg(&library)
        .status()
        .map_err(|e| format!("running {compiler}: {e} (set CXX to a C++17 compiler)"))?;
    if !status.success() {
        return Err(format!(
            "{compiler} failed to compile kernels/shim/launch.cpp"
        ));
    }
    let shim = load(&library);
    // The mapping outlives the file; don't leave a library per test run in /tmp.
    let _ = std::fs::remove_dir_all(&out);
    shim
}

fn load(path: &PathBuf) -> Result<Shim, String> {
    // SAFETY: the library is ours, just built; its initialisers only set up thread-locals.
    let library = unsafe { libloading::Library::new(path) }.map_err(|e| e.to_string())?;
    // SAFETY: the symbol is declared in launch.cpp with exactly this signature.
    let launch = unsafe {
        *library
            .get::<LaunchFn>(b"neuneu_shim_launch\0")
            .map_err(|e| e.to_string())?
    };
    Ok(Shim {
        _library: library,
        launch,
    })
}

/// Executes `plan` on host buffers, as `CudaEncoder::encode_batch` does on the device.
fn run(plan: &Plan, weights: &[Vec<f32>], losses: &[f32]) -> Vec<f32> {
    let mut buffers: HashMap<Buf, Vec<f32>> = plan
        .sizes
        .iter()
        .map(|&(buf, len)| (buf, vec![0.0; len]))
        .collect();
    buffers
        .get_mut(&Buf::Input)
        .expect("plan has an input")
        .copy_from_slice(losses);
    let mut weights: Vec<Vec<f32>> = weights.to_vec();
    let mut pointers: HashMap<Buf, *mut f32> = buffers
        .iter_mut()
        .map(|(&b, v)| (b, v.as_mut_ptr()))
        .collect();
    pointers.extend(
        weights
            .iter_mut()
            .enumerate()
            .map(|(i, w)| (Buf::Weight(i), w.as_mut_ptr())),
    );

    let shim = shim().lock().unwrap_or_else(|e| e.into_inner());
    for launch in &plan.launches {
        // cuLaunchKernel's convention: args[i] points at the i-th argument's value.
        enum Value {
            Ptr(*mut f32),
            I32(i32),
            F32(f32),
        }
        let mut values: Vec<Value> = launch
            .args
            .iter()
            .map(|a| match a {
                Arg::Buf(b) => Value::Ptr(pointers[b]),
                Arg::I32(v) => Value::I32(*v),
                Arg::F32(v) => Value::F32(*v),
            })
            .collect();
        let mut args: Vec<*mut c_void> = values
            .iter_mut()
            .map(|v| match v {
                Value::Ptr(p) => p as *mut *mut f32 as *mut c_void,
                Value::I32(i) => i as *mut i32 as *mut c_void,
                Value::F32(f) => f as *mut f32 as *mut c_void,
            })
            .collect();
        let name = CString::new(launch.kernel.name()).expect("kernel names have no NUL");
        // SAFETY: args match the kernel's parameters (plan.rs builds them from encoder.cu) and
        // every pointer refers to a live buffer of the size the plan computed.
        let status = unsafe {
            (shim.launch)(
                name.as_ptr(),
                launch.grid.as_ptr(),
                launch.block,
                args.as_mut_ptr(),
            )
        };
        assert_eq!(status, 0, "shim launch of {}", launch.kernel.name());
    }
    drop(shim);
    buffers.remove(&Buf::Output).expect("plan has an output")
}

fn check(label: &str, spec: &EncoderSpec, n: usize, threads: u32) {
    let weights = EncoderWeights::synthetic(spec, 7).unwrap();
    let losses = synthetic_inputs(spec, n, 11);
    let want = encode_reference(spec, &weights, &losses, n).unwrap();
    let plan = launch::plan(spec, n, threads).unwrap();
    let started = Instant::now();
    let got = run(&plan, &launch::device_weights(spec, &weights), &losses);
    let error = max_relative_error(&got, &want);
    println!(
        "shim parity {label}: n={n} threads={threads} lengths={:?}: max relative error {error:.2e} ({} values, {:.2?})",
        spec.lengths(),
        got.len(),
        started.elapsed()
    );
    assert_eq!(got.len(), want.len());
    assert!(
        got.iter().all(|v| v.is_finite()),
        "{label}: non-finite output"
    );
    assert!(
        error <= 1e-4,
        "{label}: kernels differ from the reference by {error:.2e}"
    );
}

#[test]
fn kernels_match_reference_at_reference_size() {
    check("reference", &EncoderSpec::reference(), 2, launch::THREADS);
}

#[test]
fn kernels_match_reference_at_small_size() {
    check("small", &EncoderSpec::small(), 5, launch::THREADS);
}

#[test]
fn kernels_match_reference_at_odd_sizes() {
    // L not a multiple of the stride, channels not powers of two, several channels per group,
    // padding larger than the kernel (windows entirely in the padding), a batch not a multiple
    // of the projection's runs per thread, and blocks smaller than a warp.
    let odd = crate::testing::odd_encoder_spec();
    check("odd", &odd, 3, 64);
    check("odd, 13 threads", &odd, 6, 13);
    let wide_pad = EncoderSpec {
        loss_len: 97,
        channels: vec![1, 5, 10],
        kernel: 3,
        stride: 2,
        padding: 4,
        groups: 5,
        d_model: 3,
    };
    check("padding > kernel", &wide_pad, 1, 32);
}
