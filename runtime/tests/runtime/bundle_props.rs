//! Property tests over bundle bytes: every single-bit flip and every truncation of a valid
//! signed bundle is refused, and never panics; with signatures off (an unsigned bundle under a
//! store that allows it), random byte mutations either fail with a coded error or load a
//! program that verified.

use std::fs;
use std::sync::OnceLock;

use crate::keys::Keypair;
use proptest::prelude::*;
use vigil_runtime::budget::Budget;
use vigil_runtime::bundle::{encode, load, HeaderInput, TrustStore};
use vigil_runtime::error::ErrorCode;
use vigil_runtime::ir::Program;
use vigil_runtime::schema::Schema;

const NOW: u64 = 1_750_000_000;

struct Fixture {
    schema: Schema,
    signed: Vec<u8>,
    unsigned: Vec<u8>,
    trust: TrustStore,
    lax: TrustStore,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let path = format!(
            "{}/../tests/verify/ok_sequence.vir",
            env!("CARGO_MANIFEST_DIR")
        );
        let program: Program =
            vigil_runtime::ir_text::parse(&fs::read_to_string(path).expect("corpus file"))
                .expect("IR");
        let pair = Keypair::from_seed(&[3; 32]);
        let header = HeaderInput {
            content_version: 1,
            bundle_id: "props".to_string(),
            created_by: "bundle_props".to_string(),
            ..HeaderInput::default()
        };
        let signed = encode(&program, None, &header, Some(pair.signing_key())).expect("encodes");
        let unsigned = encode(&program, None, &header, None).expect("encodes");
        let mut trust = TrustStore::new();
        trust.trust(pair.verifying_key());
        let mut lax = TrustStore::new();
        lax.allow_unsigned = true;
        Fixture {
            schema: Schema::endpoint(),
            signed,
            unsigned,
            trust,
            lax,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn a_flipped_bit_is_refused(bit in 0usize..1_000_000) {
        let f = fixture();
        let bit = bit % (f.signed.len() * 8);
        let mut bytes = f.signed.clone();
        bytes[bit / 8] ^= 1 << (bit % 8);
        let result = load(&bytes, &f.schema, &f.trust, &Budget::default(), NOW);
        prop_assert!(result.is_err(), "bit {} flipped and the bundle loaded", bit);
    }

    #[test]
    fn a_truncation_is_refused(len in 0usize..1_000_000) {
        let f = fixture();
        let len = len % f.signed.len();
        let result = load(&f.signed[..len], &f.schema, &f.trust, &Budget::default(), NOW);
        prop_assert!(result.is_err());
    }

    #[test]
    fn unsigned_mutations_fail_with_a_code_or_verify(
        edits in prop::collection::vec((0usize..1_000_000, any::<u8>()), 1..6),
    ) {
        let f = fixture();
        let mut bytes = f.unsigned.clone();
        for (at, value) in &edits {
            let at = at % bytes.len();
            bytes[at] = *value;
        }
        match load(&bytes, &f.schema, &f.lax, &Budget::default(), NOW) {
            Ok(loaded) => prop_assert!(!loaded.verified.cost().rules.is_empty()),
            Err(e) => {
                let codes = e.codes();
                prop_assert!(!codes.is_empty());
                prop_assert!(codes.iter().all(|c| ErrorCode::ALL.contains(c)));
            }
        }
    }
}
