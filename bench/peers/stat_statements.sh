#!/usr/bin/env bash
# Makes sure PostgreSQL loads pg_stat_statements (the statement counts and the
# SQL ceiling read it). Loading it needs a restart of PostgreSQL, done only
# when BENCH_RESTART_PG=1 (never while tests are using the server).
set -euo pipefail
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
loaded=$(psql -Atq "$PG/postgres" -c "SHOW shared_preload_libraries")
case ",$loaded," in *pg_stat_statements*) exit 0 ;; esac
if [ "${BENCH_RESTART_PG:-0}" != 1 ]; then
  echo "pg_stat_statements is not loaded; rerun with BENCH_RESTART_PG=1 to add it and restart PostgreSQL" >&2
  exit 1
fi
new=pg_stat_statements
[ -n "$loaded" ] && new="$loaded,pg_stat_statements"
psql -q "$PG/postgres" -c "ALTER SYSTEM SET shared_preload_libraries = '$new'"
pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main restart
for _ in $(seq 1 50); do psql -Atq "$PG/postgres" -c 'select 1' >/dev/null 2>&1 && exit 0; sleep 0.2; done
echo "PostgreSQL did not come back after the restart" >&2
exit 1
