//! The C++ side (feature `cpp`): configures and builds the CMake project of `ffi/` against the
//! libneuneu_ffi.a of this cargo build, then runs
//! - the C++ API test program (`ffi/tests/cpp_api_test.cpp`) and the C test programs (the ABI's
//!   and the sweep handle's) linked through both imported targets (`neuneu::static`,
//!   `neuneu::shared`);
//! - the scheduler example on `tests/data/pythia-sweeps.csv`, checking its comparison lines;
//! - the C++ test and the scheduler (on one sweep) under valgrind memcheck;
//!
//! cmake and valgrind are required: without them these tests fail with the
//! install command (`bash ffi/ci-deps.sh` installs all three).

#![cfg(feature = "cpp")]

#[path = "../../tests/it/common/native.rs"]
mod common;

use common::{profile_dir, require, root, run, static_lib};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const INSTALL: &str = "apt-get install -y cmake valgrind (or bash ffi/ci-deps.sh)";

/// The CMake targets these tests run.
const PROGRAMS: [&str; 7] = [
    "abi_test_static",
    "abi_test_shared",
    "sweep_test_static",
    "sweep_test_shared",
    "cpp_api_test",
    "scheduler",
    "asha",
];

/// The CMake build directory, configured and built once for all tests of this file. It lives
/// in `target/<profile>/ffi-cmake`, so a rerun only rebuilds what changed.
fn build_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        require("cmake", INSTALL);
        let dir = profile_dir().join("ffi-cmake");
        // A target folder copied from another checkout carries a CMake cache that names that
        // checkout's sources, which CMake refuses: start that build folder afresh.
        let cache = std::fs::read_to_string(dir.join("CMakeCache.txt")).unwrap_or_default();
        let source = format!(
            "CMAKE_HOME_DIRECTORY:INTERNAL={}",
            root().join("ffi").display()
        );
        if !cache.is_empty() && !cache.lines().any(|l| l == source) {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        let lib_dir = static_lib().parent().unwrap().to_path_buf();
        run(Command::new("cmake")
            .arg("-S")
            .arg(root().join("ffi"))
            .arg("-B")
            .arg(&dir)
            .arg("-DCMAKE_BUILD_TYPE=Debug")
            .arg(format!(
                "-DNEUNEU_TEST_HOOKS={}",
                if cfg!(feature = "test_hooks") {
                    "ON"
                } else {
                    "OFF"
                }
            ))
            .arg(format!("-DNEUNEU_LIB_DIR={}", lib_dir.display()))
            // This build's own cxx headers (those build.rs copies beside the library are the
            // last build's, which may have had other features).
            .arg(format!(
                "-DNEUNEU_CXX_INCLUDE_DIR={}/cxxbridge/include",
                env!("OUT_DIR")
            )));
        // Every program the tests run, by name: a target the project lost is a build error
        // here, not a stale binary from an earlier configuration that still passes.
        run(Command::new("cmake")
            .arg("--build")
            .arg(&dir)
            .args(["--parallel", "2", "--target"])
            .args(PROGRAMS));
        dir
    })
}

/// The non-MMLU sweeps of pythia-dev (12 tasks x shots, 7 runs; EleutherAI's Pythia
/// evaluations, Apache-2.0), committed so that the test needs no data outside the repository.
/// The example's full run is on `../shared/data/pythia-dev.csv` (ffi/README.md).
fn pythia_sweeps() -> PathBuf {
    root().join("tests/data/pythia-sweeps.csv")
}

#[test]
fn cpp_api_test_program_passes() {
    let exe = build_dir().join("tests/cpp_api_test");
    let bundle = root().join("models/default.nnb");
    let out = run(Command::new(&exe).arg(&bundle));
    assert!(String::from_utf8_lossy(&out.stdout).contains("all checks passed"));

    require("valgrind", INSTALL);
    common::valgrind(&exe, &[bundle.to_str().unwrap()]);
}

#[test]
fn c_abi_test_links_through_both_imported_targets() {
    // cargo puts `target/<profile>` before its `deps` on LD_LIBRARY_PATH, and a libneuneu_ffi.so
    // left there by an earlier `cargo build` would shadow the one this test run built.
    let lib_dir = static_lib().parent().unwrap().to_path_buf();
    let mut path = std::ffi::OsString::from(&lib_dir);
    if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
        path.push(":");
        path.push(old);
    }
    for exe in [
        "tests/abi_test_static",
        "tests/abi_test_shared",
        "tests/sweep_test_static",
        "tests/sweep_test_shared",
    ] {
        let out = run(Command::new(build_dir().join(exe)).env("LD_LIBRARY_PATH", &path));
        assert!(String::from_utf8_lossy(&out.stdout).contains("all checks passed"));
    }
}

/// The values of `keys` on the summary line of scheduler `name` (`name key=value ...`).
fn fields<const N: usize>(stdout: &str, name: &str, keys: [&str; N]) -> [f64; N] {
    let line = stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no line for {name} in:\n{stdout}"));
    keys.map(|key| {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {line:?}"))
    })
}

/// The scheduler's `compute=C best_survived=B mean_regret=R` -> (C, B, R).
fn scores(stdout: &str, name: &str) -> (f64, f64, f64) {
    let [c, b, r] = fields(stdout, name, ["compute", "best_survived", "mean_regret"]);
    (c, b, r)
}

#[test]
fn scheduler_compares_neuneu_with_successive_halving() {
    let exe = build_dir().join("examples/scheduler");
    let out = run(Command::new(&exe).arg(pythia_sweeps()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("{stdout}");
    assert!(stdout.starts_with("12 sweeps"), "{stdout}");
    let sh = scores(&stdout, "successive_halving");
    let nn = scores(&stdout, "neuneu");
    for (compute, best, regret) in [sh, nn] {
        // Halving 4 times keeps a fraction of the arms to the end: well under all the compute,
        // above the compute of the first rung alone.
        assert!(compute > 0.2 && compute < 0.8, "{stdout}");
        assert!((0.0..=1.0).contains(&best), "{stdout}");
        assert!((0.0..0.2).contains(&regret), "{stdout}");
    }
    // Both stop the same number of arms at the same rungs of same-length curves.
    assert!((sh.0 - nn.0).abs() < 1e-9, "{stdout}");

    require("valgrind", INSTALL);
    let out = common::valgrind(
        &exe,
        &[pythia_sweeps().to_str().unwrap(), "--max-sweeps", "1"],
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("1 sweeps"));
}

/// asha's `compute=C best_finished=B mean_regret=R ... fallbacks=F` -> (C, B, R, F).
fn asha_scores(stdout: &str, name: &str) -> (f64, f64, f64, f64) {
    let [c, b, r, f] = fields(
        stdout,
        name,
        ["compute", "best_finished", "mean_regret", "fallbacks"],
    );
    (c, b, r, f)
}

#[test]
fn asha_example_asks_the_sweep_handle_and_falls_back_when_it_fails() {
    let exe = build_dir().join("examples/asha");
    let out = run(Command::new(&exe)
        .arg(pythia_sweeps())
        .args(["--task", "piqa", "--seeds", "2", "--log"]));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("{stdout}");
    assert!(stdout.contains("\npiqa: 2 sweeps"), "{stdout}");
    for name in ["asha", "asha+neuneu"] {
        let (compute, best, regret, fallbacks) = asha_scores(&stdout, name);
        assert!(compute > 0.1 && compute < 1.0, "{stdout}");
        assert!((0.0..=1.0).contains(&best) && regret >= 0.0, "{stdout}");
        assert_eq!(fallbacks, 0.0, "{stdout}");
    }
    // Promotions are logged with the handle's reason.
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("log asha+neuneu") && l.contains("; neuneu: ")),
        "{stdout}"
    );

    // A loss read as a bounded metric: the handle refuses the points, and each score falls back
    // to plain ASHA's, so both schedulers decide alike.
    let curves =
        std::env::temp_dir().join(format!("neuneu-asha-losses-{}.csv", std::process::id()));
    let mut csv = String::from("suite,run,shots,task,step,tokens,acc,acc_norm,acc_stderr\n");
    for arm in 0..6 {
        for step in 1..=9 {
            let loss = 1.0 + 0.1 * f64::from(arm) + 3.0 / f64::from(step);
            csv += &format!("s,r{arm},0,loss,{step},{},{loss},,\n", step * 100);
        }
    }
    std::fs::write(&curves, csv).unwrap();
    let out = run(Command::new(&exe)
        .arg(&curves)
        .args(["--task", "loss", "--seeds", "1"]));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let (plain, neuneu) = (
        asha_scores(&stdout, "asha"),
        asha_scores(&stdout, "asha+neuneu"),
    );
    assert!(neuneu.3 > 0.0, "{stdout}");
    assert_eq!(
        (plain.0, plain.1, plain.2),
        (neuneu.0, neuneu.1, neuneu.2),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("neuneu refused a point"));
    // With the right metric, no fallback.
    let out = run(Command::new(&exe)
        .arg(&curves)
        .args(["--task", "loss", "--seeds", "1", "--metric", "loss"]));
    assert_eq!(
        asha_scores(&String::from_utf8_lossy(&out.stdout), "asha+neuneu").3,
        0.0
    );
    let _ = std::fs::remove_file(&curves);

    require("valgrind", INSTALL);
    common::valgrind(
        &exe,
        &[
            pythia_sweeps().to_str().unwrap(),
            "--task",
            "piqa",
            "--seeds",
            "1",
        ],
    );
}
