//! Values for Sigma's `expand` modifier: the placeholder file and the expansion.
//!
//! A rule's `Field|expand: '%name%'` names a list the rule does not carry (the hosts, users or
//! networks of one site). pySigma fills it from a processing pipeline; Vigil reads the same
//! convention from a YAML file (`vigil import sigma --placeholders FILE`): a map of placeholder
//! name (without the `%`) to a list of values (or one value). Input: that file's text and a
//! rule's values; output: the values with every `%name%` replaced by each of the name's
//! values (every combination when a value holds several), or a [`Refusal`] naming the first
//! placeholder the file does not give. An expanded value is read as if the rule had written
//! it, wildcards included, as pySigma does.

use std::collections::BTreeMap;

use yaml_rust2::{Yaml, YamlLoader};

use super::error::{ErrorCode, Refusal, Result};
use super::rule::scalar_text;

/// Placeholder name → its values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placeholders {
    values: BTreeMap<String, Vec<String>>,
}

impl Placeholders {
    /// Reads a placeholder file: one YAML map of name to a list of scalars (or one scalar).
    ///
    /// # Errors
    /// A message when the text is not such a map.
    pub fn from_yaml(text: &str) -> std::result::Result<Placeholders, String> {
        let docs = YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
        let mut values = BTreeMap::new();
        let Some(doc) = docs.first() else {
            return Ok(Placeholders { values });
        };
        let Yaml::Hash(map) = doc else {
            return Err("a placeholder file is a map of name to a list of values".to_owned());
        };
        for (k, v) in map {
            let name = scalar_text(k).ok_or("a placeholder name is not a string")?;
            let name = name.trim_matches('%').to_owned();
            let items = match v {
                Yaml::Array(items) => items.clone(),
                other => vec![other.clone()],
            };
            let mut list = Vec::with_capacity(items.len());
            for it in &items {
                let text = scalar_text(it)
                    .ok_or_else(|| format!("a value of placeholder `{name}` is not a scalar"))?;
                list.push(text);
            }
            if list.is_empty() {
                return Err(format!("placeholder `{name}` has no values"));
            }
            values.insert(name, list);
        }
        Ok(Placeholders { values })
    }

    /// Placeholders from pairs (for tests and embedders).
    pub fn from_pairs<I, S>(pairs: I) -> Placeholders
    where
        I: IntoIterator<Item = (S, Vec<S>)>,
        S: Into<String>,
    {
        Placeholders {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into_iter().map(Into::into).collect()))
                .collect(),
        }
    }

    /// Whether no placeholder has values.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The values with every `%name%` expanded, at most `limit` of them.
    pub(crate) fn expand(&self, values: &[Yaml], limit: usize) -> Result<Vec<Yaml>> {
        let mut out = Vec::new();
        for v in values {
            let Yaml::String(text) = v else {
                out.push(v.clone());
                continue;
            };
            let mut partial = vec![String::new()];
            for piece in split(text) {
                match piece {
                    Piece::Text(t) => partial.iter_mut().for_each(|p| p.push_str(t)),
                    Piece::Name(name) => {
                        let vals = self.values.get(name).ok_or_else(|| {
                            Refusal::new(
                                ErrorCode::UnsupportedModifier,
                                format!(
                                    "`expand` placeholder `%{name}%` has no values (give them \
                                     with `--placeholders FILE`)"
                                ),
                            )
                        })?;
                        if partial.len().saturating_mul(vals.len()) > limit {
                            return Err(too_many(limit));
                        }
                        partial = partial
                            .iter()
                            .flat_map(|p| vals.iter().map(move |v| format!("{p}{v}")))
                            .collect();
                    }
                }
            }
            out.extend(partial.into_iter().map(Yaml::String));
            if out.len() > limit {
                return Err(too_many(limit));
            }
        }
        Ok(out)
    }
}

fn too_many(limit: usize) -> Refusal {
    Refusal::new(
        ErrorCode::TooManyValues,
        format!("`expand` makes more than {limit} values"),
    )
}

enum Piece<'a> {
    Text(&'a str),
    Name(&'a str),
}

/// Splits `a%x%b` into text and placeholder names: a name is `%` word characters `%`; a `%`
/// that does not open one is text.
fn split(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('%') {
        let after = &rest[start + 1..];
        let len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'))
            .unwrap_or(after.len());
        if len > 0 && after[len..].starts_with('%') {
            out.push(Piece::Text(&rest[..start]));
            out.push(Piece::Name(&after[..len]));
            rest = &after[len + 1..];
        } else {
            out.push(Piece::Text(&rest[..=start]));
            rest = after;
        }
    }
    out.push(Piece::Text(rest));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Yaml {
        Yaml::String(x.to_owned())
    }

    #[test]
    fn a_file_maps_names_to_lists() {
        let p = Placeholders::from_yaml("hosts: [a, b]\n'%one%': x\n").expect("parses");
        assert_eq!(
            p,
            Placeholders::from_pairs([("hosts", vec!["a", "b"]), ("one", vec!["x"])])
        );
        assert!(Placeholders::from_yaml("- a\n").is_err());
        assert!(Placeholders::from_yaml("x: [[a]]\n").is_err());
        assert!(Placeholders::from_yaml("").expect("empty").is_empty());
    }

    #[test]
    fn every_combination_is_a_value() {
        let p = Placeholders::from_pairs([("h", vec!["a", "b"]), ("d", vec!["x", "y"])]);
        let out = p
            .expand(&[s("%h%.%d%"), s("100%"), Yaml::Integer(3)], 100)
            .expect("expands");
        let texts: Vec<String> = out
            .iter()
            .map(|y| scalar_text(y).unwrap_or_default())
            .collect();
        assert_eq!(texts, ["a.x", "a.y", "b.x", "b.y", "100%", "3"]);
    }

    #[test]
    fn a_missing_name_or_too_many_values_refuse() {
        let p = Placeholders::from_pairs([("h", vec!["a", "b"])]);
        let err = p.expand(&[s("%nope%")], 100).expect_err("missing");
        assert_eq!(err.code, ErrorCode::UnsupportedModifier);
        assert!(err.message.contains("`%nope%`"), "{}", err.message);
        let err = p.expand(&[s("%h%%h%%h%")], 4).expect_err("too many");
        assert_eq!(err.code, ErrorCode::TooManyValues);
    }
}
