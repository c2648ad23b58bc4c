#!/usr/bin/env bash
# Runs the mutation benchmark for two server builds side by side, alternating
# A, B, A, B in each mode (hot, then disjoint), so both see the same machine
# load. Prints one summary line per run.
#
#   bash bench/compare_mutations.sh /tmp/courier-before ./target/release/courier
#   ROUNDS=3 BENCH_SECONDS=30 bash bench/compare_mutations.sh A B
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1
B=$2
ROUNDS=${ROUNDS:-2}
cargo build --release --quiet --bin courier --example mutation_load
for mode in hot disjoint; do
  for round in $(seq 1 "$ROUNDS"); do
    for bin in "$A" "$B"; do
      out=$(BENCH_BUILD=0 BENCH_MODE=$mode BENCH_SERVER=$bin bash bench/mutations.sh 2>&1)
      caps=$(grep -o 'captures per second: [0-9.]*' <<< "$out" | cut -d' ' -f4)
      p50=$(grep '^capturePayment' <<< "$out" | grep -o 'p50 *[0-9.]*' | grep -o '[0-9.]*$')
      p99=$(grep '^capturePayment' <<< "$out" | grep -o 'p99 *[0-9.]*' | grep -o '[0-9.]*$')
      load=$(grep -o 'load average before: [0-9.]*' <<< "$out" | cut -d' ' -f4)
      retries=$(grep -o 'payment_capture_retry): [0-9]*' <<< "$out" | cut -d' ' -f2)
      failed=$(grep '^outcome capturePayment' <<< "$out" | grep -v ' ok:' | tr '\n' ' ' || true)
      violations=$(grep -o 'entries: [0-9]* violation' <<< "$out" | grep -o '[0-9]*' || echo "?")
      echo "mode=$mode round=$round server=$bin captures/s=$caps p50=${p50}ms p99=${p99}ms retries=$retries load=$load failed=[${failed}] violations=$violations"
    done
  done
done
