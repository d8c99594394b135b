// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel side of the Vigil Linux sensor: CO-RE programs on tracepoints that only collect.
 * Each writes one record (record.h) per event into the ring buffer `events`, reserved at a
 * constant size and filled in place; when the ring buffer is full the record is lost and
 * counted (CNT_LOST), never waited for. The agent's own process (`agent_tgid`, set at load) is
 * filtered here and counted (CNT_SELF), so its own files and sockets never feed back into it.
 *
 * GPL because the helpers that read kernel memory (bpf_probe_read_kernel) are GPL-only.
 */
#include "vmlinux.h"
#include <bpf_helpers.h>
#include <bpf_core_read.h>
#include <bpf_tracing.h>

#include "record.h"

char LICENSE[] SEC("license") = "GPL";

#define AT_FDCWD -100
#define O_WRONLY 01
#define O_RDWR 02
#define O_CREAT 0100
#define O_TRUNC 01000
#define FMODE_WRITE 0x2
#define FMODE_CREATED 0x100000
#define S_IFMT 00170000
#define S_IFREG 0100000
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define EINPROGRESS 115

/* The agent's thread group id: its events are not recorded. */
const volatile __u32 agent_tgid = 0;

/* Records are committed without waking the reader until this many bytes wait in the ring
 * buffer (set at load; the reader also looks every few milliseconds on its own): a wake-up per
 * record is an inter-processor interrupt per record, the largest part of the probes' cost. */
const volatile __u64 wakeup_bytes = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 32 * 1024 * 1024); /* set by user mode at load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* What a syscall's entry saw, for its exit (keyed by thread). */
struct pending {
	__u64 a;   /* open: flags; connect: fd; unlink/rename: first path */
	__u64 b;   /* rename: second path */
	__s32 dfd; /* first path's directory fd */
	__s32 dfd2;
	__u32 kind;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct pending);
} pending SEC(".maps");

/* Record layouts: a header, the string descriptors, the regions. */
struct exec_rec {
	struct rec_hdr h;
	struct rec_str s[5];
	char image[PATH_REGION];
	char filename[PATH_BYTES];
	char argv[ARGV_BYTES];
	char cwd[PATH_REGION];
	char cgroup[CGROUP_BYTES];
};

struct bare_rec {
	struct rec_hdr h;
};

struct open_rec {
	struct rec_hdr h;
	struct rec_str s[1];
	char path[PATH_REGION];
};

struct unlink_rec {
	struct rec_hdr h;
	struct rec_str s[2];
	char path[PATH_BYTES];
	char base[PATH_REGION];
};

struct rename_rec {
	struct rec_hdr h;
	struct rec_str s[4];
	char old_path[PATH_BYTES];
	char old_base[PATH_REGION];
	char new_path[PATH_BYTES];
	char new_base[PATH_REGION];
};

struct module_rec {
	struct rec_hdr h;
	struct rec_str s[1];
	char name[MODULE_BYTES];
};

/* Commits a record, waking the reader only when enough waits. */
static __always_inline void submit(void *r)
{
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	bpf_ringbuf_submit(r, avail >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

static __always_inline void count(__u32 which)
{
	__u64 *n = bpf_map_lookup_elem(&counters, &which);
	if (n)
		*n += 1;
}

/* Whether this event is the agent's own (and counts it). */
static __always_inline int is_self(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (agent_tgid != 0 && tgid == agent_tgid) {
		count(CNT_SELF);
		return 1;
	}
	return 0;
}

/* Reserves `size` bytes, counting the attempt and, when the ring is full, the loss. */
static __always_inline void *reserve(__u64 size)
{
	count(CNT_PRODUCED);
	void *r = bpf_ringbuf_reserve(&events, size, 0);
	if (!r)
		count(CNT_LOST);
	return r;
}

/* Fills the header from the current task. */
static __always_inline void fill_hdr(struct rec_hdr *h, __u16 kind, __u16 nstr, __u32 size)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	__u64 id = bpf_get_current_pid_tgid();
	h->kind = kind;
	h->nstr = nstr;
	h->size = size;
	h->time_ns = bpf_ktime_get_boot_ns();
	h->pid = id >> 32;
	h->tid = (__u32)id;
	h->ppid = BPF_CORE_READ(task, real_parent, tgid);
	h->uid = BPF_CORE_READ(task, real_cred, uid.val);
	h->euid = BPF_CORE_READ(task, real_cred, euid.val);
	h->gid = BPF_CORE_READ(task, real_cred, gid.val);
	h->start_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	h->cgroup_id = bpf_get_current_cgroup_id();
	h->a = 0;
	h->b = 0;
	h->sport = 0;
	h->dport = 0;
	h->pad = 0;
	__builtin_memset(h->saddr, 0, sizeof(h->saddr));
	__builtin_memset(h->daddr, 0, sizeof(h->daddr));
}

static __always_inline void set_str(struct rec_str *s, void *rec, void *at, __u32 len, __u16 flags)
{
	s->off = (__u32)((char *)at - (char *)rec);
	s->len = len;
	s->flags = flags;
}

/*
 * Walks `path` up to the global root, one component per NAME_BYTES slot of `region`, leaf
 * first (record.h); describes it in `s`. Crosses mount points through `struct mount`. A path
 * deeper than PATH_DEPTH components is cut (flagged); user mode assembles it.
 */
static __always_inline void walk_path(void *rec, struct rec_str *s, char *region, struct path *path)
{
	struct dentry *dentry = BPF_CORE_READ(path, dentry);
	struct vfsmount *vfsmnt = BPF_CORE_READ(path, mnt);
	struct mount *mnt = container_of(vfsmnt, struct mount, mnt);
	struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);
	__u16 flags = STR_COMPONENTS | STR_TRUNCATED;
	__u32 used = 0;
	if (!dentry || !vfsmnt) {
		set_str(s, rec, region, 0, STR_COMPONENTS | STR_UNREADABLE);
		return;
	}
#pragma unroll
	for (int i = 0; i < PATH_DEPTH; i++) {
		struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
		struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
		char *slot = region + i * NAME_BYTES;
		if (dentry == mnt_root || dentry == parent) {
			if (dentry != mnt_root || mnt == mnt_parent) {
				/* The global root (or a detached tree): done. */
				flags = STR_COMPONENTS;
				break;
			}
			/* A mount point: go on from where this mount is mounted. */
			slot[0] = 0;
			used = i + 1;
			dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = mnt_parent;
			mnt_parent = BPF_CORE_READ(mnt, mnt_parent);
			vfsmnt = &mnt->mnt;
			continue;
		}
		const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
		if (bpf_probe_read_kernel_str(slot, NAME_BYTES, name) <= 0)
			slot[0] = 0;
		used = i + 1;
		dentry = parent;
	}
	set_str(s, rec, region, used * NAME_BYTES, flags);
}

/* The `struct file` open at `fd` in the current task, or NULL. */
static __always_inline struct file *file_of_fd(__u64 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd & 0xfffff]);
	return f;
}

/* A user string into `buf` (PATH_BYTES), described in `s`. */
static __always_inline void user_str(void *rec, struct rec_str *s, char *buf, const char *src)
{
	long n = bpf_probe_read_user_str(buf, PATH_BYTES, src);
	if (n <= 0) {
		set_str(s, rec, buf, 0, STR_UNREADABLE);
		return;
	}
	__u16 flags = n == PATH_BYTES ? STR_TRUNCATED : 0;
	set_str(s, rec, buf, (__u32)(n - 1), flags);
}

/* When the user path `src` is relative, the directory it is relative to (`dfd` or the current
 * directory) into `region`; otherwise an empty string. */
static __always_inline void base_dir(void *rec, struct rec_str *s, char *region, const char *src, __s32 dfd)
{
	char first = 0;
	bpf_probe_read_user(&first, 1, src);
	if (first == '/') {
		set_str(s, rec, region, 0, 0);
		return;
	}
	if (dfd == AT_FDCWD) {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
		struct path pwd = BPF_CORE_READ(task, fs, pwd);
		walk_path(rec, s, region, &pwd);
		return;
	}
	struct file *f = file_of_fd((__u64)dfd);
	if (!f) {
		set_str(s, rec, region, 0, STR_UNREADABLE);
		return;
	}
	struct path p = BPF_CORE_READ(f, f_path);
	walk_path(rec, s, region, &p);
}

/* ---- processes ------------------------------------------------------------------------ */

SEC("tracepoint/sched/sched_process_exec")
int vigil_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	if (is_self())
		return 0;
	struct exec_rec *r = reserve(sizeof(*r));
	if (!r)
		return 0;
	fill_hdr(&r->h, REC_EXEC, 5, sizeof(*r));
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();

	/* The executable, as the kernel resolved it. */
	struct path exe = BPF_CORE_READ(task, mm, exe_file, f_path);
	walk_path(r, &r->s[0], r->image, &exe);

	/* The file name as execve was given it. */
	unsigned int loc = ctx->__data_loc_filename & 0xffff;
	long n = bpf_probe_read_kernel_str(r->filename, PATH_BYTES, (char *)ctx + loc);
	if (n > 0)
		set_str(&r->s[1], r, r->filename, (__u32)(n - 1), n == PATH_BYTES ? STR_TRUNCATED : 0);
	else
		set_str(&r->s[1], r, r->filename, 0, STR_UNREADABLE);

	/* argv, as the new process has it on its stack. */
	unsigned long start = BPF_CORE_READ(task, mm, arg_start);
	unsigned long end = BPF_CORE_READ(task, mm, arg_end);
	__u64 len = end > start ? end - start : 0;
	__u16 aflags = 0;
	if (len > ARGV_BYTES - 1) {
		len = ARGV_BYTES - 1;
		aflags = STR_TRUNCATED;
	}
	len &= ARGV_BYTES - 1;
	if (len > 0 && bpf_probe_read_user(r->argv, len, (void *)start) != 0) {
		len = 0;
		aflags = STR_UNREADABLE;
	}
	set_str(&r->s[2], r, r->argv, (__u32)len, aflags);

	/* The current directory. */
	struct path pwd = BPF_CORE_READ(task, fs, pwd);
	walk_path(r, &r->s[3], r->cwd, &pwd);

	/* The name of the cgroup (v2), where container runtimes put the container id. */
	const char *cg = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, name);
	n = cg ? bpf_probe_read_kernel_str(r->cgroup, CGROUP_BYTES, cg) : 0;
	if (n > 0)
		set_str(&r->s[4], r, r->cgroup, (__u32)(n - 1), 0);
	else
		set_str(&r->s[4], r, r->cgroup, 0, STR_UNREADABLE);

	submit(r);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int vigil_exit(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	/* Only the end of the whole process: its last thread. */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	if (is_self())
		return 0;
	struct bare_rec *r = reserve(sizeof(*r));
	if (!r)
		return 0;
	fill_hdr(&r->h, REC_EXIT, 0, sizeof(*r));
	r->h.a = BPF_CORE_READ(task, exit_code);
	submit(r);
	return 0;
}

/* ---- files ---------------------------------------------------------------------------- */

static __always_inline int stash(__u32 kind, __u64 a, __u64 b, __s32 dfd, __s32 dfd2)
{
	if (is_self())
		return 0;
	__u64 tid = bpf_get_current_pid_tgid();
	struct pending p = {.a = a, .b = b, .dfd = dfd, .dfd2 = dfd2, .kind = kind};
	if (bpf_map_update_elem(&pending, &tid, &p, BPF_ANY) != 0)
		count(CNT_UNTRACKED);
	return 0;
}

/* The entry stashed by this thread for `kind`, removed; NULL-safe copy into `out`. */
static __always_inline int take(__u32 kind, struct pending *out)
{
	__u64 tid = bpf_get_current_pid_tgid();
	struct pending *p = bpf_map_lookup_elem(&pending, &tid);
	if (!p)
		return 0;
	*out = *p;
	bpf_map_delete_elem(&pending, &tid);
	return out->kind == kind;
}

static __always_inline int open_enter(__u64 flags)
{
	if (!(flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)))
		return 0; /* read-only opens are not recorded */
	return stash(REC_OPEN, flags, 0, 0, 0);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int vigil_openat(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter(ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_enter_open")
int vigil_open(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter(ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_enter_creat")
int vigil_creat(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter(O_CREAT | O_WRONLY | O_TRUNC);
}

SEC("tracepoint/syscalls/sys_enter_openat2")
int vigil_openat2(struct trace_event_raw_sys_enter *ctx)
{
	__u64 flags = 0;
	bpf_probe_read_user(&flags, sizeof(flags), (void *)ctx->args[2]);
	return open_enter(flags);
}

static __always_inline int open_exit(long ret)
{
	struct pending p;
	if (!take(REC_OPEN, &p) || ret < 0)
		return 0;
	struct file *f = file_of_fd((__u64)ret);
	if (!f)
		return 0;
	__u32 fmode = BPF_CORE_READ(f, f_mode);
	__u16 imode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((imode & S_IFMT) != S_IFREG || !(fmode & (FMODE_WRITE | FMODE_CREATED)))
		return 0; /* only regular files opened for writing */
	struct open_rec *r = reserve(sizeof(*r));
	if (!r)
		return 0;
	fill_hdr(&r->h, REC_OPEN, 1, sizeof(*r));
	r->h.a = fmode;
	r->h.b = (__u32)p.a;
	struct path fp = BPF_CORE_READ(f, f_path);
	walk_path(r, &r->s[0], r->path, &fp);
	submit(r);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int vigil_openat_exit(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_open")
int vigil_open_exit(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_creat")
int vigil_creat_exit(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int vigil_openat2_exit(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_unlinkat")
int vigil_unlinkat(struct trace_event_raw_sys_enter *ctx)
{
	return stash(REC_UNLINK, ctx->args[1], 0, (__s32)ctx->args[0], 0);
}

SEC("tracepoint/syscalls/sys_enter_unlink")
int vigil_unlink(struct trace_event_raw_sys_enter *ctx)
{
	return stash(REC_UNLINK, ctx->args[0], 0, AT_FDCWD, 0);
}

SEC("tracepoint/syscalls/sys_enter_rmdir")
int vigil_rmdir(struct trace_event_raw_sys_enter *ctx)
{
	return stash(REC_UNLINK, ctx->args[0], 0, AT_FDCWD, 0);
}

static __always_inline int unlink_exit(long ret)
{
	struct pending p;
	if (!take(REC_UNLINK, &p) || ret != 0)
		return 0;
	struct unlink_rec *r = reserve(sizeof(*r));
	if (!r)
		return 0;
	fill_hdr(&r->h, REC_UNLINK, 2, sizeof(*r));
	user_str(r, &r->s[0], r->path, (const char *)p.a);
	base_dir(r, &r->s[1], r->base, (const char *)p.a, p.dfd);
	submit(r);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_unlinkat")
int vigil_unlinkat_exit(struct trace_event_raw_sys_exit *ctx)
{
	return unlink_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_unlink")
int vigil_unlink_exit(struct trace_event_raw_sys_exit *ctx)
{
	return unlink_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_rmdir")
int vigil_rmdir_exit(struct trace_event_raw_sys_exit *ctx)
{
	return unlink_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_renameat2")
int vigil_renameat2(struct trace_event_raw_sys_enter *ctx)
{
	return stash(REC_RENAME, ctx->args[1], ctx->args[3], (__s32)ctx->args[0], (__s32)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_enter_renameat")
int vigil_renameat(struct trace_event_raw_sys_enter *ctx)
{
	return stash(REC_RENAME, ctx->args[1], ctx->args[3], (__s32)ctx->args[0], (__s32)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_enter_rename")
int vigil_rename(struct trace_event_raw_sys_enter *ctx)
{
	return stash(REC_RENAME, ctx->args[0], ctx->args[1], AT_FDCWD, AT_FDCWD);
}

static __always_inline int rename_exit(long ret)
{
	struct pending p;
	if (!take(REC_RENAME, &p) || ret != 0)
		return 0;
	struct rename_rec *r = reserve(sizeof(*r));
	if (!r)
		return 0;
	fill_hdr(&r->h, REC_RENAME, 4, sizeof(*r));
	user_str(r, &r->s[0], r->old_path, (const char *)p.a);
	base_dir(r, &r->s[1], r->old_base, (const char *)p.a, p.dfd);
	user_str(r, &r->s[2], r->new_path, (const char *)p.b);
	base_dir(r, &r->s[3], r->new_base, (const char *)p.b, p.dfd2);
	submit(r);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_renameat2")
int vigil_renameat2_exit(struct trace_event_raw_sys_exit *ctx)
{
	return rename_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_renameat")
int vigil_renameat_exit(struct trace_event_raw_sys_exit *ctx)
{
	return rename_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_rename")
int vigil_rename_exit(struct trace_event_raw_sys_exit *ctx)
{
	return rename_exit(ctx->ret);
}

/* ---- network -------------------------------------------------------------------------- */

/* The addresses of a socket. */
struct netinfo {
	__u32 family;
	__u32 proto;
	__u16 sport;
	__u16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
};

/* Reads the socket open at `fd` into `n`; false when it is not an IPv4/IPv6 TCP or UDP socket. */
static __always_inline int read_sock(struct netinfo *n, __u64 fd)
{
	struct file *f = file_of_fd(fd);
	if (!f)
		return 0;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	if (!sock)
		return 0;
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return 0;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u16 proto = BPF_CORE_READ(sk, sk_protocol);
	if ((family != AF_INET && family != AF_INET6) || (proto != IPPROTO_TCP && proto != IPPROTO_UDP))
		return 0;
	n->family = family;
	n->proto = proto;
	n->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	n->dport = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		__u32 s = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(n->saddr, &s, 4);
		__builtin_memcpy(n->daddr, &d, 4);
	} else {
		BPF_CORE_READ_INTO(&n->saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&n->daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
	return 1;
}

static __always_inline int sock_event(__u16 kind, __u64 fd)
{
	struct netinfo n = {};
	if (!read_sock(&n, fd))
		return 0; /* not an inet socket: nothing to report */
	struct bare_rec *r = reserve(sizeof(*r));
	if (!r)
		return 0;
	fill_hdr(&r->h, kind, 0, sizeof(*r));
	r->h.a = n.family;
	r->h.b = n.proto;
	r->h.sport = n.sport;
	r->h.dport = n.dport;
	__builtin_memcpy(r->h.saddr, n.saddr, 16);
	__builtin_memcpy(r->h.daddr, n.daddr, 16);
	submit(r);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_connect")
int vigil_connect(struct trace_event_raw_sys_enter *ctx)
{
	return stash(REC_CONNECT, ctx->args[0], 0, 0, 0);
}

SEC("tracepoint/syscalls/sys_exit_connect")
int vigil_connect_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pending p;
	if (!take(REC_CONNECT, &p))
		return 0;
	if (ctx->ret != 0 && ctx->ret != -EINPROGRESS)
		return 0;
	return sock_event(REC_CONNECT, p.a);
}

static __always_inline int accept_exit(long ret)
{
	if (ret < 0 || is_self())
		return 0;
	return sock_event(REC_ACCEPT, (__u64)ret);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int vigil_accept_exit(struct trace_event_raw_sys_exit *ctx)
{
	return accept_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int vigil_accept4_exit(struct trace_event_raw_sys_exit *ctx)
{
	return accept_exit(ctx->ret);
}

/* ---- kernel modules ------------------------------------------------------------------- */

/* The module_load tracepoint's format (stable since 2.6.33), declared here so that the program
 * loads on kernels built without modules too (where it is simply not attached). */
struct module_load_ctx {
	__u64 common;
	__u32 taints;
	__u32 data_loc_name;
};

SEC("tracepoint/module/module_load")
int vigil_module(struct module_load_ctx *ctx)
{
	if (is_self())
		return 0;
	struct module_rec *r = reserve(sizeof(*r));
	if (!r)
		return 0;
	fill_hdr(&r->h, REC_MODULE, 1, sizeof(*r));
	unsigned int loc = ctx->data_loc_name & 0xffff;
	long n = bpf_probe_read_kernel_str(r->name, MODULE_BYTES, (char *)ctx + loc);
	if (n > 0)
		set_str(&r->s[0], r, r->name, (__u32)(n - 1), 0);
	else
		set_str(&r->s[0], r, r->name, 0, STR_UNREADABLE);
	submit(r);
	return 0;
}
