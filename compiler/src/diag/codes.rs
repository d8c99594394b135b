//! The compiler's diagnostic codes: E02xx (names) and E03xx (types and fields) errors, and the
//! W02xx / W03xx warnings of the same stages. One enum per severity, with explicit numbers and
//! titles. A released code is never reused or renumbered; `docs/errors.md` has one entry per
//! code, and a test checks that every code has an entry and a `tests/ui/` case.

use std::fmt;

macro_rules! codes {
    (
        $(#[$enum_doc:meta])* $enum:ident, $prefix:literal;
        $($(#[$doc:meta])* $name:ident = $num:literal, $title:literal;)*
    ) => {
        $(#[$enum_doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum $enum {
            $($(#[$doc])* $name = $num,)*
        }

        impl $enum {
            /// Every code, in numeric order.
            pub const ALL: &'static [$enum] = &[$($enum::$name),*];

            /// The number: `302` for `E0302`.
            pub fn number(self) -> u16 {
                self as u16
            }

            /// The code as printed: `E0302`.
            pub fn code(self) -> String {
                format!(concat!($prefix, "{:04}"), self.number())
            }

            /// A short title for the error index (`docs/errors.md`).
            pub fn title(self) -> &'static str {
                match self {
                    $($enum::$name => $title,)*
                }
            }
        }

        impl fmt::Display for $enum {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.code())
            }
        }
    };
}

codes! {
    /// Compiler errors: E02xx names, E03xx types and fields.
    ErrorCode, "E";

    /// Two lists or fns (or rules, steps, parameters) with one name.
    DefinedTwice = 201, "name defined twice";
    /// A name that is not a quantifier binder, parameter, step, field, list or `event`.
    UnknownName = 202, "unknown name";
    /// A fn that calls itself, directly or through other fns.
    RecursiveFn = 203, "recursive function";
    /// `on`, a step, a parameter type or a test names an event type the schema lacks.
    UnknownEventType = 204, "unknown event type";
    /// A call to a name that is neither a fn nor a builtin.
    UnknownFn = 205, "unknown function";
    /// Two rules with one `id`.
    DuplicateRuleId = 206, "duplicate rule id";
    /// A `test` block naming a rule that does not exist.
    TestUnknownRule = 207, "test names an unknown rule";
    /// A fn or rule whose code, once fns are inlined, exceeds the size budget.
    InlinedTooLarge = 208, "inlined code too large";
    /// A sequence step reading a step that comes after it.
    LaterStep = 209, "reference to a later step";
    /// A type name that is neither a value type nor an event type.
    UnknownType = 210, "unknown type";
    /// A meta key written twice.
    DuplicateMetaKey = 211, "meta key written twice";
    /// A fn name used as a value.
    NotAValue = 212, "function used as a value";

    /// Operands or values of the wrong type.
    TypeMismatch = 301, "type mismatch";
    /// A field the event type does not have.
    UnknownField = 302, "unknown field";
    /// `ieq` or `iin` on values that are not strings.
    CaseFoldOnNonString = 303, "case-insensitive operator on a non-string";
    /// A string where an `ip` is expected that is not an IP address.
    InvalidIp = 304, "invalid ip literal";
    /// A string where a `cidr` is expected that is not a network prefix.
    InvalidCidr = 305, "invalid cidr literal";
    /// A `matches` pattern that does not compile.
    InvalidRegex = 306, "invalid regular expression";
    /// A `matches` pattern whose compiled form is over the size limit.
    RegexTooLarge = 307, "regular expression too large";
    /// An integer literal outside the 64-bit signed range.
    IntOutOfRange = 308, "integer literal out of range";
    /// A list item, test value, pattern or `any`/`all` list that is not a constant.
    NotConstant = 309, "constant expected";
    /// A list whose items have different types, or whose type cannot be inferred.
    MixedListTypes = 310, "list items of mixed or unknown type";
    /// An `emit` template naming an unknown field.
    UnknownTemplateField = 311, "unknown field in emit template";
    /// An `emit` template with an unmatched `{` or `}`.
    MalformedTemplate = 312, "malformed emit template";
    /// A meta value of the wrong type for its key.
    InvalidMetaValue = 313, "invalid meta value";
    /// A sequence `by` field missing from a step, or typed differently in two steps.
    SequenceKeyMismatch = 314, "sequence key field missing or mistyped";
    /// A sequence or threshold without `within`.
    MissingWindow = 315, "missing `within`";
    /// `threshold count >= 0`.
    ThresholdZero = 316, "threshold count of zero";
    /// A `fields [...]` entry naming an unknown field.
    UnknownOutputField = 317, "unknown field in `fields`";
    /// A call with the wrong number of arguments.
    WrongArgCount = 318, "wrong number of arguments";
    /// A call argument of the wrong type.
    ArgTypeMismatch = 319, "argument type mismatch";
    /// A quantifier or `in` over a value that is not a list.
    NotAList = 320, "list expected";
    /// `exists` or `truncated` applied to something that is not a field.
    NotAField = 321, "field expected";
    /// A sequence with fewer than 2 or more than 8 steps.
    StepCount = 322, "sequence step count out of range";
    /// A condition that is not a `bool`.
    ConditionNotBool = 323, "condition is not a bool";
    /// In a rule `on T1, T2`, a field not common to all event types with one type.
    FieldNotCommon = 324, "field not common to every event type";
    /// `.field` on a value that is not an event.
    FieldOnNonEvent = 325, "field access on a non-event value";
    /// A type not allowed where it is written (`cidr` alone, `duration`, an event as a result).
    TypeNotAllowed = 326, "type not allowed here";
    /// `within 0s`.
    ZeroWindow = 327, "zero window";
    /// Test `at` offsets that go back in time.
    TestTimeOrder = 328, "test events out of time order";
    /// A rule clause that does not go with the rule's kind (`threshold` on a sequence).
    ClauseNotAllowed = 329, "clause not allowed here";
}

codes! {
    /// Compiler warnings: W02xx names, W03xx types and conditions. Warnings never fail a check
    /// unless `--deny-warnings`.
    WarningCode, "W";

    /// An inner name hides an outer one.
    Shadowed = 201, "name shadows another";
    /// A list no rule, fn or test uses.
    UnusedList = 202, "unused list";
    /// A fn no rule, fn or test uses.
    UnusedFn = 203, "unused function";
    /// A fn parameter the body never reads.
    UnusedParam = 204, "unused parameter";

    /// `any []` (always false) or `all []` (always true).
    EmptyAnyAll = 301, "quantifier over an empty list";
    /// A condition that is always true or always false.
    ConstantCondition = 302, "condition is constant";
    /// A test event of a type the rule never runs on.
    TestEventIgnored = 303, "test event the rule never sees";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_in_their_ranges_and_ordered() {
        for pair in ErrorCode::ALL.windows(2) {
            assert!(pair[0] < pair[1]);
        }
        for code in ErrorCode::ALL {
            assert!((201..400).contains(&code.number()));
            assert!(!code.title().is_empty());
        }
        for code in WarningCode::ALL {
            assert!((201..400).contains(&code.number()));
        }
        assert_eq!(ErrorCode::UnknownField.code(), "E0302");
        assert_eq!(WarningCode::Shadowed.code(), "W0201");
    }
}
