#!/usr/bin/env bash
# Mutation benchmark: 16 concurrent clients loop create order -> initiate
# payment -> capture, over 100 funded buyers, against the release build on
# PostgreSQL. Prints per-step throughput and latency, every capture outcome,
# the capture retry count from the server log, and `courier ledger verify`.
#
#   bash bench/mutations.sh                     # 20 s
#   BENCH_SECONDS=60 BENCH_WORKERS=32 bash bench/mutations.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
DB=${BENCH_DB:-courier_bench_mutations}
PORT=${BENCH_PORT:-8090}
export DATABASE_URL="$PG/$DB"
export COURIER_BIND="127.0.0.1:$PORT"
export COURIER_LOG=warn
export COURIER_LOG_FORMAT=json
export COURIER_DB_POOL_MAX=${BENCH_POOL:-16}
export BENCH_URL="http://127.0.0.1:$PORT/graphql"

cargo build --release --quiet --bin courier --example mutation_load
psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
./target/release/courier seed --orders 0 > /dev/null

LOG=$(mktemp)
./target/release/courier serve > "$LOG" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$PORT/health/db" > /dev/null && break; sleep 0.2; done

echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
./target/release/examples/mutation_load
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "capture retries (payment_capture_retry): $(grep -c '"payment_capture_retry"' "$LOG" || true)"
echo "slow statements (slow_query_detected): $(grep -c '"slow_query_detected"' "$LOG" || true)"
./target/release/courier ledger verify
