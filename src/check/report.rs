//! The rows of a check as text: an aligned terminal table, markdown for a CI job summary
//! (verdicts with emoji, baseline warnings as a quote), and JUnit XML with one test case per
//! check (a `fail` is a failure, a `missing` an error, a `warn` passes with its note).

use super::verdict::{Outcome, Row, Verdict, number};
use crate::metric::Stat;
use crate::table::{Cell, Format, Table, render};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

fn table(outcome: &Outcome, verdict: impl Fn(Verdict) -> String) -> Table {
    let stat = |s: Option<Stat>| match s {
        None => Cell::Empty,
        Some(s) if s.n > 1 => Cell::Spread {
            mean: s.mean,
            std: s.std,
            n: s.n,
        },
        Some(s) => Cell::Number(s.mean),
    };
    let signed = |x: Option<f64>, unit: &str| match x {
        Some(x) => Cell::Text(format!(
            "{}{}{unit}",
            if x > 0.0 { "+" } else { "" },
            number(x)
        )),
        None => Cell::Empty,
    };
    let columns = [
        "check",
        "baseline",
        "current",
        "change",
        "rel",
        "tolerance",
        "verdict",
        "note",
    ];
    Table {
        columns: columns.map(String::from).to_vec(),
        rows: outcome
            .rows
            .iter()
            .map(|r: &Row| {
                vec![
                    Cell::Text(r.name()),
                    stat(r.baseline),
                    stat(r.current),
                    signed(r.change(), ""),
                    signed(
                        r.relative_change().map(|x| (x * 10_000.0).round() / 100.0),
                        "%",
                    ),
                    Cell::Text(r.tolerance.clone()),
                    Cell::Text(verdict(r.verdict)),
                    Cell::Text(r.note.clone()),
                ]
            })
            .collect(),
        best: None,
    }
}

fn counts(outcome: &Outcome) -> String {
    let all = [
        Verdict::Pass,
        Verdict::Fail,
        Verdict::Warn,
        Verdict::Missing,
        Verdict::New,
    ];
    let parts: Vec<String> = all
        .iter()
        .filter_map(|v| {
            let n = outcome.rows.iter().filter(|r| r.verdict == *v).count();
            (n > 0).then(|| format!("{n} {v}"))
        })
        .collect();
    parts.join(", ")
}

/// The result in one line: `PASS`, `FAIL` or `ERROR` with the counts.
pub fn headline(outcome: &Outcome) -> String {
    let word = match outcome.exit_code() {
        0 => "PASS",
        1 => "FAIL",
        _ => "ERROR (could not evaluate every check)",
    };
    format!("{word}: {} ({})", outcome.target, counts(outcome))
}

/// The terminal table and the headline (the warnings are the caller's to show, on stderr).
pub fn text(outcome: &Outcome) -> String {
    let mut out = render(&table(outcome, |v| v.to_string()), Format::Table);
    out.push_str(&format!("\n{}\n", headline(outcome)));
    out
}

/// Markdown for a CI job summary.
pub fn markdown(outcome: &Outcome) -> String {
    let mark = |v: Verdict| {
        let icon = match v {
            Verdict::Pass => "✅",
            Verdict::New => "🆕",
            Verdict::Warn => "⚠️",
            Verdict::Fail => "❌",
            Verdict::Missing => "❓",
        };
        format!("{icon} {v}")
    };
    let mut out = format!("### runner check: {}\n\n", headline(outcome));
    for w in &outcome.warnings {
        out.push_str(&format!("> **warning:** {w}\n"));
    }
    if !outcome.warnings.is_empty() {
        out.push('\n');
    }
    out.push_str(&render(&table(outcome, mark), Format::Markdown));
    out
}

/// JUnit XML: one test suite, one test case per check.
pub fn junit(outcome: &Outcome) -> String {
    let mut suite = TestSuite::new(format!("runner check {}", outcome.target));
    for row in &outcome.rows {
        let details = format!(
            "baseline {}, current {}, tolerance {}",
            row.baseline.map_or("-".into(), |s| number(s.mean)),
            row.current.map_or("-".into(), |s| number(s.mean)),
            row.tolerance
        );
        let status = match row.verdict {
            Verdict::Fail | Verdict::Missing => {
                let kind = if row.verdict == Verdict::Fail {
                    NonSuccessKind::Failure
                } else {
                    NonSuccessKind::Error
                };
                let mut status = TestCaseStatus::non_success(kind);
                status
                    .set_message(row.note.clone())
                    .set_type(row.verdict.to_string())
                    .set_description(details.clone());
                status
            }
            _ => TestCaseStatus::success(),
        };
        let mut case = TestCase::new(row.name(), status);
        case.set_classname("runner.check")
            .set_system_out(format!("{}: {details}. {}", row.verdict, row.note));
        suite.add_test_case(case);
    }
    if !outcome.warnings.is_empty() {
        suite.set_system_err(outcome.warnings.join("\n"));
    }
    let mut report = Report::new("runner check");
    report.add_test_suite(suite);
    report
        .to_string()
        .expect("JUnit XML of plain strings serializes")
}
