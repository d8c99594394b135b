//! The value types of the Vigil language ([`Scalar`], [`Ty`]): how they are written in rules and
//! in schema files. Types only; values live in [`crate::value`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// A scalar type: the type of one value that is not a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scalar {
    /// `bool`: `true` or `false`.
    Bool,
    /// `int`: 64-bit signed, wrapping arithmetic.
    Int,
    /// `string`: UTF-8, bounded by a schema `max_len` when it comes from an event.
    Str,
    /// `ip`: an IPv4 or IPv6 address.
    Ip,
    /// `cidr`: a network prefix; only in lists and list types.
    Cidr,
}

impl Scalar {
    /// The name as written in rules and schema files: `bool`, `int`, `string`, `ip`, `cidr`.
    pub fn name(self) -> &'static str {
        match self {
            Scalar::Bool => "bool",
            Scalar::Int => "int",
            Scalar::Str => "string",
            Scalar::Ip => "ip",
            Scalar::Cidr => "cidr",
        }
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A value type: a scalar or a list of scalars (lists do not nest).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Ty {
    /// One scalar value.
    Scalar(Scalar),
    /// A list of scalars, written `[T]`.
    List(Scalar),
}

impl Ty {
    /// `bool`.
    pub const BOOL: Ty = Ty::Scalar(Scalar::Bool);
    /// `int`.
    pub const INT: Ty = Ty::Scalar(Scalar::Int);
    /// `string`.
    pub const STR: Ty = Ty::Scalar(Scalar::Str);
    /// `ip`.
    pub const IP: Ty = Ty::Scalar(Scalar::Ip);
    /// `cidr`.
    pub const CIDR: Ty = Ty::Scalar(Scalar::Cidr);

    /// Whether this is a list type `[T]`.
    pub fn is_list(self) -> bool {
        matches!(self, Ty::List(_))
    }

    /// The scalar itself, or the item type of a list.
    pub fn scalar(self) -> Scalar {
        match self {
            Ty::Scalar(s) | Ty::List(s) => s,
        }
    }

    /// Parses a field type as written in a schema file: `bool`, `int`, `string`, `ip`,
    /// `[string]`, `[int]`, `[ip]`. Anything else (including `cidr`, which events never carry,
    /// and spaces inside the brackets) is `None`.
    pub fn parse(text: &str) -> Option<Ty> {
        Some(match text {
            "bool" => Ty::BOOL,
            "int" => Ty::INT,
            "string" => Ty::STR,
            "ip" => Ty::IP,
            "[string]" => Ty::List(Scalar::Str),
            "[int]" => Ty::List(Scalar::Int),
            "[ip]" => Ty::List(Scalar::Ip),
            _ => return None,
        })
    }
}

impl fmt::Display for Ty {
    /// As written in rules: `string`, `[cidr]`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::Scalar(s) => write!(f, "{s}"),
            Ty::List(s) => write!(f, "[{s}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_as_written_in_rules() {
        assert_eq!(Ty::STR.to_string(), "string");
        assert_eq!(Ty::List(Scalar::Cidr).to_string(), "[cidr]");
        assert_eq!(Ty::BOOL.to_string(), "bool");
    }

    #[test]
    fn parse_accepts_schema_type_names_only() {
        for name in ["bool", "int", "string", "ip", "[string]", "[int]", "[ip]"] {
            let ty = Ty::parse(name).expect("schema type name");
            assert_eq!(ty.to_string(), name);
        }
        for bad in [
            "cidr",
            "[cidr]",
            "str",
            "[ string]",
            "String",
            "",
            "[[int]]",
            "[bool]",
        ] {
            assert_eq!(Ty::parse(bad), None, "{bad}");
        }
        assert!(Ty::parse("[int]").is_some_and(Ty::is_list));
        assert!(!Ty::INT.is_list());
    }
}
