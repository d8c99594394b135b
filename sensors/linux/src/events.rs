//! Turning checked records ([`crate::record`]) into Vigil events of the sensor's schema,
//! through the runtime's [`EventBuilder`] (no JSON on this path), and keeping the process table
//! ([`crate::procs`]) that fills what one record cannot carry: the parent's image, command line
//! and user, and the acting process of file and network records.
//!
//! Every record yields one event. What a record could not carry completely is flagged on the
//! event (`truncated(field)`) and counted in [`Flagged`]: argv over the sensor's bound, a path
//! deeper than the walk or unreadable, a process the table does not know (it started before
//! the sensor and vanished before the /proc seed, or was evicted). Fields the host schema lacks
//! are left out (a narrower `--schema` than the sensor's profile); an event type it lacks makes
//! the record refused (E1006).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use vigil_runtime::event::EventBuilder;
use vigil_runtime::schema::{EventTypeId, FieldIndex};
use vigil_runtime::types::{Scalar, Ty};
use vigil_runtime::{ErrorCode, Event, Schema};

use crate::procs::{
    boot_ns_to_ticks, container_id, split_argv, ProcInfo, ProcessGuid, ProcessTable, Users,
};
use crate::record::{Kind, Record, Str};

/// `f_mode` bit the kernel sets on a file an open created (`FMODE_CREATED`).
const FMODE_CREATED: u32 = 0x10_0000;
const AF_INET6: u32 = 10;
const IPPROTO_UDP: u32 = 17;

/// What records could not carry completely, counted (each is also flagged on its event).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Flagged {
    /// argv longer than the sensor's bound (`command_line` and `args` flagged).
    pub argv_truncated: u64,
    /// Paths cut: deeper than the walk, or longer than PATH_MAX.
    pub path_truncated: u64,
    /// Strings the kernel could not read (paged out, gone): the field is left absent.
    pub unreadable: u64,
    /// Process starts whose parent the table does not know (parent fields absent).
    pub parent_unknown: u64,
    /// File, network, exit and module records of a process the table does not know (image and
    /// user absent).
    pub process_unknown: u64,
}

/// Boot-based kernel time to wall-clock time.
#[derive(Clone, Copy, Debug, Default)]
pub struct Clock {
    /// Wall-clock minus boot-clock, nanoseconds.
    offset_ns: i128,
}

impl Clock {
    /// The offset now (refresh it now and then: the wall clock can be set).
    pub fn now() -> Clock {
        let ns = |t: rustix::time::Timespec| {
            i128::from(t.tv_sec) * 1_000_000_000 + i128::from(t.tv_nsec)
        };
        let wall = ns(rustix::time::clock_gettime(rustix::time::ClockId::Realtime));
        let boot = ns(rustix::time::clock_gettime(rustix::time::ClockId::Boottime));
        Clock {
            offset_ns: wall - boot,
        }
    }

    /// Nanoseconds since the Unix epoch of boot-clock `boot_ns`.
    pub fn wall(&self, boot_ns: u64) -> i64 {
        i64::try_from(i128::from(boot_ns) + self.offset_ns).unwrap_or(i64::MAX)
    }
}

/// The fields the sensor fills, with their name and type in the schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum F {
    Time,
    Host,
    Pid,
    ProcessGuid,
    Image,
    User,
    Ppid,
    ParentProcessGuid,
    CommandLine,
    Args,
    CurrentDirectory,
    ParentImage,
    ParentCommandLine,
    ParentUser,
    Uid,
    Euid,
    Gid,
    CgroupId,
    ContainerId,
    ExitCode,
    Protocol,
    Initiated,
    SourceIp,
    SourcePort,
    DestIp,
    DestPort,
    TargetFilename,
    SourceFilename,
    ImageLoaded,
}

impl F {
    const ALL: [F; 29] = [
        F::Time,
        F::Host,
        F::Pid,
        F::ProcessGuid,
        F::Image,
        F::User,
        F::Ppid,
        F::ParentProcessGuid,
        F::CommandLine,
        F::Args,
        F::CurrentDirectory,
        F::ParentImage,
        F::ParentCommandLine,
        F::ParentUser,
        F::Uid,
        F::Euid,
        F::Gid,
        F::CgroupId,
        F::ContainerId,
        F::ExitCode,
        F::Protocol,
        F::Initiated,
        F::SourceIp,
        F::SourcePort,
        F::DestIp,
        F::DestPort,
        F::TargetFilename,
        F::SourceFilename,
        F::ImageLoaded,
    ];

    fn name(self) -> &'static str {
        match self {
            F::Time => "time",
            F::Host => "host",
            F::Pid => "pid",
            F::ProcessGuid => "process_guid",
            F::Image => "image",
            F::User => "user",
            F::Ppid => "ppid",
            F::ParentProcessGuid => "parent_process_guid",
            F::CommandLine => "command_line",
            F::Args => "args",
            F::CurrentDirectory => "current_directory",
            F::ParentImage => "parent_image",
            F::ParentCommandLine => "parent_command_line",
            F::ParentUser => "parent_user",
            F::Uid => "uid",
            F::Euid => "euid",
            F::Gid => "gid",
            F::CgroupId => "cgroup_id",
            F::ContainerId => "container_id",
            F::ExitCode => "exit_code",
            F::Protocol => "protocol",
            F::Initiated => "initiated",
            F::SourceIp => "source_ip",
            F::SourcePort => "source_port",
            F::DestIp => "dest_ip",
            F::DestPort => "dest_port",
            F::TargetFilename => "target_filename",
            F::SourceFilename => "source_filename",
            F::ImageLoaded => "image_loaded",
        }
    }

    fn ty(self) -> Ty {
        match self {
            F::Time
            | F::Pid
            | F::Ppid
            | F::Uid
            | F::Euid
            | F::Gid
            | F::CgroupId
            | F::ExitCode
            | F::SourcePort
            | F::DestPort => Ty::INT,
            F::Initiated => Ty::BOOL,
            F::SourceIp | F::DestIp => Ty::IP,
            F::Args => Ty::List(Scalar::Str),
            _ => Ty::STR,
        }
    }
}

/// The event types records become, in [`Kind`] order (a created file and a written one are
/// two types of one kind).
const TYPES: [&str; 8] = [
    "process_start",
    "process_end",
    "network_connect",
    "file_create",
    "file_modify",
    "file_delete",
    "file_rename",
    "driver_load",
];

/// One event type of the host schema, resolved once: its id, and the slot of each field the
/// sensor fills that the host has with the same type (a narrower `--schema` than the sensor's
/// profile lacks some; those are left out). Events are then built by index, not by name.
#[derive(Clone, Copy, Debug)]
struct Layout {
    id: EventTypeId,
    slots: [Option<FieldIndex>; F::ALL.len()],
}

impl Layout {
    fn of(schema: &Schema, name: &str) -> Option<Layout> {
        let (id, ty) = schema.event(name)?;
        let mut slots = [None; F::ALL.len()];
        for (slot, f) in slots.iter_mut().zip(F::ALL) {
            *slot = ty
                .field(f.name())
                .filter(|(_, def)| def.ty == f.ty())
                .map(|(ix, _)| ix);
        }
        Some(Layout { id, slots })
    }
}

/// Builds events from records.
pub struct Builder {
    schema: Arc<Schema>,
    /// Per [`TYPES`] entry, its layout in the host schema (`None`: the host lacks the type).
    layouts: [Option<Layout>; TYPES.len()],
    proc_root: PathBuf,
    host: String,
    boot: u32,
    clk_tck: u64,
    clock: Clock,
    procs: ProcessTable,
    users: Users,
    flagged: Flagged,
}

impl Builder {
    /// A builder for `schema` on host `host`, with process table `procs` (which reads a
    /// process it misses from `proc_root`: a child that forked without exec) and user names
    /// from `users`; `boot` is the boot id prefix of process GUIDs, `clk_tck` the clock ticks
    /// per second start times are counted in.
    pub fn new(
        schema: Arc<Schema>,
        proc_root: PathBuf,
        host: String,
        boot: u32,
        clk_tck: u64,
        procs: ProcessTable,
        users: Users,
    ) -> Builder {
        let layouts = TYPES.map(|name| Layout::of(&schema, name));
        Builder {
            schema,
            layouts,
            proc_root,
            host,
            boot,
            clk_tck,
            clock: Clock::now(),
            procs,
            users,
            flagged: Flagged::default(),
        }
    }

    /// Refreshes the wall-clock offset and expires exited processes (call every poll).
    pub fn tick(&mut self, now_boot_ns: u64) {
        self.clock = Clock::now();
        self.procs.expire(now_boot_ns);
    }

    /// What was flagged so far.
    pub fn flagged(&self) -> Flagged {
        self.flagged
    }

    /// The process table (for its statistics).
    pub fn procs(&self) -> &ProcessTable {
        &self.procs
    }

    /// The event a record reports, and the table updated.
    ///
    /// # Errors
    /// The code and message when the host schema lacks the record's event type (E1006).
    pub fn build(&mut self, rec: &Record<'_>) -> Result<Event<'static>, (ErrorCode, String)> {
        let t = match rec.kind {
            Kind::Exec => 0,
            Kind::Exit => 1,
            Kind::Connect | Kind::Accept => 2,
            Kind::Open if rec.header.a & FMODE_CREATED != 0 => 3,
            Kind::Open => 4,
            Kind::Unlink => 5,
            Kind::Rename => 6,
            Kind::Module => 7,
        };
        let schema = Arc::clone(&self.schema);
        let Some(layout) = self.layouts.get(t).and_then(Option::as_ref) else {
            return Err((
                ErrorCode::SensorEventRefused,
                format!(
                    "the host schema has no event type `{}`",
                    TYPES.get(t).copied().unwrap_or("?")
                ),
            ));
        };
        let layout = *layout;
        let mut b = EventBuilder::new(&schema, layout.id).map_err(|e| {
            (
                ErrorCode::SensorEventRefused,
                format!("event type #{}: {}", layout.id.0, e.message),
            )
        })?;
        let h = &rec.header;
        let mut ev = Ev {
            b: &mut b,
            layout: &layout,
        };
        ev.int(F::Time, self.clock.wall(h.time_ns));
        ev.str(F::Host, &self.host);
        ev.int(F::Pid, i64::from(h.pid));
        match rec.kind {
            Kind::Exec => self.exec(&mut ev, rec),
            Kind::Exit => {
                self.actor(&mut ev, h.pid, h.uid, h.start_ns);
                // The kernel's wait status: the exit code in bits 8-15, or the signal in 0-6.
                let sig = h.a & 0x7f;
                let code = if sig != 0 {
                    128 + sig
                } else {
                    (h.a >> 8) & 0xff
                };
                ev.int(F::ExitCode, i64::from(code));
                self.procs.exited(h.pid, h.time_ns);
            }
            Kind::Connect | Kind::Accept => {
                self.actor(&mut ev, h.pid, h.uid, h.start_ns);
                let v6 = h.a == AF_INET6;
                ev.str(F::Protocol, if h.b == IPPROTO_UDP { "udp" } else { "tcp" });
                ev.bool(F::Initiated, rec.kind == Kind::Connect);
                ev.ip(F::SourceIp, addr(&h.saddr, v6));
                ev.int(F::SourcePort, i64::from(h.sport));
                ev.ip(F::DestIp, addr(&h.daddr, v6));
                ev.int(F::DestPort, i64::from(h.dport));
            }
            Kind::Open => {
                self.actor(&mut ev, h.pid, h.uid, h.start_ns);
                self.path(&mut ev, F::TargetFilename, rec.str(0), None);
            }
            Kind::Unlink => {
                self.actor(&mut ev, h.pid, h.uid, h.start_ns);
                self.path(&mut ev, F::TargetFilename, rec.str(0), Some(rec.str(1)));
            }
            Kind::Rename => {
                self.actor(&mut ev, h.pid, h.uid, h.start_ns);
                self.path(&mut ev, F::SourceFilename, rec.str(0), Some(rec.str(1)));
                self.path(&mut ev, F::TargetFilename, rec.str(2), Some(rec.str(3)));
            }
            Kind::Module => {
                self.actor(&mut ev, h.pid, h.uid, h.start_ns);
                let name = rec.str(0);
                if name.unreadable {
                    self.flagged.unreadable += 1;
                } else {
                    ev.str(F::ImageLoaded, &name.text());
                }
            }
        }
        Ok(b.finish())
    }

    /// A process start: the record's own fields, the parent's from the table; then the table
    /// learns the new program.
    fn exec(&mut self, ev: &mut Ev<'_, '_, '_, '_>, rec: &Record<'_>) {
        let h = &rec.header;
        let start_ticks = boot_ns_to_ticks(h.start_ns, self.clk_tck);
        let user = self.users.name(h.uid);
        let cwd = rec.str(3);
        let cwd_text = (!cwd.unreadable).then(|| cwd.text());
        // The image as the kernel resolved it; else the file name execve was given, made
        // absolute against the working directory.
        let image = rec.str(0);
        let image_text = if image.unreadable {
            let given = rec.str(1);
            self.flagged.unreadable += 1;
            (!given.unreadable).then(|| join(cwd_text.as_deref(), &given.text()))
        } else {
            if image.truncated {
                self.flagged.path_truncated += 1;
            }
            Some(image.text())
        };
        let argv = rec.str(2);
        let (command_line, args) = split_argv(argv.bytes);
        ev.display(F::ProcessGuid, &self.guid(h.pid, start_ticks));
        if let Some(i) = &image_text {
            ev.str(F::Image, i);
            if image.truncated {
                ev.truncated(F::Image);
            }
        }
        ev.str(F::User, &user);
        ev.int(F::Ppid, i64::from(h.ppid));
        if argv.unreadable {
            self.flagged.unreadable += 1;
        } else {
            ev.str(F::CommandLine, &command_line);
            ev.list(F::Args, &args);
            if argv.truncated {
                self.flagged.argv_truncated += 1;
                ev.truncated(F::CommandLine);
                ev.truncated(F::Args);
            }
        }
        match &cwd_text {
            Some(c) => {
                ev.str(F::CurrentDirectory, c);
                if cwd.truncated {
                    self.flagged.path_truncated += 1;
                    ev.truncated(F::CurrentDirectory);
                }
            }
            None => self.flagged.unreadable += 1,
        }
        if !self.procs.contains(h.ppid) {
            self.procs
                .fill_from_proc(&self.proc_root, h.ppid, &mut self.users);
        }
        match self.procs.get(h.ppid) {
            Some(parent) => {
                ev.display(
                    F::ParentProcessGuid,
                    &ProcessGuid {
                        boot: self.boot,
                        pid: parent.pid,
                        start_ticks: parent.start_ticks,
                    },
                );
                ev.str(F::ParentImage, &parent.image);
                ev.str(F::ParentCommandLine, &parent.command_line);
                if parent.command_line_truncated {
                    ev.truncated(F::ParentCommandLine);
                }
                ev.str(F::ParentUser, &parent.user);
            }
            None => self.flagged.parent_unknown += 1,
        }
        ev.int(F::Uid, i64::from(h.uid));
        ev.int(F::Euid, i64::from(h.euid));
        ev.int(F::Gid, i64::from(h.gid));
        ev.int(F::CgroupId, i64::try_from(h.cgroup_id).unwrap_or(i64::MAX));
        if let Some(id) = container_id(&rec.str(4).text()) {
            ev.str(F::ContainerId, id);
        }
        self.procs.exec(ProcInfo {
            pid: h.pid,
            ppid: h.ppid,
            start_ticks,
            image: image_text.unwrap_or_default(),
            command_line,
            command_line_truncated: argv.truncated,
            uid: h.uid,
            user,
        });
    }

    /// The GUID of process `pid` started at `start_ticks`.
    fn guid(&self, pid: u32, start_ticks: u64) -> ProcessGuid {
        ProcessGuid {
            boot: self.boot,
            pid,
            start_ticks,
        }
    }

    /// The acting process of a record (GUID, user, and the image from the table).
    fn actor(&mut self, ev: &mut Ev<'_, '_, '_, '_>, pid: u32, uid: u32, start_ns: u64) {
        ev.display(
            F::ProcessGuid,
            &self.guid(pid, boot_ns_to_ticks(start_ns, self.clk_tck)),
        );
        ev.str(F::User, &self.users.name(uid));
        if !self.procs.contains(pid) {
            self.procs
                .fill_from_proc(&self.proc_root, pid, &mut self.users);
        }
        match self.procs.get(pid) {
            Some(p) if !p.image.is_empty() => ev.str(F::Image, &p.image),
            Some(_) => {}
            None => self.flagged.process_unknown += 1,
        }
    }

    /// Sets path field `field` from `s`, made absolute against `base` when the syscall gave a
    /// relative path; flags what was cut or unreadable.
    fn path(&mut self, ev: &mut Ev<'_, '_, '_, '_>, field: F, s: Str<'_>, base: Option<Str<'_>>) {
        if s.unreadable {
            self.flagged.unreadable += 1;
            return;
        }
        let text = s.text();
        // A base is a walked path (the root walks to no component and reads `/`), or nothing
        // when the syscall's path was absolute.
        let base_text = base
            .filter(|b| !b.unreadable && (b.components || !b.bytes.is_empty()))
            .map(|b| b.text());
        let cut = s.truncated || base.is_some_and(|b| b.truncated);
        ev.str(field, &join(base_text.as_deref(), &text));
        if cut {
            self.flagged.path_truncated += 1;
            ev.truncated(field);
        }
    }
}

/// `path` made absolute against `base` when it is relative and a base is known.
fn join(base: Option<&str>, path: &str) -> String {
    match base {
        Some(b) if !path.starts_with('/') => {
            if b.ends_with('/') {
                format!("{b}{path}")
            } else {
                format!("{b}/{path}")
            }
        }
        _ => path.to_owned(),
    }
}

fn addr(bytes: &[u8; 16], v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(*bytes))
    } else {
        IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
    }
}

/// Sets fields by their slot in the host's layout, skipping the ones the host lacks (a
/// narrower schema than the sensor's profile). Strings are copied into the event's text buffer
/// (no `String` per field); the builder refuses nothing else the layout resolved (same name,
/// same type), so its results are not looked at.
struct Ev<'e, 'l, 's, 'a> {
    b: &'e mut EventBuilder<'s, 'a>,
    layout: &'l Layout,
}

impl Ev<'_, '_, '_, '_> {
    fn slot(&self, f: F) -> Option<FieldIndex> {
        self.layout.slots.get(f as usize).copied().flatten()
    }
    fn int(&mut self, f: F, v: i64) {
        if let Some(ix) = self.slot(f) {
            let _ = self.b.set_int(ix, v);
        }
    }
    fn bool(&mut self, f: F, v: bool) {
        if let Some(ix) = self.slot(f) {
            let _ = self.b.set_bool(ix, v);
        }
    }
    fn ip(&mut self, f: F, v: IpAddr) {
        if let Some(ix) = self.slot(f) {
            let _ = self.b.set_ip(ix, v);
        }
    }
    fn str(&mut self, f: F, v: &str) {
        if let Some(ix) = self.slot(f) {
            let _ = self.b.set_copied(ix, v);
        }
    }
    fn display(&mut self, f: F, v: &dyn fmt::Display) {
        if let Some(ix) = self.slot(f) {
            let _ = self.b.set_display(ix, v);
        }
    }
    fn list(&mut self, f: F, items: &[String]) {
        if let Some(ix) = self.slot(f) {
            let _ = self.b.start_list(ix);
            for i in items {
                let _ = self.b.push_copied(ix, i);
            }
        }
    }
    fn truncated(&mut self, f: F) {
        if let Some(ix) = self.slot(f) {
            let _ = self.b.mark_truncated(ix);
        }
    }
}

#[cfg(test)]
mod tests;
