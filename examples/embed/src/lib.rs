//! An example endpoint agent: how a sensor embeds `vigil-runtime`.
//!
//! The agent depends on the runtime alone (no parser, no compiler, no CLI crates): rules
//! arrive as a compiled, signed bundle, built elsewhere by `vigil build`. What it shows:
//!
//! 1. **Loading** ([`Agent::load`]): [`bundle::load()`] checks the signature against the agent's
//!    [`TrustStore`], binds the bundle to the host schema and verifies it under the host's
//!    [`Budget`]; a refused bundle is an error and an agent would keep the one it had.
//! 2. **Events without JSON** ([`Agent::handle`]): the sensor's own records ([`Record`]) are
//!    turned into events through [`EventBuilder`], addressing fields by [`FieldIndex`]
//!    resolved once at load ([`Fields`]), reusing each worker's event buffers
//!    ([`EventBuilder::reuse`]), and stamped with the sensor's record id ([`Source::Record`]).
//! 3. **Threads** ([`run_agent`]): N workers share one `Arc<Engine>` (`Engine` is
//!    `Send + Sync`, `process` takes `&self`). Records are sharded to workers by `host`: every
//!    sequence and threshold key includes the host, so each key's events still reach the
//!    engine in order, on one worker, which is what stateful rules need.
//! 4. **Alerts** arrive through the engine's callback as [`Alert`] values, which the workers
//!    send to the caller; `Alert::to_json_line` gives the documented JSON form.

use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

pub use vigil_runtime::alert::Alert;
pub use vigil_runtime::bundle::TrustStore;
pub use vigil_runtime::engine::EngineKind;

use vigil_runtime::budget::Budget;
use vigil_runtime::bundle::{self, LoadError};
use vigil_runtime::decode::DecodeError;
use vigil_runtime::engine::{Engine, EngineError, EngineOptions, EngineStats};
use vigil_runtime::event::{Event, EventBuilder, Source};
use vigil_runtime::schema::{EventTypeId, FieldIndex, Schema};

/// A record as the sensor produces it: its own types, no JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// A process was created.
    ProcessStart {
        /// Process id.
        pid: i64,
        /// Parent process id.
        ppid: i64,
        /// Executable path.
        image: String,
        /// Parent's executable path.
        parent_image: String,
        /// Full command line.
        command_line: String,
        /// The command line split into arguments.
        args: Vec<String>,
        /// Account, `DOMAIN\user`.
        user: String,
    },
    /// A network connection was made or accepted.
    NetworkConnect {
        /// Process id.
        pid: i64,
        /// Executable path.
        image: String,
        /// Whether the process made the connection.
        initiated: bool,
        /// Remote address.
        dest_ip: IpAddr,
        /// Remote port.
        dest_port: u16,
    },
    /// A DNS query.
    DnsQuery {
        /// Process id.
        pid: i64,
        /// Executable path.
        image: String,
        /// The name asked for.
        query_name: String,
    },
}

/// One sensor record with its envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SensorRecord {
    /// The sensor's own record number (alerts carry it as `source.record_id`).
    pub id: u64,
    /// When it happened, nanoseconds since the Unix epoch.
    pub time_ns: i64,
    /// The machine.
    pub host: String,
    /// What happened.
    pub record: Record,
}

/// Why the agent could not load rules or take an event.
#[derive(Debug)]
pub enum AgentError {
    /// The bundle was refused (signature, expiry, schema binding, verifier).
    Load(LoadError),
    /// The engine could not be built or refused an event.
    Engine(EngineError),
    /// The host schema lacks an event type or field this agent fills.
    Schema(String),
    /// The builder refused a value.
    Build(DecodeError),
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentError::Load(e) => write!(f, "bundle refused: {e}"),
            AgentError::Engine(e) => write!(f, "engine: {e}"),
            AgentError::Schema(e) => write!(f, "host schema: {e}"),
            AgentError::Build(e) => write!(f, "event: {e}"),
        }
    }
}

impl std::error::Error for AgentError {}

impl From<DecodeError> for AgentError {
    fn from(e: DecodeError) -> AgentError {
        AgentError::Build(e)
    }
}

impl From<EngineError> for AgentError {
    fn from(e: EngineError) -> AgentError {
        AgentError::Engine(e)
    }
}

/// An event type's id and the indices of the fields the agent fills, resolved once against
/// the host schema so that filling an event does no name lookups.
#[derive(Clone, Copy, Debug)]
struct TypeFields<const N: usize> {
    ty: EventTypeId,
    ix: [FieldIndex; N],
}

impl<const N: usize> TypeFields<N> {
    fn resolve(schema: &Schema, event: &str, names: [&str; N]) -> Result<Self, AgentError> {
        let (ty, et) = schema
            .event(event)
            .ok_or_else(|| AgentError::Schema(format!("no event type `{event}`")))?;
        let mut ix = [FieldIndex(0); N];
        for (slot, name) in ix.iter_mut().zip(names) {
            *slot = et
                .field(name)
                .map(|(i, _)| i)
                .ok_or_else(|| AgentError::Schema(format!("no field `{event}.{name}`")))?;
        }
        Ok(TypeFields { ty, ix })
    }
}

/// The field indices of every event type the agent fills.
#[derive(Clone, Copy, Debug)]
pub struct Fields {
    /// time, host, pid, ppid, image, parent_image, command_line, args, user
    process_start: TypeFields<9>,
    /// time, host, pid, image, initiated, dest_ip, dest_port
    network_connect: TypeFields<7>,
    /// time, host, pid, image, query_name
    dns_query: TypeFields<5>,
}

impl Fields {
    /// Resolves the fields against `schema`.
    pub fn resolve(schema: &Schema) -> Result<Fields, AgentError> {
        Ok(Fields {
            process_start: TypeFields::resolve(
                schema,
                "process_start",
                [
                    "time",
                    "host",
                    "pid",
                    "ppid",
                    "image",
                    "parent_image",
                    "command_line",
                    "args",
                    "user",
                ],
            )?,
            network_connect: TypeFields::resolve(
                schema,
                "network_connect",
                [
                    "time",
                    "host",
                    "pid",
                    "image",
                    "initiated",
                    "dest_ip",
                    "dest_port",
                ],
            )?,
            dns_query: TypeFields::resolve(
                schema,
                "dns_query",
                ["time", "host", "pid", "image", "query_name"],
            )?,
        })
    }
}

/// A loaded bundle, ready to take events from any number of threads.
#[derive(Debug)]
pub struct Agent {
    engine: Arc<Engine>,
    schema: Arc<Schema>,
    fields: Fields,
}

impl Agent {
    /// Loads `bundle` for the host's `endpoint` schema, trusting `trust`, with the default
    /// budget, running conditions with `kind` (the JIT in production, the interpreter where
    /// JIT is not allowed).
    pub fn load(bundle: &[u8], trust: &TrustStore, kind: EngineKind) -> Result<Agent, AgentError> {
        let schema = Schema::endpoint();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let loaded = bundle::load(bundle, &schema, trust, &Budget::default(), now)
            .map_err(AgentError::Load)?;
        let engine = Engine::from_loaded(
            &loaded,
            EngineOptions {
                engine: kind,
                ..EngineOptions::default()
            },
        )?;
        let fields = Fields::resolve(&schema)?;
        Ok(Agent {
            engine: Arc::new(engine),
            schema: Arc::new(schema),
            fields,
        })
    }

    /// The engine's counters.
    pub fn stats(&self) -> EngineStats {
        self.engine.stats()
    }

    /// Fills `spare` (a recycled event) from `rec` and runs the rules on it, calling
    /// `on_alert` for each alert. Returns the number of alerts and the emptied event, for the
    /// next call to reuse.
    pub fn handle(
        &self,
        rec: &SensorRecord,
        spare: Event<'static>,
        on_alert: &mut dyn FnMut(&Alert),
    ) -> Result<(usize, Event<'static>), AgentError> {
        let event = build(&self.schema, &self.fields, rec, spare)?;
        let fired = self.engine.process(&event, on_alert)?;
        Ok((fired, event.recycle()))
    }
}

/// Builds the event of one record through the builder, by field index.
fn build<'r>(
    schema: &Schema,
    fields: &Fields,
    rec: &'r SensorRecord,
    spare: Event<'static>,
) -> Result<Event<'r>, AgentError> {
    let b = match &rec.record {
        Record::ProcessStart {
            pid,
            ppid,
            image,
            parent_image,
            command_line,
            args,
            user,
        } => {
            let f = fields.process_start;
            let [time, host, f_pid, f_ppid, f_image, f_parent, f_cmd, f_args, f_user] = f.ix;
            let mut b = EventBuilder::reuse(schema, f.ty, spare)?;
            b.set_int(time, rec.time_ns)?;
            b.set_str(host, &rec.host)?;
            b.set_int(f_pid, *pid)?;
            b.set_int(f_ppid, *ppid)?;
            b.set_str(f_image, image)?;
            b.set_str(f_parent, parent_image)?;
            b.set_str(f_cmd, command_line)?;
            b.start_list(f_args)?;
            for a in args {
                b.push_item(f_args, a)?;
            }
            b.set_str(f_user, user)?;
            b
        }
        Record::NetworkConnect {
            pid,
            image,
            initiated,
            dest_ip,
            dest_port,
        } => {
            let f = fields.network_connect;
            let [time, host, f_pid, f_image, f_init, f_ip, f_port] = f.ix;
            let mut b = EventBuilder::reuse(schema, f.ty, spare)?;
            b.set_int(time, rec.time_ns)?;
            b.set_str(host, &rec.host)?;
            b.set_int(f_pid, *pid)?;
            b.set_str(f_image, image)?;
            b.set_bool(f_init, *initiated)?;
            b.set_ip(f_ip, *dest_ip)?;
            b.set_int(f_port, i64::from(*dest_port))?;
            b
        }
        Record::DnsQuery {
            pid,
            image,
            query_name,
        } => {
            let f = fields.dns_query;
            let [time, host, f_pid, f_image, f_query] = f.ix;
            let mut b = EventBuilder::reuse(schema, f.ty, spare)?;
            b.set_int(time, rec.time_ns)?;
            b.set_str(host, &rec.host)?;
            b.set_int(f_pid, *pid)?;
            b.set_str(f_image, image)?;
            b.set_str(f_query, query_name)?;
            b
        }
    };
    let mut b = b;
    b.set_source(Some(Source::Record { id: rec.id }));
    Ok(b.finish())
}

/// Which worker takes records of `host`: the same one, always.
fn shard(host: &str, workers: usize) -> usize {
    let mut h = DefaultHasher::new();
    host.hash(&mut h);
    (h.finish() % workers.max(1) as u64) as usize
}

/// Which stage reported an alert: stateless rules (the parallel workers) or stateful rules
/// (the ordered stage). Within one record, stateless alerts sort first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Stateless,
    Stateful,
}

/// What a worker reports.
enum Report {
    Alert(u64, Stage, Box<Alert>),
    Error(u64, AgentError),
}

/// One pipeline stage: a thread building events from records and handing them to `eval`.
fn spawn_stage(
    name: String,
    agent: &Agent,
    stage: Stage,
    report: Sender<Report>,
) -> std::io::Result<(SyncSender<SensorRecord>, std::thread::JoinHandle<()>)> {
    // Bounded: a slow engine pushes back on the sensor instead of buffering without end.
    let (tx, rx) = sync_channel::<SensorRecord>(1024);
    let engine = Arc::clone(&agent.engine);
    let schema = Arc::clone(&agent.schema);
    let fields = agent.fields;
    let handle = std::thread::Builder::new().name(name).spawn(move || {
        let mut spare: Event<'static> = Event::default();
        for rec in rx {
            let event = match build(&schema, &fields, &rec, spare) {
                Ok(ev) => ev,
                Err(e) => {
                    // The stateless stage reports bad records; the ordered stage skips them.
                    if stage == Stage::Stateless {
                        let _ = report.send(Report::Error(rec.id, e));
                    }
                    spare = Event::default();
                    continue;
                }
            };
            let mut on_alert = |a: &Alert| {
                let _ = report.send(Report::Alert(rec.id, stage, Box::new(a.clone())));
            };
            let result = match stage {
                Stage::Stateless => engine.process_stateless(&event, &mut on_alert),
                Stage::Stateful => engine.process_stateful(&event, &mut on_alert),
            };
            if let Err(e) = result {
                if stage == Stage::Stateless {
                    let _ = report.send(Report::Error(rec.id, e.into()));
                }
            }
            spare = event.recycle();
        }
    })?;
    Ok((tx, handle))
}

/// Runs `records` through `agent` and returns the alerts ordered by record id (within a
/// record, stateless rules first, each stage in rule order) and the first error, if any record
/// could not be handled.
///
/// This is the threading pattern DESIGN.md asks of an agent: single-event rules run on
/// `workers` threads at once ([`Engine::process_stateless`] takes no lock; records of one host
/// go to one worker), while sequences and thresholds run in ONE ordered stage that sees every
/// record in input order ([`Engine::process_stateful`]): their windows and partial matches
/// depend on the order of events across hosts, which parallel workers would scramble.
pub fn run_records(
    agent: &Agent,
    records: Vec<SensorRecord>,
    workers: usize,
) -> (Vec<Alert>, Option<AgentError>) {
    let workers = workers.max(1);
    let (report_tx, report_rx): (Sender<Report>, Receiver<Report>) = channel();
    let mut queues = Vec::with_capacity(workers);
    let mut handles = Vec::with_capacity(workers + 1);
    let mut start_error = None;
    for n in 0..workers {
        match spawn_stage(
            format!("agent-worker-{n}"),
            agent,
            Stage::Stateless,
            report_tx.clone(),
        ) {
            Ok((tx, h)) => {
                queues.push(tx);
                handles.push(h);
            }
            Err(e) => {
                start_error = Some(e);
                break;
            }
        }
    }
    let ordered = match spawn_stage(
        "agent-ordered".to_owned(),
        agent,
        Stage::Stateful,
        report_tx.clone(),
    ) {
        Ok((tx, h)) => {
            handles.push(h);
            Some(tx)
        }
        Err(e) => {
            start_error = Some(e);
            None
        }
    };
    if let Some(e) = start_error {
        let _ = report_tx.send(Report::Error(
            0,
            AgentError::Engine(EngineError::Internal(format!("cannot start a stage: {e}"))),
        ));
    }
    drop(report_tx);
    if !queues.is_empty() {
        let n = queues.len();
        for rec in records {
            if let Some(tx) = &ordered {
                let _ = tx.send(rec.clone());
            }
            if let Some(tx) = queues.get(shard(&rec.host, n)) {
                let _ = tx.send(rec);
            }
        }
    }
    drop(queues);
    drop(ordered);
    let mut alerts: Vec<(u64, Stage, Alert)> = Vec::new();
    let mut first_error: Option<(u64, AgentError)> = None;
    for report in report_rx {
        match report {
            Report::Alert(id, stage, a) => alerts.push((id, stage, *a)),
            Report::Error(id, e) => {
                if first_error.as_ref().is_none_or(|(first, _)| id < *first) {
                    first_error = Some((id, e));
                }
            }
        }
    }
    for h in handles {
        let _ = h.join();
    }
    // Stable: one stage's alerts for one record keep their rule order.
    alerts.sort_by_key(|(id, stage, _)| (*id, *stage));
    (
        alerts.into_iter().map(|(_, _, a)| a).collect(),
        first_error.map(|(_, e)| e),
    )
}

/// The whole agent in one call: load `bundle` trusting `trust`, run `records` on `workers`
/// threads with the JIT, return the alerts (ordered by record id).
pub fn run_agent(
    bundle: &[u8],
    trust: &TrustStore,
    records: Vec<SensorRecord>,
    workers: usize,
) -> Result<Vec<Alert>, AgentError> {
    let agent = Agent::load(bundle, trust, EngineKind::Jit)?;
    let (alerts, error) = run_records(&agent, records, workers);
    match error {
        Some(e) => Err(e),
        None => Ok(alerts),
    }
}

/// A small demo stream, as a sensor on two machines might produce it: an Office document
/// starting encoded PowerShell that connects out, and ordinary activity around it.
pub fn demo_records() -> Vec<SensorRecord> {
    let t0: i64 = 1_732_406_400_000_000_000;
    let sec: i64 = 1_000_000_000;
    let ps = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe";
    let word = r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE";
    let mut recs = Vec::new();
    let mut push = |time_ns: i64, host: &str, record: Record| {
        let id = recs.len() as u64 + 1;
        recs.push(SensorRecord {
            id,
            time_ns,
            host: host.to_owned(),
            record,
        });
    };
    push(
        t0,
        "ws-042",
        Record::ProcessStart {
            pid: 4100,
            ppid: 812,
            image: r"C:\Windows\explorer.exe".to_owned(),
            parent_image: r"C:\Windows\System32\userinit.exe".to_owned(),
            command_line: "explorer.exe".to_owned(),
            args: vec!["explorer.exe".to_owned()],
            user: r"CORP\bob".to_owned(),
        },
    );
    push(
        t0 + 3 * sec,
        "ws-042",
        Record::ProcessStart {
            pid: 6200,
            ppid: 5120,
            image: ps.to_owned(),
            parent_image: word.to_owned(),
            command_line: "powershell.exe -NoP -W Hidden -enc SQBFAFgA".to_owned(),
            args: ["powershell.exe", "-NoP", "-W", "Hidden", "-enc", "SQBFAFgA"]
                .map(str::to_owned)
                .to_vec(),
            user: r"CORP\bob".to_owned(),
        },
    );
    push(
        t0 + 4 * sec,
        "ws-042",
        Record::NetworkConnect {
            pid: 6200,
            image: ps.to_owned(),
            initiated: true,
            dest_ip: IpAddr::from([203, 0, 113, 7]),
            dest_port: 4444,
        },
    );
    push(
        t0 + 5 * sec,
        "srv-db-01",
        Record::DnsQuery {
            pid: 900,
            image: r"C:\Program Files\Agent\agent.exe".to_owned(),
            query_name: "abc123.ngrok.io".to_owned(),
        },
    );
    push(
        t0 + 6 * sec,
        "srv-db-01",
        Record::NetworkConnect {
            pid: 901,
            image: r"C:\Windows\System32\svchost.exe".to_owned(),
            initiated: true,
            dest_ip: IpAddr::from([10, 1, 2, 3]),
            dest_port: 443,
        },
    );
    recs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_is_stable_and_in_range() {
        for n in 1..8 {
            let a = shard("ws-042", n);
            assert!(a < n);
            assert_eq!(a, shard("ws-042", n));
        }
        assert_eq!(shard("x", 0), 0);
    }

    #[test]
    fn records_build_into_events_of_the_host_schema() {
        let schema = Schema::endpoint();
        let fields = Fields::resolve(&schema).unwrap_or_else(|e| panic!("{e}"));
        for rec in demo_records() {
            let ev =
                build(&schema, &fields, &rec, Event::default()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(ev.time(), rec.time_ns);
            assert_eq!(ev.host(), rec.host);
            assert_eq!(ev.source(), Some(&Source::Record { id: rec.id }));
        }
    }
}
