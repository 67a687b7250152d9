//! Text from outside (commit messages, authors, approvers, AWS's reasons) made safe
//! to store and to show in a terminal, an email or a page: bounded, without control
//! characters, terminal escape sequences or bidirectional overrides, and, where it
//! is one line, with no line breaks to forge another line with.

/// `n` of a regular noun, in the singular for one: `1 change`, `2 changes`.
pub fn counted(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// Characters that reorder how text is displayed (Trojan Source), never shown.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` without terminal escape sequences and with every other control or bidi
/// character passed to `replace` (which returns what to put instead, if anything).
fn scrub(text: &str, mut replace: impl FnMut(char) -> Option<char>) -> String {
    let mut out = String::with_capacity(text.len().min(4096));
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // ESC [ … final byte (CSI), ESC ] … BEL or ESC \ (OSC), ESC and one more.
            '\u{1b}' => match chars.next() {
                Some('[') => {
                    for n in chars.by_ref() {
                        if ('@'..='~').contains(&n) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    while let Some(n) = chars.next() {
                        if n == '\u{7}' || (n == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                _ => {}
            },
            c if c.is_control() || is_bidi_control(c) => out.extend(replace(c)),
            c => out.push(c),
        }
    }
    out
}

fn cap(mut text: String, max_chars: usize) -> String {
    if let Some((at, _)) = text.char_indices().nth(max_chars) {
        let keep = text[..at]
            .char_indices()
            .nth(max_chars.saturating_sub(1))
            .map_or(at, |(i, _)| i);
        text.truncate(keep);
        text.push('…');
    }
    text
}

/// One line of at most `max_chars` characters: line breaks and tabs become spaces,
/// runs of spaces one space, other controls and escapes disappear.
pub fn line(text: &str, max_chars: usize) -> String {
    let scrubbed = scrub(text, |c| c.is_whitespace().then_some(' '));
    let collapsed = scrubbed.split_whitespace().collect::<Vec<_>>().join(" ");
    cap(collapsed, max_chars)
}

/// A block of lines of at most `max_chars` characters in all: line breaks stay
/// (`\r\n` read as `\n`), tabs become spaces, other controls and escapes disappear,
/// trailing blank space goes.
pub fn block(text: &str, max_chars: usize) -> String {
    let scrubbed = scrub(text, |c| match c {
        '\n' => Some('\n'),
        '\t' => Some(' '),
        _ => None,
    });
    cap(scrubbed.trim_end().to_owned(), max_chars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_cannot_forge_another_line() {
        assert_eq!(
            line("Eve\r\nWhat happened: approved", 100),
            "Eve What happened: approved"
        );
        assert_eq!(line("  a \t b  ", 100), "a b");
    }

    #[test]
    fn escapes_and_bidi_overrides_are_removed() {
        assert_eq!(line("\u{1b}[31mred\u{1b}[0m", 100), "red");
        assert_eq!(line("\u{1b}]0;title\u{7}ok", 100), "ok");
        assert_eq!(line("\u{1b}]8;;http://x\u{1b}\\link", 100), "link");
        assert_eq!(line("abc\u{202E}fed\u{2066}", 100), "abcfed");
        assert_eq!(line("nul\u{0}\u{9b}x", 100), "nulx");
        assert_eq!(
            block("one\r\ntwo\u{1b}[2J\n\tthree\n\n", 100),
            "one\ntwo\n three"
        );
    }

    #[test]
    fn text_is_bounded_on_a_character_boundary() {
        assert_eq!(line(&"é".repeat(10), 4), "ééé…");
        assert_eq!(block(&"x".repeat(300_000), 1000).chars().count(), 1000);
        assert_eq!(line("short", 5), "short");
    }
}
