# Airlock's one task runner; CI (.ci/run) calls `make test`.
SHELL := /bin/bash
CARGO ?= cargo
KEYRING := tests/harness/with-keyring.sh

.PHONY: run test lint bench setup build fmt clean

setup:
	bash scripts/setup.sh

build: setup
	$(CARGO) build --workspace

## A scripted tour of the command line on the embedded default (until the desktop exists).
run: build
	bash scripts/demo.sh

## Everything: unit, integration and CLI tests, the CLI ones against a real gnome-keyring.
test: setup
	$(CARGO) build --workspace --tests
	$(KEYRING) $(CARGO) test --workspace --no-fail-fast

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
