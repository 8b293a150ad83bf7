//! Helpers shared by the integration tests: running the CLI, scratch folders, memory, and
//! building C and C++ programs against the library. Each test binary uses its own subset.

#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The libneuneu.a cargo built for this test run: `target/<profile>/deps` (where `cargo test`
/// leaves it), else `target/<profile>` (where `cargo build` puts it).
pub fn static_lib() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    [
        deps.join("libneuneu.a"),
        deps.parent().unwrap().join("libneuneu.a"),
    ]
    .into_iter()
    .find(|p| p.exists())
    .unwrap_or_else(|| panic!("libneuneu.a not found next to {}", exe.display()))
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

/// Runs the `neuneu` binary: (exit code, stdout, stderr).
pub fn cli_run(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_neuneu"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the neuneu binary runs");
    // A command may exit before reading stdin (a bad --model): a broken pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A fresh scratch folder for this test binary and `name`.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("neuneu-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Peak resident memory of this process so far (VmHWM), in MiB; None off Linux.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The default bundle with graph `name` replaced by `bytes`, checksums recomputed: damage that
/// gets past the integrity checks and reaches the graph reader.
pub fn with_graph(name: &str, bytes: Vec<u8>) -> Vec<u8> {
    use neuneu::bundle::Bundle;
    let b = Bundle::from_bytes(neuneu::engine::DEFAULT_BUNDLE).unwrap();
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
