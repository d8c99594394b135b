//! Live event sources (a kernel sensor): [`LiveSource`], run by the agent on its own thread,
//! hands built events over the agent's bounded channel, so that a slow agent pushes back on
//! the source (whose own buffer then sheds load by counted loss) instead of growing memory.
//!
//! The agent keeps, per source, what became of the events it handed on ([`LiveCounts`]:
//! evaluated, or dropped by code), and writes them with the source's own report into
//! `status.json` (`source`), so that both `produced = received + lost` (the source's side) and
//! `received = evaluated + dropped` (the source's drops and the agent's) can be checked. At
//! stop the source is drained and its thread joined before the final status is written, so
//! the identities hold exactly in that last write; while running, records still in flight
//! are reported as `in_flight`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use vigil_runtime::Event;

use super::sources::Msg;

/// What a live source reports of itself.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SourceReport {
    /// Records its producer (the kernel side) tried to write.
    pub produced: u64,
    /// Records lost before user mode read them (a full ring buffer).
    pub lost: u64,
    /// Records read by user mode.
    pub received: u64,
    /// Records the source dropped itself, by code (malformed, refused by the schema).
    pub dropped: BTreeMap<String, u64>,
    /// Anything else it reports (probes, flags, its tables), as it serializes it.
    pub detail: serde_json::Value,
}

/// A live source of events: the agent calls [`LiveSource::poll`] in a loop on a thread of
/// its own until it stops, then [`LiveSource::drain`] once.
pub trait LiveSource: Send {
    /// Its name in `status.json` and messages (`ebpf`).
    fn name(&self) -> &str;
    /// Waits up to `timeout` for events and hands each to `emit` (false: the agent is gone).
    fn poll(&mut self, timeout: Duration, emit: &mut dyn FnMut(Event<'static>) -> bool);
    /// Hands on everything still buffered (the agent is stopping).
    fn drain(&mut self, emit: &mut dyn FnMut(Event<'static>) -> bool);
    /// Its report now.
    fn report(&self) -> SourceReport;
}

/// What the agent did with a source's events.
#[derive(Clone, Debug, Default)]
pub(super) struct LiveCounts {
    pub(super) evaluated: u64,
    pub(super) dropped: BTreeMap<String, u64>,
}

/// Events handed over per message at most.
const BATCH: usize = 512;
/// Events handed over and not yet evaluated at most: the source waits above this, so that the
/// memory between the two threads stays bounded (a batch per channel message).
const MAX_PENDING: usize = 8192;

/// A running source: its thread, its last report and the agent's counts of its events.
pub(super) struct Live {
    pub(super) name: String,
    report: Arc<Mutex<SourceReport>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Events sent and not yet evaluated.
    pending: Arc<AtomicUsize>,
    pub(super) counts: LiveCounts,
}

/// The source thread's side of the hand-over: events gathered into batches, one channel
/// message per batch (a wake-up of the agent per batch, not per event).
struct Batcher {
    tx: SyncSender<Msg>,
    pending: Arc<AtomicUsize>,
    batch: Vec<Event<'static>>,
    /// The agent is gone (the channel is closed).
    gone: bool,
}

impl Batcher {
    fn push(&mut self, ev: Event<'static>) -> bool {
        self.batch.push(ev);
        if self.batch.len() >= BATCH {
            self.flush();
        }
        !self.gone
    }

    /// Sends the batch, first waiting while the agent has too many events in hand.
    fn flush(&mut self) {
        if self.batch.is_empty() || self.gone {
            self.batch.clear();
            return;
        }
        while self.pending.load(Ordering::Acquire) > MAX_PENDING {
            std::thread::sleep(Duration::from_millis(1));
        }
        let batch = std::mem::take(&mut self.batch);
        self.pending.fetch_add(batch.len(), Ordering::AcqRel);
        if let Err(e) = self.tx.send(Msg::Events(batch)) {
            if let Msg::Events(b) = e.0 {
                self.pending.fetch_sub(b.len(), Ordering::AcqRel);
            }
            self.gone = true;
        }
    }
}

/// `status.json`'s `source`: the source's report and what the agent did with its events.
#[derive(Serialize)]
pub(super) struct LiveStatus {
    name: String,
    produced: u64,
    lost: u64,
    received: u64,
    evaluated: u64,
    dropped: BTreeMap<String, u64>,
    /// Records produced but not yet read (in the ring buffer), and records read but not yet
    /// evaluated (in the agent's channel): both 0 in the final write.
    in_flight: u64,
    detail: serde_json::Value,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Live {
    /// Starts `source` on its own thread, sending its events in batches as [`Msg::Events`]
    /// on `tx`; its report is refreshed every `poll`.
    pub(super) fn spawn(
        mut source: Box<dyn LiveSource>,
        tx: SyncSender<Msg>,
        poll: Duration,
    ) -> Live {
        let name = source.name().to_owned();
        let report = Arc::new(Mutex::new(source.report()));
        let stop = Arc::new(AtomicBool::new(false));
        let pending = Arc::new(AtomicUsize::new(0));
        let (r, s) = (Arc::clone(&report), Arc::clone(&stop));
        let mut out = Batcher {
            tx,
            pending: Arc::clone(&pending),
            batch: Vec::with_capacity(BATCH),
            gone: false,
        };
        let thread = std::thread::spawn(move || {
            let mut reported = Instant::now();
            while !s.load(Ordering::Relaxed) {
                source.poll(poll, &mut |ev| out.push(ev));
                out.flush();
                if reported.elapsed() >= poll {
                    *lock(&r) = source.report();
                    reported = Instant::now();
                }
            }
            source.drain(&mut |ev| out.push(ev));
            out.flush();
            *lock(&r) = source.report();
        });
        Live {
            name,
            report,
            stop,
            thread: Some(thread),
            pending,
            counts: LiveCounts::default(),
        }
    }

    /// `n` events handed over were evaluated (or dropped).
    pub(super) fn took(&self, n: usize) {
        self.pending.fetch_sub(n, Ordering::AcqRel);
    }

    /// Asks the thread to drain the source and end. The caller keeps receiving its events
    /// until [`Live::ended`] (the thread may be blocked handing one over), then [`Live::join`]s.
    pub(super) fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Waits for the ended thread.
    pub(super) fn join(&mut self) {
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                eprintln!("vigil agent: the {} source's thread panicked", self.name);
            }
        }
    }

    /// Whether its thread ended on its own (a source that failed).
    pub(super) fn ended(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// The status now.
    pub(super) fn status(&self) -> LiveStatus {
        let r = lock(&self.report).clone();
        let mut dropped = r.dropped.clone();
        for (code, n) in &self.counts.dropped {
            *dropped.entry(code.clone()).or_insert(0) += n;
        }
        let accounted = self.counts.evaluated + dropped.values().sum::<u64>();
        let in_ring = r.produced.saturating_sub(r.received + r.lost);
        LiveStatus {
            name: self.name.clone(),
            produced: r.produced,
            lost: r.lost,
            received: r.received,
            evaluated: self.counts.evaluated,
            dropped,
            in_flight: in_ring + r.received.saturating_sub(accounted),
            detail: r.detail,
        }
    }
}
