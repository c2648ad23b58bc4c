#!/usr/bin/env bash
# Mutation benchmark: 16 concurrent clients loop create order -> initiate
# payment -> capture, over 100 funded buyers, against a release build on
# PostgreSQL. Prints per-step throughput and latency, every capture outcome,
# the capture retry count from the server log, and `courier ledger verify`.
#
#   bash bench/mutations.sh                        # hot mode: one seller, 20 s
#   BENCH_MODE=disjoint bash bench/mutations.sh    # buyer i pays seller i
#   BENCH_SECONDS=60 BENCH_WORKERS=32 bash bench/mutations.sh
#   BENCH_SERVER=/tmp/courier-before bash bench/mutations.sh   # another build
#   BENCH_BUILD=0 ...                              # skip `cargo build`
#
# `bench/compare_mutations.sh BEFORE AFTER` alternates two builds in one run.
set -euo pipefail
cd "$(dirname "$0")/.."

PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
DB=${BENCH_DB:-courier_bench_mutations}
ORDERS=${BENCH_ORDERS:-0}
PORT=${BENCH_PORT:-8090}
SERVER_BIN=${BENCH_SERVER:-./target/release/courier}
export DATABASE_URL="$PG/$DB"
export COURIER_BIND="127.0.0.1:$PORT"
export COURIER_LOG=warn
export COURIER_LOG_FORMAT=json
export COURIER_DB_POOL_MAX=${BENCH_POOL:-16}
# Buyers are funded with 1,000,000.00 each, and the sellers grow with the run.
export COURIER_MAX_TOP_UP=1000000
export COURIER_MAX_WALLET_BALANCE=1000000000
export BENCH_URL="http://127.0.0.1:$PORT/graphql"

if [ "${BENCH_BUILD:-1}" = 1 ]; then
  cargo build --release --quiet --bin courier --example mutation_load
fi
psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
"$SERVER_BIN" seed --orders "$ORDERS" > /dev/null
psql -q "$DATABASE_URL" -c "VACUUM ANALYZE"

LOG=$(mktemp)
"$SERVER_BIN" serve > "$LOG" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$PORT/health/db" > /dev/null && break; sleep 0.2; done

echo "== server: $SERVER_BIN, mode: ${BENCH_MODE:-hot}, $ORDERS seeded orders"
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
./target/release/examples/mutation_load
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "capture retries (payment_capture_retry): $(grep -c '"payment_capture_retry"' "$LOG" || true)"
echo "slow statements (slow_query_detected): $(grep -c '"slow_query_detected"' "$LOG" || true)"
echo "internal errors in the log: $(grep -c '"INTERNAL_SERVER_ERROR"' "$LOG" || true)"
./target/release/courier ledger verify
