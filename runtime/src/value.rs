//! Runtime values ([`Value`]) and the network types they carry ([`Cidr`], [`parse_ip`]).
//!
//! A value borrows its strings from the event where it can (`Cow`); builtins return owned
//! values. Parsing here is strict: what does not parse is `None`, never a guess.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::types::{Scalar, Ty};

/// One value of a Vigil type.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Value<'a> {
    /// A `bool`.
    Bool(bool),
    /// An `int`.
    Int(i64),
    /// A `string`, borrowed from the event when possible.
    Str(Cow<'a, str>),
    /// An `ip`.
    Ip(IpAddr),
    /// A `cidr`.
    Cidr(Cidr),
    /// A list; every item has the same scalar type.
    List(Vec<Value<'a>>),
}

impl<'a> Value<'a> {
    /// The type of this value. `None` for a list whose type cannot be told from its items: an
    /// empty list, a list of lists, or a list mixing scalar types (none of which a well-typed
    /// program builds; an empty list takes its type from where it is used).
    pub fn ty(&self) -> Option<Ty> {
        match self {
            Value::List(items) => {
                let first = items.first()?.scalar()?;
                items
                    .iter()
                    .all(|v| v.scalar() == Some(first))
                    .then_some(Ty::List(first))
            }
            v => v.scalar().map(Ty::Scalar),
        }
    }

    /// The scalar type of a scalar value; `None` for a list.
    pub fn scalar(&self) -> Option<Scalar> {
        Some(match self {
            Value::Bool(_) => Scalar::Bool,
            Value::Int(_) => Scalar::Int,
            Value::Str(_) => Scalar::Str,
            Value::Ip(_) => Scalar::Ip,
            Value::Cidr(_) => Scalar::Cidr,
            Value::List(_) => return None,
        })
    }

    /// The empty value of a type, which a field missing from an event reads as: `""`, `0`,
    /// `false`, `0.0.0.0`, `[]` (and `0.0.0.0/0` for `cidr`, which events never carry).
    pub fn empty(ty: Ty) -> Value<'static> {
        match ty {
            Ty::List(_) => Value::List(Vec::new()),
            Ty::Scalar(Scalar::Bool) => Value::Bool(false),
            Ty::Scalar(Scalar::Int) => Value::Int(0),
            Ty::Scalar(Scalar::Str) => Value::Str(Cow::Borrowed("")),
            Ty::Scalar(Scalar::Ip) => Value::Ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            Ty::Scalar(Scalar::Cidr) => Value::Cidr(Cidr {
                addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                prefix: 0,
            }),
        }
    }

    /// The value with every borrowed string copied, so that it outlives its event.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Bool(b) => Value::Bool(b),
            Value::Int(i) => Value::Int(i),
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Value::Ip(ip) => Value::Ip(ip),
            Value::Cidr(c) => Value::Cidr(c),
            Value::List(items) => Value::List(items.into_iter().map(Value::into_owned).collect()),
        }
    }

    /// The bool, if this is a `bool`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The integer, if this is an `int`.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The text, if this is a `string`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The address, if this is an `ip`.
    pub fn as_ip(&self) -> Option<IpAddr> {
        match self {
            Value::Ip(ip) => Some(*ip),
            _ => None,
        }
    }

    /// The items, if this is a list.
    pub fn as_list(&self) -> Option<&[Value<'a>]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }
}

impl fmt::Display for Value<'_> {
    /// As written in a rule: `true`, `-7`, `"C:\\x"` (escaped, with `\u{..}` for control
    /// characters), `"10.0.0.1"`, `"10.0.0.0/8"`, `["a", "b"]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => write_string_literal(f, s),
            Value::Ip(ip) => write!(f, "\"{ip}\""),
            Value::Cidr(c) => write!(f, "\"{c}\""),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

fn write_string_literal(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '"' => f.write_str("\\\"")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            '\0' => f.write_str("\\0")?,
            c if c.is_control() => write!(f, "\\u{{{:x}}}", u32::from(c))?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

/// A network prefix: the addresses whose first `prefix` bits equal `addr`'s.
///
/// Values built by [`Cidr::parse`] are canonical: the bits of `addr` past the prefix are zero,
/// so equal networks compare equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Cidr {
    /// The network address.
    pub addr: IpAddr,
    /// The prefix length in bits: at most 32 for IPv4, 128 for IPv6.
    pub prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n` (n ≤ 32), `v6::addr/n` (n ≤ 128), or a plain address, which is a
    /// `/32` or `/128`. The prefix is decimal digits only (no sign, no spaces). Host bits past
    /// the prefix are accepted and cleared (`10.1.2.3/8` is `10.0.0.0/8`), as most tools do.
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr_text, prefix) = match text.split_once('/') {
            Some((addr_text, prefix_text)) => {
                if prefix_text.is_empty()
                    || prefix_text.len() > 3
                    || !prefix_text.bytes().all(|b| b.is_ascii_digit())
                {
                    return None;
                }
                (addr_text, Some(prefix_text.parse::<u8>().ok()?))
            }
            None => (text, None),
        };
        let addr = parse_ip(addr_text)?;
        let max = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return None;
        }
        Some(Cidr {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// Whether `ip` lies inside this network. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`)
    /// is its IPv4 address here, on either side: `::ffff:10.0.0.1` is in `10.0.0.0/8`, and
    /// `10.0.0.1` is in `::ffff:10.0.0.0/104`. Otherwise families never match each other.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (net, prefix) = self.canonical();
        match (net, canonical_ip(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(
                u128::from(u32::from(net)),
                u128::from(u32::from(ip)),
                prefix,
                32,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(u128::from(net), u128::from(ip), prefix, 128)
            }
            _ => false,
        }
    }

    /// The network with an IPv4-mapped IPv6 prefix of at least 96 bits turned into IPv4.
    fn canonical(&self) -> (IpAddr, u8) {
        match self.addr {
            IpAddr::V6(v6) if self.prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), self.prefix - 96),
                None => (self.addr, self.prefix),
            },
            addr => (addr, self.prefix),
        }
    }
}

impl fmt::Display for Cidr {
    /// `addr/prefix`, always with the prefix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Whether the first `prefix` of `width` bits of `a` and `b` are equal.
fn prefix_eq(a: u128, b: u128, prefix: u8, width: u8) -> bool {
    let prefix = prefix.min(width);
    let shift = u32::from(width - prefix);
    // shift ≤ 128; a shift of 128 would overflow, and means "zero bits compared".
    a.checked_shr(shift).unwrap_or(0) == b.checked_shr(shift).unwrap_or(0)
}

/// `addr` with the bits past `prefix` cleared.
fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let keep = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & keep))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let keep = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & keep))
        }
    }
}

/// Parses an IPv4 or IPv6 address, strictly: dotted-quad IPv4 with no leading zeros, short or
/// leading-zero forms refused (`1.2.3`, `01.2.3.4`); IPv6 in any RFC 4291 text form, including
/// IPv4-mapped (`::ffff:1.2.3.4`, kept as IPv6: see [`canonical_ip`]). No brackets, zone ids
/// (`%eth0`), ports or surrounding spaces.
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>().ok()
}

/// An IPv4-mapped IPv6 address as its IPv4 address; any other address unchanged. Network
/// matching ([`Cidr::contains`]) compares canonical addresses.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        parse_ip(text).expect("test address")
    }

    fn cidr(text: &str) -> Cidr {
        Cidr::parse(text).expect("test prefix")
    }

    #[test]
    fn parse_ip_is_strict() {
        assert_eq!(ip("8.8.8.8"), IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)));
        assert!(parse_ip("fe80::1").is_some());
        assert!(parse_ip("::ffff:10.1.2.3").is_some_and(|a| a.is_ipv6()));
        for bad in [
            "",
            "1.2.3",
            "01.2.3.4",
            "256.1.1.1",
            " 1.2.3.4",
            "1.2.3.4 ",
            "[::1]",
            "fe80::1%eth0",
            "1.2.3.4:80",
            "localhost",
            "1.2.3.4/32",
        ] {
            assert_eq!(parse_ip(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn cidr_parse_accepts_prefixes_and_plain_addresses() {
        assert_eq!(cidr("10.0.0.0/8").to_string(), "10.0.0.0/8");
        assert_eq!(cidr("10.1.2.3/8"), cidr("10.0.0.0/8"));
        assert_eq!(cidr("1.2.3.4").prefix, 32);
        assert_eq!(cidr("::1").prefix, 128);
        assert_eq!(cidr("fe80::/10").to_string(), "fe80::/10");
        assert_eq!(cidr("0.0.0.0/0").prefix, 0);
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/ 8",
            "/8",
            "10.0.0.0/8/8",
            "10.0.0.0/0008",
            "x/8",
        ] {
            assert_eq!(Cidr::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn cidr_contains_matches_prefix_bits() {
        let net = cidr("10.0.0.0/8");
        assert!(net.contains(ip("10.255.0.1")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(cidr("0.0.0.0/0").contains(ip("1.2.3.4")));
        assert!(!cidr("0.0.0.0/0").contains(ip("::1")));
        assert!(cidr("::/0").contains(ip("::1")));
        assert!(cidr("fe80::/10").contains(ip("fe80::1234")));
        assert!(!cidr("fe80::/10").contains(ip("fec0::1")));
        assert!(cidr("1.2.3.4").contains(ip("1.2.3.4")));
        assert!(!cidr("1.2.3.4").contains(ip("1.2.3.5")));
    }

    #[test]
    fn ipv4_mapped_addresses_match_ipv4_prefixes() {
        assert!(cidr("10.0.0.0/8").contains(ip("::ffff:10.1.2.3")));
        assert!(!cidr("10.0.0.0/8").contains(ip("::ffff:11.1.2.3")));
        assert!(cidr("::ffff:10.0.0.0/104").contains(ip("10.9.9.9")));
        assert!(cidr("::ffff:10.0.0.0/104").contains(ip("::ffff:10.9.9.9")));
        // A v6 prefix shorter than the mapped range stays v6.
        assert!(!cidr("::/64").contains(ip("10.0.0.1")));
        assert_eq!(canonical_ip(ip("::ffff:1.2.3.4")), ip("1.2.3.4"));
        assert_eq!(canonical_ip(ip("::1")), ip("::1"));
    }

    #[test]
    fn value_types_and_display() {
        assert_eq!(Value::Int(-7).ty(), Some(Ty::INT));
        assert_eq!(Value::Str("a".into()).ty(), Some(Ty::STR));
        let list = Value::List(vec![Value::Str("a".into()), Value::Str("b\\\"".into())]);
        assert_eq!(list.ty(), Some(Ty::List(Scalar::Str)));
        assert_eq!(list.to_string(), r#"["a", "b\\\""]"#);
        assert_eq!(Value::List(vec![]).ty(), None);
        assert_eq!(
            Value::List(vec![Value::Int(1), Value::Bool(true)]).ty(),
            None
        );
        assert_eq!(Value::Str("\u{1}\n".into()).to_string(), "\"\\u{1}\\n\"");
        assert_eq!(Value::empty(Ty::IP).to_string(), "\"0.0.0.0\"");
        assert_eq!(Value::empty(Ty::List(Scalar::Str)), Value::List(vec![]));
        let borrowed = String::from("x");
        let owned: Value<'static> = Value::Str(Cow::Borrowed(borrowed.as_str())).into_owned();
        drop(borrowed);
        assert_eq!(owned.as_str(), Some("x"));
    }
}
