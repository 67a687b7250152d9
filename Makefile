# Sluice's entry points. Each works on a fresh clone: it installs what it needs
# (pinned Python tools into .venv, the Rust arm64 target) before it runs.
#
#   make demo    the example application through the whole pipeline, locally
#   make test    format, lint and every test, template lints and IAM policy tests included
#   make build   the orchestrator's arm64 Lambda binaries, through `sam build`
#   make bench   the figures behind bench/README.md (target/bench/report.json)
#   make soak    the long soak: 50 executions under duplicated and reordered events and
#                a tenth of the functions' AWS requests failed
#   make book    the manual (docs/) as a book in target/book, every link checked

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
EMULATOR := $(VENV)/emulator/.installed
TOOLS := $(VENV)/tools/.installed
TOOLS_BIN := $(CURDIR)/$(VENV)/tools/bin
CHECKOV := $(VENV)/checkov/.installed
FAULTS := $(VENV)/faults/.installed
# What local builds find on their PATH besides the machine's own: `sam`, `cargo-lambda`
# and `zig` (TOOLS) and `aws`, each linked alone into the build's own bin directory.
AWSCLI := $(VENV)/awscli/.installed
# mdBook, pinned, from crates.io: the book under docs/ (`make book`).
MDBOOK_VERSION := 0.5.4
MDBOOK := $(VENV)/mdbook/.installed-$(MDBOOK_VERSION)
EXAMPLE := examples/hello-api

# The templates every check covers.
TEMPLATES := template.yaml templates/deploy-target.yaml $(EXAMPLE)/template.yaml

export SLUICE_MINISTACK := $(CURDIR)/$(VENV)/emulator/bin/ministack
export SLUICE_MICROBURST := $(CURDIR)/$(VENV)/faults/bin/microburst
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: demo test build bench soak setup test-setup browser check-toolchain cli-without-local lint-templates policy-test example-test arm64-target fmt clean book shape

# DEMO_AUTO_APPROVE=1 approves through the page instead of waiting for a click.
demo: check-toolchain $(EMULATOR) $(TOOLS) $(AWSCLI)
	cargo build --locked --workspace --bins
	target/debug/sluice demo

test: test-setup browser
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	cargo test --workspace --locked
	$(MAKE) --no-print-directory shape cli-without-local example-test lint-templates policy-test book

# The code's shape (issue 31): no Rust file over 600 lines, no #[path] module, no
# import circle between a crate's top-level modules.
shape:
	$(PYTHON) scripts/shape.py

# The `sluice` an operator or approver installs (`--no-default-features`) builds, and
# links no Lambda shell, CodeBuild client, web server or zip writer.
cli-without-local:
	cargo check -p sluice --no-default-features --locked
	@if cargo tree -p sluice --no-default-features -e normal --locked \
	  | grep -E ' (lambda_runtime|lambda_http|aws-sdk-codebuild|axum|zip) v'; then \
	  echo "the sluice CLI without local mode links the crates above; it should not" >&2; exit 1; fi

# The virtual environments install side by side: each mostly waits on PyPI.
VENVS := $(EMULATOR) $(TOOLS) $(CHECKOV) $(AWSCLI) $(FAULTS)
setup: check-toolchain
	@$(MAKE) --no-print-directory --silent -j5 --output-sync=target $(VENVS)

# make test's tools besides: mdBook compiles (about 90 s on two cores) while the
# virtual environments wait on PyPI, instead of after every test.
test-setup: check-toolchain
	@$(MAKE) --no-print-directory --silent -j6 --output-sync=target $(VENVS) $(MDBOOK)

browser:
	@scripts/install-browser.sh

check-toolchain:
	@command -v cargo >/dev/null 2>&1 || { \
	  echo "setup failed: cargo was not found. Install Rust (rustup) and run make again." >&2; exit 1; }

$(EMULATOR): requirements/emulator.txt scripts/setup-venv.sh
	@PYTHON=$(PYTHON) scripts/setup-venv.sh $(VENV)/emulator requirements/emulator.txt
	@touch $@

$(FAULTS): requirements/faults.txt scripts/setup-venv.sh
	@PYTHON=$(PYTHON) scripts/setup-venv.sh $(VENV)/faults requirements/faults.txt
	@touch $@

$(CHECKOV): requirements/checkov.txt scripts/setup-venv.sh
	@PYTHON=$(PYTHON) scripts/setup-venv.sh $(VENV)/checkov requirements/checkov.txt
	@touch $@

$(AWSCLI): requirements/awscli.txt scripts/setup-venv.sh
	@PYTHON=$(PYTHON) scripts/setup-venv.sh $(VENV)/awscli requirements/awscli.txt
	@touch $@

$(TOOLS): requirements/tools.txt scripts/setup-venv.sh
	@PYTHON=$(PYTHON) scripts/setup-venv.sh $(VENV)/tools requirements/tools.txt
	@touch $@

# Without its default features mdBook builds no server, file watcher or search index:
# `build` is all the book needs. The stamp names the version, so a new pin installs.
$(MDBOOK):
	cargo install mdbook --version $(MDBOOK_VERSION) --locked --no-default-features --root $(VENV)/mdbook
	@touch $@

# The book (docs/book.toml writes it to target/book), then every relative link of the
# book, README.md and bench/README.md: a missing file or heading, a link out of the
# repository or a chapter SUMMARY.md does not list fails.
book: check-toolchain $(MDBOOK)
	$(VENV)/mdbook/bin/mdbook build docs
	$(PYTHON) scripts/check-links.py

# The example application is its own project, as it would be in its own repository;
# it shares our target directory only to reuse compiled dependencies.
example-test:
	cd $(EXAMPLE) && cargo fmt --check
	cd $(EXAMPLE) && CARGO_TARGET_DIR=$(CURDIR)/target/example cargo clippy --all-targets --locked -- -D warnings
	cd $(EXAMPLE) && CARGO_TARGET_DIR=$(CURDIR)/target/example cargo test --locked

# The attacks a pushed commit could make, tried against the templates' IAM policies
# (tests/policy; Node and an IAM policy simulator, pinned in its package-lock.json).
POLICY_TESTS := tests/policy
$(POLICY_TESTS)/node_modules/.installed: $(POLICY_TESTS)/package.json $(POLICY_TESTS)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  echo "setup failed: npm was not found. Install Node.js 20 or later (with npm) and run make again." >&2; exit 1; }
	cd $(POLICY_TESTS) && npm ci --no-audit --no-fund
	@touch $@

policy-test: $(POLICY_TESTS)/node_modules/.installed
	cd $(POLICY_TESTS) && node --test

# checkov fails on any finding; a check that does not apply is skipped in the
# resource's Metadata, with the reason, or in .checkov.yaml where it applies to no
# resource of its kind. --skip-download: it runs offline.
# checkov cannot read Fn::ForEach (it skips those resources silently), so it reads
# template.yaml with the loops expanded, by the emulator's own transform.
lint-templates: $(TOOLS) $(CHECKOV) $(EMULATOR)
	$(TOOLS_BIN)/cfn-lint $(TEMPLATES)
	@mkdir -p target/lint
	$(VENV)/emulator/bin/python scripts/expand-template.py template.yaml target/lint/template.json
	$(VENV)/checkov/bin/checkov --config-file .checkov.yaml --quiet --compact --skip-download --framework cloudformation -f target/lint/template.json $(addprefix -f ,$(filter-out template.yaml,$(TEMPLATES)))
	@for t in $(TEMPLATES); do \
	  echo "sam validate --lint $$t"; \
	  PATH=$(TOOLS_BIN):$$PATH sam validate --lint --template-file $$t || exit 1; \
	done

arm64-target:
	@rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu || { \
	  echo "Adding the Rust target aarch64-unknown-linux-gnu (Lambda's arm64)"; \
	  rustup target add aarch64-unknown-linux-gnu; }

build: setup arm64-target
	@PATH=$(TOOLS_BIN):$$PATH scripts/build.sh

# Benchmarks print numbers; none passes or fails on time. Release builds for this
# machine, as Lambda runs them (for arm64, see `make build`'s sizes).
FUNCTIONS := source build deploy approval operator sweeper
BENCH_EXECUTIONS ?= 5
bench: setup
	cargo build --release --locked -p sluice-bench $(addprefix -p sluice-,$(FUNCTIONS))
	target/release/sluice-bench coldstart target/release/bare-runtime $(addprefix target/release/sluice-,$(FUNCTIONS))
	target/release/sluice-bench sizes
	target/release/sluice-bench scale --ministack $(SLUICE_MINISTACK)
	target/release/sluice-bench pipeline --app quick --executions $(BENCH_EXECUTIONS)
	target/release/sluice-bench pipeline --app example --executions 2

# The soak's long form; `make test` runs the same scenario short (3 + 5 pushes).
# SOAK_FAULTS: the share of the functions' AWS requests throttled or failed.
SOAK_PUSHES ?= 30
SOAK_STORM ?= 20
SOAK_FAULTS ?= 0.1
soak: setup
	SLUICE_SOAK_PUSHES=$(SOAK_PUSHES) SLUICE_SOAK_STORM=$(SOAK_STORM) SLUICE_SOAK_FAULTS=$(SOAK_FAULTS) \
	  cargo test --locked -p sluice --test sluice scenarios::duplicated_and_reordered_events -- --nocapture

fmt:
	cargo fmt --all
	cd $(EXAMPLE) && cargo fmt

clean:
	cargo clean
	rm -rf $(VENV) .aws-sam .sluice-local
