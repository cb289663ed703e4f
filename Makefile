# Airlock's one task runner; CI (.ci/run) calls `make test`.
SHELL := /bin/bash
CARGO ?= cargo
KEYRING := tests/harness/with-keyring.sh
MOTO := tests/harness/with-moto.sh

.PHONY: run test lint bench setup build fmt clean

setup:
	bash scripts/setup.sh

build: setup
	$(CARGO) build --workspace

## A scripted tour of the command line on the embedded default (until the desktop exists).
run: build
	bash scripts/demo.sh

## Everything: unit, integration and CLI tests, against a real gnome-keyring and a moto
## server (S3, KMS, CloudFront) that the harness installs (pinned, in .venv) and starts.
test: setup
	$(CARGO) build --workspace --tests
	tests/harness/python-env.sh >/dev/null
	$(KEYRING) $(MOTO) $(CARGO) test --workspace --no-fail-fast

lint: setup
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench: setup
	bash bench/run.sh

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf demo bench-out
