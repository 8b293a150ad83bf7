//! Compiles kernels/encoder.cu with NVRTC for sm_80 and sm_90 and assembles the PTX with
//! ptxas, printing each kernel's registers and spills. Needs no GPU, only NVRTC and ptxas:
//! `eval "$(kernels/install-cuda-tools.sh)"` provides both (LD_LIBRARY_PATH, NEUNEU_PTXAS).
//!
//! Without NVRTC it prints a SKIP line; with NEUNEU_REQUIRE_NVRTC=1 (set it in CI) that is a
//! failure instead. Built with feature `cuda` only.

use std::path::PathBuf;
use std::process::Command;

use neuneu::cuda::{KERNEL_NAMES, compile_kernels};

const ARCHS: [(&str, &str); 2] = [("compute_80", "sm_80"), ("compute_90", "sm_90")];

#[test]
fn kernels_compile_and_assemble_for_sm80_and_sm90() {
    // SAFETY: only tries to dlopen libnvrtc; no NVRTC call is made.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        let hint = "run `eval \"$(kernels/install-cuda-tools.sh)\"` first";
        if std::env::var("NEUNEU_REQUIRE_NVRTC").is_ok_and(|v| v == "1") {
            panic!("NVRTC (libnvrtc.so.12) not found and NEUNEU_REQUIRE_NVRTC=1: {hint}");
        }
        println!("SKIP kernels_compile_and_assemble: NVRTC (libnvrtc.so.12) not found; {hint}");
        return;
    }
    let ptxas = find_ptxas();
    let dir = crate::common::scratch_dir("ptx");

    for (arch, gpu) in ARCHS {
        let started = std::time::Instant::now();
        let ptx = compile_kernels(arch).unwrap_or_else(|e| panic!("{e}"));
        println!(
            "NVRTC {arch}: {} bytes of PTX in {:.0?}",
            ptx.len(),
            started.elapsed()
        );
        for name in KERNEL_NAMES {
            assert!(
                ptx.contains(&format!(".entry {name}(")),
                "{arch}: no entry {name} in the PTX"
            );
        }
        let ptx_path = dir.join(format!("encoder_{gpu}.ptx"));
        std::fs::write(&ptx_path, &ptx).unwrap();
        let output = Command::new(&ptxas)
            .args(["--gpu-name", gpu, "--verbose", "--warn-on-spills"])
            .arg(&ptx_path)
            .arg("-o")
            .arg(dir.join(format!("encoder_{gpu}.cubin")))
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", ptxas.display()));
        let log = String::from_utf8_lossy(&output.stderr).into_owned()
            + &String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "ptxas {gpu} failed:\n{log}");

        let usage = resource_usage(&log);
        for name in KERNEL_NAMES {
            let (registers, spills, smem) = usage
                .iter()
                .find(|(n, ..)| n == name)
                .map(|(_, r, s, m)| (*r, s.clone(), m.clone()))
                .unwrap_or_else(|| panic!("{gpu}: ptxas reported nothing for {name}:\n{log}"));
            println!("ptxas {gpu} {name:<20} {registers:>3} registers, {smem}, {spills}");
            assert!(
                spills.starts_with("0 bytes spill stores, 0 bytes spill loads"),
                "{gpu} {name} spills: {spills}"
            );
        }
    }
}

/// NEUNEU_PTXAS, else `ptxas` on PATH, else fail: NVRTC without ptxas means a half-done setup.
fn find_ptxas() -> PathBuf {
    if let Some(path) = std::env::var_os("NEUNEU_PTXAS") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("ptxas"))
        .find(|p| p.is_file());
    on_path.unwrap_or_else(|| {
        panic!("NVRTC is present but ptxas is not: set NEUNEU_PTXAS (kernels/install-cuda-tools.sh prints it)")
    })
}

/// (kernel, registers, "N bytes spill stores, M bytes spill loads", "K bytes smem") per
/// entry function, from `ptxas --verbose`.
fn resource_usage(log: &str) -> Vec<(String, u32, String, String)> {
    let mut usage = Vec::new();
    let mut current: Option<String> = None;
    let mut spills = String::new();
    for line in log.lines() {
        if let Some(rest) = line.split("Compiling entry function '").nth(1) {
            current = rest.split('\'').next().map(str::to_string);
        } else if line.contains("spill stores") {
            spills = line
                .split("stack frame, ")
                .nth(1)
                .unwrap_or(line)
                .trim()
                .to_string();
        } else if let (Some(name), Some(rest)) = (&current, line.split("Used ").nth(1)) {
            let registers = rest
                .split_whitespace()
                .next()
                .and_then(|r| r.parse().ok())
                .unwrap_or(0);
            let smem = rest
                .split(", ")
                .find(|p| p.contains("smem"))
                .unwrap_or("0 bytes smem")
                .to_string();
            usage.push((name.clone(), registers, spills.clone(), smem));
            current = None;
        }
    }
    usage
}
