//! The agent under test: `vigil agent --source ebpf` started on the bundle, waited for until
//! its probes are attached and its bundle active, its `status.json` source counters read,
//! its CPU clock read, and stopped with SIGTERM (its final status read after it exits).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::storm::ProcCpu;

/// The `source` counters of `status.json`.
#[derive(Clone, Debug, Default)]
pub(crate) struct SourceCounts {
    pub(crate) produced: u64,
    pub(crate) lost: u64,
    pub(crate) received: u64,
    pub(crate) evaluated: u64,
    pub(crate) dropped: Vec<(String, u64)>,
    pub(crate) in_flight: u64,
    /// `running` of the status.
    pub(crate) running: bool,
    /// The whole status, for the JSON report.
    pub(crate) raw: Value,
}

impl SourceCounts {
    pub(crate) fn dropped_total(&self) -> u64 {
        self.dropped.iter().map(|(_, n)| n).sum()
    }
}

/// A running agent.
pub(crate) struct Agent {
    child: Child,
    state: PathBuf,
    stderr_path: PathBuf,
}

/// How to start the agent.
pub(crate) struct AgentConfig<'a> {
    pub(crate) vigil: &'a Path,
    pub(crate) bundle: &'a Path,
    pub(crate) ring_mb: u32,
    /// A fresh folder for this run (bundles, state, alerts, log).
    pub(crate) dir: &'a Path,
}

fn count(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

impl Agent {
    /// Starts the agent and waits (at most `timeout`) until its status shows the eBPF source
    /// and an active bundle.
    pub(crate) fn start(cfg: &AgentConfig<'_>, timeout: Duration) -> Result<Agent> {
        let bundles = cfg.dir.join("bundles");
        let state = cfg.dir.join("state");
        std::fs::create_dir_all(&bundles)?;
        std::fs::create_dir_all(&state)?;
        std::fs::copy(cfg.bundle, bundles.join("storm.vglb")).context("copying the bundle")?;
        let alerts = std::fs::File::create(cfg.dir.join("alerts.jsonl"))?;
        let stderr_path = cfg.dir.join("agent.log");
        let log = std::fs::File::create(&stderr_path)?;
        let child = Command::new(cfg.vigil)
            .arg("agent")
            .args(["--source", "ebpf", "--allow-unsigned", "--ring-mb"])
            .arg(cfg.ring_mb.to_string())
            .arg("--bundles")
            .arg(&bundles)
            .arg("--state")
            .arg(&state)
            .stdin(Stdio::null())
            .stdout(alerts)
            .stderr(log)
            .spawn()
            .context("starting vigil agent")?;
        let mut agent = Agent {
            child,
            state,
            stderr_path,
        };
        let t = Instant::now();
        loop {
            if let Some(status) = agent.child.try_wait()? {
                bail!("the agent exited at start ({status}): {}", agent.log_tail());
            }
            if let Ok(v) = agent.read_status_value() {
                let active = v.get("active").is_some_and(|a| !a.is_null());
                if active && v.get("source").is_some_and(Value::is_object) {
                    return Ok(agent);
                }
            }
            if t.elapsed() > timeout {
                agent.kill();
                bail!(
                    "the agent was not ready (eBPF source and active bundle) after {timeout:?}: {}",
                    agent.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines of the agent's stderr.
    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }

    fn read_status_value(&self) -> Result<Value> {
        let path = self.state.join("status.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// The source counters of the latest `status.json`.
    pub(crate) fn status(&self) -> Result<SourceCounts> {
        let v = self.read_status_value()?;
        let src = v.get("source").context("status.json has no `source`")?;
        let dropped = src
            .get("dropped")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default();
        Ok(SourceCounts {
            produced: count(src, "produced"),
            lost: count(src, "lost"),
            received: count(src, "received"),
            evaluated: count(src, "evaluated"),
            dropped,
            in_flight: count(src, "in_flight"),
            running: v.get("running").and_then(Value::as_bool).unwrap_or(true),
            raw: v,
        })
    }

    /// The agent's CPU clock now.
    pub(crate) fn cpu(&self) -> Result<ProcCpu> {
        ProcCpu::of_pid(self.pid())
    }

    /// Sends SIGTERM and waits for the agent to exit (at most `timeout`, then SIGKILL); returns
    /// its CPU clock at exit (read from the exited, not yet reaped, process) and its exit status.
    pub(crate) fn stop(mut self, timeout: Duration) -> Result<(ProcCpu, std::process::ExitStatus)> {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)
            .context("sending SIGTERM to the agent")?;
        let t = Instant::now();
        loop {
            // Wait without reaping, so /proc/PID/stat still holds the final CPU times.
            let exited = rustix::process::waitid(
                rustix::process::WaitId::Pid(pid),
                rustix::process::WaitIdOptions::EXITED
                    | rustix::process::WaitIdOptions::NOWAIT
                    | rustix::process::WaitIdOptions::NOHANG,
            )
            .context("waiting for the agent")?
            .is_some();
            if exited {
                let cpu = ProcCpu::of_pid(self.pid());
                let status = self.child.wait()?;
                return Ok((cpu?, status));
            }
            if t.elapsed() > timeout {
                self.kill();
                bail!(
                    "the agent did not stop {timeout:?} after SIGTERM: {}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}
