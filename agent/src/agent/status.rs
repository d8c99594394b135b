//! What the agent reports: `STATE/status.json` (the deployer's status and the agent's own,
//! written atomically every poll and once more, `"running": false`, at the end), the deployment
//! log and health warnings on stderr, the `--follow` position, and the crash test hook.

use std::io::Write;
use std::time::SystemTime;

use serde::Serialize;
use vigil_runtime::deploy::{DeployStatus, ErrorCode};

use super::sources::FollowRecord;
use super::{Agent, ABORT_HOOK, FOLLOW_FILE, STATUS_FILE};

/// What `status.json` holds: the deployer's status and the agent's own.
#[derive(Serialize)]
struct AgentStatus<'a> {
    /// Whether the agent is still running (false in the final write).
    running: bool,
    /// The agent's process id.
    pid: u32,
    /// When this was written.
    time_unix: u64,
    /// Whether the finite inputs are all read.
    inputs_done: bool,
    /// Input lines that were not blank.
    lines: u64,
    /// What the decoder made of the input's records.
    decode: DecodeCounts,
    /// Whether no bundle is active (events are dropped, E0811).
    blind: bool,
    /// Alerts not delivered because stdout was closed.
    alerts_lost: u64,
    /// The live source (the eBPF sensor): its records and what became of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<super::live::LiveStatus>,
    #[serde(flatten)]
    deploy: &'a DeployStatus,
}

/// The decoder's counts in `status.json`: records read, events produced (one per event type a
/// record belongs to), records no mapping route takes and the most frequent of their kinds
/// (Channel, EventID), bad lines.
#[derive(Serialize)]
struct DecodeCounts {
    records: u64,
    events: u64,
    unrouted: u64,
    /// At most [`SHOWN_UNROUTED_KINDS`], most frequent first: (kind, records).
    unrouted_kinds: Vec<(String, u64)>,
    bad_lines: u64,
}

/// How many kinds of unrouted record `status.json` lists.
const SHOWN_UNROUTED_KINDS: usize = 10;

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Agent {
    /// Events dropped so far for want of a bundle.
    pub(super) fn blind_drops(&self) -> u64 {
        self.deployer
            .event_counts()
            .dropped
            .get(&ErrorCode::NoActiveBundle.code())
            .copied()
            .unwrap_or(0)
    }

    /// Says on stderr, once per change, that the agent runs blind or degraded.
    pub(super) fn report_health(&mut self) {
        let blind = self.blind_drops();
        if blind > self.blind_reported {
            eprintln!(
                "vigil agent: warning: no active bundle: {blind} events dropped so far (E0811)"
            );
            self.blind_reported = blind;
        }
        let degraded = self.deployer.degraded();
        if degraded.is_some() && degraded != self.degraded_reported {
            if let Some(d) = &degraded {
                eprintln!("vigil agent: warning: degraded: {d}");
            }
        }
        self.degraded_reported = degraded;
    }

    /// Writes `follow.json` when the position moved (after the alerts are flushed).
    pub(super) fn save_follow_pos(&mut self) {
        let (Some(path), Some(pos)) = (&self.follow, self.follow_pos) else {
            return;
        };
        if self.follow_saved == Some(pos) || self.stdout_error.is_some() {
            return;
        }
        let record = FollowRecord {
            path: path.clone(),
            pos,
        };
        match serde_json::to_vec(&record) {
            Ok(bytes) => match self.state.write(FOLLOW_FILE, &bytes) {
                Ok(()) => self.follow_saved = Some(pos),
                Err(e) => eprintln!("vigil agent: {e}"),
            },
            Err(e) => eprintln!("vigil agent: cannot encode the follow position: {e}"),
        }
    }

    /// Prints new log entries and runs the crash test hook.
    pub(super) fn after_change(&mut self) {
        for e in self.deployer.log_since(self.log_seq) {
            self.log_seq = e.seq;
            let code = e.code.map(|c| format!(" [{c}]")).unwrap_or_default();
            let bundle = e.bundle.map(|b| format!(" {b}")).unwrap_or_default();
            let file = e.file.map(|f| format!(" `{f}`")).unwrap_or_default();
            eprintln!(
                "vigil agent: {}{file}{bundle}{code}: {}",
                e.event, e.message
            );
        }
        if let (Some(id), Some(active)) = (self.abort_on.clone(), self.deployer.active()) {
            if id == active.bundle_id {
                let _ = self.out.flush();
                self.write_status(true);
                eprintln!("vigil agent: {ABORT_HOOK}={id}: aborting");
                std::process::abort();
            }
        }
    }

    /// Writes `status.json` (`running`: false in the final write).
    pub(super) fn write_status(&mut self, running: bool) {
        let deploy = self.deployer.status();
        let status = AgentStatus {
            running,
            pid: std::process::id(),
            time_unix: now_unix(),
            inputs_done: self.inputs_done,
            lines: self.lines,
            decode: {
                let d = self.decoder.stats();
                DecodeCounts {
                    records: d.records,
                    events: d.events,
                    unrouted: d.unrouted,
                    unrouted_kinds: d
                        .top_unrouted(SHOWN_UNROUTED_KINDS)
                        .into_iter()
                        .map(|(k, n)| (k.to_owned(), n))
                        .collect(),
                    bad_lines: d.bad_lines,
                }
            },
            blind: deploy.active.is_none(),
            alerts_lost: self.alerts_lost,
            source: self.live.as_ref().map(super::live::Live::status),
            deploy: &deploy,
        };
        match serde_json::to_string_pretty(&status) {
            Ok(mut text) => {
                text.push('\n');
                if let Err(e) = self.state.write(STATUS_FILE, text.as_bytes()) {
                    eprintln!("vigil agent: {e}");
                }
            }
            Err(e) => eprintln!("vigil agent: cannot encode the status: {e}"),
        }
    }
}
