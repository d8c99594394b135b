//! An example endpoint agent: how a sensor embeds `vigil-runtime`.
//!
//! The agent depends on the runtime alone (no parser, no compiler, no CLI crates): rules
//! arrive as a compiled, signed bundle, built elsewhere by `vigil build`. What it shows:
//!
//! 1. **Loading** ([`Agent::load`]): a [`Deployer`] owns the running bundle. Its
//!    [`Deployer::update`] checks the signature against the agent's [`TrustStore`], binds the
//!    bundle to the host schema, verifies it under the host's [`Budget`] and swaps it in
//!    between events; a refused bundle is an error and leaves the running one in place (a real
//!    agent calls `update` again with each new bundle, while its workers keep running; the
//!    reference agent, `vigil-agent`, adds shadow evaluation, promotion and persistence).
//! 2. **Events without JSON** ([`Agent::handle`]): the sensor's own records ([`Record`]) are
//!    turned into events through [`EventBuilder`], addressing fields by [`FieldIndex`]
//!    resolved once at load ([`Fields`]), reusing each worker's event buffers
//!    ([`EventBuilder::reuse`]), and stamped with the sensor's record id ([`Source::Record`]).
//! 3. **Threads** ([`run_agent`]): N workers share one `Arc<Deployer>` (`Send + Sync`,
//!    [`Deployer::process`] takes `&self` and runs each event on the bundle active when it
//!    arrives). Records are sharded to workers by `host`: every sequence and threshold key
//!    includes the host, so each key's events still reach the rules in order, on one worker,
//!    which is what stateful rules need.
//! 4. **Alerts** arrive through the engine's callback as [`Alert`] values, which the workers
//!    send to the caller; `Alert::to_json_line` gives the documented JSON form.

use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::Arc;

pub use vigil_runtime::alert::Alert;
pub use vigil_runtime::bundle::TrustStore;
pub use vigil_runtime::engine::EngineKind;

use vigil_runtime::budget::Budget;
use vigil_runtime::decode::DecodeError;
use vigil_runtime::deploy::{DeployOptions, Deployer, EventCounts, UpdateError};
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
    /// The bundle was refused (signature, expiry, schema binding, verifier, engine).
    Load(UpdateError),
    /// The event was not evaluated (no bundle runs, or the running one refused it), or a
    /// worker could not start.
    Dropped(String),
    /// The host schema lacks an event type or field this agent fills.
    Schema(String),
    /// The builder refused a value.
    Build(DecodeError),
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentError::Load(e) => write!(f, "bundle refused: {e}"),
            AgentError::Dropped(e) => write!(f, "event dropped: {e}"),
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

/// A deployer with a bundle running, ready to take events from any number of threads.
#[derive(Debug)]
pub struct Agent {
    deployer: Arc<Deployer>,
    schema: Arc<Schema>,
    fields: Fields,
}

impl Agent {
    /// Loads `bundle` for the host's `endpoint` schema, trusting `trust`, with the default
    /// budget, running conditions with `kind` (the JIT in production, the interpreter where
    /// JIT is not allowed).
    pub fn load(bundle: &[u8], trust: &TrustStore, kind: EngineKind) -> Result<Agent, AgentError> {
        let schema = Schema::endpoint();
        let fields = Fields::resolve(&schema)?;
        let options = DeployOptions {
            engine: kind,
            ..DeployOptions::default()
        };
        let deployer = Deployer::new(
            Schema::endpoint(),
            Budget::default(),
            trust.clone(),
            options,
        );
        deployer.update(bundle).map_err(AgentError::Load)?;
        Ok(Agent {
            deployer: Arc::new(deployer),
            schema: Arc::new(schema),
            fields,
        })
    }

    /// Replaces the running bundle between events (the workers keep running); a refused
    /// bundle leaves the running one in place.
    pub fn update(&self, bundle: &[u8]) -> Result<(), AgentError> {
        self.deployer
            .update(bundle)
            .map(|_| ())
            .map_err(AgentError::Load)
    }

    /// Event accounting: received, evaluated, and dropped by code.
    pub fn stats(&self) -> EventCounts {
        self.deployer.event_counts()
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
        let processed = self.deployer.process(&event, on_alert);
        if !processed.evaluated {
            return Err(AgentError::Dropped(format!("record {}", rec.id)));
        }
        Ok((processed.alerts, event.recycle()))
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

/// What a worker reports.
enum Report {
    Alert(u64, Box<Alert>),
    Error(u64, AgentError),
}

/// One worker: a thread building events from records and running them through the deployer.
fn spawn_worker(
    name: String,
    agent: &Agent,
    report: Sender<Report>,
) -> std::io::Result<(SyncSender<SensorRecord>, std::thread::JoinHandle<()>)> {
    // Bounded: a slow engine pushes back on the sensor instead of buffering without end.
    let (tx, rx) = sync_channel::<SensorRecord>(1024);
    let deployer = Arc::clone(&agent.deployer);
    let schema = Arc::clone(&agent.schema);
    let fields = agent.fields;
    let handle = std::thread::Builder::new().name(name).spawn(move || {
        let mut spare: Event<'static> = Event::default();
        for rec in rx {
            let event = match build(&schema, &fields, &rec, spare) {
                Ok(ev) => ev,
                Err(e) => {
                    let _ = report.send(Report::Error(rec.id, e));
                    spare = Event::default();
                    continue;
                }
            };
            let processed = deployer.process(&event, &mut |a: &Alert| {
                let _ = report.send(Report::Alert(rec.id, Box::new(a.clone())));
            });
            if !processed.evaluated {
                let e = AgentError::Dropped(format!("record {}", rec.id));
                let _ = report.send(Report::Error(rec.id, e));
            }
            spare = event.recycle();
        }
    })?;
    Ok((tx, handle))
}

/// Runs `records` through `agent` on `workers` threads and returns the alerts ordered by
/// record id (within a record, in rule order) and the first error, if any record could not be
/// handled.
///
/// Records are sharded to workers by host, so the events of one host (and so of every
/// sequence and threshold key, which all include the host) reach [`Deployer::process`] in
/// input order, on one worker; records of different hosts run at once.
pub fn run_records(
    agent: &Agent,
    records: Vec<SensorRecord>,
    workers: usize,
) -> (Vec<Alert>, Option<AgentError>) {
    let workers = workers.max(1);
    let (report_tx, report_rx): (Sender<Report>, Receiver<Report>) = channel();
    let mut queues = Vec::with_capacity(workers);
    let mut handles = Vec::with_capacity(workers);
    for n in 0..workers {
        match spawn_worker(format!("agent-worker-{n}"), agent, report_tx.clone()) {
            Ok((tx, h)) => {
                queues.push(tx);
                handles.push(h);
            }
            Err(e) => {
                let e = AgentError::Dropped(format!("cannot start a worker: {e}"));
                let _ = report_tx.send(Report::Error(0, e));
                break;
            }
        }
    }
    drop(report_tx);
    if !queues.is_empty() {
        let n = queues.len();
        for rec in records {
            if let Some(tx) = queues.get(shard(&rec.host, n)) {
                let _ = tx.send(rec);
            }
        }
    }
    drop(queues);
    let mut alerts: Vec<(u64, Alert)> = Vec::new();
    let mut first_error: Option<(u64, AgentError)> = None;
    for report in report_rx {
        match report {
            Report::Alert(id, a) => alerts.push((id, *a)),
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
    // Stable: the alerts of one record come from one worker, in rule order.
    alerts.sort_by_key(|(id, _)| *id);
    (
        alerts.into_iter().map(|(_, a)| a).collect(),
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
