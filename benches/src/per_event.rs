//! The rules of the `per_event` bench and their hand-written Rust baselines.
//!
//! [`RULES`] holds ten realistic single-event `process_start` rules; the 1-rule set is its first
//! rule, the 10-rule set all of them. Their shapes:
//!
//! | # | rule | shape |
//! |---|------|-------|
//! | 1 | `encoded_powershell` | `iendswith` const `and` `icontains any` 4-item list |
//! | 2 | `office_child_shell` | `iendswith any` 3 items `and` `iendswith any` 4 items |
//! | 3 | `rundll32_javascript` | `iendswith` const `and` `icontains` const |
//! | 4 | `certutil_download` | `ieq` const `and` `icontains any` 3 items |
//! | 5 | `schtasks_create` | `iendswith` `and` `icontains` `and not (ieq)` |
//! | 6 | `system_outside_windows` | `==` const `and` `iendswith` `and not (istartswith)` |
//! | 7 | `shadow_copy_delete` | `iendswith` `and` `icontains all` 2 items |
//! | 8 | `script_host_from_explorer` | `basename()` builtin `iin` 3-item list `and` `iendswith` |
//! | 9 | `service_session_temp` | int `==` `and` int `!=` `and` `icontains` |
//! | 10 | `bitsadmin_transfer` | `endswith` `and` `contains` (case-sensitive) `and` int `>` |
//!
//! No regex and no list-field quantifier: the baseline would need its own regex engine to be
//! comparable. The baselines ([`baseline_1`], [`baseline_10`]) read the same [`Event`] through
//! its safe getters, with field indexes looked up once, and fold case with
//! `vigil_runtime::casefold` exactly where the rule is case-insensitive, testing in the same
//! order as the rule text (so they short-circuit alike).

use vigil_runtime::builtins::path::basename;
use vigil_runtime::casefold::fold_str;
use vigil_runtime::event::Event;
use vigil_runtime::schema::{FieldIndex, Schema};

/// The ten rules of the `per_event` bench (see the module documentation).
pub const RULES: &str = r#"
rule encoded_powershell {
    meta { title: "Encoded PowerShell command", severity: high }
    on process_start
    when image iendswith "\\powershell.exe"
        and command_line icontains any ["-enc", "-encodedcommand", "frombase64string", "downloadstring"]
    emit "{image}: {command_line}"
}

rule office_child_shell {
    meta { title: "Office application starts a shell", severity: high }
    on process_start
    when parent_image iendswith any ["\\winword.exe", "\\excel.exe", "\\powerpnt.exe"]
        and image iendswith any ["\\cmd.exe", "\\powershell.exe", "\\wscript.exe", "\\mshta.exe"]
    emit "{parent_image} started {image}"
}

rule rundll32_javascript {
    meta { title: "rundll32 runs JavaScript", severity: high }
    on process_start
    when image iendswith "\\rundll32.exe" and command_line icontains "javascript:"
    emit "{command_line}"
}

rule certutil_download {
    meta { title: "certutil downloads or decodes", severity: medium }
    on process_start
    when original_file_name ieq "certutil.exe"
        and command_line icontains any ["urlcache", "-decode", "verifyctl"]
    emit "{image}: {command_line}"
}

rule schtasks_create {
    meta { title: "Scheduled task created by a user", severity: medium }
    on process_start
    when image iendswith "\\schtasks.exe" and command_line icontains "/create"
        and not (user ieq "NT AUTHORITY\\SYSTEM")
    emit "{user}: {command_line}"
}

rule system_outside_windows {
    meta { title: "SYSTEM service binary outside Windows", severity: low }
    on process_start
    when integrity_level == "System" and parent_image iendswith "\\services.exe"
        and not (image istartswith "c:\\windows\\")
    emit "{image}"
}

rule shadow_copy_delete {
    meta { title: "Shadow copies deleted", severity: critical }
    on process_start
    when image iendswith "\\vssadmin.exe" and command_line icontains all ["delete", "shadows"]
    emit "{command_line}"
}

rule script_host_from_explorer {
    meta { title: "Script host started from Explorer", severity: medium }
    on process_start
    when basename(image) iin ["mshta.exe", "wscript.exe", "cscript.exe"]
        and parent_image iendswith "\\explorer.exe"
    emit "{image}"
}

rule service_session_temp {
    meta { title: "Session-0 process from a temp directory", severity: medium }
    on process_start
    when terminal_session_id == 0 and logon_id != 999 and image icontains "\\temp\\"
    emit "{image}"
}

rule bitsadmin_transfer {
    meta { title: "bitsadmin transfer", severity: medium }
    on process_start
    when image endswith "\\bitsadmin.exe" and command_line contains "/transfer" and pid > 4
    emit "{command_line}"
}
"#;

/// The first `n` rules of [`RULES`] (`n` is 1 or 10 in the bench).
pub fn rules(n: usize) -> String {
    let mut out = String::new();
    for (i, chunk) in RULES.split("\nrule ").skip(1).enumerate() {
        if i == n {
            break;
        }
        out.push_str("\nrule ");
        out.push_str(chunk);
    }
    out
}

/// The `process_start` field indexes the baselines read, looked up once.
#[derive(Clone, Copy, Debug)]
struct Fields {
    image: FieldIndex,
    command_line: FieldIndex,
    parent_image: FieldIndex,
    original_file_name: FieldIndex,
    user: FieldIndex,
    integrity_level: FieldIndex,
    terminal_session_id: FieldIndex,
    logon_id: FieldIndex,
    pid: FieldIndex,
}

impl Fields {
    fn of(schema: &Schema) -> Fields {
        let (_, ty) = schema
            .event("process_start")
            .expect("the schema has process_start");
        let ix = |name: &str| {
            ty.field(name)
                .map(|(ix, _)| ix)
                .unwrap_or_else(|| panic!("process_start has no field `{name}`"))
        };
        Fields {
            image: ix("image"),
            command_line: ix("command_line"),
            parent_image: ix("parent_image"),
            original_file_name: ix("original_file_name"),
            user: ix("user"),
            integrity_level: ix("integrity_level"),
            terminal_session_id: ix("terminal_session_id"),
            logon_id: ix("logon_id"),
            pid: ix("pid"),
        }
    }
}

/// Rule 1 by hand.
fn encoded_powershell(f: &Fields, e: &Event<'_>) -> bool {
    fold_str(e.get_str(f.image)).ends_with("\\powershell.exe") && {
        let cmd = fold_str(e.get_str(f.command_line));
        [
            "-enc",
            "-encodedcommand",
            "frombase64string",
            "downloadstring",
        ]
        .iter()
        .any(|p| cmd.contains(p))
    }
}

/// The hand-written equivalent of the 1-rule set: returns how many rules fire on the event.
///
/// # Panics
///
/// When `schema` lacks a `process_start` field the rules read.
pub fn baseline_1(schema: &Schema) -> impl Fn(&Event<'_>) -> usize {
    let f = Fields::of(schema);
    move |e| usize::from(encoded_powershell(&f, e))
}

/// The hand-written equivalent of the 10-rule set: returns how many rules fire on the event.
///
/// # Panics
///
/// When `schema` lacks a `process_start` field the rules read.
pub fn baseline_10(schema: &Schema) -> impl Fn(&Event<'_>) -> usize {
    let f = Fields::of(schema);
    move |e| {
        let image = || fold_str(e.get_str(f.image));
        let cmd = || fold_str(e.get_str(f.command_line));
        let parent = || fold_str(e.get_str(f.parent_image));
        let fired = [
            encoded_powershell(&f, e),
            {
                let p = parent();
                ["\\winword.exe", "\\excel.exe", "\\powerpnt.exe"]
                    .iter()
                    .any(|s| p.ends_with(s))
            } && {
                let i = image();
                [
                    "\\cmd.exe",
                    "\\powershell.exe",
                    "\\wscript.exe",
                    "\\mshta.exe",
                ]
                .iter()
                .any(|s| i.ends_with(s))
            },
            image().ends_with("\\rundll32.exe") && cmd().contains("javascript:"),
            fold_str(e.get_str(f.original_file_name)) == "certutil.exe" && {
                let c = cmd();
                ["urlcache", "-decode", "verifyctl"]
                    .iter()
                    .any(|s| c.contains(s))
            },
            image().ends_with("\\schtasks.exe")
                && cmd().contains("/create")
                && fold_str(e.get_str(f.user)) != "nt authority\\system",
            e.get_str(f.integrity_level) == "System"
                && parent().ends_with("\\services.exe")
                && !image().starts_with("c:\\windows\\"),
            image().ends_with("\\vssadmin.exe") && {
                let c = cmd();
                ["delete", "shadows"].iter().all(|s| c.contains(s))
            },
            {
                let b = fold_str(basename(e.get_str(f.image)));
                ["mshta.exe", "wscript.exe", "cscript.exe"]
                    .iter()
                    .any(|s| *b == **s)
            } && parent().ends_with("\\explorer.exe"),
            e.get_int(f.terminal_session_id) == 0
                && e.get_int(f.logon_id) != 999
                && image().contains("\\temp\\"),
            e.get_str(f.image).ends_with("\\bitsadmin.exe")
                && e.get_str(f.command_line).contains("/transfer")
                && e.get_int(f.pid) > 4,
        ];
        fired.iter().filter(|&&b| b).count()
    }
}
