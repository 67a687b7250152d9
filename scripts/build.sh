#!/usr/bin/env bash
# Builds every function of template.yaml with cargo-lambda, then `sam build` (arm64), and
# reports each binary's architecture, size and zipped size, and the time it took.
# Fails if a function's bootstrap is missing or is not an arm64 executable.
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)
# The functions first, in one cargo invocation: their dependencies are compiled once
# and the six binaries linked side by side. `sam build` then runs
# `cargo lambda build --bin <function>` for each, with no `-p`: cargo selects the
# workspace's default members, and finds each binary built only if those are exactly
# the functions this build selects (the same packages, so the same features).
functions=$(sed -n 's/^ *Binary: \(sluice-[a-z]*\)$/\1/p' template.yaml | sort -u)
members=$(cargo metadata --locked --no-deps --format-version 1 | python3 -c '
import json, sys
m = json.load(sys.stdin)
names = {p["id"]: p["name"] for p in m["packages"]}
print("\n".join(sorted(names[i] for i in m["workspace_default_members"])))')
if [ "$functions" != "$members" ]; then
  echo "Cargo.toml's default-members must be exactly the functions template.yaml builds." >&2
  echo "  template.yaml: $(echo $functions)" >&2
  echo "  default-members: $(echo $members)" >&2
  echo "Add or remove the function in [workspace] default-members." >&2
  exit 1
fi
echo "cargo lambda build: $(echo $functions | wc -w) functions for arm64 (first run: several minutes)"
cargo lambda build --release --arm64 --locked
echo "sam build: the template's functions from those binaries"
sam build --beta-features --template-file template.yaml
elapsed=$(( $(date +%s) - start ))

python3 - "$elapsed" <<'PY'
import io, pathlib, struct, sys, zipfile

elapsed = int(sys.argv[1])
build = pathlib.Path(".aws-sam/build")
# Functions with the same code share one directory, which SAM names "<first>-Shared".
functions = sorted(
    p for p in build.iterdir() if p.is_dir() and p.name.endswith(("Function", "Function-Shared"))
)
if not functions:
    sys.exit("no functions were built under .aws-sam/build")
problems = []
print(f"\n{'function':<24} {'arch':<8} {'binary':>10} {'zipped':>10}")
total = 0
for f in functions:
    binary = f / "bootstrap"
    if not binary.is_file():
        problems.append(f"{f.name}: no bootstrap")
        continue
    data = binary.read_bytes()
    # ELF header: e_machine at offset 18; 183 is AArch64.
    machine = struct.unpack_from("<H", data, 18)[0] if data[:4] == b"\x7fELF" else None
    arch = {183: "arm64", 62: "x86_64"}.get(machine, "unknown")
    if arch != "arm64":
        problems.append(f"{f.name}: bootstrap is {arch}, not arm64")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bootstrap", data)
    zipped = len(buf.getvalue())
    total += zipped
    print(f"{f.name:<24} {arch:<8} {len(data)/1e6:>8.1f}MB {zipped/1e6:>8.1f}MB")
print(f"{'total zipped':<29} {total/1e6:>21.1f}MB")
print(f"built in {elapsed // 60}m{elapsed % 60:02d}s")
if problems:
    sys.exit("build check failed:\n  " + "\n  ".join(problems))
PY
