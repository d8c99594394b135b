//! The runtime's error codes: E04xx (the verifier), E05xx (bundles and signatures) and E06xx
//! (schema loading, 601–619, defined in [`crate::schema`] as [`SchemaCode`]; binding, 620 and up,
//! here). E07xx (event decoding) and E08xx (updates) are listed by their own modules.
//!
//! One enum, [`Code`], with explicit numbers and titles. A released code is never reused or
//! renumbered; `docs/errors.md` is checked against [`all_codes`].

use std::fmt;

pub use crate::schema::SchemaCode;

/// A verifier, bundle or binding error code. Variants read as their title.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum Code {
    // ---- E04xx: the verifier -------------------------------------------------------------
    /// More rules than [`crate::budget::Limits::max_rules`].
    TooManyRules = 401,
    /// More expression nodes in a rule (or in the program) than the limits allow.
    TooManyNodes = 402,
    /// An operand's id is not smaller than its node's id (the arena must be topological).
    OperandNotBefore = 403,
    /// A node's type disagrees with its kind or its operands' types.
    IllTyped = 404,
    /// A field reference is outside the program's field requirements.
    FieldOutOfRange = 405,
    /// A string, list, regex, builtin or capture index is outside its table.
    IndexOutOfRange = 406,
    /// A condition, `emit` part or alert field names a node outside the rule's arena.
    ExprOutOfRange = 407,
    /// A quantifier's bound variable is read outside that quantifier's body.
    LocalOutOfScope = 408,
    /// A quantifier iterates over something that is not a list.
    QuantOverNonList = 409,
    /// Expressions or quantifiers nest deeper than the limits allow.
    TooDeep = 410,
    /// A field is read of an event type that the rule (or the sequence step) does not run on.
    FieldOfOtherEvent = 411,
    /// A captured value is read where its step has not matched yet, or outside a sequence.
    CapturedOutOfPlace = 412,
    /// A stateful rule's state declaration is missing a capacity or entries per key, or is
    /// out of range.
    BadStateDecl = 413,
    /// A sequence has fewer than two or more than eight steps.
    SequenceSteps = 414,
    /// A window is zero or longer than the limits allow.
    BadWindow = 415,
    /// A capture names a step the sequence does not have, or a field of another event type.
    BadCapture = 416,
    /// Key fields differ in number or type across steps or event types, or are lists.
    KeyMismatch = 417,
    /// A regular expression does not compile.
    InvalidRegex = 418,
    /// A regular expression compiles to an automaton over [`crate::verify::REGEX_SIZE_LIMIT`].
    RegexTooLarge = 419,
    /// A constant is not a value of its type (a list item of another type, a prefix length
    /// past the address width).
    InvalidConstant = 420,
    /// More strings, lists, regexes, fields or builtins than the limits allow.
    TooManyConstants = 421,
    /// One constant (a string, a pattern, a list) is larger than the limits allow.
    ConstantTooLarge = 422,
    /// The program's literal bytes (strings, patterns, names, meta) exceed the limits.
    TooManyLiteralBytes = 423,
    /// A rule's worst-case steps per event exceed the budget.
    RuleCostOverBudget = 424,
    /// The bundle's worst-case steps for one event type exceed the budget.
    EventCostOverBudget = 425,
    /// A rule's worst-case state bytes exceed the budget.
    RuleStateOverBudget = 426,
    /// The bundle's worst-case state bytes exceed the budget.
    BundleStateOverBudget = 427,
    /// Two rules share one id.
    DuplicateRuleId = 428,
    /// A rule runs on no event type.
    NoEvents = 429,
    /// A threshold's count is zero, or its key lists do not match its event types.
    BadThreshold = 430,
    /// More regular expressions than the limits allow.
    TooManyRegexes = 431,
    /// A regular expression's worst case per subject byte (its engine: a PikeVM over its NFA
    /// states, when no DFA fits the size limit) puts its rule over the cost budget.
    RegexCostOverBudget = 432,

    // ---- E05xx: bundles and signatures -----------------------------------------------------
    /// The bytes do not start with the bundle magic `VIGLBNDL`.
    NotABundle = 501,
    /// The bundle's format version is not one this runtime reads.
    UnsupportedFormat = 502,
    /// The bundle ends before a length it declares.
    Truncated = 503,
    /// A section (or the header) is larger than the decoding limits allow.
    SectionTooLarge = 504,
    /// A section's bytes do not decode as its content.
    MalformedSection = 505,
    /// A section is missing, unknown, repeated or out of order, or bytes follow the end.
    BadSectionLayout = 506,
    /// The field-requirement or rule-metadata section disagrees with the IR, or the header
    /// with either.
    SectionMismatch = 507,
    /// The bundle is unsigned and the trust store does not allow unsigned bundles.
    Unsigned = 508,
    /// The bundle is signed by a key the trust store does not hold.
    UnknownKey = 509,
    /// The bundle is signed by a revoked key.
    RevokedKey = 510,
    /// The signature does not verify.
    BadSignature = 511,
    /// The bundle's expiry time has passed.
    Expired = 512,
    /// The bundle's content version is below its own signed minimum version.
    BelowMinVersion = 513,
    /// The bundle needs a newer runtime.
    RuntimeTooOld = 514,
    /// The bundle's IR version is not the one this runtime runs.
    UnsupportedIr = 515,
    /// A key file is malformed.
    BadKeyFile = 516,

    // ---- E06xx: schema binding (601–619 are schema loading: see `SchemaCode`) -------------
    /// The program was built for a schema of another name.
    SchemaNameMismatch = 620,
    /// The program was built for another major version of the schema.
    SchemaMajorMismatch = 621,
    /// The host schema has no event type of that name.
    UnknownEventType = 622,
    /// The host schema lacks a field the program reads.
    MissingField = 623,
    /// The host schema supplies a field with another type than the program reads.
    FieldTypeMismatch = 624,
    /// The program calls a builtin this runtime does not have.
    UnknownBuiltin = 625,
    /// The program calls a builtin with another signature than this runtime's.
    BuiltinSignatureMismatch = 626,
    /// The host bounds a field more loosely than the bundle assumed, and the cost or state
    /// proof fails under the host's bounds.
    HostBoundsBreakProof = 627,
    /// The program's tables are too large to bind (more entries than ids can number).
    BindingTooLarge = 628,
}

impl Code {
    /// Every code, in numeric order.
    pub const ALL: &'static [Code] = &[
        Code::TooManyRules,
        Code::TooManyNodes,
        Code::OperandNotBefore,
        Code::IllTyped,
        Code::FieldOutOfRange,
        Code::IndexOutOfRange,
        Code::ExprOutOfRange,
        Code::LocalOutOfScope,
        Code::QuantOverNonList,
        Code::TooDeep,
        Code::FieldOfOtherEvent,
        Code::CapturedOutOfPlace,
        Code::BadStateDecl,
        Code::SequenceSteps,
        Code::BadWindow,
        Code::BadCapture,
        Code::KeyMismatch,
        Code::InvalidRegex,
        Code::RegexTooLarge,
        Code::InvalidConstant,
        Code::TooManyConstants,
        Code::ConstantTooLarge,
        Code::TooManyLiteralBytes,
        Code::RuleCostOverBudget,
        Code::EventCostOverBudget,
        Code::RuleStateOverBudget,
        Code::BundleStateOverBudget,
        Code::DuplicateRuleId,
        Code::NoEvents,
        Code::BadThreshold,
        Code::TooManyRegexes,
        Code::RegexCostOverBudget,
        Code::NotABundle,
        Code::UnsupportedFormat,
        Code::Truncated,
        Code::SectionTooLarge,
        Code::MalformedSection,
        Code::BadSectionLayout,
        Code::SectionMismatch,
        Code::Unsigned,
        Code::UnknownKey,
        Code::RevokedKey,
        Code::BadSignature,
        Code::Expired,
        Code::BelowMinVersion,
        Code::RuntimeTooOld,
        Code::UnsupportedIr,
        Code::BadKeyFile,
        Code::SchemaNameMismatch,
        Code::SchemaMajorMismatch,
        Code::UnknownEventType,
        Code::MissingField,
        Code::FieldTypeMismatch,
        Code::UnknownBuiltin,
        Code::BuiltinSignatureMismatch,
        Code::HostBoundsBreakProof,
        Code::BindingTooLarge,
    ];

    /// The number, e.g. 403.
    pub fn number(self) -> u16 {
        self as u16
    }

    /// The code as printed: `E0403`.
    pub fn code(self) -> String {
        format!("E{:04}", self.number())
    }

    /// The code with this number, if it is one of [`Code::ALL`].
    pub fn from_number(number: u16) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.number() == number)
    }

    /// Parses `E0403`.
    pub fn parse(text: &str) -> Option<Code> {
        let digits = text.strip_prefix('E')?;
        if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Code::from_number(digits.parse().ok()?)
    }

    /// A short title, for `docs/errors.md` and `vigil explain`.
    pub fn title(self) -> &'static str {
        match self {
            Code::TooManyRules => "too many rules",
            Code::TooManyNodes => "too many expression nodes",
            Code::OperandNotBefore => "operand does not precede its node",
            Code::IllTyped => "ill-typed expression node",
            Code::FieldOutOfRange => "field reference out of range",
            Code::IndexOutOfRange => "constant, regex, builtin or capture index out of range",
            Code::ExprOutOfRange => "expression id out of range",
            Code::LocalOutOfScope => "quantifier variable read outside its quantifier",
            Code::QuantOverNonList => "quantifier over a value that is not a list",
            Code::TooDeep => "expressions nest too deeply",
            Code::FieldOfOtherEvent => "field of an event type the rule does not run on",
            Code::CapturedOutOfPlace => "captured value read before its step",
            Code::BadStateDecl => "bad state declaration",
            Code::SequenceSteps => "sequence needs two to eight steps",
            Code::BadWindow => "window is zero or too long",
            Code::BadCapture => "capture of a step or field the sequence lacks",
            Code::KeyMismatch => "key fields differ across steps",
            Code::InvalidRegex => "regular expression does not compile",
            Code::RegexTooLarge => "regular expression too large",
            Code::InvalidConstant => "constant is not a value of its type",
            Code::TooManyConstants => "too many constants",
            Code::ConstantTooLarge => "constant too large",
            Code::TooManyLiteralBytes => "too many literal bytes",
            Code::RuleCostOverBudget => "rule cost over budget",
            Code::EventCostOverBudget => "cost per event type over budget",
            Code::RuleStateOverBudget => "rule state over budget",
            Code::BundleStateOverBudget => "bundle state over budget",
            Code::DuplicateRuleId => "duplicate rule id",
            Code::NoEvents => "rule runs on no event type",
            Code::BadThreshold => "bad threshold",
            Code::TooManyRegexes => "too many regular expressions",
            Code::RegexCostOverBudget => "regex cost over budget",
            Code::NotABundle => "not a Vigil bundle",
            Code::UnsupportedFormat => "unsupported bundle format version",
            Code::Truncated => "bundle truncated",
            Code::SectionTooLarge => "bundle section too large",
            Code::MalformedSection => "malformed bundle section",
            Code::BadSectionLayout => "bad bundle section layout",
            Code::SectionMismatch => "bundle sections disagree",
            Code::Unsigned => "unsigned bundle refused",
            Code::UnknownKey => "bundle signed by an unknown key",
            Code::RevokedKey => "bundle signed by a revoked key",
            Code::BadSignature => "bad bundle signature",
            Code::Expired => "bundle expired",
            Code::BelowMinVersion => "content version below the bundle's minimum",
            Code::RuntimeTooOld => "bundle needs a newer runtime",
            Code::UnsupportedIr => "unsupported IR version",
            Code::BadKeyFile => "malformed key file",
            Code::SchemaNameMismatch => "bundle built for another schema",
            Code::SchemaMajorMismatch => "bundle built for another major schema version",
            Code::UnknownEventType => "host schema lacks an event type",
            Code::MissingField => "host schema lacks a field the bundle reads",
            Code::FieldTypeMismatch => "host field has another type",
            Code::UnknownBuiltin => "unknown builtin",
            Code::BuiltinSignatureMismatch => "builtin signature mismatch",
            Code::HostBoundsBreakProof => "host bounds break the bundle's cost or state proof",
            Code::BindingTooLarge => "program too large to bind",
        }
    }
}

impl fmt::Display for Code {
    /// `E0403`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E{:04}", self.number())
    }
}

/// Every code this crate defines in the E04xx–E06xx ranges (schema loading's included), as
/// `(code, title)` in numeric order: what `docs/errors.md` is checked against.
pub fn all_codes() -> Vec<(String, &'static str)> {
    let mut out: Vec<(u16, String, &'static str)> = Code::ALL
        .iter()
        .map(|c| (c.number(), c.code(), c.title()))
        .chain(
            SchemaCode::ALL
                .iter()
                .map(|c| (c.number(), c.code(), c.title())),
        )
        .collect();
    out.sort_by_key(|(n, _, _)| *n);
    out.into_iter().map(|(_, c, t)| (c, t)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_sorted_unique_and_in_their_ranges() {
        for pair in Code::ALL.windows(2) {
            assert!(pair[0] < pair[1], "{} before {}", pair[0], pair[1]);
        }
        for code in Code::ALL {
            let n = code.number();
            assert!((401..500).contains(&n) || (501..600).contains(&n) || (620..700).contains(&n));
            assert!(!code.title().is_empty());
            assert_eq!(Code::parse(&code.code()), Some(*code));
        }
        assert_eq!(Code::OperandNotBefore.to_string(), "E0403");
        assert_eq!(Code::parse("E403"), None);
        assert_eq!(Code::parse("E9999"), None);
    }

    #[test]
    fn all_codes_lists_schema_loading_too() {
        let all = all_codes();
        assert!(all.iter().any(|(c, _)| c == "E0601"));
        assert!(all.iter().any(|(c, _)| c == "E0623"));
        assert_eq!(all.len(), Code::ALL.len() + SchemaCode::ALL.len());
    }
}
