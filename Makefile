# Sluice's two entry points. `make test` works on a fresh clone: it installs the
# pinned AWS emulator into .venv, then runs the format, lint and test checks.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
EMULATOR := $(VENV)/.emulator-installed

export SLUICE_MINISTACK := $(CURDIR)/$(VENV)/bin/ministack

.PHONY: test setup check-toolchain fmt clean

test: setup
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	cargo test --workspace --locked

setup: check-toolchain $(EMULATOR)

check-toolchain:
	@command -v cargo >/dev/null 2>&1 || { \
	  echo "setup failed: cargo was not found. Install Rust (rustup) and run make test again." >&2; exit 1; }

$(EMULATOR): requirements/emulator.txt scripts/setup-venv.sh
	@PYTHON=$(PYTHON) scripts/setup-venv.sh $(VENV) requirements/emulator.txt
	@touch $@

fmt:
	cargo fmt --all

clean:
	cargo clean
	rm -rf $(VENV)
