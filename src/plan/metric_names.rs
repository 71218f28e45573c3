//! The keys of a spec's `checks:` must be metric names its runs will have (`test/accuracy`,
//! `validation/loss`, `best/validation/accuracy`, `seconds`, ...), as listed by
//! [`Spec::metric_names`](crate::spec::Spec::metric_names); an unknown name is an error at
//! its key, with did-you-mean.

use crate::spec::LoadedSpec;
use crate::spec::diagnostic::{Diagnostic, did_you_mean};
use crate::spec::yaml::escape_pointer_segment;

/// One error per check key that names no metric of this spec's runs.
pub fn unknown_metrics(loaded: &LoadedSpec) -> Vec<Diagnostic> {
    let spec = &loaded.spec;
    let known = spec.metric_names();
    spec.checks
        .keys()
        .filter(|name| !known.contains(name))
        .map(|name| {
            let span = loaded
                .source
                .key_span(&format!("/checks/{}", escape_pointer_segment(name)));
            // Keras names (`val_accuracy`) are `validation/accuracy` here.
            let keras = name
                .strip_prefix("val_")
                .map(|m| format!("validation/{m}"))
                .filter(|m| known.contains(m));
            let close = keras
                .or_else(|| did_you_mean(name, known.iter().map(String::as_str)).map(String::from));
            let list = format!("checks take {}", known.join(", "));
            let help = match close {
                Some(m) => format!("did you mean `{m}`? ({list})"),
                None => list,
            };
            Diagnostic::error(
                format!("`{name}` is not a metric of this spec's runs"),
                span,
            )
            .with_label("unknown metric")
            .with_help(help)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use std::path::Path;

    fn spec(checks: &str, test_split: bool) -> LoadedSpec {
        let test = if test_split {
            "\n  test_from_validation: 0.2"
        } else {
            ""
        };
        let text = format!(
            "name: t\ndata:\n  root: d\n  image_size: [8, 8]{test}\nmodel:\n  nodes:\n    - {{name: image, op: input, shape: [8, 8, 3]}}\n    - {{name: pool, op: global_avg_pool, input: image}}\n    - {{name: logits, op: dense, input: pool, units: 2}}\n  outputs: [logits]\nloss: {{categorical_crossentropy: {{}}}}\nchecks:\n{checks}\n"
        );
        crate::spec::parse(Path::new("t.yaml"), text, &[]).unwrap()
    }

    #[rstest]
    #[case("  test/accuracy: '>= 0.9'", true, None)]
    #[case("  validation/loss: {rel: 0.1}", false, None)]
    #[case("  seconds: '< 100'", false, None)]
    #[case(
        "  val_accuracy: '>= 0.9'",
        false,
        Some("did you mean `validation/accuracy`?")
    )]
    #[case(
        "  validation/acuracy: '>= 0.9'",
        false,
        Some("did you mean `validation/accuracy`?")
    )]
    #[case("  test/accuracy: '>= 0.9'", false, Some("checks take"))]
    fn names_are_checked(#[case] checks: &str, #[case] test: bool, #[case] help: Option<&str>) {
        let found = unknown_metrics(&spec(checks, test));
        match help {
            None => assert!(found.is_empty(), "{found:?}"),
            Some(help) => {
                assert_eq!(found.len(), 1);
                assert!(found[0].span.is_some(), "located");
                assert!(
                    found[0].help.as_deref().unwrap().contains(help),
                    "{found:?}"
                );
            }
        }
    }
}
