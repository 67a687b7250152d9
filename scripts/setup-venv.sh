#!/usr/bin/env bash
# Creates (or refreshes) a Python virtual environment with exactly pinned tools.
# Usage: scripts/setup-venv.sh <venv dir> <requirements file>
# Prints what to do when Python, venv or the package index is missing.
set -uo pipefail

venv=$1
requirements=$2
python=${PYTHON:-python3}

fail() {
    printf '\nsetup failed: %s\n' "$1" >&2
    shift
    for line in "$@"; do printf '  %s\n' "$line" >&2; done
    exit 1
}

command -v "$python" >/dev/null 2>&1 ||
    fail "$python was not found." \
        "Sluice's tests run the AWS emulator (MiniStack), a Python program." \
        "Install Python 3.10 or newer (Debian/Ubuntu: apt-get install python3 python3-venv)," \
        "or point PYTHON at one: make test PYTHON=/path/to/python3"

"$python" - <<'PY' || fail "$python is too old." "Python 3.10 or newer is needed; set PYTHON=/path/to/python3.1x"
import sys
sys.exit(0 if sys.version_info >= (3, 10) else 1)
PY

if [ ! -x "$venv/bin/python" ]; then
    echo "Creating $venv with $("$python" --version 2>&1)"
    "$python" -m venv "$venv" ||
        fail "could not create the virtual environment $venv." \
            "On Debian/Ubuntu the venv module is separate: apt-get install python3-venv" \
            "then run the same make command again."
fi

echo "Installing pinned tools from $requirements into $venv (first run: about a minute)"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" ||
    fail "pip could not install $requirements." \
        "Check that PyPI is reachable (pip's message is above)." \
        "Remove $venv and run the same make command again to start clean."
