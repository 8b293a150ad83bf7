//! Helpers shared by the modules of the test binary: the embedded engine, running the CLI,
//! scratch folders, memory, the checks every forecast must pass, tests in a process of their
//! own, and one test body run per loss-encoder backend (`backend_test!`). `native` (shared with
//! the `neuneu-ffi` tests) finds C toolchains and runs valgrind. Each module uses its own subset,
//! and some modules are built only with some features.

#![allow(dead_code)]

pub mod native;
#[allow(unused_imports)]
pub use native::*;

use neuneu::{Engine, RunForecast};
use std::ffi::OsStr;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The embedded default model, loaded once for the whole binary. Tests compare its forecasts
/// bit for bit: one that switches row batching builds an engine of its own.
pub fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::embedded().expect("the embedded model loads"))
}

/// Every forecast of `f` has one quantile per level of `engine`, non-decreasing, in [0, 1].
pub fn assert_sane_forecast(engine: &Engine, f: &RunForecast) {
    for fc in &f.forecasts {
        let q = &fc.quantiles;
        assert_eq!(q.len(), engine.levels().len(), "{q:?}");
        assert!(q.windows(2).all(|w| w[0] <= w[1]), "crossing: {q:?}");
        assert!(
            q.iter().all(|v| (0.0..=1.0).contains(v)),
            "outside [0, 1]: {q:?}"
        );
    }
}

/// Runs the program `exe` with `args`, writing `stdin` to it: (exit code, stdout, stderr).
pub fn run_exe(
    exe: &str,
    args: impl IntoIterator<Item = impl AsRef<OsStr>>,
    stdin: &str,
) -> (i32, String, String) {
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{exe} runs: {e}"));
    // A command may exit before reading stdin (a bad --model): a broken pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the `neuneu` binary: (exit code, stdout, stderr). Cargo builds it with feature `cli`.
#[cfg(feature = "cli")]
pub fn cli_run(args: &[&str], stdin: &str) -> (i32, String, String) {
    run_exe(env!("CARGO_BIN_EXE_neuneu"), args, stdin)
}

/// A fresh scratch folder for this test process and `name`.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("neuneu-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Peak resident memory of this process so far (VmHWM), in MiB; None off Linux. Every test of
/// the binary shares the process: a test that measures it runs `isolated`.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Runs test `name` of module `module` (pass `module_path!()`) again in a process of its own,
/// so that what it measures of the process (peak memory) is its own, not that of the tests
/// running beside it. True in that process: go on with the test. In the calling process it
/// waits, fails with the child's output unless exactly that one test passed there, and returns
/// false.
pub fn isolated(module: &str, name: &str) -> bool {
    const VAR: &str = "NEUNEU_TEST_ISOLATED";
    let path = test_path(module, name);
    if std::env::var(VAR).is_ok_and(|v| v == path) {
        return true;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([path.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(VAR, &path)
        .output()
        .expect("the test binary runs again");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    eprint!("{stderr}");
    // Without the count, a wrong name would run no test and pass.
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed;"),
        "{path}, in a process of its own:\n{stdout}\n{stderr}"
    );
    false
}

/// The path libtest knows test `name` of `module` (a `module_path!()`) by: without the crate.
fn test_path(module: &str, name: &str) -> String {
    match module.split_once("::") {
        Some((_, inner)) => format!("{inner}::{name}"),
        None => name.to_string(),
    }
}

/// Whether the CUDA backend can run here. Where it cannot, prints a SKIP line for test `name`
/// of `module` (a `module_path!()`) and returns false, or fails when NEUNEU_REQUIRE_CUDA=1 (set
/// it where a GPU is expected).
pub fn cuda_or_skip(module: &str, name: &str) -> bool {
    let Some(reason) = neuneu::cuda::cuda_unavailable_reason() else {
        return true;
    };
    let test = test_path(module, name);
    if std::env::var("NEUNEU_REQUIRE_CUDA").is_ok_and(|v| v == "1") {
        panic!("{test}: CUDA cannot run here and NEUNEU_REQUIRE_CUDA=1: {reason}");
    }
    println!("SKIP {test}: {reason}");
    false
}

/// One test body per loss-encoder backend, in the habit of candle's `test_device!`:
/// `backend_test!(body, body_cpu, body_cuda)` turns `fn body(backend: Backend)` into the tests
/// `body_cpu` (tract) and `body_cuda` (our CUDA kernels; `cuda_or_skip` where CUDA cannot run).
#[allow(unused_macros)] // used only by modules built with some features
macro_rules! backend_test {
    ($body:ident, $cpu:ident, $cuda:ident) => {
        #[test]
        fn $cpu() {
            $body(neuneu::cuda::Backend::Cpu);
        }

        #[test]
        fn $cuda() {
            if $crate::common::cuda_or_skip(module_path!(), stringify!($cuda)) {
                $body(neuneu::cuda::Backend::Cuda);
            }
        }
    };
}

/// The default bundle with graph `name` replaced by `bytes`, checksums recomputed: damage that
/// gets past the integrity checks and reaches the graph reader.
pub fn with_graph(name: &str, bytes: Vec<u8>) -> Vec<u8> {
    use neuneu::model::bundle::Bundle;
    let b = Bundle::from_bytes(neuneu::inference::engine::DEFAULT_BUNDLE).unwrap();
    let graphs = b
        .manifest
        .graphs
        .iter()
        .map(|g| {
            let v = if g.name == name {
                bytes.clone()
            } else {
                b.graphs[&g.name].clone()
            };
            (g.name.clone(), v)
        })
        .collect();
    Bundle::new(b.manifest, graphs).to_bytes()
}
