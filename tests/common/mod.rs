//! Helpers shared by the integration tests: running the CLI, scratch folders, memory, and
//! and (in `native`, shared with the `neuneu-ffi` tests) C toolchains and valgrind. Each test binary uses its own subset.

#![allow(dead_code)]

pub mod native;
#[allow(unused_imports)]
pub use native::*;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

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
