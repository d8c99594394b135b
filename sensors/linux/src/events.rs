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

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use vigil_runtime::event::EventBuilder;
use vigil_runtime::{ErrorCode, Event, Schema};

use crate::procs::{
    boot_ns_to_ticks, container_id, process_guid, split_argv, ProcInfo, ProcessTable, Users,
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

/// Builds events from records.
pub struct Builder {
    schema: Arc<Schema>,
    proc_root: PathBuf,
    host: String,
    boot: u32,
    clk_tck: u64,
    clock: Clock,
    procs: ProcessTable,
    users: Users,
    flagged: Flagged,
}

/// The acting process as events show it.
struct Actor {
    image: Option<String>,
    user: Arc<str>,
    guid: String,
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
        Builder {
            schema,
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
        let ty = match rec.kind {
            Kind::Exec => "process_start",
            Kind::Exit => "process_end",
            Kind::Connect | Kind::Accept => "network_connect",
            Kind::Open if rec.header.a & FMODE_CREATED != 0 => "file_create",
            Kind::Open => "file_modify",
            Kind::Unlink => "file_delete",
            Kind::Rename => "file_rename",
            Kind::Module => "driver_load",
        };
        let schema = Arc::clone(&self.schema);
        let mut b = EventBuilder::new(&schema, ty).map_err(|e| {
            (
                ErrorCode::SensorEventRefused,
                format!("the host schema has no event type `{ty}`: {}", e.message),
            )
        })?;
        let h = &rec.header;
        let mut ev = Ev { b: &mut b };
        ev.int("time", self.clock.wall(h.time_ns));
        ev.string("host", self.host.clone());
        ev.int("pid", i64::from(h.pid));
        match rec.kind {
            Kind::Exec => self.exec(&mut ev, rec),
            Kind::Exit => {
                let actor = self.actor(h.pid, h.uid, h.start_ns);
                actor.fill(&mut ev);
                // The kernel's wait status: the exit code in bits 8-15, or the signal in 0-6.
                let sig = h.a & 0x7f;
                let code = if sig != 0 {
                    128 + sig
                } else {
                    (h.a >> 8) & 0xff
                };
                ev.int("exit_code", i64::from(code));
                self.procs.exited(h.pid, h.time_ns);
            }
            Kind::Connect | Kind::Accept => {
                self.actor(h.pid, h.uid, h.start_ns).fill(&mut ev);
                let v6 = h.a == AF_INET6;
                let proto = if h.b == IPPROTO_UDP { "udp" } else { "tcp" };
                ev.string("protocol", proto.to_owned());
                ev.bool("initiated", rec.kind == Kind::Connect);
                ev.ip("source_ip", addr(&h.saddr, v6));
                ev.int("source_port", i64::from(h.sport));
                ev.ip("dest_ip", addr(&h.daddr, v6));
                ev.int("dest_port", i64::from(h.dport));
            }
            Kind::Open => {
                self.actor(h.pid, h.uid, h.start_ns).fill(&mut ev);
                self.path(&mut ev, "target_filename", rec.str(0), None);
            }
            Kind::Unlink => {
                self.actor(h.pid, h.uid, h.start_ns).fill(&mut ev);
                self.path(&mut ev, "target_filename", rec.str(0), Some(rec.str(1)));
            }
            Kind::Rename => {
                self.actor(h.pid, h.uid, h.start_ns).fill(&mut ev);
                self.path(&mut ev, "source_filename", rec.str(0), Some(rec.str(1)));
                self.path(&mut ev, "target_filename", rec.str(2), Some(rec.str(3)));
            }
            Kind::Module => {
                self.actor(h.pid, h.uid, h.start_ns).fill(&mut ev);
                let name = rec.str(0);
                if name.unreadable {
                    self.flagged.unreadable += 1;
                } else {
                    ev.string("image_loaded", name.text());
                }
            }
        }
        Ok(b.finish())
    }

    /// A process start: the record's own fields, the parent's from the table; then the table
    /// learns the new program.
    fn exec(&mut self, ev: &mut Ev<'_, '_, '_>, rec: &Record<'_>) {
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
        ev.string("process_guid", process_guid(self.boot, h.pid, start_ticks));
        if let Some(i) = &image_text {
            ev.string("image", i.clone());
            if image.truncated {
                ev.truncated("image");
            }
        }
        ev.string("user", user.to_string());
        ev.int("ppid", i64::from(h.ppid));
        if argv.unreadable {
            self.flagged.unreadable += 1;
        } else {
            ev.string("command_line", command_line.clone());
            ev.list("args", args);
            if argv.truncated {
                self.flagged.argv_truncated += 1;
                ev.truncated("command_line");
                ev.truncated("args");
            }
        }
        match &cwd_text {
            Some(c) => {
                ev.string("current_directory", c.clone());
                if cwd.truncated {
                    self.flagged.path_truncated += 1;
                    ev.truncated("current_directory");
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
                ev.string(
                    "parent_process_guid",
                    process_guid(self.boot, parent.pid, parent.start_ticks),
                );
                ev.string("parent_image", parent.image.clone());
                ev.string("parent_command_line", parent.command_line.clone());
                if parent.command_line_truncated {
                    ev.truncated("parent_command_line");
                }
                ev.string("parent_user", parent.user.to_string());
            }
            None => self.flagged.parent_unknown += 1,
        }
        ev.int("uid", i64::from(h.uid));
        ev.int("euid", i64::from(h.euid));
        ev.int("gid", i64::from(h.gid));
        ev.int("cgroup_id", i64::try_from(h.cgroup_id).unwrap_or(i64::MAX));
        let cgroup = rec.str(4);
        if let Some(id) = container_id(&cgroup.text()) {
            ev.string("container_id", id.to_owned());
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

    /// The acting process of a record, from the table (image, user, GUID).
    fn actor(&mut self, pid: u32, uid: u32, start_ns: u64) -> Actor {
        let guid = process_guid(self.boot, pid, boot_ns_to_ticks(start_ns, self.clk_tck));
        if !self.procs.contains(pid) {
            self.procs
                .fill_from_proc(&self.proc_root, pid, &mut self.users);
        }
        match self.procs.get(pid) {
            Some(p) => Actor {
                image: Some(p.image.clone()).filter(|i| !i.is_empty()),
                user: self.users.name(uid),
                guid,
            },
            None => {
                self.flagged.process_unknown += 1;
                Actor {
                    image: None,
                    user: self.users.name(uid),
                    guid,
                }
            }
        }
    }

    /// Sets path field `field` from `s`, made absolute against `base` when the syscall gave a
    /// relative path; flags what was cut or unreadable.
    fn path(&mut self, ev: &mut Ev<'_, '_, '_>, field: &str, s: Str<'_>, base: Option<Str<'_>>) {
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
        ev.string(field, join(base_text.as_deref(), &text));
        if cut {
            self.flagged.path_truncated += 1;
            ev.truncated(field);
        }
    }
}

impl Actor {
    fn fill(&self, ev: &mut Ev<'_, '_, '_>) {
        ev.string("process_guid", self.guid.clone());
        if let Some(i) = &self.image {
            ev.string("image", i.clone());
        }
        ev.string("user", self.user.to_string());
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

/// Sets fields the host schema has and skips the ones it lacks (a narrower schema than the
/// sensor's profile): the builder refuses nothing the profile lists, so an error here only
/// means the field is not in this host's schema.
struct Ev<'b, 's, 'a> {
    b: &'b mut EventBuilder<'s, 'a>,
}

impl Ev<'_, '_, '_> {
    fn has(&self, f: &str) -> bool {
        self.b.event_type().field(f).is_some()
    }
    fn int(&mut self, f: &str, v: i64) {
        if self.has(f) {
            let _ = self.b.set_int(f, v);
        }
    }
    fn bool(&mut self, f: &str, v: bool) {
        if self.has(f) {
            let _ = self.b.set_bool(f, v);
        }
    }
    fn ip(&mut self, f: &str, v: IpAddr) {
        if self.has(f) {
            let _ = self.b.set_ip(f, v);
        }
    }
    fn string(&mut self, f: &str, v: String) {
        if self.has(f) {
            let _ = self.b.set_string(f, v);
        }
    }
    fn list(&mut self, f: &str, items: Vec<String>) {
        if self.has(f) {
            let _ = self.b.start_list(f);
            for i in items {
                let _ = self.b.push_item_cow(f, std::borrow::Cow::Owned(i));
            }
        }
    }
    fn truncated(&mut self, f: &str) {
        if self.has(f) {
            let _ = self.b.mark_truncated(f);
        }
    }
}

#[cfg(test)]
mod tests;
