#!/usr/bin/env bash
# W4, the mixed workload, through bench/mutations.sh: BENCH_WORKERS clients
# (16) for BENCH_SECONDS (20) send 80% reads (W1 nested page, W2 order by id,
# W3 the agent's active assignments) and 20% writes (create order, initiate
# and capture a wallet payment, confirm, offer to the agent, accept) over
# 10,000 seeded orders on PostgreSQL. Prints throughput and p50/p95/p99 per
# operation and for reads and writes, every outcome, then
# `courier ledger verify`, which must be clean.
#
#   bash bench/mixed.sh
#   BENCH_SECONDS=5 BENCH_BUILD=0 bash bench/mixed.sh      # quick
#   BENCH_SERVER=/tmp/courier-before bash bench/mixed.sh   # another build
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_MODE=mixed BENCH_DB=${BENCH_DB:-courier_bench_mixed} BENCH_ORDERS=${BENCH_ORDERS:-10000} \
  BENCH_PORT=${BENCH_PORT:-8091} exec bash bench/mutations.sh
