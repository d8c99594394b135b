//! `exec-storm`: the live sensor benchmark. Builds a bundle of the Linux example rules and the
//! converted SigmaHQ Linux rules, measures this machine's maximum exec rate without the agent,
//! runs the same storm under `vigil agent --source ebpf` (records received and lost, the
//! accounting identities of its `status.json`, its CPU per 1,000 records/s), and measures the
//! exec latency the probes add at half the maximum rate. Root only (it loads eBPF programs).
//!
//! ```text
//! cargo build --release -p vigil-cli
//! cargo run --release -p vigil-benches --bin exec-storm -- [OPTIONS] [RULES...]
//! ```
//!
//! Not a test: it measures and reports, it does not pass or fail on timing. The goals it
//! reports against (0 records lost with at most 64 MiB of ring buffer, at most 5% added exec
//! latency) are in docs/performance.md with the figures of a run.

mod agent;
mod bundle;
mod probes;
mod storm;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use agent::{Agent, AgentConfig, SourceCounts};
use storm::{PacedResult, Percentiles, StormResult};

const USAGE: &str = "\
usage: exec-storm [OPTIONS] [RULES...]

RULES are .vgl files or folders (default: examples/rules/linux*.vgl of the repository).

  --vigil PATH           the vigil binary (default: `vigil` next to this binary)
  --sigma DIR            a Sigma rule folder to convert (repeatable; default: the SigmaHQ
                         linux/{process_creation,file_event,network_connection} folders)
  --no-sigma             no Sigma rules
  --duration SECS        length of each full-rate storm (default 60)
  --workers N            parallel workers (default: the number of CPUs)
  --ring-mb N            the agent's ring buffer in MiB (default 64)
  --latency-secs SECS    length of each paced latency run (default 10)
  --latency-rounds N     rounds of (without, with) agent latency runs, order alternated (default 3)
  --no-latency           skip the latency runs
  --no-bpf-stats         do not turn on kernel.bpf_stats_enabled during the agent's storm
  --program PATH         the program to execute (default: a tiny static C program)
  --work DIR             scratch folder (default: /tmp/exec-storm-PID)
  --json FILE            also write the results as JSON
";

/// The default Sigma folders.
const SIGMA_ROOT: &str = "/work/shared/corpus/sigma/rules/linux";
const SIGMA_DIRS: [&str; 3] = ["process_creation", "file_event", "network_connection"];

struct Options {
    vigil: Option<PathBuf>,
    rules: Vec<PathBuf>,
    sigma: Option<Vec<PathBuf>>,
    duration: Duration,
    workers: usize,
    ring_mb: u32,
    latency_secs: Duration,
    latency_rounds: usize,
    latency: bool,
    bpf_stats: bool,
    program: Option<PathBuf>,
    work: Option<PathBuf>,
    json: Option<PathBuf>,
}

fn parse_args() -> Result<Options> {
    let mut o = Options {
        vigil: None,
        rules: Vec::new(),
        sigma: None,
        duration: Duration::from_secs(60),
        workers: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        ring_mb: 64,
        latency_secs: Duration::from_secs(10),
        latency_rounds: 3,
        latency: true,
        bpf_stats: true,
        program: None,
        work: None,
        json: None,
    };
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        let flag = a.to_string_lossy().into_owned();
        let mut value = |name: &str| -> Result<String> {
            args.next()
                .map(|v| v.to_string_lossy().into_owned())
                .with_context(|| format!("{name} needs a value"))
        };
        let secs = |v: String, name: &str| -> Result<Duration> {
            let s: f64 = v
                .parse()
                .with_context(|| format!("{name}: not a number: {v}"))?;
            if !(s > 0.0 && s.is_finite()) {
                bail!("{name} must be positive");
            }
            Ok(Duration::from_secs_f64(s))
        };
        match flag.as_str() {
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            "--vigil" => o.vigil = Some(value(&flag)?.into()),
            "--sigma" => o
                .sigma
                .get_or_insert_with(Vec::new)
                .push(value(&flag)?.into()),
            "--no-sigma" => o.sigma = Some(Vec::new()),
            "--duration" => o.duration = secs(value(&flag)?, &flag)?,
            "--workers" => o.workers = value(&flag)?.parse().context("--workers")?,
            "--ring-mb" => o.ring_mb = value(&flag)?.parse().context("--ring-mb")?,
            "--latency-secs" => o.latency_secs = secs(value(&flag)?, &flag)?,
            "--latency-rounds" => {
                o.latency_rounds = value(&flag)?.parse().context("--latency-rounds")?
            }
            "--no-latency" => o.latency = false,
            "--no-bpf-stats" => o.bpf_stats = false,
            "--program" => o.program = Some(value(&flag)?.into()),
            "--work" => o.work = Some(value(&flag)?.into()),
            "--json" => o.json = Some(value(&flag)?.into()),
            f if f.starts_with('-') => bail!("unknown option {f}\n{USAGE}"),
            _ => o.rules.push(a.into()),
        }
    }
    if o.workers == 0 {
        bail!("--workers must be at least 1");
    }
    if !o.ring_mb.is_power_of_two() {
        bail!("--ring-mb must be a power of two");
    }
    Ok(o)
}

/// The repository root (the workspace this binary was built from).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_owned)
}

fn find_vigil(given: Option<PathBuf>) -> Result<PathBuf> {
    let path = match given {
        Some(p) => p,
        None => std::env::current_exe()?
            .parent()
            .context("this binary has no folder")?
            .join("vigil"),
    };
    if !path.is_file() {
        bail!(
            "no vigil binary at {} (build it with `cargo build --release -p vigil-cli`, or pass --vigil)",
            path.display()
        );
    }
    Ok(path)
}

/// The 1-minute load average: other work on the machine skews every figure.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".to_owned(), |s| s.trim().to_owned())
}

/// The full-rate storm under the agent, with the agent's counters and CPU.
struct AgentStorm {
    storm: StormResult,
    /// Counters when the storm started, when it ended, and after SIGTERM.
    at_start: SourceCounts,
    at_end: SourceCounts,
    last: SourceCounts,
    /// Agent CPU seconds over the storm, and from start to exit.
    cpu_storm: f64,
    cpu_total: f64,
    exit: String,
    /// The probes' runs over the storm (the kernel's statistics), most expensive first.
    probes: Option<Vec<(String, probes::ProgRuns)>>,
}

impl AgentStorm {
    fn received_rate(&self) -> f64 {
        self.at_end.received.saturating_sub(self.at_start.received) as f64 / self.storm.secs
    }
    fn cpu_pct(&self) -> f64 {
        self.cpu_storm / self.storm.secs * 100.0
    }
    fn cpu_pct_per_k(&self) -> f64 {
        let k = self.received_rate() / 1000.0;
        if k > 0.0 {
            self.cpu_pct() / k
        } else {
            f64::NAN
        }
    }
}

/// Waits for the agent's next status write (its poll is 200 ms).
fn settle() {
    std::thread::sleep(Duration::from_millis(500));
}

fn agent_storm(cfg: &AgentConfig<'_>, program: &Path, o: &Options) -> Result<AgentStorm> {
    let agent = Agent::start(cfg, Duration::from_secs(60))?;
    eprintln!(
        "exec-storm: agent ready (pid {}); storming for {:?}",
        agent.pid(),
        o.duration
    );
    settle();
    let stats_on = if o.bpf_stats {
        probes::StatsOn::enable()
    } else {
        None
    };
    let probes0 = match stats_on {
        Some(_) => Some(probes::snapshot(agent.pid())?),
        None => None,
    };
    let at_start = agent.status()?;
    let cpu0 = agent.cpu()?;
    let storm = storm::full_rate(program, o.workers, o.duration)?;
    let cpu1 = agent.cpu()?;
    let probes = match &probes0 {
        Some(before) => Some(probes::delta(before, &probes::snapshot(agent.pid())?)),
        None => None,
    };
    drop(stats_on);
    settle();
    let at_end = agent.status()?;
    let (cpu_exit, exit) = agent.stop(Duration::from_secs(120))?;
    let last = agent_final(cfg)?;
    Ok(AgentStorm {
        storm,
        at_start,
        at_end,
        last,
        cpu_storm: cpu1.secs() - cpu0.secs(),
        cpu_total: cpu_exit.secs(),
        exit: exit.to_string(),
        probes,
    })
}

/// The final `status.json` of the agent that ran in `cfg.dir`.
fn agent_final(cfg: &AgentConfig<'_>) -> Result<SourceCounts> {
    let path = cfg.dir.join("state/status.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let v: Value = serde_json::from_str(&text)?;
    let src = v.get("source").cloned().unwrap_or(Value::Null);
    let n = |k: &str| src.get(k).and_then(Value::as_u64).unwrap_or(0);
    let dropped = src
        .get("dropped")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, x)| (k.clone(), x.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    Ok(SourceCounts {
        produced: n("produced"),
        lost: n("lost"),
        received: n("received"),
        evaluated: n("evaluated"),
        dropped,
        in_flight: n("in_flight"),
        running: v.get("running").and_then(Value::as_bool).unwrap_or(true),
        raw: v,
    })
}

/// One condition of the latency comparison, pooled over its rounds.
#[derive(Default)]
struct LatencySide {
    runs: Vec<PacedResult>,
    /// Records lost during the agent's runs (0 for the baseline).
    lost: u64,
}

impl LatencySide {
    fn pooled(&self) -> Percentiles {
        let mut all: Vec<u64> = self
            .runs
            .iter()
            .flat_map(|r| r.samples_ns.iter().copied())
            .collect();
        Percentiles::of(&mut all)
    }
    fn run_medians(&self) -> Vec<f64> {
        self.runs
            .iter()
            .map(|r| Percentiles::of(&mut r.samples_ns.clone()).median_us)
            .collect()
    }
    fn rate(&self) -> f64 {
        let n: usize = self.runs.iter().map(|r| r.samples_ns.len()).sum();
        let s: f64 = self.runs.iter().map(|r| r.secs).sum();
        n as f64 / s
    }
    /// CPU of the storm process and its children per execution, in microseconds.
    fn cpu_per_exec_us(&self) -> f64 {
        let n: usize = self.runs.iter().map(|r| r.samples_ns.len()).sum();
        let s: f64 = self.runs.iter().map(|r| r.cpu_secs).sum();
        s / n as f64 * 1e6
    }
}

fn latency(
    cfg_for: &dyn Fn(usize) -> Result<PathBuf>,
    base: &AgentConfig<'_>,
    program: &Path,
    rate: f64,
    o: &Options,
) -> Result<(LatencySide, LatencySide)> {
    let (mut without, mut with) = (LatencySide::default(), LatencySide::default());
    // Warm the page cache and the scheduler before the first measured run.
    storm::paced(program, o.workers, rate, Duration::from_secs(2))?;
    for round in 0..o.latency_rounds {
        // ABBA: even rounds measure without the agent first, odd rounds with it first.
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for agent_on in order {
            if agent_on {
                let dir = cfg_for(round)?;
                let cfg = AgentConfig { dir: &dir, ..*base };
                let agent = Agent::start(&cfg, Duration::from_secs(60))?;
                settle();
                let r = storm::paced(program, o.workers, rate, o.latency_secs)?;
                agent.stop(Duration::from_secs(120))?;
                let last = agent_final(&cfg)?;
                with.lost += last.lost;
                eprintln!(
                    "exec-storm: latency round {round}, with agent: {} execs, median {:.1} us",
                    r.samples_ns.len(),
                    Percentiles::of(&mut r.samples_ns.clone()).median_us
                );
                with.runs.push(r);
            } else {
                let r = storm::paced(program, o.workers, rate, o.latency_secs)?;
                eprintln!(
                    "exec-storm: latency round {round}, without agent: {} execs, median {:.1} us",
                    r.samples_ns.len(),
                    Percentiles::of(&mut r.samples_ns.clone()).median_us
                );
                without.runs.push(r);
            }
        }
    }
    Ok((without, with))
}

fn pct(new: f64, old: f64) -> f64 {
    (new / old - 1.0) * 100.0
}

fn main() {
    if let Err(e) = run() {
        eprintln!("exec-storm: error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let o = parse_args()?;
    let vigil_exe = find_vigil(o.vigil.clone())?;
    let work = o
        .work
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("exec-storm-{}", std::process::id())));
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let repo = repo_root();
    let load_at_start = loadavg();

    // 1. The bundle.
    let examples = if o.rules.is_empty() {
        bundle::default_examples(&repo)?
    } else {
        o.rules.clone()
    };
    let sigma = o.sigma.clone().unwrap_or_else(|| {
        SIGMA_DIRS
            .iter()
            .map(|d| Path::new(SIGMA_ROOT).join(d))
            .collect()
    });
    let vigil = bundle::Vigil {
        exe: vigil_exe.clone(),
    };
    let b = bundle::make(&vigil, &examples, &sigma, &work)?;
    for n in &b.notes {
        eprintln!("exec-storm: {n}");
    }
    eprintln!(
        "exec-storm: bundle {}: {} rules ({} example files, {} of {} converted Sigma files)",
        b.path.display(),
        b.rules,
        b.example_files.len(),
        b.sigma_used,
        b.sigma_converted
    );

    let (program, how) = match &o.program {
        Some(p) => (p.clone(), "given".to_owned()),
        None => storm::tiny_program(&work)?,
    };
    eprintln!(
        "exec-storm: executing {} ({how}) with {} workers",
        program.display(),
        o.workers
    );

    // 2. The maximum exec rate without the agent.
    eprintln!(
        "exec-storm: full-rate storm without the agent for {:?}",
        o.duration
    );
    let baseline = storm::full_rate(&program, o.workers, o.duration)?;
    eprintln!(
        "exec-storm: {:.0} execs/s without the agent",
        baseline.rate()
    );

    // 3. The same storm under the agent.
    let storm_dir = work.join("agent-storm");
    let _ = std::fs::remove_dir_all(&storm_dir);
    let cfg = AgentConfig {
        vigil: &vigil_exe,
        bundle: &b.path,
        ring_mb: o.ring_mb,
        dir: &storm_dir,
    };
    let a = agent_storm(&cfg, &program, &o)?;
    let last = &a.last;
    let id_produced = last.produced == last.received + last.lost;
    let id_received = last.received == last.evaluated + last.dropped_total();

    // 4. Latency at half the maximum rate.
    let half = baseline.rate() / 2.0;
    let lat = if o.latency && o.latency_rounds > 0 {
        let cfg_for = |round: usize| -> Result<PathBuf> {
            let d = work.join(format!("agent-latency-{round}"));
            let _ = std::fs::remove_dir_all(&d);
            Ok(d)
        };
        Some(latency(&cfg_for, &cfg, &program, half, &o)?)
    } else {
        None
    };

    // 5. The summary.
    let mut rows: Vec<(String, String)> = vec![
        (
            "machine".into(),
            format!("{} CPUs, kernel {}", o.workers, kernel()),
        ),
        (
            "rules in the bundle".into(),
            format!(
                "{} ({} example files, {} converted Sigma files of {})",
                b.rules,
                b.example_files.len(),
                b.sigma_used,
                b.sigma_converted
            ),
        ),
        (
            "program executed".into(),
            format!("{} ({how})", program.display()),
        ),
        (
            "workers, storm duration".into(),
            format!("{}, {:.1} s", o.workers, a.storm.secs),
        ),
        ("ring buffer".into(), format!("{} MiB", o.ring_mb)),
        (
            "max exec rate, no agent".into(),
            format!("{:.0} execs/s", baseline.rate()),
        ),
        (
            "exec rate, agent running".into(),
            format!(
                "{:.0} execs/s ({:+.1}%)",
                a.storm.rate(),
                pct(a.storm.rate(), baseline.rate())
            ),
        ),
        (
            "records received by the agent".into(),
            format!(
                "{:.0} records/s ({:.2} per exec)",
                a.received_rate(),
                a.received_rate() / a.storm.rate()
            ),
        ),
        (
            "produced / received / lost".into(),
            format!("{} / {} / {}", last.produced, last.received, last.lost),
        ),
        (
            "evaluated / dropped".into(),
            format!(
                "{} / {} {:?}",
                last.evaluated,
                last.dropped_total(),
                last.dropped
            ),
        ),
        (
            "in flight at exit, running".into(),
            format!("{}, {}", last.in_flight, last.running),
        ),
        (
            "produced = received + lost".into(),
            format!(
                "{} ({} = {} + {})",
                id_produced, last.produced, last.received, last.lost
            ),
        ),
        (
            "received = evaluated + dropped".into(),
            format!(
                "{} ({} = {} + {})",
                id_received,
                last.received,
                last.evaluated,
                last.dropped_total()
            ),
        ),
        (
            "agent CPU during the storm".into(),
            format!(
                "{:.1}% of one CPU ({:.2} s over {:.1} s); {:.1} s start to exit",
                a.cpu_pct(),
                a.cpu_storm,
                a.storm.secs,
                a.cpu_total
            ),
        ),
        (
            "agent CPU per 1,000 records/s".into(),
            format!("{:.2}% of one CPU", a.cpu_pct_per_k()),
        ),
        ("agent exit".into(), a.exit.clone()),
    ];
    if let Some(progs) = &a.probes {
        let total: u64 = progs.iter().map(|(_, r)| r.ns).sum();
        let per_exec = total as f64 / a.storm.execs.max(1) as f64;
        rows.push((
            "probe time per exec (kernel stats)".into(),
            format!(
                "{:.1} us ({:.1} ms over {} execs)",
                per_exec / 1000.0,
                total as f64 / 1e6,
                a.storm.execs
            ),
        ));
        for (name, r) in progs.iter().take(6) {
            rows.push((
                format!("  probe {name}"),
                format!(
                    "{} runs, {:.0} ns/run, {:.2} us per exec",
                    r.runs,
                    r.ns as f64 / r.runs.max(1) as f64,
                    r.ns as f64 / a.storm.execs.max(1) as f64 / 1000.0
                ),
            ));
        }
    }
    if let Some((without, with)) = &lat {
        let (pw, pa) = (without.pooled(), with.pooled());
        rows.push((
            "latency runs".into(),
            format!(
                "target {half:.0} execs/s (half max), {} rounds x {:.0} s each side, ABBA order",
                o.latency_rounds,
                o.latency_secs.as_secs_f64()
            ),
        ));
        rows.push((
            "achieved rate without / with".into(),
            format!("{:.0} / {:.0} execs/s", without.rate(), with.rate()),
        ));
        rows.push((
            "exec median without / with".into(),
            format!(
                "{:.1} / {:.1} us ({:+.1}%)",
                pw.median_us,
                pa.median_us,
                pct(pa.median_us, pw.median_us)
            ),
        ));
        rows.push((
            "exec p99 without / with".into(),
            format!(
                "{:.1} / {:.1} us ({:+.1}%)",
                pw.p99_us,
                pa.p99_us,
                pct(pa.p99_us, pw.p99_us)
            ),
        ));
        rows.push((
            "exec mean without / with".into(),
            format!(
                "{:.1} / {:.1} us ({:+.1}%)",
                pw.mean_us,
                pa.mean_us,
                pct(pa.mean_us, pw.mean_us)
            ),
        ));
        rows.push((
            "CPU per exec without / with".into(),
            format!(
                "{:.1} / {:.1} us ({:+.1}%)",
                without.cpu_per_exec_us(),
                with.cpu_per_exec_us(),
                pct(with.cpu_per_exec_us(), without.cpu_per_exec_us())
            ),
        ));
        rows.push((
            "run medians without".into(),
            format!("{:.1?} us", without.run_medians()),
        ));
        rows.push((
            "run medians with".into(),
            format!("{:.1?} us", with.run_medians()),
        ));
        rows.push(("records lost in latency runs".into(), with.lost.to_string()));
        if let Some(progs) = &a.probes {
            let total: u64 = progs.iter().map(|(_, r)| r.ns).sum();
            let per_exec_us = total as f64 / a.storm.execs.max(1) as f64 / 1000.0;
            rows.push((
                "probe time / exec median without".into(),
                format!(
                    "{:.1}% (the probes' own cost, without contention)",
                    per_exec_us / pw.median_us * 100.0
                ),
            ));
        }
    }
    let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    println!("exec storm: live sensor benchmark");
    for (k, v) in &rows {
        println!("  {k:<w$}  {v}");
    }
    let goals = [
        (
            format!("0 records lost with {} MiB", o.ring_mb),
            last.lost == 0 && o.ring_mb <= 64,
        ),
        (
            "accounting identities hold".to_owned(),
            id_produced && id_received,
        ),
    ];
    for (g, ok) in &goals {
        println!("  goal: {g}: {}", if *ok { "met" } else { "MISSED" });
    }
    if let Some((without, with)) = &lat {
        let added = pct(with.pooled().median_us, without.pooled().median_us);
        println!(
            "  goal: at most 5% added exec latency (median): {:+.1}%: {}",
            added,
            if added <= 5.0 { "met" } else { "MISSED" }
        );
    }

    if let Some(path) = &o.json {
        let side = |s: &LatencySide| {
            let p = s.pooled();
            json!({
                "runs": s.runs.len(), "execs": p.n, "rate": s.rate(),
                "median_us": p.median_us, "p99_us": p.p99_us, "mean_us": p.mean_us,
                "cpu_per_exec_us": s.cpu_per_exec_us(), "run_medians_us": s.run_medians(),
                "lost": s.lost,
            })
        };
        let report = json!({
            "kernel": kernel(),
            "loadavg_start": load_at_start, "loadavg_end": loadavg(),
            "workers": o.workers,
            "ring_mb": o.ring_mb,
            "rules": b.rules,
            "example_files": b.example_files,
            "sigma_converted": b.sigma_converted,
            "sigma_used": b.sigma_used,
            "notes": b.notes,
            "program": program, "program_kind": how,
            "baseline": {"execs": baseline.execs, "secs": baseline.secs, "rate": baseline.rate()},
            "agent_storm": {
                "execs": a.storm.execs, "secs": a.storm.secs, "rate": a.storm.rate(),
                "received_per_sec": a.received_rate(),
                "produced": last.produced, "received": last.received, "lost": last.lost,
                "evaluated": last.evaluated, "dropped": last.dropped.iter().map(|(k, n)| (k.clone(), json!(n))).collect::<serde_json::Map<String, Value>>(),
                "in_flight": last.in_flight,
                "identity_produced": id_produced, "identity_received": id_received,
                "cpu_storm_secs": a.cpu_storm, "cpu_total_secs": a.cpu_total,
                "cpu_pct": a.cpu_pct(), "cpu_pct_per_1000_records_per_sec": a.cpu_pct_per_k(),
                "exit": a.exit,
                "probes": a.probes.as_ref().map(|ps| ps.iter().map(|(n, r)| json!({"tracepoint": n, "runs": r.runs, "ns": r.ns})).collect::<Vec<_>>()),
                "status_at_start": a.at_start.raw, "status_at_end": a.at_end.raw, "status_final": last.raw,
            },
            "latency": lat.as_ref().map(|(wo, wi)| json!({
                "target_rate": half, "rounds": o.latency_rounds, "secs": o.latency_secs.as_secs_f64(),
                "without": side(wo), "with": side(wi),
            })),
        });
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
