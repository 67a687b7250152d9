//! `sluice status`'s table.

use std::fmt::Write;

use sluice_core::{Execution, Timestamp};

use super::words::{build_word, duration, stage_word};

fn author_name(execution: &Execution) -> String {
    let author = execution.commit.author.as_deref().unwrap_or("-");
    // "Ada Lovelace <ada@example.com>" → "Ada Lovelace"
    let name = author.split(" <").next().unwrap_or(author);
    sluice_core::text::line(name, 20)
}

/// The table of `sluice status`: one row per execution, newest first.
pub fn status_table(executions: &[Execution], now: Timestamp) -> String {
    if executions.is_empty() {
        return "No executions yet: push to the watched branch to start one.\n".into();
    }
    let stage_names: Vec<String> = executions[0]
        .stages
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    let mut header = vec![
        "EXECUTION".to_owned(),
        "COMMIT".into(),
        "AUTHOR".into(),
        "BUILD".into(),
    ];
    header.extend(stage_names.iter().map(|s| s.to_uppercase()));
    header.push("STATUS".into());
    header.push("AGE".into());
    let mut rows = vec![header];
    for e in executions {
        let mut row = vec![
            e.id.to_string(),
            e.commit.id.short().to_owned(),
            author_name(e),
            build_word(e),
        ];
        for name in &stage_names {
            row.push(
                e.stages
                    .iter()
                    .find(|s| s.name.as_str() == name)
                    .map(stage_word)
                    .unwrap_or_else(|| "-".into()),
            );
        }
        row.push(e.status.to_string());
        row.push(duration(now - e.created_at));
        rows.push(row);
    }
    let columns = rows[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}
