//! The C++ side (feature `cpp`): configures and builds the CMake project of `ffi/` against the
//! libneuneu_ffi.a of this cargo build, then runs
//! - the C++ API test program (`ffi/tests/cpp_api_test.cpp`) and the C ABI test program linked
//!   through both imported targets (`neuneu::static`, `neuneu::shared`);
//! - the scheduler example on `tests/data/pythia-sweeps.csv`, checking its comparison lines;
//! - the C++ test and the scheduler (on one sweep) under valgrind memcheck;
//! - a compile of the scheduler through `pkg-config --cflags --libs` and the generated
//!   neuneu.pc.
//!
//! cmake, valgrind and pkg-config are required: without them these tests fail with the
//! install command (`bash ffi/ci-deps.sh` installs all three).

#![cfg(feature = "cpp")]

#[path = "../../tests/it/common/native.rs"]
mod common;

use common::{profile_dir, require, root, static_lib};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const INSTALL: &str = "apt-get install -y cmake valgrind pkg-config (or bash ffi/ci-deps.sh)";

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

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
            .arg(format!("-DNEUNEU_LIB_DIR={}", lib_dir.display()))
            .arg(format!(
                "-DNEUNEU_CXX_INCLUDE_DIR={}",
                profile_dir().join("cxxbridge").display()
            )));
        run(Command::new("cmake")
            .arg("--build")
            .arg(&dir)
            .args(["--parallel", "2"]));
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
    for exe in ["tests/abi_test_static", "tests/abi_test_shared"] {
        let out = run(Command::new(build_dir().join(exe)).env("LD_LIBRARY_PATH", &path));
        assert!(String::from_utf8_lossy(&out.stdout).contains("all checks passed"));
    }
}

/// `name compute=C best_survived=B mean_regret=R` -> (C, B, R).
fn scores(stdout: &str, name: &str) -> (f64, f64, f64) {
    let line = stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no line for {name} in:\n{stdout}"));
    let value = |key: &str| -> f64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {line:?}"))
    };
    (
        value("compute="),
        value("best_survived="),
        value("mean_regret="),
    )
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

#[test]
fn pkg_config_compiles_a_program() {
    require("pkg-config", INSTALL);
    let dir = build_dir();
    let flags = run(Command::new("pkg-config")
        .env("PKG_CONFIG_PATH", dir)
        .args(["--cflags", "--libs", "neuneu"]));
    let flags = String::from_utf8(flags.stdout).unwrap();
    let exe = dir.join("scheduler-pkg-config");
    run(
        Command::new(std::env::var("CXX").unwrap_or_else(|_| "c++".into()))
            .args(["-std=c++17", "-O0"])
            .arg(root().join("ffi/examples/scheduler.cpp"))
            .arg("-o")
            .arg(&exe)
            .args(flags.split_whitespace()),
    );
    let out = run(Command::new(&exe)
        .arg(pythia_sweeps())
        .args(["--max-sweeps", "2"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("2 sweeps"), "{stdout}");
    scores(&stdout, "neuneu");
}
