//! The one value-coercion table (LANGUAGE.md section 6), shared by the native decoder and every
//! mapping: how a source value (a JSON null, bool, number or string) becomes a field's value.
//!
//! | field type | accepted | absent | otherwise |
//! | --- | --- | --- | --- |
//! | `int` | JSON integers within the i64 range (a fraction or exponent is uncoercible); strings of decimal digits with an optional sign; `0x`/`0X` hex (up to 16 digits, read as the 64 bits of an `i64`, so `0xffffffffffffffff` is -1) | null, `""`, `"-"` | uncoercible |
//! | `int` `time` | as `int` (nanoseconds since the Unix epoch), and RFC 3339 / ISO 8601 text: `2019-03-19T23:45:04.123456Z`, `2020-10-13 00:24:53`, `2020-10-19 03:30:41.104`, `...+02:00`; up to 9 fraction digits (more are cut); no zone means UTC | null, `""`, `"-"` | uncoercible |
//! | `bool` | JSON bools; `"true"`/`"false"` in any case | null, `""`, `"-"` | uncoercible |
//! | `ip` | IPv4 / IPv6 text ([`crate::value::parse_ip`]) | null, `""`, `"-"` | uncoercible |
//! | `string` | strings as they are; numbers as their decimal text (`1608`, `1.5`); bools as `true`/`false` | null, `"-"` | (never) |
//!
//! An empty string is a present, empty `string`; for every other type it is absent. Objects and
//! arrays are not scalars: the decoders treat an array for a list field item by item, and any
//! other array or object as uncoercible. Coercion allocates only to give a number's text to a
//! string field.

use std::borrow::Cow;
use std::net::IpAddr;

use crate::value::parse_ip;

/// A scalar value as a source gives it, before coercion.
#[derive(Clone, Debug, PartialEq)]
pub enum Raw<'a> {
    /// JSON `null`.
    Null,
    /// A JSON bool.
    Bool(bool),
    /// A JSON integer that fits an `i64`.
    Int(i64),
    /// A JSON integer above `i64::MAX`.
    UInt(u64),
    /// A JSON number with a fraction or exponent.
    Float(f64),
    /// A string (unescaped).
    Str(Cow<'a, str>),
}

/// Why a present value could not be coerced (the field is then absent, and the value counted
/// under [`crate::decode::ErrorCode::UncoercibleValue`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uncoercible;

/// The result of a coercion: `Ok(Some(v))` a value, `Ok(None)` absent, `Err` uncoercible.
pub type Coerced<T> = Result<Option<T>, Uncoercible>;

/// Whether a string means "absent" for a non-string field: `""` or `"-"`.
fn absent_text(s: &str) -> bool {
    s.is_empty() || s == "-"
}

/// Coerces to `int`.
pub fn to_int(raw: &Raw<'_>) -> Coerced<i64> {
    match raw {
        Raw::Null => Ok(None),
        Raw::Int(i) => Ok(Some(*i)),
        Raw::Bool(_) | Raw::UInt(_) | Raw::Float(_) => Err(Uncoercible),
        Raw::Str(s) if absent_text(s) => Ok(None),
        Raw::Str(s) => parse_int(s).map(Some).ok_or(Uncoercible),
    }
}

/// Coerces to `bool`.
pub fn to_bool(raw: &Raw<'_>) -> Coerced<bool> {
    match raw {
        Raw::Null => Ok(None),
        Raw::Bool(b) => Ok(Some(*b)),
        Raw::Int(_) | Raw::UInt(_) | Raw::Float(_) => Err(Uncoercible),
        Raw::Str(s) if absent_text(s) => Ok(None),
        Raw::Str(s) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Raw::Str(s) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Raw::Str(_) => Err(Uncoercible),
    }
}

/// Coerces to `ip`.
pub fn to_ip(raw: &Raw<'_>) -> Coerced<IpAddr> {
    match raw {
        Raw::Null => Ok(None),
        Raw::Bool(_) | Raw::Int(_) | Raw::UInt(_) | Raw::Float(_) => Err(Uncoercible),
        Raw::Str(s) if absent_text(s) => Ok(None),
        Raw::Str(s) => parse_ip(s).map(Some).ok_or(Uncoercible),
    }
}

/// Coerces to a time in nanoseconds since the Unix epoch (the `time` field).
pub fn to_time(raw: &Raw<'_>) -> Coerced<i64> {
    match raw {
        Raw::Null => Ok(None),
        Raw::Int(i) => Ok(Some(*i)),
        Raw::Bool(_) | Raw::UInt(_) | Raw::Float(_) => Err(Uncoercible),
        Raw::Str(s) if absent_text(s) => Ok(None),
        Raw::Str(s) => parse_int(s)
            .or_else(|| parse_time(s))
            .map(Some)
            .ok_or(Uncoercible),
    }
}

/// Coerces to `string`: never fails.
pub fn to_str<'a>(raw: Raw<'a>) -> Coerced<Cow<'a, str>> {
    match raw {
        Raw::Null => Ok(None),
        Raw::Bool(b) => Ok(Some(Cow::Borrowed(if b { "true" } else { "false" }))),
        Raw::Int(i) => Ok(Some(Cow::Owned(i.to_string()))),
        Raw::UInt(u) => Ok(Some(Cow::Owned(u.to_string()))),
        Raw::Float(x) => Ok(Some(Cow::Owned(x.to_string()))),
        Raw::Str(s) if s == "-" => Ok(None),
        Raw::Str(s) => Ok(Some(s)),
    }
}

/// Reads an integer: decimal with an optional sign (`-12`, `+7`), or `0x` hex of up to 16
/// digits taken as the 64 bits of an `i64` (`0x8000000000000000` is `i64::MIN`; a `-` before
/// `0x` negates, wrapping). No spaces, no `_`, no fraction.
pub fn parse_int(text: &str) -> Option<i64> {
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..)?),
        Some(b'+') => (false, text.get(1..)?),
        _ => (false, text),
    };
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let bits = u64::from_str_radix(hex, 16).ok()?;
        let v = bits as i64;
        return Some(if neg { v.wrapping_neg() } else { v });
    }
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Parse with the sign so that i64::MIN is accepted.
    if neg {
        format_free_parse_neg(body)
    } else {
        body.parse::<i64>().ok()
    }
}

/// `-body` as an i64 without allocating (accepts `9223372036854775808`).
fn format_free_parse_neg(body: &str) -> Option<i64> {
    let mut acc: i64 = 0;
    for b in body.bytes() {
        acc = acc.checked_mul(10)?.checked_sub(i64::from(b - b'0'))?;
    }
    Some(acc)
}

/// Reads a date-time as nanoseconds since the Unix epoch: `YYYY-MM-DD`, then `T`, `t` or a
/// space, `HH:MM:SS`, an optional fraction (`.` or `,`, 1 to 9 digits kept, more ignored), and
/// an optional zone: `Z`, `z`, `+HH:MM`, `-HH:MM`, `+HHMM` or `+HH`; no zone means UTC. Out of
/// the i64 range (years before 1677 or after 2262) is `None`.
pub fn parse_time(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        let mut acc = 0i64;
        for d in digits {
            if !d.is_ascii_digit() {
                return None;
            }
            acc = acc * 10 + i64::from(d - b'0');
        }
        Some(acc)
    };
    let year = num(0, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let month = num(5, 2)?;
    let day = num(8, 2)?;
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let hour = num(11, 2)?;
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    let minute = num(14, 2)?;
    let second = num(17, 2)?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut pos = 19;
    let mut nanos = 0i64;
    if matches!(b.get(pos), Some(b'.' | b',')) {
        pos += 1;
        let start = pos;
        while b.get(pos).is_some_and(u8::is_ascii_digit) {
            if pos - start < 9 {
                nanos = nanos * 10 + i64::from(b[pos] - b'0');
            }
            pos += 1;
        }
        let kept = (pos - start).min(9);
        if kept == 0 {
            return None;
        }
        for _ in kept..9 {
            nanos *= 10;
        }
    }
    let offset_secs: i64 = match b.get(pos) {
        None => 0,
        Some(b'Z' | b'z') if pos + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let oh = num(pos + 1, 2)?;
            let om = match b.len() - (pos + 3) {
                0 => 0,
                2 => num(pos + 3, 2)?,
                3 if b.get(pos + 3) == Some(&b':') => num(pos + 4, 2)?,
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3600 + om * 60;
            if sign == b'+' {
                off
            } else {
                -off
            }
        }
        Some(_) => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// Writes nanoseconds since the Unix epoch as an RFC 3339 UTC date-time, the inverse of
/// [`parse_time`]: `2019-05-14T09:21:07Z`, with a fraction of 3, 6 or 9 digits when the time
/// has one (`...07.250Z`). Every i64 is a valid input (years 1677 to 2262).
pub fn format_time(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let (days, day_secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (day_secs / 3600, day_secs % 3600 / 60, day_secs % 60);
    let fraction = if nanos == 0 {
        String::new()
    } else if nanos % 1_000_000 == 0 {
        format!(".{:03}", nanos / 1_000_000)
    } else if nanos % 1_000 == 0 {
        format!(".{:06}", nanos / 1_000)
    } else {
        format!(".{nanos:09}")
    };
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}{fraction}Z")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's
/// `civil_from_days`, the inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Raw<'_> {
        Raw::Str(Cow::Borrowed(text))
    }

    #[test]
    fn ints_decimal_hex_and_absent() {
        assert_eq!(to_int(&Raw::Int(1608)), Ok(Some(1608)));
        assert_eq!(to_int(&s("292")), Ok(Some(292)));
        assert_eq!(to_int(&s("-7")), Ok(Some(-7)));
        assert_eq!(to_int(&s("0x910e0")), Ok(Some(0x910e0)));
        assert_eq!(to_int(&s("0X1F")), Ok(Some(31)));
        assert_eq!(to_int(&s("0x8000000000000000")), Ok(Some(i64::MIN)));
        assert_eq!(to_int(&s("-9223372036854775808")), Ok(Some(i64::MIN)));
        assert_eq!(to_int(&s("9223372036854775808")), Err(Uncoercible));
        for absent in [s(""), s("-"), Raw::Null] {
            assert_eq!(to_int(&absent), Ok(None));
        }
        for bad in [
            s("abc"),
            s("1.5"),
            s(" 1"),
            s("0x"),
            s("0x12345678901234567"),
            s("+"),
        ] {
            assert_eq!(to_int(&bad), Err(Uncoercible), "{bad:?}");
        }
        assert_eq!(to_int(&Raw::Float(1.5)), Err(Uncoercible));
        assert_eq!(to_int(&Raw::Bool(true)), Err(Uncoercible));
    }

    #[test]
    fn bools_any_case() {
        assert_eq!(to_bool(&s("TRUE")), Ok(Some(true)));
        assert_eq!(to_bool(&s("false")), Ok(Some(false)));
        assert_eq!(to_bool(&Raw::Bool(true)), Ok(Some(true)));
        assert_eq!(to_bool(&s("-")), Ok(None));
        assert_eq!(to_bool(&s("yes")), Err(Uncoercible));
        assert_eq!(to_bool(&Raw::Int(1)), Err(Uncoercible));
    }

    #[test]
    fn strings_take_numbers_as_text() {
        assert_eq!(to_str(Raw::Float(1.5)), Ok(Some(Cow::Borrowed("1.5"))));
        assert_eq!(to_str(s("")), Ok(Some(Cow::Borrowed(""))));
        assert_eq!(to_str(s("-")), Ok(None));
        assert_eq!(to_str(Raw::Bool(false)), Ok(Some(Cow::Borrowed("false"))));
    }

    #[test]
    fn ips() {
        assert!(to_ip(&s("10.0.0.1")).is_ok_and(|v| v.is_some()));
        assert!(to_ip(&s("fe80::1")).is_ok_and(|v| v.is_some()));
        assert_eq!(to_ip(&s("-")), Ok(None));
        assert_eq!(to_ip(&s("x")), Err(Uncoercible));
    }

    #[test]
    fn times_in_the_corpus_forms() {
        let base = 1_553_039_104_000_000_000; // 2019-03-19T23:45:04Z
        assert_eq!(parse_time("2019-03-19T23:45:04Z"), Some(base));
        assert_eq!(
            parse_time("2019-03-19T23:45:04.123456Z"),
            Some(base + 123_456_000)
        );
        assert_eq!(
            parse_time("2019-03-19T23:45:04.123456789Z"),
            Some(base + 123_456_789)
        );
        assert_eq!(
            parse_time("2019-03-19T23:45:04.1234567891Z"),
            Some(base + 123_456_789)
        );
        assert_eq!(parse_time("2019-03-19 23:45:04"), Some(base));
        assert_eq!(
            parse_time("2019-03-19 23:45:04.104"),
            Some(base + 104_000_000)
        );
        assert_eq!(parse_time("2019-03-20T01:45:04+02:00"), Some(base));
        assert_eq!(parse_time("2019-03-19T22:45:04-0100"), Some(base));
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        for (text, ns) in [
            ("1970-01-01T00:00:00Z", 0),
            ("1970-01-01T00:00:06Z", 6_000_000_000),
            ("1969-12-31T23:59:59.999999999Z", -1),
            ("2019-05-14T09:21:07.250Z", 1_557_825_667_250_000_000),
            ("2000-02-29T12:00:00.000001Z", 951_825_600_000_001_000),
            ("2262-04-11T23:47:16.854775807Z", i64::MAX),
            ("1677-09-21T00:12:43.145224192Z", i64::MIN),
        ] {
            assert_eq!(format_time(ns), text);
            // (parse_time reads whole seconds first: the second holding i64::MIN is out of range)
            if ns != i64::MIN {
                assert_eq!(parse_time(text), Some(ns), "{text}");
            }
        }
        assert_eq!(parse_time("1969-12-31T23:59:59Z"), Some(-1_000_000_000));
        assert_eq!(
            parse_time("2000-02-29T00:00:00Z"),
            Some(951_782_400_000_000_000)
        );
        for bad in [
            "2019-02-29T00:00:00Z",
            "2019-13-01T00:00:00Z",
            "2019-03-19T24:00:00Z",
            "2019-03-19",
            "2019-03-19T23:45:04.Z",
            "2019-03-19T23:45:04Zx",
            "3000-01-01T00:00:00Z",
            "yesterday",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
        assert_eq!(
            to_time(&Raw::Int(1_700_000_000_000_000_000)),
            Ok(Some(1_700_000_000_000_000_000))
        );
        assert_eq!(to_time(&s("2019-03-19T23:45:04Z")), Ok(Some(base)));
        assert_eq!(to_time(&s("soon")), Err(Uncoercible));
    }
}
