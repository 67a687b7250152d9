//! Every pipeline definition the README and the book show is a tested file: a page
//! includes it from `tests/fixtures/definitions/good/` (which the unit tests lower
//! and encode), never writes one inline, and gives the Sluice stack no parameter by
//! hand but the installer's `AdministratorArn`.

use std::path::{Path, PathBuf};

use sluice_definition::FLAT_PARAMETERS;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The README and every page of the book.
fn pages() -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "md") {
                found.push(path);
            }
        }
    }
    let mut found = vec![root().join("README.md")];
    walk(&root().join("docs/src"), &mut found);
    found.sort();
    found
}

/// A fenced code block: its first line's number, its language and its text.
struct Block {
    line: usize,
    language: String,
    text: String,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut found = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match (&mut open, trimmed.strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some(Block {
                    line: i + 1,
                    language: info.trim().to_owned(),
                    text: String::new(),
                })
            }
            (Some(_), Some(_)) => found.extend(open.take()),
            (Some(block), None) => {
                block.text.push_str(trimmed);
                block.text.push('\n');
            }
            (None, None) => {}
        }
    }
    found
}

/// What is wrong with one code block of `page`, if anything.
fn problems(page: &Path, block: &Block) -> Vec<String> {
    let mut wrong = Vec::new();
    let text = block.text.trim();
    if let Some(path) = text
        .strip_prefix("{{#include ")
        .and_then(|rest| rest.strip_suffix("}}"))
    {
        let file = page.parent().expect("a folder").join(path.trim());
        let good = root().join("tests/fixtures/definitions/good");
        if path.contains("fixtures/definitions") {
            match (file.canonicalize(), good.canonicalize()) {
                (Ok(file), Ok(good)) if file.starts_with(&good) => {}
                (Ok(_), _) => wrong.push(format!(
                    "includes {path}, which is not a good definition (tests/fixtures/definitions/good/)"
                )),
                (Err(e), _) => wrong.push(format!("includes {path}, which does not open: {e}")),
            }
        }
        return wrong;
    }
    if matches!(block.language.as_str(), "yaml" | "yml")
        && let Ok(serde_yaml_ng::Value::Mapping(top)) =
            serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text)
    {
        let key = |k: &str| top.contains_key(serde_yaml_ng::Value::String(k.to_owned()));
        if key("stages") || key("application") {
            wrong.push(
                "shows a definition inline: put it in tests/fixtures/definitions/good/ and \
                 {{#include}} it"
                    .to_owned(),
            );
        }
    }
    for (flat, now) in FLAT_PARAMETERS {
        let given = text.match_indices(&format!("{flat}=")).any(|(at, _)| {
            // `Stages=` is not `ApprovalStages=`.
            !text[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric())
        });
        let keyed = matches!(block.language.as_str(), "yaml" | "yml")
            && text.lines().any(|l| l.starts_with(&format!("{flat}:")));
        if given || keyed {
            wrong.push(format!(
                "gives the Sluice stack {flat} by hand: it comes from the definition ({now}), \
                 through `sluice definition parameters`"
            ));
        }
    }
    let overrides = text.contains("parameter-overrides") || text.contains("parameter_overrides");
    if overrides && !text.contains("$(sluice definition parameters") {
        wrong.push(
            "overrides the stack's parameters without `$(sluice definition parameters FILE)`"
                .to_owned(),
        );
    }
    wrong
}

#[test]
fn every_definition_the_book_shows_is_a_tested_file() {
    let mut wrong = Vec::new();
    let mut included = 0;
    for page in pages() {
        let markdown = std::fs::read_to_string(&page).expect("read the page");
        let name = page
            .strip_prefix(root())
            .unwrap_or(&page)
            .display()
            .to_string();
        for block in blocks(&markdown) {
            if block.text.contains("fixtures/definitions/good/") {
                included += 1;
            }
            for problem in problems(&page, &block) {
                wrong.push(format!("{name}:{}: {problem}", block.line));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The guide's definitions, besides the reference's two.
    assert!(
        included > 2,
        "only {included} definitions included in the book"
    );
}

#[test]
fn the_check_sees_what_it_looks_for() {
    let page = root().join("docs/src/guide/page.md");
    let block = |language: &str, text: &str| Block {
        line: 1,
        language: language.to_owned(),
        text: text.to_owned(),
    };
    let inline = block(
        "yaml",
        "application: a\nsource: {repository: a}\nstages: [{name: s}]\n",
    );
    assert_eq!(problems(&page, &inline).len(), 1);
    let by_hand = block(
        "sh",
        "sam deploy --parameter-overrides Stages=staging ApprovalStages=production\n",
    );
    assert_eq!(
        problems(&page, &by_hand).len(),
        3,
        "{:?}",
        problems(&page, &by_hand)
    );
    let toml = block("toml", "parameter_overrides = [\"TestStages=staging\"]\n");
    assert_eq!(problems(&page, &toml).len(), 2);
    let missing = block(
        "yaml",
        "{{#include ../../../tests/fixtures/definitions/good/no-such-file.yaml}}",
    );
    assert_eq!(problems(&page, &missing).len(), 1);
    let good = block(
        "sh",
        "sam deploy --parameter-overrides $(sluice definition parameters sluice.yaml) \\\n  \
         AdministratorArn=arn:aws:iam::123456789012:role/admin\n",
    );
    assert!(problems(&page, &good).is_empty());
    let included = block(
        "yaml",
        "{{#include ../../../tests/fixtures/definitions/good/minimal.yaml}}",
    );
    assert!(problems(&page, &included).is_empty());
}
