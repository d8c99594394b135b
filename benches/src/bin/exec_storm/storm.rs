//! The load: a tiny program to execute, workers that execute it in a tight loop (the full-rate
//! storm, counted) or at a set pace (the latency runs, every execution timed), and the CPU
//! clock of a process read from `/proc`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The C source of the program the storm executes: it returns at once.
const TINY_C: &str = "int main(void) { return 0; }\n";

/// Compiles the tiny program into `dir` with `cc`, static if the toolchain can (no dynamic
/// loader, no library opens: one exec and one exit per run), else dynamic; falls back to
/// `/bin/true` when there is no compiler. Returns the program and how it was made.
pub(crate) fn tiny_program(dir: &Path) -> Result<(PathBuf, String)> {
    let src = dir.join("tiny.c");
    std::fs::write(&src, TINY_C).with_context(|| format!("writing {}", src.display()))?;
    let out = dir.join("tiny");
    for (flags, how) in [
        (&["-O2", "-static"][..], "static C program (cc -O2 -static)"),
        (&["-O2"][..], "dynamic C program (cc -O2; no static libc)"),
    ] {
        let ok = Command::new("cc")
            .args(flags)
            .arg("-o")
            .arg(&out)
            .arg(&src)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Ok((out, how.to_owned()));
        }
    }
    let fallback = PathBuf::from("/bin/true");
    if fallback.exists() {
        return Ok((fallback, "/bin/true (cc failed)".to_owned()));
    }
    bail!("cannot compile the tiny program with cc and there is no /bin/true")
}

/// Runs `program` once and waits for it: the standard library's spawn (`clone3` with
/// `CLONE_VM|CLONE_VFORK`, then execve) and wait. Stdio is inherited, so the parent opens
/// nothing per run (a `/dev/null` per run would add file events to the load).
fn run_once(program: &Path) -> Result<()> {
    let status = Command::new(program)
        .status()
        .with_context(|| format!("running {}", program.display()))?;
    if !status.success() {
        bail!("{} exited with {status}", program.display());
    }
    Ok(())
}

/// What a full-rate storm did.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StormResult {
    /// Programs executed (and waited for).
    pub(crate) execs: u64,
    /// How long the storm ran.
    pub(crate) secs: f64,
}

impl StormResult {
    /// Executions per second.
    pub(crate) fn rate(&self) -> f64 {
        self.execs as f64 / self.secs
    }
}

/// `workers` threads each run `program` in a tight loop for `duration`.
pub(crate) fn full_rate(program: &Path, workers: usize, duration: Duration) -> Result<StormResult> {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let (stop, program) = (Arc::clone(&stop), program.to_owned());
            std::thread::spawn(move || -> Result<u64> {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    run_once(&program)?;
                    n += 1;
                }
                Ok(n)
            })
        })
        .collect();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    let mut execs = 0;
    for h in handles {
        execs += h
            .join()
            .map_err(|_| anyhow::anyhow!("a storm worker panicked"))??;
    }
    Ok(StormResult {
        execs,
        secs: start.elapsed().as_secs_f64(),
    })
}

/// What a paced run measured.
#[derive(Clone, Debug, Default)]
pub(crate) struct PacedResult {
    /// Wall time of each spawn+exec+wait, in nanoseconds.
    pub(crate) samples_ns: Vec<u64>,
    /// How long the run lasted.
    pub(crate) secs: f64,
    /// CPU time of this process and its waited-for children over the run, in seconds.
    pub(crate) cpu_secs: f64,
}

/// `workers` threads together run `program` `rate` times per second for `duration`, each on
/// its own fixed schedule (a worker that falls behind starts again from now rather than
/// bursting), timing every run.
pub(crate) fn paced(
    program: &Path,
    workers: usize,
    rate: f64,
    duration: Duration,
) -> Result<PacedResult> {
    let interval = Duration::from_secs_f64(workers as f64 / rate);
    let cpu0 = ProcCpu::of_self_and_children()?;
    let start = Instant::now();
    let end = start + duration;
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let program = program.to_owned();
            // Stagger the workers over one interval so their runs do not line up.
            let first = start + interval.mul_f64(w as f64 / workers as f64);
            std::thread::spawn(move || -> Result<Vec<u64>> {
                let mut samples = Vec::new();
                let mut next = first;
                while next < end {
                    let now = Instant::now();
                    if next > now {
                        std::thread::sleep(next - now);
                    } else if now - next > interval {
                        next = now;
                    }
                    let t = Instant::now();
                    run_once(&program)?;
                    samples.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
                    next += interval;
                }
                Ok(samples)
            })
        })
        .collect();
    let mut samples_ns = Vec::new();
    for h in handles {
        samples_ns.extend(
            h.join()
                .map_err(|_| anyhow::anyhow!("a paced worker panicked"))??,
        );
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu1 = ProcCpu::of_self_and_children()?;
    Ok(PacedResult {
        samples_ns,
        secs,
        cpu_secs: cpu1.secs() - cpu0.secs(),
    })
}

/// CPU clock ticks of a process from `/proc/PID/stat`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ProcCpu {
    /// User plus system ticks.
    ticks: u64,
}

impl ProcCpu {
    /// The process `pid`'s own time (`utime + stime`, all its threads).
    pub(crate) fn of_pid(pid: u32) -> Result<ProcCpu> {
        let f = stat_fields(&format!("/proc/{pid}/stat"))?;
        Ok(ProcCpu { ticks: f[0] + f[1] })
    }

    /// This process's time plus its waited-for children's (`utime + stime + cutime + cstime`).
    fn of_self_and_children() -> Result<ProcCpu> {
        let f = stat_fields("/proc/self/stat")?;
        Ok(ProcCpu {
            ticks: f.iter().sum(),
        })
    }

    /// The ticks in seconds.
    pub(crate) fn secs(&self) -> f64 {
        self.ticks as f64 / rustix::param::clock_ticks_per_second() as f64
    }
}

/// Fields 14 to 17 of a `stat` file (utime, stime, cutime, cstime).
fn stat_fields(path: &str) -> Result<[u64; 4]> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    parse_stat(&text).with_context(|| format!("parsing {path}"))
}

/// Fields 14 to 17 of the text of a `stat` file, counted after the command name, which may
/// hold spaces and parentheses (it ends at the last `)`).
fn parse_stat(text: &str) -> Result<[u64; 4]> {
    let after = text
        .rfind(')')
        .map(|i| &text[i + 1..])
        .context("no command name")?;
    // After the name: state is field 3, so utime (field 14) is the 12th token.
    let tokens: Vec<&str> = after.split_whitespace().collect();
    let mut out = [0u64; 4];
    for (i, slot) in out.iter_mut().enumerate() {
        let tok = tokens.get(11 + i).context("too few fields")?;
        *slot = tok
            .parse()
            .with_context(|| format!("field {} is not a number", 14 + i))?;
    }
    Ok(out)
}

/// Order statistics of timing samples.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Percentiles {
    pub(crate) n: usize,
    pub(crate) median_us: f64,
    pub(crate) p99_us: f64,
    pub(crate) mean_us: f64,
}

impl Percentiles {
    /// The statistics of `samples_ns` (sorted in place).
    pub(crate) fn of(samples_ns: &mut [u64]) -> Percentiles {
        if samples_ns.is_empty() {
            return Percentiles::default();
        }
        samples_ns.sort_unstable();
        let at = |q: f64| {
            let i = ((samples_ns.len() - 1) as f64 * q).round() as usize;
            samples_ns[i] as f64 / 1000.0
        };
        let sum: u128 = samples_ns.iter().map(|&s| u128::from(s)).sum();
        Percentiles {
            n: samples_ns.len(),
            median_us: at(0.5),
            p99_us: at(0.99),
            mean_us: sum as f64 / samples_ns.len() as f64 / 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_any_command_name() {
        // (text, expected utime, stime, cutime, cstime); None: refused.
        let cases: &[(&str, Option<[u64; 4]>)] = &[
            (
                "42 (vigil) S 1 42 42 0 -1 4194560 100 0 0 0 17 5 3 2 20 0 4 0 99",
                Some([17, 5, 3, 2]),
            ),
            (
                "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 1 2 3 4 20 0 1 0 5",
                Some([1, 2, 3, 4]),
            ),
            ("7 (x) R 1 7 7 0 -1 0 0 0 0 0 1 2", None),
            ("7 (x) R 1 7 7 0 -1 0 0 0 0 0 1 2 z 4 20", None),
            ("no name here", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_stat(text).ok(), *want, "{text}");
        }
    }

    #[test]
    fn percentiles_of_samples() {
        let mut samples: Vec<u64> = (1..=100).rev().map(|i| i * 1000).collect();
        let p = Percentiles::of(&mut samples);
        assert_eq!(p.n, 100);
        assert_eq!(p.median_us, 51.0);
        assert_eq!(p.p99_us, 99.0);
        assert_eq!(p.mean_us, 50.5);
        assert_eq!(Percentiles::of(&mut []).n, 0);
    }
}
