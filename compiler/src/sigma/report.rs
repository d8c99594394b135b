//! The coverage report of an import: rules converted, refused by reason, unmapped fields per
//! log source; as JSON (`--report FILE`) and as a short human summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::error::reason;
use super::Import;

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Sigma rules seen (files that could not be read count as one each).
    pub total: usize,
    /// Rules converted (and checked, unless checking was off).
    pub converted: usize,
    /// Rules refused.
    pub refused: usize,
    /// `converted / total`, in percent, two decimals.
    pub percent: f64,
    /// Refusals per reason (`unmapped_field` → count), with the code.
    pub refused_by_reason: BTreeMap<String, ReasonCount>,
    /// Per log source: converted, refused, and each unmapped Sigma field with the number of
    /// rules using it.
    pub logsources: BTreeMap<String, SourceStats>,
    /// One line per rule.
    pub rules: Vec<RuleLine>,
}

/// How many rules one reason refused.
#[derive(Clone, Debug, Serialize)]
pub struct ReasonCount {
    /// `E0905`.
    pub code: String,
    /// Rules refused for it.
    pub count: usize,
}

/// Per log source figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SourceStats {
    /// Rules converted.
    pub converted: usize,
    /// Rules refused.
    pub refused: usize,
    /// Unmapped Sigma field → rules using it.
    pub unmapped_fields: BTreeMap<String, usize>,
}

/// One rule's line.
#[derive(Clone, Debug, Serialize)]
pub struct RuleLine {
    /// The input file, relative to the import root.
    pub file: String,
    /// The Sigma `id`.
    pub id: Option<String>,
    /// The Sigma `title`.
    pub title: Option<String>,
    /// The log source label.
    pub logsource: String,
    /// `converted` or `refused`.
    pub status: &'static str,
    /// The Vigil rule name, when converted.
    pub rule: Option<String>,
    /// The refusal code, when refused.
    pub code: Option<String>,
    /// The refusal reason's short name, when refused.
    pub reason: Option<&'static str>,
    /// The refusal message, when refused.
    pub message: Option<String>,
}

impl Report {
    /// The report of an import.
    pub fn new(import: &Import) -> Report {
        let mut r = Report {
            total: import.rules.len(),
            converted: 0,
            refused: 0,
            percent: 0.0,
            refused_by_reason: BTreeMap::new(),
            logsources: BTreeMap::new(),
            rules: Vec::with_capacity(import.rules.len()),
        };
        for o in &import.rules {
            let src = r.logsources.entry(o.logsource.clone()).or_default();
            for f in &o.unmapped {
                *src.unmapped_fields.entry(f.clone()).or_insert(0) += 1;
            }
            let file = o.rel.to_string_lossy().replace('\\', "/");
            match &o.result {
                Ok(name) => {
                    r.converted += 1;
                    src.converted += 1;
                    r.rules.push(RuleLine {
                        file,
                        id: o.id.clone(),
                        title: o.title.clone(),
                        logsource: o.logsource.clone(),
                        status: "converted",
                        rule: Some(name.clone()),
                        code: None,
                        reason: None,
                        message: None,
                    });
                }
                Err(e) => {
                    r.refused += 1;
                    src.refused += 1;
                    r.refused_by_reason
                        .entry(reason(e.code).to_owned())
                        .or_insert(ReasonCount {
                            code: e.code.code().to_owned(),
                            count: 0,
                        })
                        .count += 1;
                    r.rules.push(RuleLine {
                        file,
                        id: o.id.clone(),
                        title: o.title.clone(),
                        logsource: o.logsource.clone(),
                        status: "refused",
                        rule: None,
                        code: Some(e.code.code().to_owned()),
                        reason: Some(reason(e.code)),
                        message: Some(e.message.clone()),
                    });
                }
            }
        }
        if r.total > 0 {
            #[expect(clippy::cast_precision_loss, reason = "rule counts are far below 2^52")]
            let p = r.converted as f64 * 100.0 / r.total as f64;
            r.percent = (p * 100.0).round() / 100.0;
        }
        r
    }

    /// A few lines for a person: totals, refusals by reason, the most common unmapped fields.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "sigma import: {} of {} rules converted ({:.2}%), {} refused",
            self.converted, self.total, self.percent, self.refused
        );
        let mut reasons: Vec<(&String, &ReasonCount)> = self.refused_by_reason.iter().collect();
        reasons.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
        for (name, c) in reasons {
            let _ = writeln!(s, "  {:>5}  {} {}", c.count, c.code, name);
        }
        let mut unmapped: Vec<(String, usize)> = self
            .logsources
            .iter()
            .flat_map(|(ls, st)| {
                st.unmapped_fields
                    .iter()
                    .map(move |(f, n)| (format!("{ls}: {f}"), *n))
            })
            .collect();
        unmapped.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        if !unmapped.is_empty() {
            let _ = writeln!(s, "unmapped fields (rules using them):");
            for (f, n) in unmapped.iter().take(10) {
                let _ = writeln!(s, "  {n:>5}  {f}");
            }
        }
        s
    }
}
