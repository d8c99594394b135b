//! Keys and distinct values as fixed-size hashes.
//!
//! A key is the rule's `by` field values plus the event's `host` (always: process ids collide
//! across machines), hashed to a [`KeyHash`] (128 bits). A distinct value (`distinct(F)`) is
//! hashed to a [`ValueHash`] (64 bits). Both are specified here, not borrowed from a library
//! whose output may change, so a hash means the same on every build and every host:
//!
//! ```text
//! key   = SHA-256( "vigil.state.key.v1\0"   || part(Str(host)) || part(p1) || ... || part(pn) )[0..16]
//! value = SHA-256( "vigil.state.value.v1\0" || part(v) )[0..8]
//!           read as a little-endian u128 / u64
//!
//! part(Int(i))  = 0x01 || i as 8 bytes, little-endian two's complement
//! part(Str(s))  = 0x02 || len(s) as 8 bytes, little-endian || the UTF-8 bytes of s
//! part(Ip(a))   = 0x03 || the 16 octets of a's IPv6 form (IPv4 as ::ffff:a.b.c.d)
//! part(Bool(b)) = 0x04 || 0x00 or 0x01
//! ```
//!
//! Every part starts with its type tag and has a length fixed by the tag or prefixed, so the
//! encoding of a list of parts is prefix-free and no two distinct lists encode alike:
//! `("ab", "c")` and `("a", "bc")` hash apart, as do `Int(1)` and `Bool(true)`. An IPv4 address
//! and its IPv4-mapped IPv6 form are the same value (as in [`crate::event::Slot`]).
//!
//! Collision odds: SHA-256 truncated to `b` bits behaves as a random function, so with `n`
//! keys alive in one table the chance that any two share a hash is below `n^2 / 2^(b+1)`:
//! for 10^6 keys and 128 bits, under 10^-26; finding a collision on purpose takes about 2^64
//! hash evaluations. For distinct values (64 bits) at most `N` values of one key are compared
//! at a time: under `N^2 / 2^65` (10^-15 for N = 10^2). A collision merges two keys (or counts
//! two values as one); it never makes state unbounded.
//!
//! The hash takes no secret: table positions are derived from a [`KeyHash`] with a per-table
//! random hasher (see `lru.rs`), so crafted keys cannot pile into one bucket.

use std::net::IpAddr;

use sha2::{Digest, Sha256};

const KEY_DOMAIN: &[u8] = b"vigil.state.key.v1\0";
const VALUE_DOMAIN: &[u8] = b"vigil.state.value.v1\0";

/// The 128-bit hash of a key (the `by` values and the `host`), as stored in a state table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct KeyHash(pub u128);

/// The 64-bit hash of a distinct value, as stored by a `distinct(F)` threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ValueHash(pub u64);

/// One key field's value, as read from the event (the caller checks the field is present).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyPart<'a> {
    /// An `int` field.
    Int(i64),
    /// A `string` field (compared exactly: byte for byte).
    Str(&'a str),
    /// An `ip` field (IPv4 equals its IPv4-mapped IPv6 form).
    Ip(IpAddr),
    /// A `bool` field.
    Bool(bool),
}

fn feed(h: &mut Sha256, part: KeyPart<'_>) {
    match part {
        KeyPart::Int(i) => {
            h.update([0x01]);
            h.update(i.to_le_bytes());
        }
        KeyPart::Str(s) => {
            h.update([0x02]);
            h.update((s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        }
        KeyPart::Ip(ip) => {
            let v6 = match ip {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            h.update([0x03]);
            h.update(v6.octets());
        }
        KeyPart::Bool(b) => {
            h.update([0x04, u8::from(b)]);
        }
    }
}

/// Builds a [`KeyHash`] part by part, without collecting the parts first (no allocation).
///
/// `KeyHasher::new(host).part(p1).part(p2).finish()` equals `key_hash(host, &[p1, p2])`.
#[derive(Clone, Debug)]
pub struct KeyHasher {
    h: Sha256,
}

impl KeyHasher {
    /// Starts a key on the event's `host` (`""` when the event has none).
    pub fn new(host: &str) -> KeyHasher {
        let mut h = Sha256::new();
        h.update(KEY_DOMAIN);
        feed(&mut h, KeyPart::Str(host));
        KeyHasher { h }
    }

    /// Adds the next key field's value, in `by` order.
    #[must_use]
    pub fn part(mut self, part: KeyPart<'_>) -> KeyHasher {
        feed(&mut self.h, part);
        self
    }

    /// Adds the next key field's value in place.
    pub fn push(&mut self, part: KeyPart<'_>) {
        feed(&mut self.h, part);
    }

    /// The key's hash.
    #[must_use]
    pub fn finish(self) -> KeyHash {
        let d = self.h.finalize();
        let mut b = [0u8; 16];
        b.copy_from_slice(&d[..16]);
        KeyHash(u128::from_le_bytes(b))
    }
}

/// The hash of a key: the event's `host` and the rule's `by` values in order (see the module
/// docs for the exact encoding). A rule without `by` passes no parts: one key per host.
#[must_use]
pub fn key_hash(host: &str, parts: &[KeyPart<'_>]) -> KeyHash {
    let mut k = KeyHasher::new(host);
    for p in parts {
        k.push(*p);
    }
    k.finish()
}

/// The hash of a distinct value (`threshold distinct(F)`; see the module docs).
#[must_use]
pub fn value_hash(value: KeyPart<'_>) -> ValueHash {
    let mut h = Sha256::new();
    h.update(VALUE_DOMAIN);
    feed(&mut h, value);
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    ValueHash(u64::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn lengths_are_prefixed() {
        let a = key_hash("h", &[KeyPart::Str("ab"), KeyPart::Str("c")]);
        let b = key_hash("h", &[KeyPart::Str("a"), KeyPart::Str("bc")]);
        assert_ne!(a, b);
        assert_ne!(key_hash("hx", &[]), key_hash("h", &[KeyPart::Str("x")]));
    }

    #[test]
    fn host_is_part_of_the_key() {
        assert_ne!(
            key_hash("a", &[KeyPart::Int(7)]),
            key_hash("b", &[KeyPart::Int(7)])
        );
    }

    #[test]
    fn types_are_tagged() {
        assert_ne!(
            key_hash("", &[KeyPart::Int(1)]),
            key_hash("", &[KeyPart::Bool(true)])
        );
        assert_ne!(value_hash(KeyPart::Int(0)), value_hash(KeyPart::Str("")));
    }

    #[test]
    fn ipv4_equals_its_mapped_form() {
        let v4 = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3));
        let v6 = IpAddr::V6(Ipv4Addr::new(10, 1, 2, 3).to_ipv6_mapped());
        assert_eq!(
            key_hash("h", &[KeyPart::Ip(v4)]),
            key_hash("h", &[KeyPart::Ip(v6)])
        );
        assert_ne!(
            key_hash("h", &[KeyPart::Ip(v4)]),
            key_hash("h", &[KeyPart::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST))])
        );
    }

    #[test]
    fn builder_equals_slice_form() {
        let parts = [KeyPart::Int(-5), KeyPart::Str("x"), KeyPart::Bool(false)];
        let b = KeyHasher::new("host")
            .part(parts[0])
            .part(parts[1])
            .part(parts[2])
            .finish();
        assert_eq!(b, key_hash("host", &parts));
    }

    /// The encoding is part of the format: pinned values (computed independently, with
    /// Python's hashlib over the encoding the module docs give) so a change is noticed.
    #[test]
    fn hashes_are_pinned() {
        assert_eq!(
            key_hash("WS-01", &[KeyPart::Int(4242)]),
            KeyHash(0x337e_9158_9bc7_5389_31a8_a09d_611a_13b8)
        );
        assert_eq!(
            value_hash(KeyPart::Str("alice")),
            ValueHash(0x1ad4_40ba_8fda_613a)
        );
    }
}
