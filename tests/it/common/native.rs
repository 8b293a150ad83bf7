//! Helpers for tests that build and check native programs: the workspace's folders, the C
//! library cargo built, required tools, valgrind. Shared by the root package's tests
//! (`tests/it/common`, as `common::native`) and the `neuneu-ffi` tests (included by path).

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// Runs `cmd` and returns its output; panics with both streams if it cannot start or fails.
pub fn run(cmd: &mut Command) -> std::process::Output {
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

/// The workspace root (where `Cargo.lock` is), whichever crate's tests include this file.
pub fn root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|d| d.join("Cargo.lock").exists())
        .unwrap_or(&here)
        .to_path_buf()
}

/// The C library (libneuneu_ffi.a) cargo built for this test run: `target/<profile>/deps` (where `cargo test`
/// leaves it), else `target/<profile>` (where `cargo build` puts it).
pub fn static_lib() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    [
        deps.join("libneuneu_ffi.a"),
        deps.parent().unwrap().join("libneuneu_ffi.a"),
    ]
    .into_iter()
    .find(|p| p.exists())
    .unwrap_or_else(|| panic!("libneuneu_ffi.a not found next to {}", exe.display()))
}

/// `target/<profile>`: where build.rs leaves the cxx headers (`cxxbridge/`).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// Panics with the install command when `tool` is missing: a test that needs it must fail,
/// not pass without having run.
pub fn require(tool: &str, install: &str) {
    if Command::new(tool).arg("--version").output().is_err() {
        panic!("{tool} is not installed: {install}");
    }
}

/// Runs `program` under valgrind memcheck; panics on any error or definite/indirect leak.
/// Without LD_LIBRARY_PATH the CUDA probe finds no NVRTC to dlopen: glibc's loader reports a
/// known false positive (strncmp in dl-load's rpath handling) under memcheck otherwise.
pub fn valgrind(program: &std::path::Path, args: &[&str]) -> std::process::Output {
    let out = Command::new("valgrind")
        .env_remove("LD_LIBRARY_PATH")
        .args([
            "--error-exitcode=3",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect",
            "--quiet",
        ])
        .arg(program)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "valgrind found errors or leaks in {}:\n{}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
