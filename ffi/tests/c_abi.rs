//! The C ABI from C: the committed header is what cbindgen generates now, and two C programs
//! compiled against it and the static library: `ffi/tests/abi_test.c` exercises every engine,
//! forecast and plan function, each error path and 8 threads; `ffi/tests/sweep_test.c` drives
//! the online sweep handle through a scheduler's life. Each runs again under valgrind memcheck
//! (required).

#[path = "../../tests/it/common/native.rs"]
mod common;

use common::{root, static_lib};
use std::path::Path;
use std::process::Command;

#[test]
fn header_is_up_to_date() {
    let config = cbindgen::Config::from_file(root().join("ffi/cbindgen.toml")).unwrap();
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(root().join("ffi"))
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    let generated = String::from_utf8(generated).unwrap();
    let path = root().join("include/neuneu.h");
    if std::env::var_os("NEUNEU_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/neuneu.h is stale: run `NEUNEU_BLESS=1 cargo test -p neuneu-ffi --test c_abi header_is_up_to_date`"
    );
}

fn compile(source: &str, out: &Path) {
    let lib = static_lib();
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-g"])
        // The test hook is in the library only with the feature (never in an installed one).
        .args(cfg!(feature = "test_hooks").then_some("-DNEUNEU_TEST_HOOKS"))
        .arg("-I")
        .arg(root().join("include"))
        .arg(root().join(source))
        .arg(&lib)
        .args([
            "-Wl,-z,noexecstack",
            "-lstdc++",
            "-lpthread",
            "-ldl",
            "-lm",
            "-o",
        ])
        .arg(out)
        .status()
        .expect("a C compiler (cc)");
    assert!(status.success(), "compiling {source} failed");
}

#[test]
fn c_program_exercises_every_function() {
    run_c_program("ffi/tests/abi_test.c", "abi-test");
}

#[test]
fn c_program_drives_a_sweep() {
    run_c_program("ffi/tests/sweep_test.c", "sweep-test");
}

/// Compiles `source` against the header and the static library, runs it, and runs it again
/// under valgrind memcheck (required: leaks and invalid accesses fail the test).
fn run_c_program(source: &str, name: &str) {
    let exe = std::env::temp_dir().join(format!("neuneu-{name}-{}", std::process::id()));
    compile(source, &exe);
    let out = Command::new(&exe).output().unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    common::require(
        "valgrind",
        "apt-get install -y valgrind (or bash ffi/ci-deps.sh)",
    );
    common::valgrind(&exe, &[]);
    let _ = std::fs::remove_file(&exe);
}
