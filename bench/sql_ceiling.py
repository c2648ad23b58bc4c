#!/usr/bin/env python3
"""The SQL ceiling: what PostgreSQL alone can do with a server's statements.

Usage: sql_ceiling.py DATABASE_URL NAME URL BODY_FILE [TOKEN] [ID]

Turns on statement logging for the database (new connections only, so the
server at URL must connect after this runs: start it afterwards, see
bench/sql_ceiling.sh), sends one request, reads the statements the server
ran from PostgreSQL's log with their parameters, checks their number
against pg_stat_statements, and writes them with the parameters inlined as
a pgbench script (one transaction = one request's statements) to
/tmp/ceiling-NAME.sql. The caller replays it with `pgbench -M prepared`.

An array parameter (`= ANY($1)`, a page's ids) is not inlined: PostgreSQL
plans an array literal with its real length, a parameter generically (as
the server's prepared statement runs), and the two plans differ. It becomes
a pgbench variable, bound as a parameter under `-M prepared`; its value goes
to /tmp/ceiling-NAME.args as `-D name=value` for the caller to pass on.
"""

import json
import re
import subprocess
import sys
import time
import urllib.request

LOG = "/var/log/postgresql/postgresql-15-main.log"


def psql(url, sql):
    return subprocess.run(["psql", "-Atq", url, "-c", sql], check=True, capture_output=True, text=True).stdout.strip()


def without_pgbench_variables(sql):
    """pgbench reads `:name` as a variable, even inside a string literal
    (PostGraphile's to_char formats: 'HH24:MI:SS'). Splits such literals
    around the colon ('HH24' || ':' || 'MI'), which PostgreSQL folds into
    the same constant when it plans the statement."""
    def split(m):
        return re.sub(r":(?=[A-Za-z_])", "' || ':' || '", m.group(0))
    return re.sub(r"'(?:[^']|'')*'", split, sql)


def main():
    url, name, endpoint, body_file = sys.argv[1:5]
    token = sys.argv[5] if len(sys.argv) > 5 else ""
    id_ = sys.argv[6] if len(sys.argv) > 6 else ""
    body = open(body_file).read().replace("%ID%", id_).encode()
    # A statement another client runs meanwhile (a server's background
    # task, a peer's own bookkeeping) makes the count disagree with the
    # request's statements: the capture is tried again, at most three times.
    for attempt in range(1, 4):
        statements, defines, counted = capture(url, name, endpoint, body, token)
        print(f"{name}: {len(statements)} statements captured from the log, {counted} counted by pg_stat_statements")
        if len(statements) == counted:
            break
        print(f"{name}: the log and pg_stat_statements disagree (attempt {attempt}); counted:")
        print(psql(url, "SELECT calls, left(query, 120) FROM pg_stat_statements WHERE query NOT ILIKE '%pg_stat_statements%'"))
    else:
        sys.exit(f"{name}: the log and pg_stat_statements disagree")
    with open(f"/tmp/ceiling-{name}.sql", "w") as f:
        f.write("\n".join(statements) + "\n")
    with open(f"/tmp/ceiling-{name}.args", "w") as f:
        f.write("\n".join(defines) + ("\n" if defines else ""))


def capture(url, name, endpoint, body, token):
    """One request's statements (as a pgbench script), the pgbench variables
    they need, and the number of statements pg_stat_statements counted."""
    start = len(open(LOG, "rb").read())
    psql(url, "SELECT pg_stat_statements_reset()")
    req = urllib.request.Request(endpoint, data=body, method="POST")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as res:
        answer = json.load(res)
    if answer.get("errors"):
        sys.exit(f"{name}: the request failed: {answer['errors']}")
    time.sleep(0.5)
    counted = int(psql(url, "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
                            "WHERE d.datname = current_database() AND query NOT ILIKE '%pg_stat_statements%' "
                            "AND query NOT ILIKE '%pg_notify%'"))
    text = open(LOG, "rb").read()[start:].decode(errors="replace")
    # "execute <name>: SQL" then, for statements with parameters, "DETAIL:  parameters: $1 = '...', ..."
    entries = re.split(r"\n(?=\d{4}-\d\d-\d\d )", text)
    statements = []
    defines = []
    for i, entry in enumerate(entries):
        m = re.search(r"LOG:  duration: [\d.]+ ms  execute [^:]*: (.*)", entry, re.S)
        if not m:
            continue
        sql = m.group(1).strip()
        if "pg_stat_statements" in sql or "webhook_deliveries" in sql or "pg_notify" in sql:
            continue  # the reset, a webhook worker's poll, the viewers' heartbeat
        params = {}
        # The DETAIL line is an entry of its own (same prefix, same backend):
        # the next one of that backend.
        pid = re.match(r"\S+ \S+ \S+ \[(\d+)\]", entry)
        detail = next((e for e in entries[i + 1:] if pid and f"[{pid.group(1)}]" in e.split("\n", 1)[0]), "")
        d = re.search(r"DETAIL:  parameters: (.*)", entry, re.S) or re.match(r"[^\n]*DETAIL:  parameters: (.*)", detail, re.S)
        if d:
            for k, v in re.findall(r"\$(\d+) = ('(?:[^']|'')*'|NULL)", d.group(1)):
                params[int(k)] = v
        arrays = {}
        for k in sorted(params, reverse=True):
            if params[k].startswith("'{"):
                arrays[k] = f"s{len(statements)}p{k}"
                defines.append(f"-D{arrays[k]}={params[k][1:-1]}")
                sql = re.sub(rf"\${k}(?!\d)", f"@@{arrays[k]}@@", sql)
            else:
                sql = re.sub(rf"\${k}(?!\d)", params[k].replace("\\", "\\\\"), sql)
        sql = without_pgbench_variables(sql)
        for var in arrays.values():
            sql = sql.replace(f"@@{var}@@", f":{var}")
        statements.append(sql.rstrip(";") + ";")
    return statements, defines, counted


if __name__ == "__main__":
    main()
