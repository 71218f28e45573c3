//! Tables of runs and checks ([`Table`] of [`Cell`]s) and their text forms: aligned columns
//! for a terminal (the best row marked `*`), a markdown table (for a CI job summary or a
//! notebook), CSV, or JSON (numbers as numbers, spreads as `{mean, std, n}`). `runner
//! compare`, the sweep table and `runner check` print through here.

use serde_json::{Value, json};

/// One cell of the table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Nothing to show.
    Empty,
    /// Text.
    Text(String),
    /// A number.
    Number(f64),
    /// Mean and standard deviation over `n` seed replicates.
    Spread {
        /// Mean.
        mean: f64,
        /// Sample standard deviation (0 for one value).
        std: f64,
        /// Replicates with a value.
        n: usize,
    },
}

impl Cell {
    /// The value to sort by (the mean for a spread).
    pub fn number(&self) -> Option<f64> {
        match self {
            Cell::Number(x) | Cell::Spread { mean: x, .. } => Some(*x),
            Cell::Text(t) => t.parse().ok(),
            Cell::Empty => None,
        }
    }
}

/// A table: a header, rows, and the best row if there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Column headers.
    pub columns: Vec<String>,
    /// Rows, best first.
    pub rows: Vec<Vec<Cell>>,
    /// Index of the best row (by the ranking metric), if any row has it.
    pub best: Option<usize>,
}

/// Output formats (also the `--format` values of `runner compare`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// A markdown table.
    Markdown,
    /// Comma-separated values with a header line.
    Csv,
    /// A JSON array of objects.
    Json,
}

/// `table` in `format`.
pub fn render(table: &Table, format: Format) -> String {
    match format {
        Format::Table => aligned(table),
        Format::Markdown => markdown(table),
        Format::Csv => csv(table),
        Format::Json => json_text(table),
    }
}

fn text(cell: &Cell) -> String {
    match cell {
        Cell::Empty => "-".into(),
        Cell::Text(t) => t.clone(),
        Cell::Number(x) => number(*x),
        Cell::Spread { mean, std, n } => format!("{} ± {} (n={n})", number(*mean), number(*std)),
    }
}

fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e9 {
        format!("{x:.0}")
    } else if x.abs() >= 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.4}")
    }
}

fn marked_rows(table: &Table) -> Vec<Vec<String>> {
    table
        .rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let mut cells: Vec<String> = row.iter().map(text).collect();
            if table.best == Some(i) {
                cells[0] = format!("* {}", cells[0]);
            }
            cells
        })
        .collect()
}

fn aligned(table: &Table) -> String {
    let rows = marked_rows(table);
    let mut widths: Vec<usize> = table.columns.iter().map(|c| c.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(&table.columns)];
    out.push(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  "),
    );
    out.extend(rows.iter().map(|r| line(r)));
    if table.best.is_some() {
        out.push("* best".into());
    }
    out.join("\n") + "\n"
}

fn markdown(table: &Table) -> String {
    let escape = |s: &str| s.replace('|', "\\|");
    let mut out = format!(
        "| {} |\n|{}|\n",
        table
            .columns
            .iter()
            .map(|c| escape(c))
            .collect::<Vec<_>>()
            .join(" | "),
        table
            .columns
            .iter()
            .map(|_| " --- ")
            .collect::<Vec<_>>()
            .join("|")
    );
    for (i, row) in table.rows.iter().enumerate() {
        let mut cells: Vec<String> = row.iter().map(|c| escape(&text(c))).collect();
        if table.best == Some(i) {
            cells[0] = format!("**{}**", cells[0]);
        }
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

fn csv(table: &Table) -> String {
    let quote = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut columns = table.columns.clone();
    columns.push("best".into());
    let mut out = columns
        .iter()
        .map(|c| quote(c))
        .collect::<Vec<_>>()
        .join(",")
        + "\n";
    for (i, row) in table.rows.iter().enumerate() {
        let mut cells: Vec<String> = row
            .iter()
            .map(|c| match c {
                Cell::Empty => String::new(),
                Cell::Number(x) => x.to_string(),
                Cell::Spread { mean, std, n } => format!("{mean} ± {std} (n={n})"),
                Cell::Text(t) => t.clone(),
            })
            .map(|s| quote(&s))
            .collect();
        cells.push((table.best == Some(i)).to_string());
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

fn json_text(table: &Table) -> String {
    let rows: Vec<Value> = table
        .rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let mut object = serde_json::Map::new();
            for (column, cell) in table.columns.iter().zip(row) {
                let value = match cell {
                    Cell::Empty => Value::Null,
                    Cell::Text(t) => Value::from(t.as_str()),
                    Cell::Number(x) => json!(x),
                    Cell::Spread { mean, std, n } => json!({"mean": mean, "std": std, "n": n}),
                };
                object.insert(column.clone(), value);
            }
            object.insert("best".into(), Value::from(table.best == Some(i)));
            Value::Object(object)
        })
        .collect();
    serde_json::to_string_pretty(&rows).expect("json") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table {
            columns: vec![
                "run".into(),
                "rate".into(),
                "best validation/accuracy".into(),
            ],
            rows: vec![
                vec![
                    Cell::Text("001-rate=0.2".into()),
                    Cell::Text("0.2".into()),
                    Cell::Spread {
                        mean: 0.9,
                        std: 0.01,
                        n: 3,
                    },
                ],
                vec![
                    Cell::Text("002-x,y".into()),
                    Cell::Empty,
                    Cell::Number(0.85),
                ],
            ],
            best: Some(0),
        }
    }

    #[test]
    fn every_format_shows_the_values_and_the_best_row() {
        let t = table();
        let aligned = render(&t, Format::Table);
        assert!(
            aligned
                .lines()
                .nth(2)
                .unwrap()
                .starts_with("* 001-rate=0.2"),
            "{aligned}"
        );
        assert!(aligned.contains("0.9000 ± 0.0100 (n=3)"), "{aligned}");
        let md = render(&t, Format::Markdown);
        assert!(
            md.starts_with("| run | rate | best validation/accuracy |\n"),
            "{md}"
        );
        assert!(md.contains("| **001-rate=0.2** | 0.2 |"), "{md}");
        let csv = render(&t, Format::Csv);
        assert_eq!(csv.lines().nth(2), Some("\"002-x,y\",,0.85,false"), "{csv}");
        let json: Value = serde_json::from_str(&render(&t, Format::Json)).unwrap();
        assert_eq!(json[0]["best validation/accuracy"]["n"], 3);
        assert_eq!(json[1]["rate"], Value::Null);
        assert_eq!(json[0]["best"], true);
    }
}
