# Airlock's one task runner; CI (.ci/run) calls `make lint` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
KEYRING := tests/harness/with-keyring.sh
MOTO := tests/harness/with-moto.sh

.PHONY: run demo-cli test test-rust test-ui test-e2e lint bench fuzz setup ui build bindings fmt clean

setup:
	bash scripts/setup.sh

## The web UI: npm packages exactly as locked, then a production build into ui/dist.
ui/node_modules/.package-lock.json: ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund
ui: setup ui/node_modules/.package-lock.json
	cd ui && npm run --silent build

build: setup ui
	$(CARGO) build --workspace

## The console on the embedded default (the demo workspace on first run). With no display,
## it runs under Xvfb and saves screenshots to ./screenshots/.
run: build
	bash scripts/console.sh

## A scripted tour of the command line on a local folder and a local key.
demo-cli: build
	bash scripts/demo.sh

## Everything: engine, CLI and console command tests (against a real gnome-keyring and a
## moto server for S3, KMS and CloudFront), the UI unit tests, and the end-to-end tests of
## the real window under Xvfb through WebDriver.
test: setup ui
	$(CARGO) build --workspace --tests
	tests/harness/python-env.sh >/dev/null
	$(KEYRING) $(MOTO) $(CARGO) test --workspace --no-fail-fast
	cd ui && npx vitest run
	bash tests/e2e/run.sh

## The TypeScript bindings of the console's commands, from the Rust types.
bindings: setup
	$(CARGO) run --quiet -p airlock-console --bin airlock-bindings

lint: setup ui
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	@tmp=$$(mktemp --suffix=.ts) && $(CARGO) run --quiet -p airlock-console --bin airlock-bindings "$$tmp" && \
	  if ! diff -q "$$tmp" ui/src/lib/bindings.ts >/dev/null; then \
	    echo "ui/src/lib/bindings.ts differs from the Rust types: run make bindings"; diff "$$tmp" ui/src/lib/bindings.ts | head -40; rm -f "$$tmp"; exit 1; fi; rm -f "$$tmp"
	cd ui && npm run --silent check

bench: setup
	bash bench/run.sh

## Every fuzz target (fuzz/) for FUZZ_SECONDS each, default 120, on the nightly toolchain.
fuzz:
	bash scripts/fuzz.sh

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf demo bench-out screenshots ui/dist ui/node_modules
