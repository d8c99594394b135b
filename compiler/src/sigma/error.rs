//! Why a Sigma rule was not converted: the E09xx codes (LANGUAGE.md section 9) and the
//! [`Refusal`] value that carries one with its detail.
//!
//! Every code is a real limit of the conversion (an input that is not a Sigma rule, or a
//! construct Vigil cannot express exactly); `docs/sigma.md` lists them all. A released code is
//! never reused or renumbered.

use std::fmt;

/// The E09xx codes of the Sigma importer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    /// The file is not valid YAML.
    MalformedYaml = 901,
    /// The file is over the importer's size limit, nests deeper than its depth limit, or its
    /// YAML aliases expand to more nodes than the importer's limit.
    TooLarge = 902,
    /// A YAML document that is not a Sigma rule (no `detection`, wrong shapes).
    InvalidRule = 903,
    /// The `logsource` has no entry in the log source table.
    UnknownLogsource = 904,
    /// A field the rule uses has no mapping for its log source.
    UnmappedField = 905,
    /// A field modifier Sigma does not define.
    UnknownModifier = 906,
    /// Modifiers combined in a way that has no exact meaning in Vigil.
    UnsupportedModifier = 907,
    /// A value that does not fit its field's type (`abc` for an int field, `contains` on an ip).
    TypeMismatch = 908,
    /// A condition form Vigil has no exact equivalent for, or that names no selection.
    UnsupportedCondition = 909,
    /// A regular expression Vigil's linear-time engine does not accept.
    UnsupportedRegex = 910,
    /// A rule whose values, once expanded (windash, base64offset), exceed the importer's limit.
    TooManyValues = 911,
    /// A correlation Vigil cannot express (`temporal`, several event types, ...).
    UnsupportedCorrelation = 912,
    /// The converted rule does not pass `vigil check` (a bug to report, never hidden).
    DoesNotCompile = 913,
}

impl Code {
    /// `E0905`.
    pub fn as_code(self) -> String {
        format!("E{:04}", self as u16)
    }

    /// A stable short name, the key of the coverage report's `refused` table.
    pub fn title(self) -> &'static str {
        match self {
            Code::MalformedYaml => "malformed_yaml",
            Code::TooLarge => "too_large",
            Code::InvalidRule => "invalid_rule",
            Code::UnknownLogsource => "unknown_logsource",
            Code::UnmappedField => "unmapped_field",
            Code::UnknownModifier => "unknown_modifier",
            Code::UnsupportedModifier => "unsupported_modifier",
            Code::TypeMismatch => "type_mismatch",
            Code::UnsupportedCondition => "unsupported_condition",
            Code::UnsupportedRegex => "unsupported_regex",
            Code::TooManyValues => "too_many_values",
            Code::UnsupportedCorrelation => "unsupported_correlation",
            Code::DoesNotCompile => "does_not_compile",
        }
    }

    /// Every code, in number order.
    pub const ALL: [Code; 13] = [
        Code::MalformedYaml,
        Code::TooLarge,
        Code::InvalidRule,
        Code::UnknownLogsource,
        Code::UnmappedField,
        Code::UnknownModifier,
        Code::UnsupportedModifier,
        Code::TypeMismatch,
        Code::UnsupportedCondition,
        Code::UnsupportedRegex,
        Code::TooManyValues,
        Code::UnsupportedCorrelation,
        Code::DoesNotCompile,
    ];
}

/// A rule the importer would not convert, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The reason's code.
    pub code: Code,
    /// What exactly: lower case, names in backticks, no final period.
    pub message: String,
}

impl Refusal {
    /// A refusal with its code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Refusal {
    /// `error[E0905]: unmapped field `Foo` for logsource `windows/process_creation``.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error[{}]: {}", self.code.as_code(), self.message)
    }
}

/// A result whose error is a [`Refusal`].
pub type Result<T> = std::result::Result<T, Refusal>;
