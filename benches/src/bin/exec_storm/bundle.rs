//! The rule bundle the agent runs during the storm: the Linux example rules given (or found)
//! plus the SigmaHQ Linux rules converted by `vigil import sigma`, built with `vigil build
//! --schema linux-ebpf`, and its rule count read back from the bundle.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{bail, Context, Result};

/// The rules used when there is no other: typical Linux process, file and network detections.
const STANDIN: &str = include_str!("standin.vgl");

/// How the bundle was made, for the report.
#[derive(Debug)]
pub(crate) struct BundleReport {
    /// The bundle file.
    pub(crate) path: PathBuf,
    /// Rules in the bundle.
    pub(crate) rules: usize,
    /// The example rule files used.
    pub(crate) example_files: Vec<PathBuf>,
    /// Converted Sigma files written by the importer.
    pub(crate) sigma_converted: usize,
    /// Converted Sigma files in the bundle (those that build against the profile).
    pub(crate) sigma_used: usize,
    /// What happened on the way (import failures, files left out), one line each.
    pub(crate) notes: Vec<String>,
}

/// Where the `vigil` binary is and the folders it works in.
pub(crate) struct Vigil {
    pub(crate) exe: PathBuf,
}

impl Vigil {
    fn run(&self, args: &[&std::ffi::OsStr]) -> Result<Output> {
        Command::new(&self.exe)
            .args(args)
            .output()
            .with_context(|| format!("running {}", self.exe.display()))
    }
}

/// The `.vgl` files under `path` (itself if it is a file), sorted.
fn vgl_files(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let entry = entry?;
            let ty = entry.file_type()?;
            let p = entry.path();
            if ty.is_dir() {
                stack.push(p);
            } else if ty.is_file() && p.extension().is_some_and(|e| e == "vgl") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The default example rules: `examples/rules/linux*.vgl` (files or folders) in `repo`.
pub(crate) fn default_examples(repo: &Path) -> Result<Vec<PathBuf>> {
    let dir = repo.join("examples/rules");
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries {
            let p = entry?.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with("linux") && (p.is_dir() || name.ends_with(".vgl")) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Converts the Sigma rule folders into `work/sigma`; returns the `.vgl` files written.
fn import_sigma(
    vigil: &Vigil,
    sigma: &[PathBuf],
    work: &Path,
    notes: &mut Vec<String>,
) -> Result<Vec<PathBuf>> {
    let out = work.join("sigma");
    let report = work.join("sigma-import.json");
    let present: Vec<&PathBuf> = sigma.iter().filter(|p| p.exists()).collect();
    for p in sigma.iter().filter(|p| !p.exists()) {
        notes.push(format!("sigma: {} does not exist; skipped", p.display()));
    }
    if present.is_empty() {
        return Ok(Vec::new());
    }
    let mut common: Vec<&std::ffi::OsStr> = vec![
        "-o".as_ref(),
        out.as_os_str(),
        "--report".as_ref(),
        report.as_os_str(),
        "-q".as_ref(),
    ];
    common.extend(present.iter().map(|p| p.as_os_str()));
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "import".as_ref(),
        "sigma".as_ref(),
        "--schema".as_ref(),
        "linux-ebpf".as_ref(),
    ];
    args.extend(&common);
    let mut o = vigil.run(&args)?;
    if o.status.code() == Some(2) && vgl_files(&out).map_or(true, |f| f.is_empty()) {
        notes.push(format!(
            "sigma: `vigil import sigma --schema linux-ebpf` refused ({}); importing against the default schema, keeping what builds against linux-ebpf",
            first_line(&o.stderr)
        ));
        let mut args: Vec<&std::ffi::OsStr> = vec!["import".as_ref(), "sigma".as_ref()];
        args.extend(&common);
        o = vigil.run(&args)?;
    }
    let files = if out.exists() {
        vgl_files(&out)?
    } else {
        Vec::new()
    };
    if !o.status.success() {
        notes.push(format!(
            "sigma: import exited with {} ({} files written): {}",
            o.status,
            files.len(),
            first_line(&o.stderr)
        ));
    }
    if files.is_empty() {
        notes.push("sigma: the import converted nothing; going on without Sigma rules".to_owned());
    }
    Ok(files)
}

fn first_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no message");
    line.chars().take(200).collect()
}

/// Builds `files` into `out` against the profile; on failure returns the compiler's first line.
fn build(vigil: &Vigil, files: &[PathBuf], out: &Path) -> Result<std::result::Result<(), String>> {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "build".as_ref(),
        "--schema".as_ref(),
        "linux-ebpf".as_ref(),
        "--unsigned".as_ref(),
        "-o".as_ref(),
        out.as_os_str(),
    ];
    args.extend(files.iter().map(|p| p.as_os_str()));
    let o = vigil.run(&args)?;
    if o.status.success() {
        Ok(Ok(()))
    } else {
        Ok(Err(first_line(&o.stderr)))
    }
}

/// Makes the bundle `work/storm.vglb` from the example rule paths and the Sigma folders.
pub(crate) fn make(
    vigil: &Vigil,
    examples: &[PathBuf],
    sigma: &[PathBuf],
    work: &Path,
) -> Result<BundleReport> {
    let mut notes = Vec::new();
    let mut example_files = Vec::new();
    for p in examples {
        example_files.extend(vgl_files(p)?);
    }
    if example_files.is_empty() {
        notes.push("examples: no Linux example rules (examples/rules/linux*.vgl) found".to_owned());
    }
    let converted = import_sigma(vigil, sigma, work, &mut notes)?;
    let path = work.join("storm.vglb");
    let scratch = work.join("probe.vglb");
    if !example_files.is_empty() {
        if let Err(e) = build(vigil, &example_files, &scratch)? {
            bail!("the example rules do not build against linux-ebpf: {e}");
        }
    }
    if example_files.is_empty() && converted.is_empty() {
        let standin = work.join("standin.vgl");
        std::fs::write(&standin, STANDIN)
            .with_context(|| format!("writing {}", standin.display()))?;
        notes.push(format!(
            "no example and no Sigma rule: using exec-storm's {} stand-in rules ({})",
            STANDIN.matches("\nrule ").count(),
            standin.display()
        ));
        example_files.push(standin);
    }
    let mut all: Vec<PathBuf> = example_files.iter().chain(&converted).cloned().collect();
    let mut sigma_used = converted.len();
    if let Err(e) = build(vigil, &all, &path)? {
        // Keep the converted files that build on their own against the profile.
        notes.push(format!(
            "build: all rules together fail ({e}); trying each converted file alone"
        ));
        let mut kept = Vec::new();
        for f in &converted {
            match build(vigil, std::slice::from_ref(f), &scratch)? {
                Ok(()) => kept.push(f.clone()),
                Err(e) => notes.push(format!("build: left out {}: {e}", f.display())),
            }
        }
        sigma_used = kept.len();
        all = example_files.iter().chain(&kept).cloned().collect();
        if all.is_empty() {
            bail!("no rule builds against linux-ebpf");
        }
        if let Err(e) = build(vigil, &all, &path)? {
            bail!("the rules that build alone fail together: {e}");
        }
    }
    let _ = std::fs::remove_file(&scratch);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let decoded = vigil_runtime::bundle::decode(&bytes)
        .map_err(|e| anyhow::anyhow!("decoding {}: {e}", path.display()))?;
    Ok(BundleReport {
        path,
        rules: decoded.program.rules.len(),
        example_files,
        sigma_converted: converted.len(),
        sigma_used,
        notes,
    })
}
