# Build, lint and test entry points. `make test` is THE test command (CI runs it via .ci/run).
#   make run    three real Trino 476 servers (stand-ins without a JDK 24+) + Envoy with envoy/envoy.yaml
#   make test   builds and bench-quick, then the real-Trino suite beside everything else (lint,
#               unit, offline, e2e, one after the other)
#   make bench  plain Envoy, the no-op wasm floor and the filter under wrk, then under valgrind
#               (instructions per request), plus real Trino; writes target/bench/report.md (~35 minutes)

PYTHON ?= python3
CARGO ?= cargo
VENV := .venv
PY := $(VENV)/bin/python
WASM := target/wasm32-wasip1/release/trino_router.wasm
# The benchmark's floor: a proxy-wasm filter that does nothing (filter/noop).
NOOP_WASM := target/wasm32-wasip1/release/noop_filter.wasm
# Envoy compiles the module on every worker at start and on every config push: keep it small.
WASM_MAX_BYTES := 2097152

.PHONY: help venv wasm noop standin cli tools trino clients run lint unit e2e e2e-trino checks offline test bench bench-quick wrk valgrind chromium

help:
	@echo "targets: venv wasm noop standin cli trino clients run lint unit e2e e2e-trino offline test bench bench-quick"

# The stamp makes this idempotent: pip runs again only when the requirements change.
venv: $(VENV)/.installed
$(VENV)/.installed: tests/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	touch $@

# CI adds the wasm target (.ci/run); here we only try, so an offline machine that has it still builds.
wasm:
	@rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1 || true
	$(CARGO) build --release --target wasm32-wasip1 -p trino-router-wasm
	@size=$$(wc -c < $(WASM)); \
	echo "$(WASM): $$size bytes (limit $(WASM_MAX_BYTES))"; \
	if [ $$size -ge $(WASM_MAX_BYTES) ]; then echo "error: wasm module is $$size bytes, must be < 2 MiB" >&2; exit 1; fi

# Same target, SDK and release profile as the filter, so `make bench` compares like with like.
noop:
	@rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1 || true
	$(CARGO) build --release --target wasm32-wasip1 -p trino-router-noop
	@echo "$(NOOP_WASM): $$(wc -c < $(NOOP_WASM)) bytes"

standin:
	$(CARGO) build --release -p trino-standin

cli:
	$(CARGO) build --release -p trino-router-cli

# The stand-in and the CLI in one cargo run: built separately, each run unifies the shared
# dependencies' features differently and rebuilds some of them (about 30 s on 2 cores).
tools:
	$(CARGO) build --release -p trino-standin -p trino-router-cli

# Trino 476 server + tpch/memory plugins from Maven Central into ~/.cache/trino-router (once, ~250 MB).
trino: venv
	$(PY) -m tests.harness.fetch_trino

# The real clients the real-Trino suites drive: Trino CLI and JDBC jars, the JDBC driver program, npm trino-client.
clients: venv
	bash tests/clients/prepare.sh

# Real Trino when a JDK 24+ is found (fetched on first use), else the stand-ins; see local_run.py.
run: venv wasm tools
	$(PY) -m tests.harness.local_run

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy -p trino-router-core -p trino-router-wasm -p trino-router-noop -p trino-router-cli --all-targets -- -D warnings
	$(CARGO) clippy -p trino-router-wasm -p trino-router-noop --target wasm32-wasip1 -- -D warnings

unit:
	$(CARGO) test --workspace

e2e: venv wasm tools
	$(PY) -m pytest tests/e2e -q

# Real Trino servers (started once for the session, in parallel) with the four real clients,
# and real Trino's Web UI in headless Chromium.
e2e-trino: venv wasm tools trino clients chromium
	$(PY) -m pytest tests/real_trino -q -rxX

# docker-compose.yml and envoy/istio/ checked without Docker or Kubernetes (seconds).
offline: venv wasm tools
	$(PY) -m pytest tests/offline -q

# Needs wrk (`apt-get install wrk`; .ci/run installs it), valgrind for the instruction table
# (`apt-get install valgrind`) and, for the real-Trino row, Trino (`make trino`). Timings, counts
# and targets are reported, never enforced. Options: BENCH_ARGS="--help".
bench: venv wasm noop tools wrk valgrind trino
	$(PY) -m tests.bench $(BENCH_ARGS)

# ~30 s: proves every scenario runs through every Envoy variant without errors (no real
# Trino). Needs wrk: installed here with apt-get when missing (as root), else the step fails saying so.
bench-quick: venv wasm noop tools wrk
	$(PY) -m tests.bench --quick

wrk:
	@command -v wrk >/dev/null || { \
	  echo "make: wrk (the HTTP load generator bench-quick drives Envoy with) is missing; installing it with apt-get" >&2; \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    { DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null 2>&1 || \
	      { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null; }; }; } || \
	  { echo "error: bench-quick needs wrk: install it (apt-get install wrk, brew install wrk) and run make test again" >&2; exit 1; }; }

# The instruction table of `make bench` runs Envoy under valgrind's callgrind. Not installed
# here: only `make bench` needs it, and BENCH_ARGS=--no-instructions runs without it.
valgrind:
	@case " $(BENCH_ARGS) " in *" --no-instructions "*) exit 0;; esac; \
	command -v valgrind >/dev/null && command -v callgrind_control >/dev/null || { \
	  echo "error: make bench needs valgrind (callgrind, callgrind_control) for its instruction table:" \
	       "install it (apt-get install valgrind) or run make bench BENCH_ARGS=--no-instructions" >&2; exit 1; }

# Debian's headless chromium for the Web UI tests: installed with apt-get when missing (as root),
# else the step fails saying so.
chromium:
	@command -v chromium >/dev/null || { \
	  echo "make: chromium (the headless browser the Web UI tests drive) is missing; installing it with apt-get" >&2; \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 || \
	      { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null; }; }; } || \
	  { echo "error: the Web UI tests need chromium: install it (apt-get install chromium) and run make test again" >&2; exit 1; }; }

# The real-Trino suite spends most of its time waiting on Trino (servers starting, a
# coordinator frozen for 10 s and 60 s, killed and restarted), so everything else runs beside
# it, one step after the other (`checks`). The builds come first, so the two never race for
# them, and so does bench-quick: 1 MB pages under wrk for one second get no answer at all when
# five Trino JVMs start beside them. Each side's output is printed whole when it ends.
test: venv trino clients chromium wrk
	$(MAKE) --no-print-directory wasm noop tools
	$(MAKE) --no-print-directory bench-quick
	$(MAKE) --no-print-directory -j2 --output-sync=target e2e-trino checks

checks:
	$(MAKE) --no-print-directory -j1 lint unit offline e2e
