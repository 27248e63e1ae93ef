#!/usr/bin/env bash
# Builds everything tests/harness/clients/ needs to drive the real Trino clients (idempotent).
# Fetches the trino-cli and trino-jdbc 476 jars (Maven, verified, cached outside git), compiles
# tests/clients/jdbc/*.java into target/clients/jdbc/classes, and runs `npm ci` for the pinned
# npm trino-client into target/clients/node. Fails with one clear line when a tool is missing.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
python="${PYTHON:-$repo/.venv/bin/python}"

fail() {
    echo "tests/clients/prepare.sh: $*" >&2
    exit 1
}

[ -x "$python" ] || fail "no Python at $python: run \`make venv\` first (or set PYTHON)"
command -v mvn >/dev/null || fail "\`mvn\` not found: install Maven (it fetches and checks the Trino jars)"
command -v node >/dev/null || fail "\`node\` not found: install Node.js 18+ (for the npm trino-client)"
command -v npm >/dev/null || fail "\`npm\` not found: install npm (for \`npm ci\` of the npm trino-client)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 18 ] || fail "Node.js $node_major is too old: trino-client needs 18+"

# The JDK (22+, from JAVA_HOME or /usr/lib/jvm), the jars, javac and npm ci are done in Python
# so the harness and this script share one JDK finder and one set of paths.
cd "$repo"
exec "$python" -m tests.harness.clients prepare
