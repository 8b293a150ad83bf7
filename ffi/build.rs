//! Gives the shared library its SONAME, and builds the cxx bridge of the C++ API (feature
//! `cpp`).
//!
//! The SONAME is `libneuneu.so.<NEUNEU_ABI_VERSION>` (read from `src/lib.rs`, where the ABI
//! version is defined): the name `ffi/CMakeLists.txt` installs the library under, so programs
//! record the ABI they were linked against.
//!
//! cxx-build generates the bridge's C++ header and shims into OUT_DIR and compiles the shims
//! into the crate, so libneuneu.a carries them. OUT_DIR's name has a hash in it, so the headers
//! a C++ program needs (`neuneu-ffi/src/cxx_bridge.rs.h` and `rust/cxx.h`) are also copied as
//! plain files into `cxxbridge/` beside the library (`target/<profile>/cxxbridge`), where
//! `ffi/CMakeLists.txt` looks for them by default.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/lib.rs");
    soname();
    #[cfg(feature = "cpp")]
    cpp::build();
}

/// `-Wl,-soname,libneuneu.so.<ABI>` for the cdylib, on targets whose linker takes it.
fn soname() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if !matches!(
        os.as_str(),
        "linux" | "android" | "freebsd" | "netbsd" | "openbsd"
    ) {
        return;
    }
    let lib = std::fs::read_to_string("src/lib.rs").expect("src/lib.rs");
    let abi = lib
        .lines()
        .find_map(|l| l.strip_prefix("pub const NEUNEU_ABI_VERSION: u32 = "))
        .and_then(|v| v.strip_suffix(';'))
        .and_then(|v| v.parse::<u32>().ok())
        .expect("src/lib.rs defines `pub const NEUNEU_ABI_VERSION: u32 = <n>;`");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libneuneu.so.{abi}");
}

#[cfg(feature = "cpp")]
mod cpp {
    use std::path::{Path, PathBuf};

    const BRIDGE: &str = "src/cxx_bridge.rs";

    pub fn build() {
        cxx_build::bridge(BRIDGE)
            .std("c++17")
            .compile("neuneu-cxxbridge");
        println!("cargo:rerun-if-changed={BRIDGE}");

        let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
        // OUT_DIR is <target>/<profile>/build/neuneu-ffi-<hash>/out; the library lands in <profile>.
        let Some(profile_dir) = out.ancestors().nth(3) else {
            println!("cargo:warning=unexpected OUT_DIR {}", out.display());
            return;
        };
        let from = out.join("cxxbridge/include");
        let to = profile_dir.join("cxxbridge");
        for header in ["neuneu-ffi/src/cxx_bridge.rs.h", "rust/cxx.h"] {
            if let Err(e) = copy(&from.join(header), &to.join(header)) {
                // The Rust build does not need these copies; say why a C++ build may not find them.
                println!(
                    "cargo:warning=could not copy {header} to {}: {e}",
                    to.display()
                );
            }
        }
    }

    /// Copies the file a path points to (cxx-build leaves symlinks), replacing what is there.
    fn copy(from: &Path, to: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(to.parent().expect("a header path has a parent"))?;
        let bytes = std::fs::read(from)?;
        if std::fs::read(to).ok().as_deref() != Some(&bytes[..]) {
            let _ = std::fs::remove_file(to);
            std::fs::write(to, bytes)?;
        }
        Ok(())
    }
}
