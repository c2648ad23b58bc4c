#!/usr/bin/env python3
"""Turns compare.sh's results.tsv into a Markdown section for bench/RESULTS.md.

Usage: report.py RESULTS_TSV SAME_DATA_TXT COURIER_BINARY [NOTE] [COURIER_B_BINARY] [CEILING_MD]
"""
import datetime
import subprocess
import sys
from collections import defaultdict

tsv, same, binary = sys.argv[1:4]
note = sys.argv[4] if len(sys.argv) > 4 else ""
binary_b = sys.argv[5] if len(sys.argv) > 5 else ""
ceiling = sys.argv[6] if len(sys.argv) > 6 else ""
NAMES = {"courier": "Courier", "courier_b": "Courier B", "pg1": "PostGraphile, 1 process", "pg2": "PostGraphile, 2 workers"}
WORKLOADS = {"w1": "W1 nested page of 50", "w2": "W2 one order by id", "w3": "W3 agent's active assignments"}

rows = []
for line in open(tsv):
    r, w, c, s, load, result, server_ms, pg_ms, rss, stmts = line.rstrip("\n").split("\t")
    kv = dict(p.split("=") for p in result.split()[1:])
    rows.append(dict(round=int(r), w=w, c=int(c), s=s, load=load, server_ms=float(server_ms), pg_ms=float(pg_ms),
                     rss=rss, stmts=stmts, **{k: float(v) for k, v in kv.items()}))

commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
print(f"\n### Side by side with PostGraphile ({now}){' — ' + note if note else ''}\n")
print(f"- Commit {commit}{' with uncommitted changes' if dirty else ''}; Courier binary `{binary}`.")
if binary_b:
    print(f"- Courier B: `{binary_b}`, in the same rotation.")
print("- Command: `bash bench/peers/compare.sh` (see bench/README.md); wrk -t2, servers alternated per run.")
for line in open(same):
    print(f"- Same data: {line.strip()}")
print()
print("| round | workload | conns | server | load | req/s | p50 ms | p95 ms | p99 ms | errors | statements/req | server CPU ms/req | PostgreSQL CPU ms/req | RSS MB |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for x in rows:
    print(f"| {x['round']} | {x['w']} | {x['c']} | {NAMES.get(x['s'], x['s'])} | {x['load']} | {x['rps']:.0f} | {x['p50']:.1f} | {x['p95']:.1f} | {x['p99']:.1f} | {int(x['errors'] + x['socket_errors'])} | {x['stmts']} | {x['server_ms']:.2f} | {x['pg_ms']:.2f} | {x['rss']} |")

by = defaultdict(dict)
for x in rows:
    by[(x["round"], x["w"], x["c"])][x["s"]] = x
print()
print("| round | workload | conns | Courier req/s | best peer req/s | ratio | Courier CPU ms/req | peer CPU ms/req | CPU ratio |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for (r, w, c), servers in sorted(by.items()):
    if "courier" not in servers:
        continue
    peers = [v for k, v in servers.items() if k.startswith("pg")]
    if not peers:
        continue
    me, best = servers["courier"], max(peers, key=lambda v: v["rps"])
    cpu_me, cpu_peer = me["server_ms"] + me["pg_ms"], best["server_ms"] + best["pg_ms"]
    print(f"| {r} | {WORKLOADS.get(w, w)} | {c} | {me['rps']:.0f} | {best['rps']:.0f} ({NAMES[best['s']]}) | {me['rps'] / best['rps']:.2f}x | {cpu_me:.2f} | {cpu_peer:.2f} | {cpu_me / cpu_peer:.2f} |")

if binary_b:
    print()
    print("| round | workload | conns | Courier req/s | Courier B req/s | Courier / B |")
    print("| --- | --- | --- | --- | --- | --- |")
    for (r, w, c), servers in sorted(by.items()):
        if "courier" in servers and "courier_b" in servers:
            a, b = servers["courier"], servers["courier_b"]
            print(f"| {r} | {WORKLOADS.get(w, w)} | {c} | {a['rps']:.0f} | {b['rps']:.0f} | {a['rps'] / b['rps']:.2f}x |")
if ceiling:
    try:
        lines = [l for l in open(ceiling) if l.startswith("|")]
    except FileNotFoundError:
        lines = []
    if lines:
        print("\nSQL ceiling (`bench/sql_ceiling.sh`):\n")
        print("".join(lines), end="")
