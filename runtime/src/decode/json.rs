//! One JSON line to a flat list of `(key, value)` entries, strings borrowed from the line where
//! they hold no escapes; plus the repair of invalid UTF-8 and lone UTF-16 surrogate escapes.
//!
//! Only the top level is kept: a top-level array's scalar items go to a side list; deeper values
//! (objects, nested arrays) are skipped by serde_json's iterative skipper and kept as
//! [`JVal::Other`]. The parser recurses at most three levels (object, array, item), so hostile
//! nesting cannot overflow the stack; serde_json's own recursion limit (128) stays on.

use std::borrow::Cow;
use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};

use crate::coerce::Raw;
use crate::event::recycle_vec;

/// A top-level value of a record.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum JVal<'t> {
    /// A scalar.
    Scalar(Raw<'t>),
    /// An array: `len` items from `start` in [`Parsed::items`].
    List { start: u32, len: u32 },
    /// An object, or an array item that is itself an array or object.
    Other,
}

/// The entries of one parsed line; buffers reused from line to line.
#[derive(Debug, Default)]
pub(crate) struct Parsed<'t> {
    pub(crate) entries: Vec<(Cow<'t, str>, JVal<'t>)>,
    pub(crate) items: Vec<JVal<'t>>,
}

impl<'t> Parsed<'t> {
    /// Empty, keeping capacity, for text of another lifetime.
    pub(crate) fn recycle<'u>(self) -> Parsed<'u> {
        Parsed {
            entries: recycle_vec(self.entries),
            items: recycle_vec(self.items),
        }
    }

    /// Parses `text`, which must be one JSON object.
    pub(crate) fn parse(&mut self, text: &'t str) -> Result<(), serde_json::Error> {
        self.entries.clear();
        self.items.clear();
        let mut de = serde_json::Deserializer::from_str(text);
        (&mut de).deserialize_map(ObjVisitor { p: self })?;
        de.end()
    }

    /// The items of a list value.
    pub(crate) fn list_items(&self, start: u32, len: u32) -> &[JVal<'t>] {
        let start = start as usize;
        self.items
            .get(start..start + len as usize)
            .unwrap_or_default()
    }
}

struct Key<'t>(Cow<'t, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

struct ObjVisitor<'p, 't> {
    p: &'p mut Parsed<'t>,
}

impl<'de> Visitor<'de> for ObjVisitor<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(key)) = map.next_key()? {
            let value = map.next_value_seed(TopSeed {
                items: &mut self.p.items,
            })?;
            self.p.entries.push((key, value));
        }
        Ok(())
    }
}

/// A top-level value: scalars, arrays of scalars (into `items`), anything else skipped.
struct TopSeed<'p, 't> {
    items: &'p mut Vec<JVal<'t>>,
}

impl<'de> DeserializeSeed<'de> for TopSeed<'_, 'de> {
    type Value = JVal<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<JVal<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

/// Implements the scalar visits for a visitor whose value is a `JVal`.
macro_rules! scalar_visits {
    () => {
        fn visit_bool<E>(self, v: bool) -> Result<JVal<'de>, E> {
            Ok(JVal::Scalar(Raw::Bool(v)))
        }
        fn visit_i64<E>(self, v: i64) -> Result<JVal<'de>, E> {
            Ok(JVal::Scalar(Raw::Int(v)))
        }
        fn visit_u64<E>(self, v: u64) -> Result<JVal<'de>, E> {
            Ok(JVal::Scalar(match i64::try_from(v) {
                Ok(i) => Raw::Int(i),
                Err(_) => Raw::UInt(v),
            }))
        }
        fn visit_f64<E>(self, v: f64) -> Result<JVal<'de>, E> {
            Ok(JVal::Scalar(Raw::Float(v)))
        }
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<JVal<'de>, E> {
            Ok(JVal::Scalar(Raw::Str(Cow::Borrowed(v))))
        }
        fn visit_str<E>(self, v: &str) -> Result<JVal<'de>, E> {
            Ok(JVal::Scalar(Raw::Str(Cow::Owned(v.to_owned()))))
        }
        fn visit_string<E>(self, v: String) -> Result<JVal<'de>, E> {
            Ok(JVal::Scalar(Raw::Str(Cow::Owned(v))))
        }
        fn visit_unit<E>(self) -> Result<JVal<'de>, E> {
            Ok(JVal::Scalar(Raw::Null))
        }
        fn visit_none<E>(self) -> Result<JVal<'de>, E> {
            Ok(JVal::Scalar(Raw::Null))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JVal<'de>, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(JVal::Other)
        }
    };
}

impl<'de> Visitor<'de> for TopSeed<'_, 'de> {
    type Value = JVal<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    scalar_visits!();
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JVal<'de>, A::Error> {
        let start = self.items.len();
        while let Some(item) = seq.next_element_seed(ItemSeed)? {
            self.items.push(item);
        }
        let len = self.items.len() - start;
        match (u32::try_from(start), u32::try_from(len)) {
            (Ok(start), Ok(len)) => Ok(JVal::List { start, len }),
            _ => Err(de::Error::custom("array too long")),
        }
    }
}

/// An item of a top-level array: scalars; nested arrays and objects are skipped.
struct ItemSeed;

impl<'de> DeserializeSeed<'de> for ItemSeed {
    type Value = JVal<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<JVal<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ItemSeed {
    type Value = JVal<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    scalar_visits!();
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JVal<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(JVal::Other)
    }
}

/// The line as text: borrowed when it is valid UTF-8 without lone surrogate escapes, else an
/// owned repair (invalid bytes and lone `\uD800`-`\uDFFF` escapes become U+FFFD).
pub(crate) fn repair(line: &[u8]) -> Result<&str, String> {
    match std::str::from_utf8(line) {
        Ok(text) => match fix_surrogates(text) {
            None => Ok(text),
            Some(fixed) => Err(fixed),
        },
        Err(_) => {
            let lossy = String::from_utf8_lossy(line);
            Err(fix_surrogates(&lossy).unwrap_or_else(|| lossy.into_owned()))
        }
    }
}

fn hex4(b: &[u8], at: usize) -> Option<u32> {
    let digits = b.get(at..at + 4)?;
    let mut v = 0u32;
    for &d in digits {
        v = v * 16 + char::from(d).to_digit(16)?;
    }
    Some(v)
}

/// `text` with each lone surrogate escape replaced by `\uFFFD`; `None` when there is none.
fn fix_surrogates(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        if b.get(i + 1) != Some(&b'u') {
            i += 2;
            continue;
        }
        let Some(unit) = hex4(b, i + 2) else {
            i += 2;
            continue;
        };
        let lone = match unit {
            0xD800..=0xDBFF => {
                let paired = b.get(i + 6) == Some(&b'\\')
                    && b.get(i + 7) == Some(&b'u')
                    && hex4(b, i + 8).is_some_and(|lo| (0xDC00..=0xDFFF).contains(&lo));
                if paired {
                    i += 12;
                    continue;
                }
                true
            }
            0xDC00..=0xDFFF => true,
            _ => false,
        };
        if lone {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(text.get(copied..i).unwrap_or_default());
            o.push_str("\\uFFFD");
            copied = i + 6;
        }
        i += 6;
    }
    let mut o = out?;
    o.push_str(text.get(copied..).unwrap_or_default());
    Some(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_plain_strings_and_skips_nesting() {
        let text =
            r#"{"a": "x", "b": "y\\z", "c": [1, "q", [2], {}], "d": {"e": [[]]}, "f": null}"#;
        let mut p = Parsed::default();
        p.parse(text).expect("valid");
        assert_eq!(p.entries.len(), 5);
        assert!(matches!(
            &p.entries[0].1,
            JVal::Scalar(Raw::Str(Cow::Borrowed("x")))
        ));
        assert!(matches!(&p.entries[1].1, JVal::Scalar(Raw::Str(Cow::Owned(s))) if s == "y\\z"));
        assert_eq!(p.entries[2].1, JVal::List { start: 0, len: 4 });
        assert_eq!(p.items[2], JVal::Other);
        assert_eq!(p.entries[3].1, JVal::Other);
        assert_eq!(p.entries[4].1, JVal::Scalar(Raw::Null));
    }

    #[test]
    fn lone_surrogates_are_replaced() {
        assert_eq!(fix_surrogates(r#""\ud83d\ude00""#), None);
        assert_eq!(
            fix_surrogates(r#""a\ud800b""#).as_deref(),
            Some(r#""a\uFFFDb""#)
        );
        assert_eq!(
            fix_surrogates(r#""\udc00\\ud800""#).as_deref(),
            Some(r#""\uFFFD\\ud800""#)
        );
        assert_eq!(
            repair(b"{\"a\":\"\xff\"}"),
            Err("{\"a\":\"\u{fffd}\"}".to_owned())
        );
    }
}
