# Sourced by the read benchmarks (read_api.sh, telemetry_cost.sh): builds the
# release binary, seeds 10,000 orders into a database of its own (unless
# BENCH_BUILD=0), exports BENCH_TOKEN (an admin's) and defines wait_for URL.
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
DB=${BENCH_DB:-courier_bench}
export DATABASE_URL="$PG/$DB"
export COURIER_DB_POOL_MAX=${BENCH_POOL:-16}

command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }
if [ "${BENCH_BUILD:-1}" != 0 ]; then
  cargo build --release --quiet
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
  ./target/release/courier seed --orders 10000
  psql -q "$DATABASE_URL" -c "VACUUM ANALYZE"
fi
export BENCH_TOKEN
BENCH_TOKEN=$(./target/release/courier token --email admin@courier.test)

wait_for() {
  for _ in $(seq 1 50); do
    curl -fs "$1" > /dev/null && return 0
    sleep 0.2
  done
  echo "no answer from $1" >&2
  return 1
}
