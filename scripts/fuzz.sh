#!/usr/bin/env bash
# make fuzz: builds every cargo-fuzz target in fuzz/ (nightly toolchain) and runs each for
# FUZZ_SECONDS (default 120) from a scratch copy of its committed seed corpus, then prints
# executions and coverage per target. A crash stops the run with the input's path under
# fuzz/artifacts/<target>/: turn it into a regression test, then commit the input under
# fuzz/corpus/<target>/. FUZZ_TARGETS="pointer dsse" limits the targets.
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
# Built once, then run straight from target/ so no run holds cargo's lock.
cargo +nightly fuzz build -O
bin="target/$(rustc -vV | sed -n 's/^host: //p')/release"
report=$(mktemp)
printf '%-16s %12s %8s %8s %s\n' target executions cov ft seconds >"$report"
for t in $targets; do
  log=$(mktemp)
  work=$(mktemp -d)
  cp -r "corpus/$t/." "$work/" 2>/dev/null || true
  mkdir -p "artifacts/$t"
  echo "fuzzing $t for ${seconds}s"
  if ! "$bin/$t" -artifact_prefix="artifacts/$t/" -max_total_time="$seconds" \
    -print_final_stats=1 "$work" >"$log" 2>&1; then
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
