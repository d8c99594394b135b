//! The `vigil` binary end to end for bundles: `keygen`, `build`, `verify`, `inspect` and
//! `explain`, their exit codes (0 ok, 1 refused or errors, 2 usage or I/O) and the coded
//! errors they print. Each test works in its own directory under the system temp dir.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("vigil-cli-bundle-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir is writable");
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rules")
}

fn vigil<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .output()
        .expect("the vigil binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// `vigil keygen --out DIR/NAME`; returns the `.key` and `.pub` paths.
fn keygen(s: &Scratch, name: &str) -> (PathBuf, PathBuf) {
    let prefix = s.path(name);
    let o = vigil([
        OsStr::new("keygen"),
        OsStr::new("--out"),
        prefix.as_os_str(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    (
        s.path(&format!("{name}.key")),
        s.path(&format!("{name}.pub")),
    )
}

/// `vigil build examples/rules -o OUT` with the extra arguments.
fn build(out: &Path, extra: &[&OsStr]) -> Output {
    let ex = examples();
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("build"),
        ex.as_os_str(),
        OsStr::new("-o"),
        out.as_os_str(),
    ];
    args.extend_from_slice(extra);
    vigil(args)
}

fn build_signed(s: &Scratch, key: &Path, name: &str, extra: &[&OsStr]) -> PathBuf {
    let out = s.path(name);
    let mut args: Vec<&OsStr> = vec![OsStr::new("--key"), key.as_os_str()];
    args.extend_from_slice(extra);
    let o = build(&out, &args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    out
}

fn verify(bundle: &Path, extra: &[&OsStr]) -> Output {
    let mut args: Vec<&OsStr> = vec![OsStr::new("verify"), bundle.as_os_str()];
    args.extend_from_slice(extra);
    vigil(args)
}

#[test]
fn keygen_writes_both_files_and_refuses_to_overwrite() {
    let s = Scratch::new("keygen");
    let (key, public) = keygen(&s, "ci");
    let secret_text = fs::read_to_string(&key).expect("key written");
    let public_text = fs::read_to_string(&public).expect("pub written");
    assert!(secret_text.starts_with("vigil-ed25519-secret-key v1\nkeyid: "));
    assert!(public_text.starts_with("vigil-ed25519-public-key v1\nkeyid: "));
    let id = |t: &str| t.lines().nth(1).map(str::to_owned);
    assert_eq!(id(&secret_text), id(&public_text));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(&key).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "secret key mode {mode:o}");
    }
    let prefix = s.path("ci");
    let again = vigil([
        OsStr::new("keygen"),
        OsStr::new("--out"),
        prefix.as_os_str(),
    ]);
    assert_eq!(code(&again), 2);
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    assert_eq!(fs::read_to_string(&key).expect("kept"), secret_text);
    let forced = vigil([
        OsStr::new("keygen"),
        OsStr::new("--out"),
        prefix.as_os_str(),
        OsStr::new("--force"),
    ]);
    assert_eq!(code(&forced), 0, "{}", stderr(&forced));
    assert_ne!(fs::read_to_string(&key).expect("rewritten"), secret_text);
}

#[test]
fn build_then_verify_round_trips() {
    let s = Scratch::new("round-trip");
    let (key, public) = keygen(&s, "ci");
    let out = s.path("rules.vglb");
    let o = build(&out, &[OsStr::new("--key"), key.as_os_str()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let summary = stdout(&o);
    let key_text = fs::read_to_string(&public).expect("pub");
    let key_id = key_text
        .lines()
        .nth(1)
        .and_then(|l| l.strip_prefix("keyid: "))
        .expect("key id line");
    assert!(summary.contains(" rules, "), "{summary}");
    assert!(summary.contains("sha256 "), "{summary}");
    assert!(summary.contains(&format!("key {key_id}")), "{summary}");
    assert_eq!(summary.lines().count(), 1, "{summary}");

    let v = verify(&out, &[OsStr::new("--pubkey"), public.as_os_str()]);
    assert_eq!(code(&v), 0, "{}", stderr(&v));
    let report = stdout(&v);
    assert!(report.starts_with("ok: "), "{report}");
    assert!(
        report.contains(&format!("signed by key {key_id}")),
        "{report}"
    );
    assert!(report.contains("event process_start: "), "{report}");
    assert!(report.contains("state: "), "{report}");
}

#[test]
fn neither_key_nor_unsigned_is_a_usage_error() {
    let s = Scratch::new("no-key");
    let out = s.path("x.vglb");
    let o = build(&out, &[]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--unsigned"), "{}", stderr(&o));
    assert!(!out.exists());
}

#[test]
fn tampered_bundles_wrong_and_revoked_keys_are_refused() {
    let s = Scratch::new("refusals");
    let (key, public) = keygen(&s, "ci");
    let (_, other_public) = keygen(&s, "other");
    let bundle = build_signed(&s, &key, "rules.vglb", &[]);
    let bytes = fs::read(&bundle).expect("bundle");

    // One flipped byte in the middle: the signature no longer verifies.
    let mut tampered = bytes.clone();
    let mid = tampered.len() / 2;
    tampered[mid] ^= 0x01;
    let tampered_path = s.path("tampered.vglb");
    fs::write(&tampered_path, &tampered).expect("write");
    let v = verify(
        &tampered_path,
        &[OsStr::new("--pubkey"), public.as_os_str()],
    );
    assert_eq!(code(&v), 1, "{}", stderr(&v));
    assert!(stderr(&v).contains("error[E05"), "{}", stderr(&v));
    assert!(stderr(&v).contains("error[E0511]"), "{}", stderr(&v));

    // A truncated bundle.
    let cut_path = s.path("cut.vglb");
    fs::write(&cut_path, &bytes[..bytes.len() - 10]).expect("write");
    let v = verify(&cut_path, &[OsStr::new("--pubkey"), public.as_os_str()]);
    assert_eq!(code(&v), 1);
    assert!(stderr(&v).contains("error[E0503]"), "{}", stderr(&v));

    // Not a bundle at all.
    let v = verify(
        &examples().join("process.vgl"),
        &[OsStr::new("--pubkey"), public.as_os_str()],
    );
    assert_eq!(code(&v), 1);
    assert!(stderr(&v).contains("error[E0501]"), "{}", stderr(&v));

    // A key the verifier does not trust.
    let v = verify(&bundle, &[OsStr::new("--pubkey"), other_public.as_os_str()]);
    assert_eq!(code(&v), 1);
    assert!(stderr(&v).contains("error[E0509]"), "{}", stderr(&v));

    // Trusted but revoked (by key id, and by public key file).
    let key_id = fs::read_to_string(&public)
        .expect("pub")
        .lines()
        .nth(1)
        .and_then(|l| l.strip_prefix("keyid: "))
        .expect("key id")
        .to_owned();
    let revoked = s.path("revoked.txt");
    fs::write(&revoked, format!("# compromised\n\n{key_id}\n")).expect("write");
    for list in [revoked.as_path(), public.as_path()] {
        let v = verify(
            &bundle,
            &[
                OsStr::new("--pubkey"),
                public.as_os_str(),
                OsStr::new("--revoked"),
                list.as_os_str(),
            ],
        );
        assert_eq!(code(&v), 1);
        assert!(stderr(&v).contains("error[E0510]"), "{}", stderr(&v));
    }

    // A secret key where a public key belongs: a usage error with its code.
    let v = verify(&bundle, &[OsStr::new("--pubkey"), key.as_os_str()]);
    assert_eq!(code(&v), 2);
    assert!(stderr(&v).contains("error[E0516]"), "{}", stderr(&v));
    let b = build(
        &s.path("x.vglb"),
        &[OsStr::new("--key"), public.as_os_str()],
    );
    assert_eq!(code(&b), 2);
    assert!(stderr(&b).contains("error[E0516]"), "{}", stderr(&b));
}

#[test]
fn unsigned_bundles_load_only_when_allowed() {
    let s = Scratch::new("unsigned");
    let out = s.path("dev.vglb");
    let o = build(&out, &[OsStr::new("--unsigned")]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("unsigned"), "{}", stdout(&o));
    let v = verify(&out, &[]);
    assert_eq!(code(&v), 1);
    assert!(stderr(&v).contains("error[E0508]"), "{}", stderr(&v));
    let v = verify(&out, &[OsStr::new("--allow-unsigned")]);
    assert_eq!(code(&v), 0, "{}", stderr(&v));
    assert!(stdout(&v).contains("unsigned"), "{}", stdout(&v));
}

#[test]
fn a_host_lacking_a_field_is_refused_naming_the_rule_and_field() {
    // The July 2024 outage shape: content reads a field the sensor does not supply.
    let s = Scratch::new("outage");
    let (key, public) = keygen(&s, "ci");
    let bundle = build_signed(&s, &key, "rules.vglb", &[]);
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../stdlib/schema/endpoint.toml");
    let schema = fs::read_to_string(schema_path).expect("endpoint schema");
    let without: String = schema
        .lines()
        .filter(|l| !l.trim_start().starts_with("{ name = \"command_line\","))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(
        without.len(),
        schema.len(),
        "the schema had a command_line field"
    );
    let host = s.path("old_sensor.toml");
    fs::write(&host, without).expect("write");
    let v = verify(
        &bundle,
        &[
            OsStr::new("--pubkey"),
            public.as_os_str(),
            OsStr::new("--schema"),
            host.as_os_str(),
        ],
    );
    assert_eq!(code(&v), 1, "{}", stderr(&v));
    let err = stderr(&v);
    assert!(err.contains("error[E0623]"), "{err}");
    assert!(err.contains("process_start.command_line"), "{err}");
    // The first rules reading it, in file order (correlation.vgl, linux.vgl, ...), then a count.
    assert!(err.contains("recon_burst"), "{err}");
    assert!(err.contains(" more: reads field"), "{err}");
}

#[test]
fn cost_over_budget_is_refused_at_build_pointing_at_the_rule() {
    let s = Scratch::new("cost");
    let out = s.path("x.vglb");
    let o = build(
        &out,
        &[
            OsStr::new("--unsigned"),
            OsStr::new("--max-cost"),
            OsStr::new("10"),
            OsStr::new("--color"),
            OsStr::new("never"),
        ],
    );
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("error[E0424]"), "{err}");
    // Rendered at the rule's name in its source file.
    assert!(err.contains("process.vgl:16:"), "{err}");
    assert!(err.contains("encoded_powershell"), "{err}");
    assert!(!out.exists());

    // The same budget at load: a bundle built under the default budget is refused.
    let ok = s.path("ok.vglb");
    assert_eq!(code(&build(&ok, &[OsStr::new("--unsigned")])), 0);
    let v = verify(
        &ok,
        &[
            OsStr::new("--allow-unsigned"),
            OsStr::new("--max-cost"),
            OsStr::new("10"),
        ],
    );
    assert_eq!(code(&v), 1);
    assert!(stderr(&v).contains("error[E0424]"), "{}", stderr(&v));
    let v = verify(
        &ok,
        &[
            OsStr::new("--allow-unsigned"),
            OsStr::new("--max-state"),
            OsStr::new("10"),
        ],
    );
    assert_eq!(code(&v), 1);
    assert!(stderr(&v).contains("error[E0427]"), "{}", stderr(&v));
}

#[test]
fn builds_are_deterministic_and_strip_still_verifies() {
    let s = Scratch::new("determinism");
    let (key, public) = keygen(&s, "ci");
    let a = build_signed(&s, &key, "a.vglb", &[]);
    let b = build_signed(&s, &key, "b.vglb", &[]);
    assert_eq!(fs::read(&a).expect("a"), fs::read(&b).expect("b"));
    let stripped = build_signed(&s, &key, "stripped.vglb", &[OsStr::new("--strip")]);
    let full_len = fs::metadata(&a).expect("a").len();
    let stripped_len = fs::metadata(&stripped).expect("stripped").len();
    assert!(stripped_len < full_len, "{stripped_len} >= {full_len}");
    let v = verify(&stripped, &[OsStr::new("--pubkey"), public.as_os_str()]);
    assert_eq!(code(&v), 0, "{}", stderr(&v));
    let i = vigil([OsStr::new("inspect"), stripped.as_os_str()]);
    assert!(
        stdout(&i).contains("debug section: stripped"),
        "{}",
        stdout(&i)
    );
}

#[test]
fn expiry_and_minimum_version() {
    let s = Scratch::new("expiry");
    let (key, public) = keygen(&s, "ci");
    let bundle = build_signed(
        &s,
        &key,
        "r.vglb",
        &[
            OsStr::new("--expires"),
            OsStr::new("2000000000"),
            OsStr::new("--content-version"),
            OsStr::new("5"),
            OsStr::new("--min-version"),
            OsStr::new("4"),
        ],
    );
    let at = |now: &str| {
        verify(
            &bundle,
            &[
                OsStr::new("--pubkey"),
                public.as_os_str(),
                OsStr::new("--now"),
                OsStr::new(now),
            ],
        )
    };
    assert_eq!(code(&at("1999999999")), 0);
    let late = at("2000000000");
    assert_eq!(code(&late), 1);
    assert!(stderr(&late).contains("error[E0512]"), "{}", stderr(&late));
    let i = vigil([OsStr::new("inspect"), bundle.as_os_str()]);
    let text = stdout(&i);
    assert!(text.contains("content version: 5"), "{text}");
    assert!(text.contains("min version: 4"), "{text}");
    assert!(text.contains("expires: 2000000000"), "{text}");

    // A minimum above the content version would be refused everywhere: not written.
    let o = build(
        &s.path("bad.vglb"),
        &[
            OsStr::new("--key"),
            key.as_os_str(),
            OsStr::new("--content-version"),
            OsStr::new("3"),
            OsStr::new("--min-version"),
            OsStr::new("5"),
        ],
    );
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("error[E0513]"), "{}", stderr(&o));
}

#[test]
fn inspect_shows_header_fields_and_rules_without_checking_the_signature() {
    let s = Scratch::new("inspect");
    let (key, public) = keygen(&s, "ci");
    let bundle = build_signed(&s, &key, "r.vglb", &[]);
    let o = vigil([OsStr::new("inspect"), bundle.as_os_str()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    let key_id = fs::read_to_string(&public)
        .expect("pub")
        .lines()
        .nth(1)
        .and_then(|l| l.strip_prefix("keyid: ").map(str::to_owned))
        .expect("key id");
    for needle in [
        "signature was NOT checked",
        "format version: 1",
        "schema: endpoint ",
        &format!("key id: {key_id} (signed"),
        "debug section: present",
        "process_start.command_line: string, max_len ",
        "vgl-ex-0101 (outbound_to_suspicious_port)",
        "vgl-ex-0301 (office_child_beacons)",
        "sequence on process_start, network_connect",
        "threshold on logon_failure",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    let junk = s.path("junk.vglb");
    fs::write(&junk, b"VIGLBNDL\x01").expect("write");
    let o = vigil([OsStr::new("inspect"), junk.as_os_str()]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("error[E0503]"), "{}", stderr(&o));
}

#[test]
fn explain_prints_ir_cost_and_fields_in_text_and_json() {
    let o = vigil([OsStr::new("explain"), examples().as_os_str()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    for needle in [
        "rule encoded_powershell\n",
        "  id: vgl-ex-0101\n",
        "  %0 = field ",
        "str_list contains fold any",
        "cost: ",
        " x n steps (",
        "steps worst case",
        "  reads:\n",
        "process_start.command_line: string, max_len ",
        "event process_start: ",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    let o = vigil([
        OsStr::new("explain"),
        OsStr::new("--format"),
        OsStr::new("json"),
        examples().as_os_str(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let value: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("one JSON object");
    let rules = value["rules"].as_array().expect("rules");
    assert!(rules.iter().any(|r| r["id"] == "vgl-ex-0301"));
    assert!(rules.iter().all(|r| r["cost_steps"].is_u64()));
    assert!(value["events"].as_array().is_some_and(|e| !e.is_empty()));
}
