//! The code registry: every E and W code of every Vigil crate, in one enum, [`ErrorCode`].
//!
//! A code is a letter (`E` error, `W` warning) and four digits; the hundreds say the stage
//! ([`Stage`]): E01xx parse, E02xx names, E03xx types and fields (W02xx/W03xx are the warnings
//! of the same stages), E04xx the verifier, E05xx bundles and signatures, E06xx schema files
//! (E0601–E0619) and binding (E0620 and up), E07xx event decoding, E08xx deployment, E09xx the
//! Sigma importer, E10xx the sensors, E11xx the authoring tools. Each code has a stable name (its variant) and a one-line title; what it means
//! and what to do about it is its section in `docs/errors.md`, checked by this crate's tests.
//!
//! All of it is one table written once, in `codes!`: adding a code is adding a row, and the
//! row is in [`ErrorCode::ALL`] by construction. A released code is never reused or
//! renumbered; a retired code keeps its row. This crate depends on nothing, so that every crate
//! of the workspace can use it.

#![forbid(unsafe_code)]

use std::fmt;

/// Errors fail; warnings fail a check only with `--deny-warnings`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// An `E` code.
    Error,
    /// A `W` code.
    Warning,
}

impl Severity {
    /// `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// The stage a code belongs to: the hundreds of its number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// E01xx: lexing and parsing (`vigil-grammar`).
    Parse,
    /// E02xx, W02xx: names (`vigil-compiler`).
    Names,
    /// E03xx, W03xx: types and fields (`vigil-compiler`).
    Types,
    /// E04xx: the verifier (`vigil-runtime`).
    Verify,
    /// E05xx: bundles and signatures (`vigil-runtime`).
    Bundle,
    /// E0601–E0619: schema files (`vigil-runtime`).
    Schema,
    /// E0620–E0699: binding a program to the host schema (`vigil-runtime`).
    Bind,
    /// E07xx: event decoding and mappings (`vigil-runtime`).
    Decode,
    /// E08xx: deployment: refused updates, dropped events (`vigil-runtime`).
    Deploy,
    /// E09xx: the Sigma importer (`vigil-compiler`).
    Sigma,
    /// E10xx: the sensors (`vigil-sensor-linux`).
    Sensor,
    /// E11xx: the authoring tools (`vigil why`, `vigil-cli`).
    Tools,
}

impl Stage {
    /// The stage of code number `number` (`302` for E0302).
    const fn of(number: u16) -> Stage {
        match number {
            ..=199 => Stage::Parse,
            200..=299 => Stage::Names,
            300..=399 => Stage::Types,
            400..=499 => Stage::Verify,
            500..=599 => Stage::Bundle,
            600..=619 => Stage::Schema,
            620..=699 => Stage::Bind,
            700..=799 => Stage::Decode,
            800..=899 => Stage::Deploy,
            900..=999 => Stage::Sigma,
            1000..=1099 => Stage::Sensor,
            _ => Stage::Tools,
        }
    }
}

/// The digits of a code (`"E0302"` → 302), at compile time. A code that is not a letter and
/// four digits stops the build (the registry asserts every row through [`well_formed`]).
const fn digits(code: &str) -> u16 {
    let b = code.as_bytes();
    let mut n: u16 = 0;
    let mut i = 1;
    while i < b.len() {
        n = n * 10 + (b[i] - b'0') as u16;
        i += 1;
    }
    n
}

/// Whether `code` is `E` or `W` followed by four digits.
const fn well_formed(code: &str) -> bool {
    let b = code.as_bytes();
    if b.len() != 5 || !(b[0] == b'E' || b[0] == b'W') {
        return false;
    }
    let mut i = 1;
    while i < 5 {
        if !b[i].is_ascii_digit() {
            return false;
        }
        i += 1;
    }
    true
}

/// Defines [`ErrorCode`] from one row per code: doc comment (what it means), variant (its
/// stable name, read as its title), code, title. Defined once, used once, below.
macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $code:ident, $title:literal;)*) => {
        /// Every diagnostic code of Vigil. Variants read as their title; [`ErrorCode::as_str`] is
        /// how it is printed (`E0302`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $($(#[$doc])* $name,)*
        }

        // Every row's code is a letter and four digits.
        const _: () = {
            $(assert!(well_formed(stringify!($code)), stringify!($code));)*
        };

        impl ErrorCode {
            /// Every code, in the registry's order (which `Ord` follows): the front end's errors
            /// (E01xx–E03xx), its warnings (W02xx, W03xx), then E04xx–E09xx; numbers ascend
            /// within a stage and severity.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name),*];

            /// The code as printed: `"E0302"`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => stringify!($code),)*
                }
            }

            /// The stable name: the variant, `"UnknownField"`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => stringify!($name),)*
                }
            }

            /// A one-line title, the heading of its section in `docs/errors.md`.
            pub const fn title(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => $title,)*
                }
            }
        }
    };
}

impl ErrorCode {
    /// The code as printed, owned: `"E0302"` (the key of counters and reports).
    pub fn code(self) -> String {
        self.as_str().to_owned()
    }

    /// The number: `302` for `E0302` (an E and a W code can share a number).
    pub const fn number(self) -> u16 {
        digits(self.as_str())
    }

    /// `W` codes are warnings, `E` codes errors.
    pub const fn severity(self) -> Severity {
        if self.as_str().as_bytes()[0] == b'W' {
            Severity::Warning
        } else {
            Severity::Error
        }
    }

    /// The stage the code belongs to.
    pub const fn stage(self) -> Stage {
        Stage::of(self.number())
    }

    /// Whether a decoding code (E07xx) makes a whole line bad: the line yields no event. The
    /// other decoding codes are counted per value and the line still yields its events; codes
    /// of other stages are never line errors.
    pub const fn is_line_error(self) -> bool {
        matches!(
            self,
            ErrorCode::BadJson
                | ErrorCode::DecodeUnknownEventType
                | ErrorCode::MissingEventType
                | ErrorCode::NoRoute
                | ErrorCode::DecodeIo
        )
    }

    /// Parses a printed code: `"E0403"`, `"W0201"`; `None` for anything not in the registry.
    pub fn parse(text: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.as_str() == text)
    }
}

impl fmt::Display for ErrorCode {
    /// `E0302`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

codes! {
    // ---- E01xx: lexing and parsing (vigil-grammar) ------------------------------------
    /// A character that starts no token.
    UnknownCharacter = E0101, "unknown character";
    /// A `"..."` or raw string without its closing quote.
    UnterminatedString = E0102, "unterminated string literal";
    /// A `/* ...` comment without its closing `*/`.
    UnterminatedComment = E0103, "unterminated block comment";
    /// An escape other than `\\ \" \n \r \t \0 \u{...}`.
    InvalidEscape = E0104, "invalid escape in string literal";
    /// An integer literal above `u64::MAX`.
    IntegerTooLarge = E0105, "integer literal too large";
    /// A duration with a unit other than `ms s m h d`.
    UnknownDurationUnit = E0106, "unknown duration unit";
    /// A token the grammar does not allow here.
    UnexpectedToken = E0107, "unexpected token";
    /// The file ends in the middle of a declaration.
    UnexpectedEof = E0108, "unexpected end of file";
    /// Brackets, unary operators or expressions nested deeper than `MAX_NESTING`.
    NestingTooDeep = E0109, "nesting too deep";
    /// The source is not valid UTF-8.
    InvalidUtf8 = E0110, "invalid UTF-8";
    /// The source is larger than `MAX_SOURCE_BYTES`.
    FileTooLarge = E0111, "source file too large";
    /// More than `MAX_ERRORS` errors; the rest of the file is not read.
    TooManyErrors = E0112, "too many syntax errors";
    /// `0x` without hex digits, or with a non-hex character.
    InvalidHexLiteral = E0113, "invalid hexadecimal literal";
    /// A `` `name `` without its closing backtick on the same line, or an empty one.
    InvalidQuotedName = E0114, "invalid backticked name";
    /// A `\u{...}` escape that is malformed or not a Unicode scalar value.
    InvalidUnicodeEscape = E0115, "invalid unicode escape";
    /// A rule clause written after one that must follow it.
    ClauseOutOfOrder = E0116, "rule clause out of order";
    /// A rule clause written twice (`on` and `sequence` count as one).
    DuplicateClause = E0117, "duplicate rule clause";
    /// A rule with neither `on` nor `sequence`.
    MissingTrigger = E0118, "rule without `on` or `sequence`";

    // ---- E02xx names and E03xx types and fields (vigil-compiler) ----------------------
    /// Two lists or fns (or rules, steps, parameters) with one name.
    DefinedTwice = E0201, "name defined twice";
    /// A name that is not a quantifier binder, parameter, step, field, list or `event`.
    UnknownName = E0202, "unknown name";
    /// A fn that calls itself, directly or through other fns.
    RecursiveFn = E0203, "recursive function";
    /// `on`, a step, a parameter type or a test names an event type the schema lacks.
    UnknownEventType = E0204, "unknown event type";
    /// A call to a name that is neither a fn nor a builtin.
    UnknownFn = E0205, "unknown function";
    /// Two rules with one `id`.
    DuplicateRuleId = E0206, "duplicate rule id";
    /// A `test` block naming a rule that does not exist.
    TestUnknownRule = E0207, "test names an unknown rule";
    /// A fn or rule whose code, once fns are inlined, exceeds the size budget.
    InlinedTooLarge = E0208, "inlined code too large";
    /// A sequence step reading a step that comes after it.
    LaterStep = E0209, "reference to a later step";
    /// A type name that is neither a value type nor an event type.
    UnknownType = E0210, "unknown type";
    /// A meta key written twice.
    DuplicateMetaKey = E0211, "meta key written twice";
    /// A fn name used as a value.
    NotAValue = E0212, "function used as a value";
    /// Operands or values of the wrong type.
    TypeMismatch = E0301, "type mismatch";
    /// A field the event type does not have.
    UnknownField = E0302, "unknown field";
    /// `ieq` or `iin` on values that are not strings.
    CaseFoldOnNonString = E0303, "case-insensitive operator on a non-string";
    /// A string where an `ip` is expected that is not an IP address.
    InvalidIp = E0304, "invalid ip literal";
    /// A string where a `cidr` is expected that is not a network prefix.
    InvalidCidr = E0305, "invalid cidr literal";
    /// A `matches` pattern that does not compile.
    InvalidRegex = E0306, "invalid regular expression";
    /// A `matches` pattern whose compiled form is over the size limit.
    RegexTooLarge = E0307, "regular expression too large";
    /// An integer literal outside the 64-bit signed range.
    IntOutOfRange = E0308, "integer literal out of range";
    /// A list item, test value, pattern or `any`/`all` list that is not a constant.
    NotConstant = E0309, "constant expected";
    /// A list whose items have different types, or whose type cannot be inferred.
    MixedListTypes = E0310, "list items of mixed or unknown type";
    /// An `emit` template naming an unknown field.
    UnknownTemplateField = E0311, "unknown field in emit template";
    /// An `emit` template with an unmatched `{` or `}`.
    MalformedTemplate = E0312, "malformed emit template";
    /// A meta value of the wrong type for its key.
    InvalidMetaValue = E0313, "invalid meta value";
    /// A sequence `by` field missing from a step, or typed differently in two steps.
    SequenceKeyMismatch = E0314, "sequence key field missing or mistyped";
    /// A sequence or threshold without `within`.
    MissingWindow = E0315, "missing `within`";
    /// `threshold count >= 0`.
    ThresholdZero = E0316, "threshold count of zero";
    /// A `fields [...]` entry naming an unknown field.
    UnknownOutputField = E0317, "unknown field in `fields`";
    /// A call with the wrong number of arguments.
    WrongArgCount = E0318, "wrong number of arguments";
    /// A call argument of the wrong type.
    ArgTypeMismatch = E0319, "argument type mismatch";
    /// A quantifier or `in` over a value that is not a list.
    NotAList = E0320, "list expected";
    /// `exists` or `truncated` applied to something that is not a field.
    NotAField = E0321, "field expected";
    /// A sequence with fewer than 2 or more than 8 steps.
    StepCount = E0322, "sequence step count out of range";
    /// A condition that is not a `bool`.
    ConditionNotBool = E0323, "condition is not a bool";
    /// In a rule `on T1, T2`, a field not common to all event types with one type.
    FieldNotCommon = E0324, "field not common to every event type";
    /// `.field` on a value that is not an event.
    FieldOnNonEvent = E0325, "field access on a non-event value";
    /// A type not allowed where it is written (`cidr` alone, `duration`, an event as a result).
    TypeNotAllowed = E0326, "type not allowed here";
    /// `within 0s`.
    ZeroWindow = E0327, "zero window";
    /// Test `at` offsets that go back in time.
    TestTimeOrder = E0328, "test events out of time order";
    /// A rule clause that does not go with the rule's kind (`threshold` on a sequence).
    ClauseNotAllowed = E0329, "clause not allowed here";
    /// `threshold sum(F)` or `avg(F)` over a field that is not an int.
    AggregateNotInt = E0330, "sum or average of a field that is not an int";

    // ---- W02xx and W03xx: warnings of the same stages (vigil-compiler) ----------------
    /// An inner name hides an outer one.
    Shadowed = W0201, "name shadows another";
    /// A list no rule, fn or test uses.
    UnusedList = W0202, "unused list";
    /// A fn no rule, fn or test uses.
    UnusedFn = W0203, "unused function";
    /// A fn parameter the body never reads.
    UnusedParam = W0204, "unused parameter";
    /// `any []` (always false) or `all []` (always true).
    EmptyAnyAll = W0301, "quantifier over an empty list";
    /// A condition that is always true or always false.
    ConstantCondition = W0302, "condition is constant";
    /// A test event of a type the rule never runs on.
    TestEventIgnored = W0303, "test event the rule never sees";
    /// Two rules with the same event types and condition (compared on the lowered IR, meta,
    /// `emit` and `fields` aside), or conditions that each imply the other.
    DuplicateCondition = W0304, "two rules with the same condition";
    /// A rule whose condition implies another rule's on the same event types: every event it
    /// fires on, the other fires on too.
    SubsumedRule = W0305, "rule subsumed by another";
    /// A condition whose tests contradict each other (`f == "a" and f == "b"`).
    UnsatisfiableCondition = W0306, "condition can never be true";
    /// A condition whose tests leave no event out (`x > 5 or x <= 5`).
    AlwaysTrueCondition = W0307, "condition is true for every event";

    // ---- E04xx: the verifier (vigil-runtime) ------------------------------------------
    /// More rules than `Limits::max_rules`.
    TooManyRules = E0401, "too many rules";
    /// More expression nodes in a rule (or in the program) than the limits allow.
    TooManyNodes = E0402, "too many expression nodes";
    /// An operand's id is not smaller than its node's id (the arena must be topological).
    OperandNotBefore = E0403, "operand does not precede its node";
    /// A node's type disagrees with its kind or its operands' types.
    IllTyped = E0404, "ill-typed expression node";
    /// A field reference is outside the program's field requirements.
    FieldOutOfRange = E0405, "field reference out of range";
    /// A string, list, regex, builtin or capture index is outside its table.
    IndexOutOfRange = E0406, "constant, regex, builtin or capture index out of range";
    /// A condition, `emit` part or alert field names a node outside the rule's arena.
    ExprOutOfRange = E0407, "expression id out of range";
    /// A quantifier's bound variable is read outside that quantifier's body.
    LocalOutOfScope = E0408, "quantifier variable read outside its quantifier";
    /// A quantifier iterates over something that is not a list.
    QuantOverNonList = E0409, "quantifier over a value that is not a list";
    /// Expressions or quantifiers nest deeper than the limits allow.
    TooDeep = E0410, "expressions nest too deeply";
    /// A field is read of an event type that the rule (or the sequence step) does not run on.
    FieldOfOtherEvent = E0411, "field of an event type the rule does not run on";
    /// A captured value is read where its step has not matched yet, or outside a sequence.
    CapturedOutOfPlace = E0412, "captured value read before its step";
    /// A stateful rule's state declaration is missing a capacity or entries per key, or is
    /// out of range.
    BadStateDecl = E0413, "bad state declaration";
    /// A sequence has fewer than two or more than eight steps.
    SequenceSteps = E0414, "sequence needs two to eight steps";
    /// A window is zero or longer than the limits allow.
    BadWindow = E0415, "window is zero or too long";
    /// A capture names a step the sequence does not have, or a field of another event type.
    BadCapture = E0416, "capture of a step or field the sequence lacks";
    /// Key fields differ in number or type across steps or event types, or are lists.
    KeyMismatch = E0417, "key fields differ across steps";
    /// A regular expression does not compile.
    VerifyInvalidRegex = E0418, "regular expression does not compile";
    /// A regular expression compiles to an automaton over `REGEX_SIZE_LIMIT`.
    VerifyRegexTooLarge = E0419, "regular expression too large";
    /// A constant is not a value of its type (a list item of another type, a prefix length
    /// past the address width).
    InvalidConstant = E0420, "constant is not a value of its type";
    /// More strings, lists, regexes, fields or builtins than the limits allow.
    TooManyConstants = E0421, "too many constants";
    /// One constant (a string, a pattern, a list) is larger than the limits allow.
    ConstantTooLarge = E0422, "constant too large";
    /// The program's literal bytes (strings, patterns, names, meta) exceed the limits.
    TooManyLiteralBytes = E0423, "too many literal bytes";
    /// A rule's worst-case steps per event exceed the budget.
    RuleCostOverBudget = E0424, "rule cost over budget";
    /// The bundle's worst-case steps for one event type exceed the budget.
    EventCostOverBudget = E0425, "cost per event type over budget";
    /// A rule's worst-case state bytes exceed the budget.
    RuleStateOverBudget = E0426, "rule state over budget";
    /// The bundle's worst-case state bytes exceed the budget.
    BundleStateOverBudget = E0427, "bundle state over budget";
    /// Two rules share one id.
    VerifyDuplicateRuleId = E0428, "duplicate rule id";
    /// A rule runs on no event type.
    NoEvents = E0429, "rule runs on no event type";
    /// A threshold's count is zero, or its key lists do not match its event types.
    BadThreshold = E0430, "bad threshold";
    /// More regular expressions than the limits allow.
    TooManyRegexes = E0431, "too many regular expressions";
    /// A regular expression's worst case per subject byte (its engine: a PikeVM over its NFA
    /// states, when no DFA fits the size limit) puts its rule over the cost budget.
    RegexCostOverBudget = E0432, "regex cost over budget";

    // ---- E05xx: bundles and signatures (vigil-runtime) --------------------------------
    /// The bytes do not start with the bundle magic `VIGLBNDL`.
    NotABundle = E0501, "not a Vigil bundle";
    /// The bundle's format version is not one this runtime reads.
    UnsupportedFormat = E0502, "unsupported bundle format version";
    /// The bundle ends before a length it declares.
    Truncated = E0503, "bundle truncated";
    /// A section (or the header) is larger than the decoding limits allow.
    SectionTooLarge = E0504, "bundle section too large";
    /// A section's bytes do not decode as its content.
    MalformedSection = E0505, "malformed bundle section";
    /// A section is missing, unknown, repeated or out of order, or bytes follow the end.
    BadSectionLayout = E0506, "bad bundle section layout";
    /// The field-requirement or rule-metadata section disagrees with the IR, or the header
    /// with either.
    SectionMismatch = E0507, "bundle sections disagree";
    /// The bundle is unsigned and the trust store does not allow unsigned bundles.
    Unsigned = E0508, "unsigned bundle refused";
    /// The bundle is signed by a key the trust store does not hold.
    UnknownKey = E0509, "bundle signed by an unknown key";
    /// The bundle is signed by a revoked key.
    RevokedKey = E0510, "bundle signed by a revoked key";
    /// The signature does not verify.
    BadSignature = E0511, "bad bundle signature";
    /// The bundle's expiry time has passed.
    Expired = E0512, "bundle expired";
    /// The bundle's content version is below its own signed minimum version.
    BelowMinVersion = E0513, "content version below the bundle's minimum";
    /// The bundle needs a newer runtime.
    RuntimeTooOld = E0514, "bundle needs a newer runtime";
    /// The bundle's IR version is not the one this runtime runs.
    UnsupportedIr = E0515, "unsupported IR version";
    /// A key file is malformed.
    BadKeyFile = E0516, "malformed key file";

    // ---- E0601-E0619: schema files (vigil-runtime) ------------------------------------
    /// The file is not TOML, or not shaped like a schema (a missing, unknown or mistyped key).
    SchemaSyntax = E0601, "schema file is not valid schema TOML";
    /// `version` is not `MAJOR.MINOR`.
    BadVersion = E0602, "bad schema version";
    /// A schema, event or field name is not snake_case.
    NotSnakeCase = E0603, "name is not snake_case";
    /// A field's `type` is not one of the schema types.
    SchemaUnknownType = E0604, "unknown field type";
    /// A string field, or a `[string]` field, has no `max_len`.
    MissingMaxLen = E0605, "string field without max_len";
    /// A list field has no `max_items`.
    MissingMaxItems = E0606, "list field without max_items";
    /// Two event types have one name.
    DuplicateEvent = E0607, "duplicate event type";
    /// Two fields of one event type have one name.
    DuplicateField = E0608, "duplicate field";
    /// An event type lacks `time` (`int`) or `host` (`string`), or has them with another type.
    RequiredField = E0609, "event type lacks `time` or `host`";
    /// `max_len` is 0 or above `MAX_LEN_CAP_BYTES`.
    MaxLenOutOfRange = E0610, "max_len out of range";
    /// `max_items` is 0 or above `MAX_ITEMS_CAP`.
    MaxItemsOutOfRange = E0611, "max_items out of range";
    /// `max_len` on a field that holds no strings, or `max_items` on a field that is no list.
    BoundOnWrongType = E0612, "bound on a field of the wrong type";
    /// More event types, or fields in one event type, than ids can number.
    TooManyItems = E0613, "too many event types or fields";

    // ---- E0620 and up: binding a program to the host schema (vigil-runtime) -----------
    /// The program was built for a schema of another name.
    SchemaNameMismatch = E0620, "bundle built for another schema";
    /// The program was built for another major version of the schema.
    SchemaMajorMismatch = E0621, "bundle built for another major schema version";
    /// The host schema has no event type of that name.
    BindUnknownEventType = E0622, "host schema lacks an event type";
    /// The host schema lacks a field the program reads.
    MissingField = E0623, "host schema lacks a field the bundle reads";
    /// The host schema supplies a field with another type than the program reads.
    FieldTypeMismatch = E0624, "host field has another type";
    /// The program calls a builtin this runtime does not have.
    UnknownBuiltin = E0625, "unknown builtin";
    /// The program calls a builtin with another signature than this runtime's.
    BuiltinSignatureMismatch = E0626, "builtin signature mismatch";
    /// The host bounds a field more loosely than the bundle assumed, and the cost or state
    /// proof fails under the host's bounds.
    HostBoundsBreakProof = E0627, "host bounds break the bundle's cost or state proof";
    /// The program's tables are too large to bind (more entries than ids can number).
    BindingTooLarge = E0628, "program too large to bind";

    // ---- E07xx: event decoding and mappings (vigil-runtime) ---------------------------
    /// The line is not a JSON object (invalid JSON, nested deeper than the parser's limit, or
    /// another JSON value than an object).
    BadJson = E0701, "line is not a JSON object";
    /// The record names an event type the host schema does not have.
    DecodeUnknownEventType = E0702, "unknown event type";
    /// A native record has no `event` key (or its value is not a string).
    MissingEventType = E0703, "record names no event type";
    /// A value could not be read as its field's type; the field is absent (counted, the line
    /// goes on).
    UncoercibleValue = E0704, "value cannot be read as its field's type";
    /// A key that is not a field of the event type (native decoder: counted, not an error);
    /// builder API: an unknown field name or index (an error of that call).
    DecodeUnknownField = E0705, "unknown field";
    /// A string was cut to its field's `max_len`, or list items beyond `max_items` were
    /// dropped (counted; `truncated(field)` is true).
    DecodeTruncated = E0706, "value cut to the field's bound";
    /// The line held invalid UTF-8 or a lone UTF-16 surrogate escape; replaced by U+FFFD and
    /// the fields holding it flagged (counted, the line goes on).
    DecodeInvalidUtf8 = E0707, "invalid UTF-8 replaced";
    /// A mapping file is not valid mapping TOML.
    MappingSyntax = E0708, "mapping file is not valid mapping TOML";
    /// A mapping names an event type or field the host schema does not have, or maps a field
    /// twice in one route.
    MappingSchema = E0709, "mapping does not fit the host schema";
    /// No route of the mapping matches the record.
    NoRoute = E0710, "no mapping route matches the record";
    /// Builder API: a value of another type than the field's (`set_int` on a string field).
    WrongType = E0711, "value of the wrong type for the field";
    /// Reading the input failed (an I/O error of the reader).
    DecodeIo = E0712, "input could not be read";
    /// A record names the same key twice (the last value is kept; counted, the line goes on,
    /// unless the decoder refuses duplicates: then the line is bad).
    DuplicateKey = E0713, "key given twice in a record";
    /// A line is longer than the reader's limit (16 MiB for the CLI): counted as one bad line
    /// and skipped to its end, never held in memory.
    DecodeLineTooLong = E0714, "line too long";
    /// Two routes of a mapping can take the same record into the same event type (the record
    /// would become two events of that type, and every rule on it would fire twice).
    RouteOverlap = E0715, "two mapping routes can take one record into the same event type";

    // ---- E0720–E0729: Windows event log files (EVTX) read as event inputs (vigil-agent) ---
    /// An input that is an EVTX file by name or magic bytes has no readable file header (its
    /// magic is wrong or it is too short): nothing of it is read.
    EvtxHeader = E0720, "not a readable EVTX file";
    /// The CRC32 of an EVTX chunk (its header or its records) or of the file header does not
    /// match: its records are still read, and each one that cannot be is reported (E0723).
    EvtxChecksum = E0721, "EVTX checksum mismatch";
    /// An EVTX chunk whose header cannot be read (wrong magic, impossible offsets): its records
    /// are skipped, the next chunk is read.
    EvtxChunkUnreadable = E0722, "EVTX chunk unreadable";
    /// An EVTX record that cannot be read or rendered: it is skipped, the next one is read.
    EvtxRecordUnreadable = E0723, "EVTX record unreadable";
    /// An EVTX file that ends inside a chunk: the records wholly before the end are read, the
    /// ones cut are skipped.
    EvtxTruncated = E0724, "EVTX file cut short";
    /// EVTX read from a stream (stdin, a pipe, gzip) is copied to a temporary file first, up to
    /// a limit; a stream over it, or a temporary file that cannot be written, stops that input.
    EvtxSpool = E0725, "EVTX stream could not be spooled";
    /// An EVTX input given to a build of Vigil without EVTX support (the `evtx` feature).
    EvtxUnsupported = E0726, "EVTX input not supported by this build";

    // ---- E08xx: deployment (vigil-runtime) --------------------------------------------
    /// The bundle's content version is below the highest version accepted (or below the
    /// highest signed minimum version seen, or below the staged candidate's).
    Downgrade = E0801, "content version below the highest accepted";
    /// The bundle has the highest accepted content version but other content (by
    /// `program_hash`): a replay or a re-signed edit.
    Replay = E0802, "same content version with different content";
    /// The engine (the JIT) could not be built for an otherwise valid bundle.
    EngineBuild = E0803, "engine could not be built for the bundle";
    /// The bundle is quarantined: the process crashed repeatedly soon after activating it.
    Quarantined = E0804, "bundle quarantined after repeated crashes";
    /// The active and the candidate bundles together exceed the host's cost or state budget.
    OverBudget = E0805, "active and candidate bundles exceed the host's budget";
    /// The shadow candidate had evaluation errors or refused events.
    CandidateErrors = E0806, "candidate bundle had errors in shadow";
    /// The shadow candidate's alert rates were out of the promotion policy's bounds.
    CandidateTooNoisy = E0807, "candidate bundle's alert rate out of bounds";
    /// The shadow candidate was replaced by a newer bundle before a decision.
    Superseded = E0808, "candidate superseded by a newer bundle";
    /// A bundle or state file could not be read or written.
    Io = E0809, "bundle or state file could not be read or written";
    /// The state file could not be parsed; it was ignored.
    StateCorrupt = E0810, "state file unreadable, ignored";
    /// An event was dropped because no bundle is active.
    NoActiveBundle = E0811, "event dropped: no active bundle";
    /// An event was dropped because it does not fit the active bundle's binding.
    EventRefused = E0812, "event dropped: it does not fit the active bundle";
    /// A rollback was asked for, but there is no last known good bundle.
    NoLastKnownGood = E0813, "no last known good bundle";
    /// A file in the bundles folder was not read: it is not a regular file, or it is larger
    /// than any bundle can be (`MAX_BUNDLE_FILE_BYTES`).
    BundleFileRefused = E0814, "bundle file not read: not a regular file or too large";
    /// An input line was dropped: it is longer than 16 MiB.
    LineTooLong = E0815, "event dropped: line longer than 16 MiB";
    /// The state directory is unsafe: writable by group or others, or owned by another user
    /// than the agent's.
    StateDirUnsafe = E0816, "state directory writable by others";

    // ---- E09xx: the Sigma importer (vigil-compiler) -----------------------------------
    /// The file is not valid YAML.
    MalformedYaml = E0901, "malformed YAML";
    /// The file is over the importer's size limit, nests deeper than its depth limit, or its
    /// YAML aliases expand to more nodes than the importer's limit.
    TooLarge = E0902, "Sigma file too large or too deep";
    /// A YAML document that is not a Sigma rule (no `detection`, wrong shapes).
    InvalidRule = E0903, "not a Sigma rule";
    /// The `logsource` has no entry in the log source table.
    UnknownLogsource = E0904, "unknown log source";
    /// A field the rule uses has no mapping for its log source.
    UnmappedField = E0905, "unmapped field";
    /// A field modifier Sigma does not define.
    UnknownModifier = E0906, "unknown modifier";
    /// Modifiers combined in a way that has no exact meaning in Vigil.
    UnsupportedModifier = E0907, "unsupported modifier";
    /// A value that does not fit its field's type (`abc` for an int field, `contains` on an ip).
    SigmaTypeMismatch = E0908, "type mismatch";
    /// A condition form Vigil has no exact equivalent for, or that names no selection.
    UnsupportedCondition = E0909, "unsupported condition";
    /// A regular expression Vigil's linear-time engine does not accept.
    UnsupportedRegex = E0910, "unsupported regex";
    /// A rule whose values, once expanded (windash, base64offset), exceed the importer's limit.
    TooManyValues = E0911, "too many values";
    /// A correlation Vigil cannot express (`temporal`, several event types, ...).
    UnsupportedCorrelation = E0912, "unsupported correlation";
    /// The converted rule does not pass `vigil check` (a bug to report, never hidden).
    DoesNotCompile = E0913, "does not compile";
    /// A Sigma filter document (`filter:`) that cannot be applied: no `logsource`, no `rules`,
    /// no single `condition`.
    InvalidFilter = E0920, "invalid Sigma filter";

    // ---- E10xx: the sensors (vigil-sensor-linux) ----------------------------------------
    /// The eBPF sensor was asked for on a system it cannot run on: not Linux, or a build
    /// without the compiled BPF programs (clang or bpftool missing when it was built).
    SensorNotBuilt = E1001, "eBPF sensor not available in this build";
    /// The process lacks the privilege to load BPF programs (root, or CAP_BPF with
    /// CAP_PERFMON).
    SensorNotPrivileged = E1002, "eBPF sensor needs root";
    /// The kernel has no BTF (`/sys/kernel/btf/vmlinux`), which CO-RE programs need.
    SensorNoBtf = E1003, "kernel BTF missing";
    /// A BPF program, map or attach point the sensor needs is missing or refused by the
    /// kernel (the message names which).
    SensorProbeFailed = E1004, "eBPF probe could not be loaded or attached";
    /// A record from the kernel side was shorter than its header says or of an unknown kind;
    /// it is dropped and counted.
    SensorRecordMalformed = E1005, "sensor record malformed";
    /// A record could not be turned into an event of the sensor's schema; it is dropped and
    /// counted.
    SensorEventRefused = E1006, "sensor record does not fit the schema";

    // ---- E11xx: the authoring tools (vigil-cli) -------------------------------------------
    /// `vigil why --rule ID`: no rule of the program has ID as its meta `id` or its name.
    WhyUnknownRule = E1101, "no rule with this id or name";
    /// `vigil why --rule ID`: one rule's id is another's name.
    WhyAmbiguousRule = E1102, "rule id or name names several rules";
    /// `vigil why --event FILE[:LINE]`: the argument is not a path with an optional positive
    /// line number.
    WhyBadEventArg = E1103, "malformed event argument";
    /// `vigil why --event FILE`: the file cannot be opened or read.
    WhyEventUnreadable = E1104, "event file cannot be read";
    /// `vigil why --event FILE:LINE`: the file has fewer lines (or EVTX records).
    WhyLinePastEnd = E1105, "event line past the end of the file";
    /// `vigil why --event FILE:LINE`: the line is not an event (bad JSON, unknown event type,
    /// a record no mapping route takes, a blank line).
    WhyEventUndecodable = E1106, "event line does not decode";
    /// `vigil why`: the rule does not run on the event's type.
    WhyEventNotWatched = E1107, "rule does not run on this event type";
    /// `vigil why --mapping M`: the mapping cannot be read or compiled.
    WhyBadMapping = E1108, "mapping cannot be used";
    /// `vigil why`: the engine could not be built or refused the event.
    WhyEngineFailed = E1109, "engine could not evaluate the event";
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn codes_and_names_are_unique() {
        let codes: HashSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        let names: HashSet<&str> = ErrorCode::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(codes.len(), ErrorCode::ALL.len());
        assert_eq!(names.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn all_is_every_variant_in_declaration_order() {
        for (i, code) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(*code as usize, i, "{code:?}");
            assert_eq!(format!("{code:?}"), code.name());
        }
    }

    #[test]
    fn numbers_ascend_within_a_stage_and_severity() {
        for pair in ErrorCode::ALL.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if (a.stage(), a.severity()) == (b.stage(), b.severity()) {
                assert!(a.number() < b.number(), "{a} before {b}");
            }
        }
    }

    #[test]
    fn every_code_has_its_parts() {
        for code in ErrorCode::ALL {
            let text = code.as_str();
            assert!(well_formed(text));
            assert_eq!(text, format!("{}{:04}", &text[..1], code.number()));
            assert_eq!(code.to_string(), text);
            assert_eq!(code.code(), text);
            assert_eq!(ErrorCode::parse(text), Some(*code));
            assert!(!code.title().is_empty());
            assert!(code.number() % 100 != 0, "{code}: xx00 is not a code");
            assert!(!code.is_line_error() || code.stage() == Stage::Decode);
        }
    }

    #[test]
    fn parse_refuses_what_is_not_registered() {
        assert_eq!(ErrorCode::parse("E0302"), Some(ErrorCode::UnknownField));
        assert_eq!(ErrorCode::parse("W0201"), Some(ErrorCode::Shadowed));
        assert_eq!(ErrorCode::parse("E403"), None);
        assert_eq!(ErrorCode::parse("E9999"), None);
        assert_eq!(ErrorCode::parse("e0302"), None);
    }

    #[test]
    fn stages_and_severities_follow_the_code() {
        assert_eq!(ErrorCode::UnknownCharacter.stage(), Stage::Parse);
        assert_eq!(ErrorCode::Shadowed.stage(), Stage::Names);
        assert_eq!(ErrorCode::Shadowed.severity(), Severity::Warning);
        assert_eq!(ErrorCode::SchemaSyntax.stage(), Stage::Schema);
        assert_eq!(ErrorCode::SchemaNameMismatch.stage(), Stage::Bind);
        assert_eq!(ErrorCode::DoesNotCompile.stage(), Stage::Sigma);
        assert_eq!(ErrorCode::DoesNotCompile.severity(), Severity::Error);
        assert_eq!(ErrorCode::SensorEventRefused.stage(), Stage::Sensor);
        assert_eq!(ErrorCode::WhyUnknownRule.stage(), Stage::Tools);
    }
}
