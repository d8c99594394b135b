//! Build script of the Linux sensor: compiles `bpf/sensor.bpf.c` with clang into a CO-RE BPF
//! object embedded in the crate.
//!
//! Steps: `bpftool btf dump file /sys/kernel/btf/vmlinux format c` writes `vmlinux.h` (the
//! kernel's types, for CO-RE: the object is relocated against the running kernel's BTF at load
//! time, so it runs on other kernels than the build machine's), then `clang -target bpf -O2 -g`
//! compiles the programs against it and the vendored libbpf headers (`bpf/vendor/libbpf`).
//!
//! When this is not Linux, or clang, bpftool or the build machine's BTF is missing, the crate
//! builds without the object: the cfg `vigil_bpf` is not set, `Sensor::start` says why (E1001)
//! and this script prints a cargo warning. With `VIGIL_REQUIRE_EBPF=1` (set by `.ci/run`) the
//! build fails instead, so that CI cannot lose the sensor silently. `CLANG`, `BPFTOOL` and
//! `VIGIL_BTF` override the tools and the BTF file.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(vigil_bpf)");
    for f in ["bpf/sensor.bpf.c", "bpf/record.h", "bpf/vendor/libbpf"] {
        println!("cargo::rerun-if-changed={f}");
    }
    for v in ["CLANG", "BPFTOOL", "VIGIL_BTF", "VIGIL_REQUIRE_EBPF"] {
        println!("cargo::rerun-if-env-changed={v}");
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    match build(&out) {
        Ok(()) => println!("cargo::rustc-cfg=vigil_bpf"),
        Err(why) => {
            if env::var("VIGIL_REQUIRE_EBPF").is_ok_and(|v| v == "1") {
                eprintln!("the eBPF sensor cannot be built: {why} (VIGIL_REQUIRE_EBPF=1)");
                std::process::exit(1);
            }
            let first = why.lines().next().unwrap_or("unknown");
            for line in why.lines() {
                println!("cargo::warning=the eBPF sensor is left out of this build: {line}");
            }
            println!("cargo::rustc-env=VIGIL_BPF_MISSING={first}");
        }
    }
}

/// Generates `vmlinux.h` and compiles the programs into `OUT_DIR/sensor.bpf.o`.
fn build(out: &Path) -> Result<(), String> {
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return Err("the target is not Linux".into());
    }
    let arch = match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => "x86",
        Ok("aarch64") => "arm64",
        Ok(other) => return Err(format!("no BPF register layout for the target `{other}`")),
        Err(_) => return Err("the target's architecture is unknown".into()),
    };
    let btf = env::var("VIGIL_BTF").unwrap_or_else(|_| "/sys/kernel/btf/vmlinux".into());
    if !Path::new(&btf).exists() {
        return Err(format!(
            "no kernel BTF at `{btf}` to generate vmlinux.h from (set VIGIL_BTF)"
        ));
    }
    let bpftool = tool(
        "BPFTOOL",
        "bpftool",
        &["/usr/sbin/bpftool", "/sbin/bpftool"],
    )?;
    let clang = tool("CLANG", "clang", &["/usr/bin/clang-14", "/usr/bin/clang"])?;

    let dump = Command::new(&bpftool)
        .args(["btf", "dump", "file", &btf, "format", "c"])
        .output()
        .map_err(|e| format!("cannot run `{}`: {e}", bpftool.display()))?;
    if !dump.status.success() {
        return Err(format!(
            "`bpftool btf dump` failed: {}",
            String::from_utf8_lossy(&dump.stderr).trim()
        ));
    }
    std::fs::write(out.join("vmlinux.h"), &dump.stdout)
        .map_err(|e| format!("cannot write vmlinux.h: {e}"))?;

    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let bpf = manifest.join("bpf");
    let object = out.join("sensor.bpf.o");
    let compiled = Command::new(&clang)
        .arg("-g")
        .arg("-O2")
        .args(["-target", "bpf"])
        .arg(format!("-D__TARGET_ARCH_{arch}"))
        .arg("-I")
        .arg(out)
        .arg("-I")
        .arg(bpf.join("vendor/libbpf"))
        .arg("-I")
        .arg(&bpf)
        .arg("-Wall")
        .arg("-Werror")
        .arg("-c")
        .arg(bpf.join("sensor.bpf.c"))
        .arg("-o")
        .arg(&object)
        .output()
        .map_err(|e| format!("cannot run `{}`: {e}", clang.display()))?;
    if !compiled.status.success() {
        return Err(format!(
            "clang failed on bpf/sensor.bpf.c:\n{}",
            String::from_utf8_lossy(&compiled.stderr)
        ));
    }
    Ok(())
}

/// A build tool: `$VAR`, else `name` on PATH, else the first of `fallbacks` that exists.
fn tool(var: &str, name: &str, fallbacks: &[&str]) -> Result<PathBuf, String> {
    if let Some(p) = env::var_os(var) {
        return Ok(PathBuf::from(p));
    }
    let on_path = env::var_os("PATH")
        .map(|paths| {
            env::split_paths(&paths)
                .map(|d| d.join(name))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(fallbacks.iter().map(PathBuf::from))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("`{name}` not found (install it, or set {var})"))
}
