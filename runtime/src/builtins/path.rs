//! Path builtins: `basename`, `dirname`, `extension`. Both `\` and `/` separate, whatever the
//! platform, because one rule reads Windows and Unix paths alike. Each result is a sub-slice of
//! the input, so it is never longer than it.

/// Byte index of the last `\` or `/`.
fn last_separator(path: &str) -> Option<usize> {
    path.rfind(['\\', '/'])
}

/// Everything after the last `\` or `/`; the whole path when there is none; `""` when the
/// path ends in a separator.
pub fn basename(path: &str) -> &str {
    match last_separator(path) {
        Some(i) => path.get(i + 1..).unwrap_or_default(),
        None => path,
    }
}

/// Everything before the last `\` or `/`, without that separator; `""` when there is none.
/// A root keeps its separator, as in Python's `os.path.dirname` and POSIX `dirname`: the
/// directory of `C:\cmd.exe` is `C:\`, of `/bin` is `/`, and of `\x` is `\`.
pub fn dirname(path: &str) -> &str {
    let Some(i) = last_separator(path) else {
        return "";
    };
    let head = path.get(..i).unwrap_or_default();
    if head.is_empty() || is_drive(head) {
        // `i` is the byte of an ASCII separator, so `i + 1` is a char boundary.
        path.get(..=i).unwrap_or_default()
    } else {
        head
    }
}

/// `C:`: a drive letter and a colon.
fn is_drive(head: &str) -> bool {
    let bytes = head.as_bytes();
    bytes.len() == 2
        && bytes.first().is_some_and(u8::is_ascii_alphabetic)
        && bytes.get(1) == Some(&b':')
}

/// The part of [`basename`] after its last `.`, without the dot, as written (not lower-cased);
/// `""` when the basename has no dot or ends in one. This is the Windows reading (.NET
/// `Path.GetExtension`, minus the dot): `.bashrc` has the extension `bashrc`, and
/// `archive.tar.gz` has `gz`.
pub fn extension(path: &str) -> &str {
    let base = basename(path);
    match base.rfind('.') {
        Some(i) => base.get(i + 1..).unwrap_or_default(),
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basename_dirname_split_at_the_last_separator() {
        for (path, dir, base) in [
            (
                r"C:\Windows\System32\cmd.exe",
                r"C:\Windows\System32",
                "cmd.exe",
            ),
            (r"C:\cmd.exe", r"C:\", "cmd.exe"),
            (r"C:\", r"C:\", ""),
            ("C:", "", "C:"),
            ("/usr/bin/env", "/usr/bin", "env"),
            ("/bin", "/", "bin"),
            ("/", "/", ""),
            (r"\\server\share\f.txt", r"\\server\share", "f.txt"),
            (r"C:\a/b", r"C:\a", "b"),
            (r"C:\Windows\", r"C:\Windows", ""),
            ("cmd.exe", "", "cmd.exe"),
            ("", "", ""),
            ("/dé/jà", "/dé", "jà"),
        ] {
            assert_eq!(dirname(path), dir, "dirname({path:?})");
            assert_eq!(basename(path), base, "basename({path:?})");
        }
    }

    #[test]
    fn extension_is_after_the_last_dot_of_the_basename() {
        for (path, ext) in [
            ("report.PDF", "PDF"),
            ("a.tar.gz", "gz"),
            (".bashrc", "bashrc"),
            ("file.", ""),
            ("Makefile", ""),
            (r"C:\dir.d\file", ""),
            (r"C:\dir.d\", ""),
            ("", ""),
            ("naïve.tëxt", "tëxt"),
        ] {
            assert_eq!(extension(path), ext, "extension({path:?})");
        }
    }
}
