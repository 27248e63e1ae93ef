#!/usr/bin/env bash
# Instructions per request of the filter core (callgrind), for the benchmark's config
# (30 rules) and its 2 KB statement: see request_cost.rs. Run from the repository root.
set -euo pipefail
cargo build --quiet --release -p trino-router-core --example request_cost
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
# config.json: the 30 rules; headers.json: only the ones that look at headers alone.
.venv/bin/python - "$dir" <<'PY'
import json, sys, tests.bench.configs as c
full = c.filter_json("forwarded_prefix", c.bench_rules())
headers = c.filter_json("forwarded_prefix", c.header_rules())
# text.json: the header rules and the four `sql` searches (no rule needs the analysis).
text = c.filter_json("forwarded_prefix", [r for r in c.bench_rules()
                                          if not c.reads_sql(r["when"]) or set(r["when"]) == {"sql"}])
# typed.json: the header rules and those that look only at statement and query types and
# `sql_inspection` (no rule needs a catalog, schema or table name).
def keys(when):
    if isinstance(when, dict):
        return set(when) | set().union(*map(keys, when.values()))
    if isinstance(when, list):
        return set().union(*map(keys, when))
    return set()
typed = c.filter_json("forwarded_prefix", [r for r in c.bench_rules() if keys(r["when"]) & c.SQL_CONDITIONS
                                           <= {"statement_type", "query_type", "sql_inspection"}])
# types.json: as typed.json without the sql_inspection rules: a query is typed from its first
# word (SqlDepth::Type).
types = c.filter_json("forwarded_prefix", [r for r in c.bench_rules() if keys(r["when"]) & c.SQL_CONDITIONS
                                           <= {"statement_type", "query_type"}])
for name, config in [("config", full), ("headers", headers), ("text", text), ("typed", typed), ("types", types)]:
    open(f"{sys.argv[1]}/{name}.json", "w").write(json.dumps(config))
PY
ir() { valgrind --tool=callgrind --callgrind-out-file="$dir/out" target/release/examples/request_cost \
         "$dir/$1.json" tests/bench/statement.sql "$2" "$3" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'; }
for run in "config get" "headers headers" "text post" "typed post" "types post" "config post" "config identify" "config chain"; do
  set -- $run
  one=$(ir "$1" "$2" 1); many=$(ir "$1" "$2" 201)
  echo "$2 ($1.json): $(( (many - one) / 200 )) instructions per request"
done
