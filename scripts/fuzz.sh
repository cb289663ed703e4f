#!/usr/bin/env bash
# make fuzz: runs every cargo-fuzz target in fuzz/ for FUZZ_SECONDS each (default 120) with
# the nightly toolchain, starting from the committed seed corpus, and prints executions and
# coverage per target. A crash stops the run with the target's artifact path; turn it into a
# regression test, then commit its input under fuzz/corpus/<target>/.
# FUZZ_TARGETS="pointer dsse" limits the targets.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-120}"
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "make fuzz needs the nightly toolchain (rustup toolchain install nightly)" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz (once)"
  cargo install cargo-fuzz --locked --quiet
fi
cd fuzz
targets="${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}"
report=$(mktemp)
printf '%-16s %12s %8s %8s %s\n' target executions cov ft seconds >"$report"
for t in $targets; do
  log=$(mktemp)
  # A scratch copy of the corpus grows during the run; the committed seeds stay as they are.
  work=$(mktemp -d)
  cp -r "corpus/$t/." "$work/" 2>/dev/null || true
  echo "fuzzing $t for ${seconds}s"
  if ! cargo +nightly fuzz run "$t" "$work" -- -max_total_time="$seconds" -print_final_stats=1 \
    >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz target $t FAILED: the input is under fuzz/artifacts/$t/" >&2
    exit 1
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo '?')
  ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo '?')
  printf '%-16s %12s %8s %8s %s\n' "$t" "$execs" "$cov" "$ft" "$seconds" >>"$report"
  rm -rf "$work" "$log"
done
echo
cat "$report"
rm -f "$report"
