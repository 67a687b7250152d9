//! A template as CloudFormation reads it: parsed from the YAML or JSON the build
//! left, and written back, when Sluice changed it, so that CloudFormation reads
//! the same values in it.

use serde_yaml_ng::{Mapping, Value as Yaml};

/// How a template was written, and how Sluice writes it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Format {
    Yaml,
    Json,
}

/// The template `text`, JSON or YAML (CloudFormation's short forms, `!Ref`, kept as
/// tagged values). Why not, said of the template: "is not ...".
pub(super) fn parse(text: &str) -> Result<(Yaml, Format), String> {
    // JSON first: YAML parsers refuse some of it (a character outside the Basic
    // Multilingual Plane, escaped as a surrogate pair).
    if text.trim_start().starts_with('{')
        && let Ok(template) = serde_json::from_str::<Yaml>(text)
    {
        return Ok((template, Format::Json));
    }
    serde_yaml_ng::from_str(text)
        .map(|template| (template, Format::Yaml))
        .map_err(|e| format!("is not a YAML or JSON template: {e}"))
}

/// `template` as text in `format`, checked to read back as the same template;
/// `written` is the text the build left, whose quoting is kept.
pub(super) fn write(template: &Yaml, format: Format, written: &str) -> Result<String, String> {
    let text = match format {
        // A short form (none in JSON, unless Sluice put one there) has no JSON.
        Format::Json if !tagged(template) => serde_json::to_string_pretty(template)
            .map(|mut text| {
                text.push('\n');
                text
            })
            .map_err(|e| e.to_string()),
        _ => write_yaml(template, written),
    }
    .map_err(|e| format!("the template cannot be written: {e}"))?;
    let (back, _) = parse(&text).map_err(|why| format!("the template as written {why}"))?;
    if back != *template {
        return Err(
            "the template cannot be written so that it reads back the same; please report \
             this template to Sluice"
                .to_owned(),
        );
    }
    Ok(text)
}

fn tagged(value: &Yaml) -> bool {
    match value {
        Yaml::Tagged(_) => true,
        Yaml::Sequence(items) => items.iter().any(tagged),
        Yaml::Mapping(m) => m.iter().any(|(k, v)| tagged(k) || tagged(v)),
        _ => false,
    }
}

/// YAML as serde_yaml_ng writes it, except that a string YAML 1.1 would read as
/// something else stays quoted where `written` quoted it. serde_yaml_ng quotes what
/// YAML 1.2 would misread (`"true"`, `"10"`); CloudFormation reads YAML 1.1, where a
/// plain `OFF`, `no`, `1:30` or `2024-01-01` is no string either (AWS's CLI quotes
/// them the same way when it packages a template, aws/aws-cli#5257). serde_yaml_ng
/// reads the quoted and the plain `yes` as the same string, so the build's text says
/// which it was: quoted there (anywhere), it is quoted here; only plain, it stays
/// plain, and CloudFormation reads the boolean it read before. serde_yaml_ng has no
/// setting for a scalar's style, so each string to quote is written as a plain marker
/// first, and the marker replaced by the string in double quotes.
fn write_yaml(template: &Yaml, written: &str) -> Result<String, String> {
    let plain = serde_yaml_ng::to_string(template).map_err(|e| e.to_string())?;
    let mut marker = "sluicequoted".to_owned();
    while plain.contains(&marker) {
        marker.push('q');
    }
    let mut marks = Marks {
        marker,
        written,
        quoted: Vec::new(),
    };
    let marked = marks.mark(template);
    let Marks { marker, quoted, .. } = marks;
    if quoted.is_empty() {
        return Ok(plain);
    }
    let mut text = serde_yaml_ng::to_string(&marked).map_err(|e| e.to_string())?;
    for (i, string) in quoted.iter().enumerate() {
        // A JSON string is a YAML double-quoted scalar.
        let string = serde_json::to_string(string).map_err(|e| e.to_string())?;
        text = text.replacen(&format!("{marker}{i}x"), &string, 1);
    }
    Ok(text)
}

/// Strings to quote, each replaced by `<marker><n>x`, its index in `quoted`.
struct Marks<'a> {
    marker: String,
    written: &'a str,
    quoted: Vec<String>,
}

impl Marks<'_> {
    fn mark(&mut self, value: &Yaml) -> Yaml {
        match value {
            Yaml::String(s) if misread(s) && self.quoted_in_written(s) => {
                self.quoted.push(s.clone());
                Yaml::String(format!("{}{}x", self.marker, self.quoted.len() - 1))
            }
            Yaml::Sequence(items) => Yaml::Sequence(items.iter().map(|i| self.mark(i)).collect()),
            Yaml::Mapping(m) => Yaml::Mapping(
                m.iter()
                    .map(|(k, v)| (self.mark(k), self.mark(v)))
                    .collect::<Mapping>(),
            ),
            Yaml::Tagged(t) => {
                let mut t = t.clone();
                t.value = self.mark(&t.value);
                Yaml::Tagged(t)
            }
            other => other.clone(),
        }
    }

    fn quoted_in_written(&self, s: &str) -> bool {
        self.written.contains(&format!("\"{s}\"")) || self.written.contains(&format!("'{s}'"))
    }
}

/// Whether YAML 1.1 may read `s`, written plain, as other than this string: a
/// boolean (`y`, `no`, `ON`), a null, a merge or value key, or anything that starts
/// like a number (an integer in base 60, a date). Quoting more than that is harmless.
fn misread(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "y", "yes", "n", "no", "true", "false", "on", "off", "null", "~", "=", "<<",
    ];
    let mut chars = s.chars();
    let first = chars.next();
    let second = chars.next();
    WORDS.contains(&s.to_ascii_lowercase().as_str())
        || first.is_some_and(|c| c.is_ascii_digit())
        || (matches!(first, Some('+' | '-' | '.'))
            && second.is_some_and(|c| c.is_ascii_digit() || c == '.' || c == 'i' || c == 'I'))
        || s.eq_ignore_ascii_case(".nan")
        || s.eq_ignore_ascii_case(".inf")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        let (template, format) = parse(text).unwrap();
        write(&template, format, text).unwrap()
    }

    #[test]
    fn short_forms_survive_and_read_back_the_same() {
        let text = "Conditions:\n  IsProd: !Equals [!Ref Stage, production]\nResources:\n  \
                    Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      \
                    FunctionName: !Sub ${AWS::StackName}-fn\n      Table: !GetAtt Table.Arn\n      \
                    Both: !If [IsProd, !Ref AWS::NoValue, !Join ['', [a, !Ref B]]]\n      \
                    Zone: !Select [0, !GetAZs '']\n      Other: !ImportValue shared-output\n      \
                    Pairs: !Sub\n        - '${A}-x'\n        - A: !Ref B\n      \
                    InlineCode: |\n        exports.handler = async () => 'on';\n";
        let written = round_trip(text);
        for form in [
            "!Equals",
            "!Ref Stage",
            "!Sub ${AWS::StackName}-fn",
            "!GetAtt Table.Arn",
            "!If",
            "!Ref AWS::NoValue",
            "!Join",
            "!Select",
            "!GetAZs ''",
            "!ImportValue shared-output",
        ] {
            assert!(written.contains(form), "{form} lost:\n{written}");
        }
        assert!(
            written.contains("exports.handler = async () => 'on';\n"),
            "{written}"
        );
    }

    #[test]
    fn strings_yaml_1_1_misreads_are_quoted_and_nothing_else_is() {
        let text = "A: \"OFF\"\nB: 'no'\nC: '1:30'\nD: '2024-01-01'\nE: 'y'\nF: '.5'\n\
                    \"on\": key\nG: !Ref 'Yes'\nH: ENABLED\nI: AWS::IAM::Role\nJ: 10\nK: true\n";
        let written = round_trip(text);
        for line in [
            "A: \"OFF\"",
            "B: \"no\"",
            "C: \"1:30\"",
            "D: \"2024-01-01\"",
            "E: \"y\"",
            "F: \"",
            "\"on\": key",
            "G: !Ref \"Yes\"",
            "H: ENABLED",
            "I: AWS::IAM::Role",
            "J: 10",
            "K: true",
        ] {
            assert!(written.contains(line), "no {line} in:\n{written}");
        }
    }

    #[test]
    fn what_the_build_wrote_plain_stays_plain_for_yaml_1_1_to_read_as_before() {
        // CloudFormation read these as a boolean and a date, and still does.
        let text = "Enabled: yes\nSince: 2024-01-01\nMode: \"OFF\"\nAgain: OFF\n";
        let written = round_trip(text);
        for line in [
            "Enabled: yes\n",
            "Since: 2024-01-01\n",
            "Mode: \"OFF\"\n",
            // Quoted somewhere, quoted everywhere: the string is what is meant.
            "Again: \"OFF\"\n",
        ] {
            assert!(written.contains(line), "no {line} in:\n{written}");
        }
    }

    #[test]
    fn a_string_that_contains_the_marker_is_written_as_it_is() {
        let text = "A: sluicequoted0x\nB: 'no'\n";
        let written = round_trip(text);
        assert!(written.contains("A: sluicequoted0x\n"), "{written}");
        assert!(written.contains("B: \"no\"\n"), "{written}");
    }

    #[test]
    fn json_stays_json_in_its_order_and_a_yaml_flow_mapping_stays_yaml() {
        let text = "{\n\t\"Resources\": {\"Zed\": {\"Type\": \"AWS::SNS::Topic\"}, \
                    \"Alpha\": {\"Type\": \"AWS::SQS::Queue\", \"Properties\": {\"Tag\": \"no\"}}}\n}";
        let (template, format) = parse(text).unwrap();
        assert_eq!(format, Format::Json);
        let written = write(&template, format, text).unwrap();
        assert!(written.find("Zed").unwrap() < written.find("Alpha").unwrap());
        assert!(written.contains("\"Tag\": \"no\""), "{written}");
        let (_, format) = parse("{Resources: {Q: {Type: AWS::SQS::Queue}}}").unwrap();
        assert_eq!(format, Format::Yaml);
    }
}
