//! Shared helpers for Vigil's criterion benchmarks: deterministic generators of rule sets and
//! events, so every bench measures the same inputs run after run.

/// Generates `n` realistic, varied single-event rules over the endpoint schema as one `.vgl`
/// text. Deterministic: the same `n` gives the same text.
pub fn generate_rules(n: usize) -> String {
    const IMAGES: &[&str] = &[
        "powershell.exe",
        "cmd.exe",
        "rundll32.exe",
        "regsvr32.exe",
        "mshta.exe",
        "certutil.exe",
        "bitsadmin.exe",
        "wmic.exe",
        "schtasks.exe",
        "msiexec.exe",
        "cscript.exe",
        "wscript.exe",
    ];
    const NEEDLES: &[&str] = &[
        "-enc",
        "downloadstring",
        "urlcache",
        "/transfer",
        "javascript:",
        "scrobj.dll",
        "/create",
        "shadowcopy",
        "-nop",
        "bypass",
        "invoke-",
        "frombase64string",
        "/s /q",
        "\\\\temp\\\\",
    ];
    let mut out = String::with_capacity(n * 260);
    out.push_str("list gen_shells = [\"cmd.exe\", \"powershell.exe\", \"pwsh.exe\"]\n\n");
    for i in 0..n {
        let image = IMAGES[i % IMAGES.len()];
        let a = NEEDLES[i % NEEDLES.len()];
        let b = NEEDLES[(i * 7 + 3) % NEEDLES.len()];
        let body = match i % 5 {
            0 => format!(
                "basename(image) ieq \"{image}\" and command_line icontains any [\"{a}\", \"{b}\"]"
            ),
            1 => format!(
                "image iendswith \"\\\\{image}\" and not (parent_image iendswith \"\\\\explorer.exe\") and command_line icontains \"{a}\""
            ),
            2 => format!(
                "basename(parent_image) iin gen_shells and command_line icontains all [\"{a}\", \"{b}\"] and pid > {i}"
            ),
            3 => format!(
                "original_file_name ieq \"{image}\" or (command_line contains \"{a}\" and len(command_line) > {})",
                i % 500
            ),
            _ => format!(
                "command_line matches r\"(?i){}\\s+\\S+\" and user != \"SYSTEM\"",
                a.replace('\\', "").replace(['.', '/', '-', '*', '+', '?', '(', ')', '[', ']'], "")
            ),
        };
        out.push_str(&format!(
            "rule gen_rule_{i} {{\n    meta {{ title: \"generated rule {i}\", severity: medium }}\n    on process_start\n    when {body}\n    emit \"{{image}}: {{command_line}}\"\n}}\n\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_is_deterministic_and_sized() {
        assert_eq!(generate_rules(20), generate_rules(20));
        assert_eq!(generate_rules(20).matches("rule gen_rule_").count(), 20);
    }
}
