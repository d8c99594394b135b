//! The fixed-layout value slot: how a decoded event's fields sit in memory.
//!
//! An event of type T is an array of [`Slot`]s, one per field of T in the *host* schema, at the
//! index `FieldIndex` gives, plus a parallel array of flag bytes. The JIT reads slots at fixed
//! offsets (`index * 16`); the interpreter reads them through `Event`'s safe accessors. Both see
//! the same bytes, so the two engines cannot disagree on what an event holds.
//!
//! ```text
//!  type      w0 (offset 0)                    w1 (offset 8)
//!  bool      0 or 1                           0
//!  int       the i64, as u64 bits             0
//!  string    address of the first byte       length in bytes (<= the field's max_len)
//!  ip        high 64 bits of the IPv6 form    low 64 bits (IPv4 as ::ffff:a.b.c.d)
//!  [string]  address of the first item Slot  item count (<= the field's max_items)
//!  absent    0                                0   (reads as the type's empty value)
//! ```
//!
//! Flags per field: bit 0 present, bit 1 truncated (cut to `max_len`, or invalid UTF-8
//! replaced). Addresses are stored as integers (safe to produce); only `jit/` dereferences them,
//! and only within `w1` bytes, which the event builder guarantees are inside a live `&str` owned
//! or borrowed by the event.

/// One field's value in the fixed layout above.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slot {
    /// First word (see the module table).
    pub w0: u64,
    /// Second word (see the module table).
    pub w1: u64,
}

/// Size of a slot in bytes: the stride the JIT uses.
pub const SLOT_BYTES: u32 = 16;

/// Flag bit: the event carried the field.
pub const FLAG_PRESENT: u8 = 1;
/// Flag bit: the value was cut to `max_len`, or invalid UTF-8 was replaced.
pub const FLAG_TRUNCATED: u8 = 2;

impl Slot {
    /// A bool slot.
    pub fn from_bool(b: bool) -> Slot {
        Slot {
            w0: u64::from(b),
            w1: 0,
        }
    }

    /// An int slot.
    pub fn from_int(i: i64) -> Slot {
        Slot {
            w0: i as u64,
            w1: 0,
        }
    }

    /// An ip slot (IPv4 stored in its IPv4-mapped IPv6 form).
    pub fn from_ip(ip: std::net::IpAddr) -> Slot {
        let v6 = match ip {
            std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            std::net::IpAddr::V6(v6) => v6,
        };
        let bits = u128::from(v6);
        Slot {
            w0: (bits >> 64) as u64,
            w1: bits as u64,
        }
    }

    /// The ip a slot holds (IPv4-mapped addresses come back as IPv4).
    pub fn to_ip(self) -> std::net::IpAddr {
        let v6 = std::net::Ipv6Addr::from((u128::from(self.w0) << 64) | u128::from(self.w1));
        match v6.to_ipv4_mapped() {
            Some(v4) => std::net::IpAddr::V4(v4),
            None => std::net::IpAddr::V6(v6),
        }
    }

    /// A string slot pointing at `s` (the event keeps `s` alive while the slot is in use).
    pub fn for_str(s: &str) -> Slot {
        Slot {
            w0: s.as_ptr() as u64,
            w1: s.len() as u64,
        }
    }
}
