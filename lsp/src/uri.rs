//! `file:` URIs ↔ paths. The server keys files by path; a URI it cannot map to a path (another
//! scheme, `untitled:`) is kept as its own one-file workspace under a path made from the URI.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use lsp_types::Uri;

/// The path of a `file:` URI (percent-decoded), or `None` for other schemes or a URI whose
/// path is not absolute.
pub fn to_path(uri: &Uri) -> Option<PathBuf> {
    let s = uri.as_str();
    let rest = s.strip_prefix("file://")?;
    // `file:///p` (empty authority) or `file://localhost/p`.
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    let path = path.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') {
        return None;
    }
    let bytes = percent_decode(path)?;
    let text = String::from_utf8(bytes).ok()?;
    Some(PathBuf::from(text))
}

/// The `file:` URI of an absolute path, or `None` when it is not absolute or not UTF-8.
pub fn from_path(path: &Path) -> Option<Uri> {
    let text = path.to_str()?;
    if !text.starts_with('/') {
        return None;
    }
    let mut out = String::from("file://");
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Uri::from_str(&out).ok()
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris_and_paths_round_trip() {
        let cases = [
            ("/tmp/rules/a.vgl", "file:///tmp/rules/a.vgl"),
            (
                "/tmp/my rules/naïve.vgl",
                "file:///tmp/my%20rules/na%C3%AFve.vgl",
            ),
        ];
        for (path, uri) in cases {
            let u = from_path(Path::new(path)).expect("absolute utf-8 path");
            assert_eq!(u.as_str(), uri);
            assert_eq!(to_path(&u).as_deref(), Some(Path::new(path)));
        }
        let other = Uri::from_str("untitled:Untitled-1").expect("uri");
        assert_eq!(to_path(&other), None);
        let bad = Uri::from_str("file:///a%2").map(|u| to_path(&u));
        assert!(matches!(bad, Ok(None) | Err(_)));
        assert_eq!(from_path(Path::new("relative.vgl")), None);
    }
}
