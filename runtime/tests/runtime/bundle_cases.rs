//! Bundle cases: round trip, tampering, keys, expiry, versions, and hosts that do not match the
//! bundle (the 2024 outage shape: a host that lacks a field the bundle reads). Programs come
//! from the verify corpus's accepted baselines (`tests/verify/ok_*.vir`).

use std::fs;

use crate::keys::Keypair;
use vigil_runtime::budget::Budget;
use vigil_runtime::bundle::{
    decode, encode, load, rule_meta, FieldsSection, Header, HeaderInput, LoadError, RuntimeVersion,
    TrustStore, MAGIC,
};
use vigil_runtime::error::ErrorCode;
use vigil_runtime::ir::{DebugInfo, Program, RuleDebug, SrcSpan, IR_VERSION};
use vigil_runtime::schema::{Schema, ENDPOINT_TOML};

const NOW: u64 = 1_750_000_000;

fn corpus_program(name: &str) -> Program {
    let path = format!("{}/../tests/verify/{name}.vir", env!("CARGO_MANIFEST_DIR"));
    vigil_runtime::ir_text::parse(&fs::read_to_string(path).expect("corpus file")).expect("IR text")
}

fn key(seed: u8) -> Keypair {
    Keypair::from_seed(&[seed; 32])
}

fn trusting(pair: &Keypair) -> TrustStore {
    let mut trust = TrustStore::new();
    trust.trust(pair.verifying_key());
    trust
}

fn header() -> HeaderInput {
    HeaderInput {
        content_version: 7,
        bundle_id: "test-bundle".to_string(),
        created_by: "bundle_cases".to_string(),
        ..HeaderInput::default()
    }
}

fn debug_for(program: &Program) -> DebugInfo {
    DebugInfo {
        files: vec!["rules/test.vgl".to_string()],
        rules: program
            .rules
            .iter()
            .map(|r| RuleDebug {
                name: SrcSpan {
                    file: 0,
                    start: 5,
                    end: 9,
                },
                exprs: (0..r.exprs.len() as u32)
                    .map(|i| SrcSpan {
                        file: 0,
                        start: i,
                        end: i + 1,
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn signed(program: &Program, input: &HeaderInput, pair: &Keypair) -> Vec<u8> {
    encode(
        program,
        Some(&debug_for(program)),
        input,
        Some(pair.signing_key()),
    )
    .expect("encodes")
}

fn host(edit: impl FnOnce(String) -> String) -> Schema {
    Schema::from_toml("host.toml", &edit(ENDPOINT_TOML.to_string())).expect("host schema")
}

fn code_of(result: Result<vigil_runtime::bundle::Loaded, LoadError>) -> ErrorCode {
    match result {
        Ok(_) => panic!("the bundle loaded"),
        Err(e) => e.code(),
    }
}

#[test]
fn signed_bundle_round_trips_deterministically() {
    let program = corpus_program("ok_single");
    let pair = key(1);
    let bytes = signed(&program, &header(), &pair);
    assert!(bytes.starts_with(MAGIC));
    assert_eq!(
        bytes,
        signed(&program, &header(), &pair),
        "encoding is deterministic"
    );

    let decoded = decode(&bytes).expect("decodes");
    assert_eq!(decoded.program, program);
    assert_eq!(decoded.debug, Some(debug_for(&program)));
    assert_eq!(decoded.rules, rule_meta(&program));
    assert_eq!(decoded.header.key_id, Some(pair.key_id()));
    assert_eq!(decoded.header.ir_version, IR_VERSION);
    assert_eq!(decoded.signed_len, bytes.len() - 5 - 64);

    let loaded = load(
        &bytes,
        &Schema::endpoint(),
        &trusting(&pair),
        &Budget::default(),
        NOW,
    )
    .expect("loads");
    assert_eq!(loaded.verified.program(), &program);
    assert_eq!(loaded.header.content_version, 7);
    assert_eq!(loaded.debug, Some(debug_for(&program)));
    assert_eq!(loaded.verified.regexes().len(), program.regexes.len());
    use sha2::Digest;
    assert_eq!(
        loaded.sha256,
        <[u8; 32]>::from(sha2::Sha256::digest(&bytes))
    );

    // Every baseline loads, with and without a debug section.
    for name in ["ok_sequence", "ok_threshold"] {
        let p = corpus_program(name);
        let bytes = encode(&p, None, &header(), Some(pair.signing_key())).expect("encodes");
        let loaded = load(
            &bytes,
            &Schema::endpoint(),
            &trusting(&pair),
            &Budget::default(),
            NOW,
        )
        .expect("loads");
        assert!(loaded.debug.is_none());
    }
}

#[test]
fn every_truncation_is_refused() {
    let program = corpus_program("ok_sequence");
    let pair = key(1);
    let bytes = signed(&program, &header(), &pair);
    let trust = trusting(&pair);
    for len in 0..bytes.len() {
        let result = load(
            &bytes[..len],
            &Schema::endpoint(),
            &trust,
            &Budget::default(),
            NOW,
        );
        assert!(
            result.is_err(),
            "a bundle cut at {len} of {} bytes loaded",
            bytes.len()
        );
    }
    // Unsigned, a cut right before the signature would be a whole bundle: but a signed header
    // with no signature is refused.
    let cut = bytes.len() - 5 - 64;
    assert_eq!(
        code_of(load(
            &bytes[..cut],
            &Schema::endpoint(),
            &trust,
            &Budget::default(),
            NOW
        )),
        ErrorCode::BadSectionLayout
    );
}

#[test]
fn every_flipped_byte_is_refused() {
    let program = corpus_program("ok_single");
    let pair = key(1);
    let bytes = signed(&program, &header(), &pair);
    let trust = trusting(&pair);
    for i in 0..bytes.len() {
        let mut tampered = bytes.clone();
        tampered[i] ^= 0xFF;
        let result = load(
            &tampered,
            &Schema::endpoint(),
            &trust,
            &Budget::default(),
            NOW,
        );
        assert!(result.is_err(), "a bundle with byte {i} flipped loaded");
    }
}

#[test]
fn a_tampered_ir_fails_the_signature() {
    let program = corpus_program("ok_single");
    let pair = key(1);
    let bytes = signed(&program, &header(), &pair);
    let at = bytes
        .windows(b"powershell.exe".len())
        .rposition(|w| w == b"powershell.exe")
        .expect("the string is in the IR");
    let mut tampered = bytes.clone();
    tampered[at] = b'P';
    assert_eq!(
        code_of(load(
            &tampered,
            &Schema::endpoint(),
            &trusting(&pair),
            &Budget::default(),
            NOW
        )),
        ErrorCode::BadSignature
    );
    let mut sig = bytes.clone();
    let last = sig.len() - 1;
    sig[last] ^= 1;
    assert_eq!(
        code_of(load(
            &sig,
            &Schema::endpoint(),
            &trusting(&pair),
            &Budget::default(),
            NOW
        )),
        ErrorCode::BadSignature
    );
}

#[test]
fn keys_must_be_trusted_and_unrevoked() {
    let program = corpus_program("ok_single");
    let (signer, other) = (key(1), key(2));
    let bytes = signed(&program, &header(), &signer);
    assert_eq!(
        code_of(load(
            &bytes,
            &Schema::endpoint(),
            &trusting(&other),
            &Budget::default(),
            NOW
        )),
        ErrorCode::UnknownKey
    );
    let mut revoked = trusting(&signer);
    revoked.revoke(signer.key_id());
    assert_eq!(
        code_of(load(
            &bytes,
            &Schema::endpoint(),
            &revoked,
            &Budget::default(),
            NOW
        )),
        ErrorCode::RevokedKey
    );
    // A store that allows unsigned bundles still checks signed ones.
    let mut lax = trusting(&other);
    lax.allow_unsigned = true;
    assert_eq!(
        code_of(load(
            &bytes,
            &Schema::endpoint(),
            &lax,
            &Budget::default(),
            NOW
        )),
        ErrorCode::UnknownKey
    );
}

#[test]
fn unsigned_bundles_load_only_when_allowed() {
    let program = corpus_program("ok_single");
    let bytes = encode(&program, None, &header(), None).expect("encodes");
    let strict = trusting(&key(1));
    assert_eq!(
        code_of(load(
            &bytes,
            &Schema::endpoint(),
            &strict,
            &Budget::default(),
            NOW
        )),
        ErrorCode::Unsigned
    );
    let mut lax = strict.clone();
    lax.allow_unsigned = true;
    assert!(load(&bytes, &Schema::endpoint(), &lax, &Budget::default(), NOW).is_ok());
}

#[test]
fn expiry_and_minimum_version_are_enforced() {
    let program = corpus_program("ok_single");
    let pair = key(1);
    let trust = trusting(&pair);
    let expiring = HeaderInput {
        expires_unix: Some(NOW),
        ..header()
    };
    let bytes = signed(&program, &expiring, &pair);
    assert_eq!(
        code_of(load(
            &bytes,
            &Schema::endpoint(),
            &trust,
            &Budget::default(),
            NOW
        )),
        ErrorCode::Expired
    );
    assert!(load(
        &bytes,
        &Schema::endpoint(),
        &trust,
        &Budget::default(),
        NOW - 1
    )
    .is_ok());

    let stale = HeaderInput {
        content_version: 3,
        min_version: Some(5),
        ..header()
    };
    let bytes = signed(&program, &stale, &pair);
    assert_eq!(
        code_of(load(
            &bytes,
            &Schema::endpoint(),
            &trust,
            &Budget::default(),
            NOW
        )),
        ErrorCode::BelowMinVersion
    );
    let future = HeaderInput {
        min_runtime: Some(RuntimeVersion {
            major: 99,
            minor: 0,
            patch: 0,
        }),
        ..header()
    };
    let bytes = signed(&program, &future, &pair);
    assert_eq!(
        code_of(load(
            &bytes,
            &Schema::endpoint(),
            &trust,
            &Budget::default(),
            NOW
        )),
        ErrorCode::RuntimeTooOld
    );
}

#[test]
fn hosts_that_do_not_match_are_refused() {
    let program = corpus_program("ok_single");
    let pair = key(1);
    let bytes = signed(&program, &header(), &pair);
    let trust = trusting(&pair);
    let try_host = |h: &Schema| code_of(load(&bytes, h, &trust, &Budget::default(), NOW));

    let renamed = host(|t| t.replace("name = \"endpoint\"", "name = \"sysmon\""));
    assert_eq!(try_host(&renamed), ErrorCode::SchemaNameMismatch);
    let major = host(|t| t.replace("version = \"1.1\"", "version = \"2.0\""));
    assert_eq!(try_host(&major), ErrorCode::SchemaMajorMismatch);

    // The 2024 outage shape: the content reads a field the sensor does not supply.
    let lacking = host(|t| {
        t.lines()
            .filter(|l| !l.contains("name = \"command_line\""))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let err = load(&bytes, &lacking, &trust, &Budget::default(), NOW).expect_err("refused");
    assert_eq!(err.code(), ErrorCode::MissingField);
    let text = err.to_string();
    assert!(text.contains("rule `encoded_powershell`"), "{text}");
    assert!(text.contains("`process_start.command_line`"), "{text}");

    let retyped = host(|t| {
        t.replace(
            "{ name = \"pid\",                 type = \"int\",",
            "{ name = \"pid\",                 type = \"string\", max_len = 16,",
        )
    });
    assert_eq!(try_host(&retyped), ErrorCode::FieldTypeMismatch);

    // A newer minor version (fields only added) loads.
    let minor = host(|t| t.replace("version = \"1.0\"", "version = \"1.7\""));
    assert!(load(&bytes, &minor, &trust, &Budget::default(), NOW).is_ok());
}

#[test]
fn host_with_larger_bounds_fails_the_cost_proof() {
    // Built (and verified) for a sensor whose `args` hold 4 items of 1 KiB, with a regex over
    // each argument; the host supplies 64 items of 98,304 bytes.
    let mut program = corpus_program("ok_single");
    let args = program
        .fields
        .iter_mut()
        .find(|f| f.field == "args")
        .expect("args requirement");
    args.max_items = 4;
    args.max_len = 1024;
    let body = &mut program.rules[0].exprs[10];
    body.kind = vigil_runtime::ir::ExprKind::Matches {
        lhs: vigil_runtime::ir::ExprId(8),
        regex: vigil_runtime::ir::RegexId(0),
    };
    let pair = key(1);
    let bytes = signed(&program, &header(), &pair);
    let trust = trusting(&pair);
    let small = host(|t| {
        t.replace(
            "max_items = 64, max_len = 98304",
            "max_items = 4, max_len = 1024",
        )
    });
    // The cost model charges the regex per byte of all arguments together (at most the
    // host's `max_total_len`), so the larger host costs more only at the largest event: a
    // budget of exactly what the small host needs there lets the small host load and not
    // the large one.
    let loaded = load(&bytes, &small, &trust, &Budget::default(), NOW).expect("small host loads");
    let small_steps = loaded.verified.cost().rules[0].steps;
    let budget = Budget {
        max_rule_cost: small_steps,
        ..Budget::default()
    };
    assert!(load(&bytes, &small, &trust, &budget, NOW).is_ok());
    let err = load(&bytes, &Schema::endpoint(), &trust, &budget, NOW).expect_err("refused");
    assert_eq!(err.code(), ErrorCode::HostBoundsBreakProof);
    assert!(
        err.to_string()
            .contains("at 64 items, the bundle assumed 4"),
        "{err}"
    );
}

#[test]
fn a_program_the_verifier_refuses_does_not_load() {
    let program = corpus_program("regex_pikevm_blowup");
    let pair = key(1);
    let bytes = signed(&program, &header(), &pair);
    let err = load(
        &bytes,
        &Schema::endpoint(),
        &trusting(&pair),
        &Budget::default(),
        NOW,
    )
    .expect_err("refused");
    assert_eq!(
        err.codes(),
        vec![
            ErrorCode::RegexCostOverBudget,
            ErrorCode::EventCostOverBudget
        ]
    );
}

/// Frames sections by hand, for layouts `encode` never writes.
fn frame(sections: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&1u16.to_le_bytes());
    for (kind, body) in sections {
        out.push(*kind);
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(body);
    }
    out
}

fn unsigned_header(program: &Program) -> Header {
    Header {
        min_runtime: RuntimeVersion {
            major: 0,
            minor: 0,
            patch: 0,
        },
        ir_version: IR_VERSION,
        schema: program.schema.clone(),
        content_version: 1,
        min_version: None,
        expires_unix: None,
        key_id: None,
        bundle_id: "hand".to_string(),
        created_by: "hand".to_string(),
    }
}

#[test]
fn malformed_layouts_are_refused_with_their_codes() {
    let program = corpus_program("ok_single");
    let h = postcard::to_allocvec(&unsigned_header(&program)).expect("encodes");
    let f = postcard::to_allocvec(&FieldsSection {
        schema: program.schema.clone(),
        fields: program.fields.clone(),
    })
    .expect("encodes");
    let r = postcard::to_allocvec(&rule_meta(&program)).expect("encodes");
    let ir = postcard::to_allocvec(&program).expect("encodes");
    let good = frame(&[
        (1, h.clone()),
        (2, f.clone()),
        (3, r.clone()),
        (4, ir.clone()),
    ]);
    assert!(decode(&good).is_ok());

    let decode_code = |bytes: &[u8]| decode(bytes).map(|_| ()).map_err(|e| e.code);
    assert_eq!(decode_code(b"NOTABUNDLE"), Err(ErrorCode::NotABundle));
    let mut version = good.clone();
    version[8] = 9;
    assert_eq!(decode_code(&version), Err(ErrorCode::UnsupportedFormat));
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(decode_code(&trailing), Err(ErrorCode::Truncated));
    let swapped = frame(&[
        (1, h.clone()),
        (3, r.clone()),
        (2, f.clone()),
        (4, ir.clone()),
    ]);
    assert_eq!(decode_code(&swapped), Err(ErrorCode::BadSectionLayout));
    let extra = frame(&[
        (1, h.clone()),
        (2, f.clone()),
        (3, r.clone()),
        (4, ir.clone()),
        (9, vec![]),
    ]);
    assert_eq!(decode_code(&extra), Err(ErrorCode::BadSectionLayout));
    let mut other_rules = rule_meta(&program);
    other_rules[0].title = "renamed".to_string();
    let mismatch = frame(&[
        (1, h.clone()),
        (2, f.clone()),
        (3, postcard::to_allocvec(&other_rules).expect("encodes")),
        (4, ir.clone()),
    ]);
    assert_eq!(decode_code(&mismatch), Err(ErrorCode::SectionMismatch));
    let mut padded = ir.clone();
    padded.push(0);
    let padded = frame(&[(1, h.clone()), (2, f.clone()), (3, r.clone()), (4, padded)]);
    assert_eq!(decode_code(&padded), Err(ErrorCode::MalformedSection));
    let garbage = frame(&[
        (1, h.clone()),
        (2, f.clone()),
        (3, r.clone()),
        (4, vec![0xFF; 32]),
    ]);
    assert_eq!(decode_code(&garbage), Err(ErrorCode::MalformedSection));
    // A declared length far past the end, or past the limit, allocates nothing.
    let mut huge = good[..10].to_vec();
    huge.push(1);
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(decode_code(&huge), Err(ErrorCode::SectionTooLarge));
    let mut long = good[..10].to_vec();
    long.push(2);
    long.extend_from_slice(&(1u32 << 20).to_le_bytes());
    assert_eq!(decode_code(&long), Err(ErrorCode::Truncated));
    let mut ir_version = unsigned_header(&program);
    ir_version.ir_version = IR_VERSION + 1;
    let ir_version = frame(&[
        (1, postcard::to_allocvec(&ir_version).expect("encodes")),
        (2, f),
        (3, r),
        (4, ir),
    ]);
    assert_eq!(decode_code(&ir_version), Err(ErrorCode::UnsupportedIr));
}
