#!/usr/bin/env bash
# Instructions per request of the filter core (callgrind), for the benchmark's config
# (30 rules) and its 2 KB statement: see request_cost.rs. Run from the repository root.
set -euo pipefail
cargo build --quiet --release -p trino-router-core --example request_cost
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
.venv/bin/python -c 'import json, tests.bench.configs as c; print(json.dumps(c.filter_json("forwarded_prefix")))' > "$dir/config.json"
ir() { valgrind --tool=callgrind --callgrind-out-file="$dir/out" target/release/examples/request_cost \
         "$dir/config.json" tests/bench/statement.sql "$1" "$2" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'; }
for kind in get headers post; do
  one=$(ir "$kind" 1); many=$(ir "$kind" 201)
  echo "$kind: $(( (many - one) / 200 )) instructions per request"
done
