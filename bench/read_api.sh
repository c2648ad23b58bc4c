#!/usr/bin/env bash
# Read-API benchmark: the nested page of 50 orders (buyer, items, payment with
# ledger entries, assignments with agent and user) over 10,000 seeded orders on
# PostgreSQL, served by the release build, loaded by wrk at 8 and 32
# connections. Needs wrk (apt-get install wrk). Prints wrk's report per run.
#
#   bash bench/read_api.sh            # 20 s per run
#   BENCH_DURATION=60s bash bench/read_api.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${BENCH_DURATION:-20s}
PORT=${BENCH_PORT:-8088}
export COURIER_BIND="127.0.0.1:$PORT"
export COURIER_LOG=warn
# shellcheck source=bench/read_setup.sh
source bench/read_setup.sh

./target/release/courier serve > /dev/null &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
wait_for "http://127.0.0.1:$PORT/health/db"

echo "== statements per request (COURIER_DEBUG_SQL_COUNT on a second server)"
COURIER_DEBUG_SQL_COUNT=1 COURIER_BIND="127.0.0.1:$((PORT + 1))" ./target/release/courier serve > /dev/null &
COUNTER=$!
trap 'kill $SERVER $COUNTER 2>/dev/null || true' EXIT
wait_for "http://127.0.0.1:$((PORT + 1))/health"
BODY=$(cat bench/workloads/w1_courier.json)
curl -s "http://127.0.0.1:$((PORT + 1))/graphql" -H 'content-type: application/json' \
  -H "authorization: Bearer $BENCH_TOKEN" -d "$BODY" | grep -o '"sqlStatements":[0-9]*'
kill $COUNTER

echo "== warm-up"
wrk -t2 -c8 -d5s -s bench/nested_page.lua "http://127.0.0.1:$PORT/graphql" > /dev/null
for c in 8 32; do
  echo "== $c connections, $DURATION (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
  wrk -t2 -c"$c" -d"$DURATION" --latency -s bench/nested_page.lua "http://127.0.0.1:$PORT/graphql"
done
