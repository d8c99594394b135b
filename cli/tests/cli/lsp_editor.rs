//! `vigil lsp` driven by a real editor: Neovim 0.7.2 (Debian's package), headless, as the
//! LSP client (`lsp/nvim_session.lua`). The session opens a rule file with a misspelt field
//! and must see the diagnostic at its line with its code, apply the did-you-mean code action,
//! format the buffer, and get hover and completion answers; this test checks what it saw.
//!
//! Without `nvim` on the PATH the test prints one `skipping` line, unless
//! `VIGIL_REQUIRE_NVIM=1` (CI), where a missing Neovim fails it. Neovim is killed after
//! [`DEADLINE`] if it has not quit: the test cannot hang.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{bin, scratch, text};

/// How long Neovim may take for the whole session.
const DEADLINE: Duration = Duration::from_secs(90);

const RULE: &str = "list my_shells = [\"cmd.exe\", \"pwsh.exe\"]\n\
rule encoded_shell {\n\
  meta { id: \"nvim-1\", severity: high }\n\
  on process_start\n\
  when basename(image) iin my_shells   and comand_line icontains \"-enc\"\n\
}\n";

fn nvim_version() -> Option<String> {
    let out = Command::new("nvim").arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| text(&out.stdout).lines().next().unwrap_or("").to_owned())
}

#[test]
fn neovim_sees_the_diagnostic_applies_the_fix_formats_and_gets_hover_and_completion() {
    let Some(version) = nvim_version() else {
        assert!(
            std::env::var_os("VIGIL_REQUIRE_NVIM").is_none_or(|v| v != "1"),
            "VIGIL_REQUIRE_NVIM=1 but `nvim` does not run (apt-get install neovim)"
        );
        println!("skipping the Neovim test: no `nvim` on the PATH (apt-get install neovim)");
        return;
    };
    let dir = scratch("lsp", "neovim");
    let rule = dir.join("my_shells.vgl");
    std::fs::write(&rule, RULE).expect("write the rule file");
    let out = dir.join("results.json");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/lsp/nvim_session.lua");
    let mut child = Command::new("nvim")
        .args(["--headless", "--clean", "-c"])
        .arg(format!("luafile {}", script.display()))
        .env("VIGIL_NVIM_BIN", bin())
        .env("VIGIL_NVIM_RULE", &rule)
        .env("VIGIL_NVIM_OUT", &out)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nvim starts");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for nvim") {
            break Some(s);
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let results = std::fs::read_to_string(&out).unwrap_or_default();
    let Some(status) = status else {
        panic!("{version}: Neovim did not quit within {DEADLINE:?}; it wrote: {results}");
    };
    let r: serde_json::Value = serde_json::from_str(&results)
        .unwrap_or_else(|e| panic!("{version}: no results ({e}), status {status}"));
    assert_eq!(r["failures"], serde_json::json!([]), "{version}: {r:#}");
    assert!(status.success(), "{version}: status {status}: {r:#}");

    // The diagnostic: line 5 (0-based 4), at the misspelt field, with its code.
    let diags = r["diagnostics"].as_array().expect("diagnostics");
    let e0302 = diags
        .iter()
        .find(|d| d["code"] == "E0302")
        .unwrap_or_else(|| panic!("no E0302 among {diags:?}"));
    assert_eq!(e0302["line"], 4, "{e0302}");
    let line = RULE.lines().nth(4).expect("line 5");
    assert_eq!(
        e0302["col"].as_u64(),
        line.find("comand_line").map(|c| c as u64),
        "{e0302}"
    );
    assert!(
        e0302["message"]
            .as_str()
            .is_some_and(|m| m.contains("did you mean `command_line`?")),
        "{e0302}"
    );

    // The fix was offered, applied, and the error went away; then the buffer was formatted.
    assert_eq!(r["actions"][0], "replace with `command_line`", "{r:#}");
    assert_eq!(r["errors_cleared"], true, "{r:#}");
    let fixed = RULE.replace("comand_line", "command_line");
    let formatted = vigil_compiler::fmt::format_source(&fixed).expect("the fixed rule parses");
    assert_eq!(
        r["text"].as_str().map(|t| format!("{t}\n")),
        Some(formatted),
        "the buffer after the fix and formatting"
    );

    // Hover on the field: its type and event; completion in the condition: fields, the
    // file's list, builtins.
    let hover = r["hover"].as_str().unwrap_or_default();
    assert!(
        hover.contains("process_start.command_line: string"),
        "{hover}"
    );
    let labels: Vec<&str> = r["completion"]
        .as_array()
        .expect("completion")
        .iter()
        .filter_map(|l| l.as_str())
        .collect();
    for want in [
        "command_line",
        "parent_image",
        "my_shells",
        "basename",
        "and",
    ] {
        assert!(labels.contains(&want), "no `{want}` in {labels:?}");
    }
}
