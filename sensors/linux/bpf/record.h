/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The records the kernel side of the Vigil Linux sensor writes to its ring buffer, and the
 * counters it keeps: the contract between sensor.bpf.c and src/record.rs, which parses these
 * bytes (little-endian, the host's order) and checks every length against the record's size.
 *
 * A record is a header, then `nstr` string descriptors, then the string regions. Each string
 * lies inside the record at `off`, `len` bytes, no NUL; its flags say whether it was cut or
 * could not be read. Regions are fixed per kind so that a record is reserved in the ring buffer
 * at a constant size and written in place (no per-CPU scratch buffer that a preempted program
 * could share).
 */
#ifndef VIGIL_RECORD_H
#define VIGIL_RECORD_H

/* Record kinds. */
#define REC_EXEC 1    /* strings: image, filename, argv (NUL-separated), cwd, cgroup */
#define REC_EXIT 2    /* no strings */
#define REC_CONNECT 3 /* no strings */
#define REC_ACCEPT 4  /* no strings */
#define REC_OPEN 5    /* strings: path */
#define REC_UNLINK 6  /* strings: path as given, base directory when the path was relative */
#define REC_RENAME 7  /* strings: old path, old base, new path, new base */
#define REC_MODULE 8  /* strings: module name */

/* String flags. */
#define STR_TRUNCATED 1  /* cut at the region's size (argv, a path deeper than the walk) */
#define STR_UNREADABLE 2 /* the kernel could not read it (paged out, gone) */
#define STR_COMPONENTS 4 /* a walked path: NAME_BYTES slots, leaf first (see below) */

/*
 * A walked path is not assembled in the kernel (variable offsets make the verifier's work
 * grow with every branch of the walk): each component is written into its own fixed slot of
 * NAME_BYTES, NUL-terminated, leaf first, and `len` is the number of slots used times
 * NAME_BYTES. A slot whose first byte is NUL is a mount crossing and holds no name. User mode
 * joins the names, root first, with `/`.
 */

/* Bounds. */
#define PATH_BYTES 4096 /* PATH_MAX */
#define NAME_BYTES 256  /* NAME_MAX + 1 */
#define PATH_DEPTH 32   /* components walked per path */
#define PATH_REGION (PATH_DEPTH * NAME_BYTES)
#define ARGV_BYTES 16384
#define CGROUP_BYTES 256
#define MODULE_BYTES 64

/* Counters (a per-CPU array; user mode sums the CPUs). */
#define CNT_PRODUCED 0 /* records the programs tried to write */
#define CNT_LOST 1     /* of those, the ones the ring buffer had no room for */
#define CNT_SELF 2     /* events of the agent's own process, filtered */
#define CNT_UNTRACKED 3 /* syscall entries not stashed (the pending map was full): not recorded */
#define CNT_MAX 4

struct rec_str {
	__u32 off;
	__u16 len;
	__u16 flags;
};

struct rec_hdr {
	__u16 kind;
	__u16 nstr;
	__u32 size;      /* bytes of the whole record */
	__u64 time_ns;   /* CLOCK_BOOTTIME */
	__u32 pid;       /* thread group id */
	__u32 tid;
	__u32 ppid;      /* real parent's thread group id */
	__u32 uid;
	__u32 euid;
	__u32 gid;
	__u64 start_ns;  /* the process's start, CLOCK_BOOTTIME */
	__u64 cgroup_id;
	/* exit: exit_code (the kernel's wait status); open: f_mode; net: address family */
	__u32 a;
	/* open: open flags; net: IP protocol */
	__u32 b;
	__u16 sport;     /* host order */
	__u16 dport;     /* host order */
	__u32 pad;
	__u8 saddr[16];  /* IPv4 in the first 4 bytes */
	__u8 daddr[16];
};

#endif
