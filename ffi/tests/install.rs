//! The installable library: `cmake -S ffi -B build && cmake --build build && cmake --install
//! build --prefix P`, with CMake driving cargo, then a consumer project outside the source tree
//! (`ffi/tests/consumer/`) that finds it with `find_package(neuneu 0.1 CONFIG REQUIRED)` and
//! builds a C program against the shared and the static library and a C++ one against the
//! static library; the same C program through `pkg-config`, before and after the prefix is
//! moved; the installed `.so`'s SONAME (`readelf -d`) and no test hooks in either library
//! (`nm`). The programs run, and the shared one again under valgrind.
//!
//! CMake's cargo build (features `cpp`, this run's profile and target directory, the shell's
//! environment) shares the dependencies this test run built; neuneu-ffi itself is rebuilt with
//! its features (cargo records them, so the next build with other features rebuilds it too).
//!
//! cmake, pkg-config, valgrind, readelf and nm are required (`bash ffi/ci-deps.sh`).

#![cfg(feature = "cpp")]

#[path = "../../tests/it/common/native.rs"]
mod common;

use common::{profile_dir, require, root, run};
use std::path::Path;
use std::process::{Command, Output};

const INSTALL: &str =
    "apt-get install -y cmake valgrind pkg-config binutils (or bash ffi/ci-deps.sh)";

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `cc`/`c++` with `pkg-config --cflags --libs <package>` from `pc_dir`.
fn pkg_config_build(compiler: &str, source: &Path, package: &str, pc_dir: &Path, exe: &Path) {
    let flags = stdout(&run(Command::new("pkg-config")
        .env("PKG_CONFIG_PATH", pc_dir)
        .args(["--cflags", "--libs", package])));
    let mut cmd = Command::new(compiler);
    if compiler.ends_with("++") {
        cmd.arg("-std=c++17");
    }
    run(cmd
        .arg(source)
        .arg("-o")
        .arg(exe)
        .args(flags.split_whitespace()));
}

/// `cmake` in the environment of the shell that ran `cargo test`, without what cargo adds for
/// a test (CARGO_*, OUT_DIR): so CMake's cargo build is a user's, and its fingerprints match
/// this run's builds of the same dependencies.
fn cmake() -> Command {
    let mut cmd = Command::new("cmake");
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if (key.starts_with("CARGO_") && key != "CARGO_HOME") || key == "OUT_DIR" {
            cmd.env_remove(&*key);
        }
    }
    cmd
}

#[test]
fn an_installed_library_is_found_with_cmake_and_pkg_config() {
    for tool in ["cmake", "pkg-config", "valgrind", "readelf", "nm"] {
        require(tool, INSTALL);
    }
    let work = std::env::temp_dir().join(format!("neuneu-install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let (build, prefix) = (work.join("build"), work.join("prefix"));
    let profile = profile_dir();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(cmake()
        .arg("-S")
        .arg(root().join("ffi"))
        .arg("-B")
        .arg(&build)
        .arg(format!(
            "-DCMAKE_BUILD_TYPE={}",
            if profile.ends_with("debug") {
                "Debug"
            } else {
                "Release"
            }
        ))
        .arg(format!("-DNEUNEU_CARGO={cargo}"))
        .arg(format!(
            "-DNEUNEU_CARGO_TARGET_DIR={}",
            profile.parent().unwrap().display()
        ))
        .args(["-DNEUNEU_BUILD_TESTS=OFF", "-DNEUNEU_BUILD_EXAMPLES=OFF"]));
    run(cmake().arg("--build").arg(&build));
    run(cmake()
        .arg("--install")
        .arg(&build)
        .arg("--prefix")
        .arg(&prefix));

    // What was installed, under which names.
    let lib = prefix.join("lib");
    for file in [
        "lib/libneuneu.a",
        "lib/libneuneu.so.3",
        "lib/libneuneu.so",
        "include/neuneu.h",
        "include/neuneu.hpp",
        "include/rust/cxx.h",
        "include/neuneu-ffi/src/cxx_bridge.rs.h",
        "lib/cmake/neuneu/neuneuConfig.cmake",
        "lib/cmake/neuneu/neuneuConfigVersion.cmake",
        "lib/pkgconfig/neuneu.pc",
        "lib/pkgconfig/neuneu-static.pc",
    ] {
        assert!(prefix.join(file).exists(), "{file} is not installed");
    }
    let dynamic = stdout(&run(Command::new("readelf")
        .arg("-d")
        .arg(lib.join("libneuneu.so.3"))));
    assert!(
        dynamic.contains("Library soname: [libneuneu.so.3]"),
        "{dynamic}"
    );
    let exported = stdout(&run(Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(lib.join("libneuneu.so.3"))));
    assert!(exported.contains("neuneu_sweep_new"), "{exported}");
    assert!(!exported.contains("test_panic"), "a test hook is exported");
    // The archive's symbol table is large: grep it rather than hold it.
    let hooks = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "nm --defined-only '{}' 2>/dev/null | grep -c test_panic",
            lib.join("libneuneu.a").display()
        ))
        .output()
        .unwrap();
    assert_eq!(stdout(&hooks).trim(), "0", "a test hook is in libneuneu.a");

    // A consumer project outside the source tree, through find_package.
    let consumer = |prefix: &Path, dir: &Path| {
        run(Command::new("cmake")
            .arg("-S")
            .arg(root().join("ffi/tests/consumer"))
            .arg("-B")
            .arg(dir)
            .arg(format!("-DCMAKE_PREFIX_PATH={}", prefix.display())));
        run(Command::new("cmake").arg("--build").arg(dir));
    };
    let consumer_dir = work.join("consumer");
    consumer(&prefix, &consumer_dir);
    for exe in ["consumer_shared", "consumer_static", "consumer_cpp"] {
        let out = run(&mut Command::new(consumer_dir.join(exe)));
        assert!(stdout(&out).contains("all checks passed"), "{exe}");
    }
    common::valgrind(&consumer_dir.join("consumer_shared"), &[]);

    // pkg-config: C against the shared library, C++ against the static one.
    let c_source = root().join("ffi/tests/consumer/main.c");
    let cpp_source = root().join("ffi/tests/consumer/main.cpp");
    let pc_exe = work.join("pc-consumer");
    pkg_config_build("cc", &c_source, "neuneu", &lib.join("pkgconfig"), &pc_exe);
    run(Command::new(&pc_exe).env("LD_LIBRARY_PATH", &lib));
    let pc_cpp = work.join("pc-consumer-cpp");
    pkg_config_build(
        "c++",
        &cpp_source,
        "neuneu-static",
        &lib.join("pkgconfig"),
        &pc_cpp,
    );
    run(&mut Command::new(&pc_cpp));

    // The prefix moved elsewhere: pkg-config and find_package still find everything.
    let moved = work.join("elsewhere/prefix");
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    std::fs::rename(&prefix, &moved).unwrap();
    let moved_lib = moved.join("lib");
    let moved_exe = work.join("pc-consumer-moved");
    pkg_config_build(
        "cc",
        &c_source,
        "neuneu",
        &moved_lib.join("pkgconfig"),
        &moved_exe,
    );
    run(Command::new(&moved_exe).env("LD_LIBRARY_PATH", &moved_lib));
    let moved_consumer = work.join("consumer-moved");
    consumer(&moved, &moved_consumer);
    run(&mut Command::new(moved_consumer.join("consumer_static")));

    let _ = std::fs::remove_dir_all(&work);
}
