#!/usr/bin/env python3
"""The house rules on the code's shape, checked (issue 31): no Rust source file over
600 lines, no `#[path]` module, and no import circle between a crate's top-level
modules (module a names `crate::b` while b, directly or through others, names a).
Prints each breach with what to do, and fails if there is one."""
import pathlib
import re
import subprocess
import sys

LIMIT = 600


def tracked_rust():
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.rs"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [pathlib.Path(p) for p in out.split() if pathlib.Path(p).is_file()]


def crate_sources(files):
    """Each crate's src directory (the folder holding its lib.rs or main.rs)."""
    roots = {f.parent for f in files if f.name in ("lib.rs", "main.rs") and f.parent.name == "src"}
    return sorted(roots)


def top_modules(src):
    mods = {}
    for f in src.rglob("*.rs"):
        first = f.relative_to(src).parts[0]
        if first in ("lib.rs", "main.rs"):
            continue
        mods.setdefault(first.removesuffix(".rs"), []).append(f)
    return mods


def without_unit_tests(text):
    i = text.find("#[cfg(test)]\nmod tests {")
    return text if i < 0 else text[:i]


def uses(mods):
    graph = {m: set() for m in mods}
    for m, files in mods.items():
        for f in files:
            if f.name == "tests.rs" or "tests" in f.parts[:-1][-1:]:
                continue
            text = without_unit_tests(f.read_text())
            named = re.findall(r"\bcrate::([a-z_][a-z0-9_]*)", text)
            for group in re.findall(r"\bcrate::\{([^}]*)\}", text, re.S):
                named += re.findall(r"(?:^|,)\s*([a-z_][a-z0-9_]*)", group)
            graph[m] |= {n for n in named if n in graph and n != m}
    return graph


def circles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main():
    files = tracked_rust()
    breaches = []
    for f in files:
        text = f.read_text()
        lines = text.count("\n")
        if lines > LIMIT:
            breaches.append(f"{f}: {lines} lines; split it by job (the limit is {LIMIT})")
        if re.search(r"#\[path\s*=", text):
            breaches.append(f"{f}: a #[path] module; make it an ordinary module of its folder")
    for src in crate_sources(files):
        graph = uses(top_modules(src))
        for component in circles(graph):
            arrows = [f"{a} -> {b}" for a in component for b in sorted(graph[a]) if b in component]
            breaches.append(
                f"{src}: import circle among {', '.join(component)} ({'; '.join(arrows)}); "
                "move what both need into a module of its own, below both"
            )
    for b in breaches:
        print(b, file=sys.stderr)
    if breaches:
        sys.exit(f"{len(breaches)} breach(es) of the code's shape")
    print(f"shape: {len(files)} Rust files, none over {LIMIT} lines, no #[path], no import circle")


if __name__ == "__main__":
    main()
