"""Fails on a broken link in Sluice's Markdown: the book (docs/src), README.md and
bench/README.md. Python 3's standard library only.

    check-links.py

A relative link must name a file or folder that exists inside the repository (a
repository cloned alone has nothing beside it), and its `#anchor`, when it points
into a Markdown file, must be one of that file's headings, made into an anchor as
GitHub and mdBook make it: lower case, spaces to '-', punctuation other than '-'
and '_' dropped, a repeated heading numbered (`-1`, `-2`). Links to http(s):// and
mailto: are not checked. A path in a code span that starts with `../` and leaves
the repository is refused too. Every chapter under docs/src must be in
docs/src/SUMMARY.md, and every SUMMARY.md entry must name a file.

Prints each problem as `file:line: ...` and exits 1 if there is one.
"""

import os
import re
import sys
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOOK = os.path.join(ROOT, "docs", "src")
SUMMARY = os.path.join(BOOK, "SUMMARY.md")

FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)", re.DOTALL)
INLINE_LINK = re.compile(r"!?\[([^\]]*)\]\(\s*(<[^>]*>|[^)\s]*)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)", re.MULTILINE)
ATX_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
SETEXT_UNDERLINE = re.compile(r"^\s{0,3}(=+|-+)\s*$")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def markdown_files():
    files = [os.path.join(ROOT, "README.md"), os.path.join(ROOT, "bench", "README.md")]
    for folder, _, names in os.walk(BOOK):
        files += [os.path.join(folder, n) for n in sorted(names) if n.endswith(".md")]
    return sorted(f for f in files if os.path.isfile(f))


def without_fences(text):
    """The text with every fenced code block's lines blanked (line numbers kept)."""
    lines = text.split("\n")
    fence = None
    for i, line in enumerate(lines):
        match = FENCE.match(line)
        if fence is None:
            if match:
                fence = match.group(1)
                lines[i] = ""
        else:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = None
            lines[i] = ""
    return "\n".join(lines)


def code_spans(text):
    """(offset, content) of each code span that does not cross a blank line."""
    spans = []
    for match in CODE_SPAN.finditer(text):
        if "\n\n" not in match.group(0):
            spans.append((match.start(), match.end(), match.group(2)))
    return spans


def blank(text, spans):
    """The text with the code spans replaced by spaces (newlines kept)."""
    chars = list(text)
    for start, end, _ in spans:
        for i in range(start, end):
            if chars[i] != "\n":
                chars[i] = " "
    return "".join(chars)


def anchor(heading):
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "")
    out = []
    for ch in text.strip().lower():
        if ch.isalnum() or ch in "-_":
            out.append(ch)
        elif ch.isspace():
            out.append("-")
    return "".join(out)


_anchors = {}


def anchors_of(path):
    if path not in _anchors:
        with open(path, encoding="utf-8") as f:
            lines = without_fences(f.read()).split("\n")
        found, seen = set(), {}
        for i, line in enumerate(lines):
            heading = None
            match = ATX_HEADING.match(line)
            if match:
                heading = match.group(2)
            elif (
                i > 0
                and SETEXT_UNDERLINE.match(line)
                and lines[i - 1].strip()
                and not lines[i - 1].lstrip().startswith(("-", "*", "+", "|", ">"))
                and not ATX_HEADING.match(lines[i - 1])
            ):
                heading = lines[i - 1]
            if heading is None:
                continue
            base = anchor(heading)
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
        _anchors[path] = found
    return _anchors[path]


def inside_repository(path):
    return os.path.commonpath([ROOT, path]) == ROOT


def rel(path):
    return os.path.relpath(path, ROOT)


def check_target(source, target):
    """None if the link resolves, else why not."""
    if target.startswith("<") and target.endswith(">"):
        target = target[1:-1]
    if not target:
        return "the link names nothing"
    if SCHEME.match(target):
        if target.lower().startswith(("http://", "https://", "mailto:")):
            return None
        return "a link with a scheme other than http(s) or mailto"
    if target.startswith("/"):
        return "an absolute path: make it relative to the file"
    path, _, fragment = target.partition("#")
    path = urllib.parse.unquote(path)
    resolved = (
        os.path.abspath(source)
        if not path
        else os.path.normpath(os.path.join(os.path.dirname(source), path))
    )
    if not inside_repository(resolved):
        return "leaves the repository (a clone alone would not have it)"
    if not os.path.exists(resolved):
        return f"no such file: {rel(resolved)}"
    if fragment and os.path.isfile(resolved) and resolved.endswith(".md"):
        if urllib.parse.unquote(fragment) not in anchors_of(resolved):
            return f"no heading of {rel(resolved)} has the anchor #{fragment}"
    return None


def line_of(text, offset):
    return text.count("\n", 0, offset) + 1


def summary_entries():
    """(line, target) of every chapter SUMMARY.md names."""
    with open(SUMMARY, encoding="utf-8") as f:
        text = f.read()
    prose = without_fences(text)
    prose = blank(prose, code_spans(prose))
    return [(line_of(prose, m.start()), m.group(2)) for m in INLINE_LINK.finditer(prose)]


def main():
    problems = []
    links = 0
    files = markdown_files()
    for source in files:
        with open(source, encoding="utf-8") as f:
            text = f.read()
        prose = without_fences(text)
        spans = code_spans(prose)
        for start, _, content in spans:
            content = content.strip()
            if content.startswith("../") and " " not in content:
                resolved = os.path.normpath(os.path.join(os.path.dirname(source), content))
                if not inside_repository(resolved):
                    problems.append(
                        f"{rel(source)}:{line_of(prose, start)}: path `{content}` "
                        "leaves the repository (a clone alone would not have it)"
                    )
        prose = blank(prose, spans)
        targets = [(m.start(), m.group(2)) for m in INLINE_LINK.finditer(prose)]
        targets += [(m.start(1), m.group(1)) for m in REFERENCE_DEF.finditer(prose)]
        for offset, target in targets:
            links += 1
            why = check_target(source, target)
            if why:
                problems.append(f"{rel(source)}:{line_of(prose, offset)}: broken link ({target}): {why}")

    if os.path.isfile(SUMMARY):
        listed = set()
        for line, target in summary_entries():
            target = target.strip("<>")
            if not target:
                problems.append(f"{rel(SUMMARY)}:{line}: an entry with no file (a draft chapter)")
                continue
            path = os.path.normpath(os.path.join(BOOK, urllib.parse.unquote(target.partition("#")[0])))
            listed.add(path)
        for chapter in files:
            if os.path.commonpath([BOOK, chapter]) == BOOK and chapter != SUMMARY and chapter not in listed:
                problems.append(f"{rel(chapter)}:1: a chapter that {rel(SUMMARY)} does not list")
    else:
        problems.append(f"{rel(SUMMARY)}:1: missing")

    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"check-links: {len(problems)} problem(s) in {len(files)} files", file=sys.stderr)
        return 1
    print(f"check-links: {links} links in {len(files)} files, each resolves")
    return 0


if __name__ == "__main__":
    sys.exit(main())
