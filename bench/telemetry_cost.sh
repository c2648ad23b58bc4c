#!/usr/bin/env bash
# What metrics and the per-request summary line cost: the read benchmark's
# nested page of 50 orders (bench/read_api.sh) against two servers of the same
# release build on the same database, one with COURIER_METRICS=false and
# COURIER_REQUEST_LOG=false ("off"), one with both on and the summary line
# written as JSON ("on"), loaded alternately off, on, off, on, ... so machine
# noise falls on both. Prints requests/s per run, the on/off ratio of each
# pair, and the load average.
#
#   bash bench/telemetry_cost.sh                  # 4 pairs of 15 s at 8 connections
#   BENCH_PAIRS=6 BENCH_DURATION=20s bash bench/telemetry_cost.sh
#   BENCH_BUILD=0 ... reuses ./target/release/courier and the seeded database
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${BENCH_DURATION:-15s}
PAIRS=${BENCH_PAIRS:-4}
CONNECTIONS=${BENCH_CONNECTIONS:-8}
OFF_PORT=8091
ON_PORT=8092
# shellcheck source=bench/read_setup.sh
source bench/read_setup.sh

LOG_DIR=$(mktemp -d)
COURIER_BIND="127.0.0.1:$OFF_PORT" COURIER_LOG=warn COURIER_METRICS=false COURIER_REQUEST_LOG=false \
  ./target/release/courier serve > "$LOG_DIR/off.log" 2>&1 &
OFF=$!
COURIER_BIND="127.0.0.1:$ON_PORT" COURIER_LOG=info COURIER_LOG_FORMAT=json \
  ./target/release/courier serve > "$LOG_DIR/on.log" 2>&1 &
ON=$!
trap 'kill $OFF $ON 2>/dev/null || true; rm -rf "$LOG_DIR"' EXIT
wait_for "http://127.0.0.1:$OFF_PORT/health/db"
wait_for "http://127.0.0.1:$ON_PORT/health/db"
curl -fs "http://127.0.0.1:$OFF_PORT/metrics" > /dev/null && { echo "metrics should be off on $OFF_PORT" >&2; exit 1; }

run() {
  wrk -t2 -c"$CONNECTIONS" -d"$2" -s bench/nested_page.lua "http://127.0.0.1:$1/graphql" \
    | awk '/Requests\/sec/ {print $2} /^RESULT/ && !/ errors=0 / {print "errors:", $0 > "/dev/stderr"}'
}

echo "== warm-up"
run $OFF_PORT 5s > /dev/null
run $ON_PORT 5s > /dev/null
echo "== $PAIRS pairs, $DURATION each, $CONNECTIONS connections"
printf '%-5s %12s %12s %8s  %s\n' pair "off req/s" "on req/s" "on/off" "load average"
for i in $(seq 1 "$PAIRS"); do
  off=$(run $OFF_PORT "$DURATION")
  on=$(run $ON_PORT "$DURATION")
  printf '%-5s %12s %12s %8.3f  %s\n' "$i" "$off" "$on" "$(echo "$on / $off" | bc -l)" "$(cut -d' ' -f1-3 /proc/loadavg)"
done
echo "== summary lines written by the 'on' server: $(grep -c graphql_request_completed "$LOG_DIR/on.log")"
echo "== a scrape of the 'on' server: $(curl -fs "http://127.0.0.1:$ON_PORT/metrics" | grep -c '^courier_') samples"
