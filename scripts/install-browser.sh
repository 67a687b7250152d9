#!/usr/bin/env bash
# Installs Debian's Chromium and ChromeDriver, which the end-to-end test uses to
# click the approval page. Nothing is downloaded from anywhere but the package mirror.
set -uo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi

fail() {
    printf '\nsetup failed: %s\n' "$1" >&2
    shift
    for line in "$@"; do printf '  %s\n' "$line" >&2; done
    exit 1
}

command -v apt-get >/dev/null 2>&1 ||
    fail "chromium and chromedriver are missing and this is not a Debian-like system." \
        "Install Chromium and a matching ChromeDriver so that both are on PATH, then run make test again."

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    fail "installing chromium needs root." "Run: apt-get install chromium chromium-driver  (as root), then make test again."
fi

echo "Installing Debian's chromium and chromium-driver (for the approval page's browser test)"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 || {
    "${as_root[@]}" apt-get update -qq &&
        "${as_root[@]}" apt-get install -y -qq chromium chromium-driver
} || fail "apt-get could not install chromium and chromium-driver (its message is above)."
