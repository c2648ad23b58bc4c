#!/usr/bin/env bash
# Two builds alternated on W1 (A B A B ..), each run on its own: requests/s,
# the server's CPU per request (from /proc) and the page statement's mean
# execution (pg_stat_statements, reset before each run). Finer than
# peers/compare.sh for a change that moves a few percent; needs the
# database peers/compare.sh seeds (courier_bench) and pg_stat_statements.
#
#   bash bench/ab_w1.sh /tmp/courier-after /tmp/courier-before
#
# Settings: BENCH_ROUNDS (4), BENCH_DURATION (8s), BENCH_CONNS (8), BENCH_DB,
# BENCH_WORKLOAD (w1, or w2: one order by id, 200 random orders).
set -euo pipefail
cd "$(dirname "$0")/.."
DB=${BENCH_DB:-postgres://postgres@127.0.0.1:5432/courier_bench}
TCK=$(getconf CLK_TCK)
# PostgreSQL's CPU ticks: the postmaster with its exited children's, plus
# every live backend (as peers/compare.sh counts them).
pg_ticks() {
  local pm; pm=$(pgrep -x -o postgres)
  echo $(( $(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat") + $(cat $(pgrep -P "$pm" | sed 's|.*|/proc/&/stat|') 2>/dev/null | awk '{ s += $14 + $15 } END { print s + 0 }') ))
}
SCRIPT=bench/nested_page.lua
STATEMENT='WITH "page"%'
if [ "${BENCH_WORKLOAD:-w1}" = w2 ]; then
  export BENCH_BODY_FILE=bench/workloads/w2_courier.json BENCH_IDS_FILE=/tmp/ab_w2.ids
  psql -Atq "$DB" -c "SELECT id FROM orders WHERE deleted_at IS NULL ORDER BY random() LIMIT 200" |
    while read -r uuid; do printf 'Order:%s' "$uuid" | base64 -w0 | tr '+/' '-_' | tr -d '='; echo; done >"$BENCH_IDS_FILE"
  SCRIPT=bench/graphql.lua
  STATEMENT='SELECT "orders"."id"%related_parties%'
fi
for round in $(seq 1 "${BENCH_ROUNDS:-4}"); do
  for bin in "$@"; do
    DATABASE_URL=$DB COURIER_BIND=127.0.0.1:8088 COURIER_DB_POOL_MAX=16 "$bin" serve >/tmp/ab_w1_server.log 2>&1 &
    pid=$!
    for _ in $(seq 1 50); do curl -fs http://127.0.0.1:8088/health >/dev/null 2>&1 && break; sleep 0.1; done
    BENCH_TOKEN=$(DATABASE_URL=$DB "$bin" token --email admin@courier.test)
    export BENCH_TOKEN
    wrk -t2 -c8 -d3s -s "$SCRIPT" http://127.0.0.1:8088/graphql >/dev/null
    psql -Atq "$DB" -c "select pg_stat_statements_reset()" >/dev/null
    load=$(cut -d' ' -f1 /proc/loadavg)
    t0=$(awk '{print $14+$15}' "/proc/$pid/stat"); p0=$(pg_ticks)
    out=$(wrk -t2 -c"${BENCH_CONNS:-8}" -d"${BENCH_DURATION:-8s}" -s "$SCRIPT" http://127.0.0.1:8088/graphql)
    t1=$(awk '{print $14+$15}' "/proc/$pid/stat"); p1=$(pg_ticks)
    requests=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    cpu=$(echo "scale=3; ($t1 - $t0) * 1000 / $TCK / $requests" | bc)
    pg=$(echo "scale=3; ($p1 - $p0) * 1000 / $TCK / $requests" | bc)
    statement=$(psql -Atq "$DB" -c "select round(mean_exec_time::numeric, 3) from pg_stat_statements where query like '$STATEMENT' order by calls desc limit 1")
    echo "round $round $bin load=$load req/s=$rps server-cpu-ms/req=$cpu pg-cpu-ms/req=$pg statement-ms=$statement"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
  done
done
