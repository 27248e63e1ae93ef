"""`make bench` / `make bench-quick`: plain Envoy, the no-op wasm floor and the filter, scenario by scenario.

Starts the fast stand-ins and one Envoy per variant (plain, floor, header-rules,
forwarded-prefix, rewrite; see variants.py), checks one query through each, measures
each Envoy idle, then in every round runs every scenario against every variant twice
with wrk: loaded (16 connections: throughput and Envoy CPU per request) and at low load
(1 connection: latency). Variants follow each other within a round, in an order rotated
per round. Then the instruction table: each variant alone under valgrind's callgrind,
instructions per request counted (instructions.py; --no-instructions skips it, quick never
runs it, --instructions-only runs nothing else). Then a few real tpch.tiny queries through
plain, floor and the filter in front of a real Trino (trino_row.py; --no-trino skips it).
Writes target/bench/report.md and results.json (quick: target/bench/quick/,
instructions only: target/bench/instructions/) and prints the report.

Exit status: 1 when a run failed or produced errors (non-2xx answers, socket errors,
unpinned nextUris through the filter, no throughput, an Envoy that died, a floor whose
wasm settings differ from the filter's, an Envoy under callgrind that did not serve);
never because of a timing, a count or a missed target.
"""

import argparse
import json
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import requests

from tests.harness.paths import NOOP_MODULE, REPO_ROOT, WASM_MODULE, require_file

from .callgrind import CallgrindMissing, callgrind_tools
from .configs import LOAD_CONNECTIONS, LOW_LOAD_CONNECTIONS, SCENARIO, SCENARIOS, Scenario
from .probe import Paths, probe
from .figures import LATENCY, LOADS, THROUGHPUT, Results
from .instructions import InstructionRun, InstructionsFailed, measure_instructions
from .report import counts_markdown, machine, markdown
from .stack import PLACEMENTS, BenchStack, Layout
from .trino_row import TrinoRowFailed, TrinoRows, real_trino_rows
from .variants import FILTERED, VARIANTS, FloorMismatch, marker_prefix
from .wrk import WrkMissing, WrkResult, run_wrk, wrk_binary, wrk_version

OUT_DIR = REPO_ROOT / "target" / "bench"


def parse_args(argv: List[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="1 s per run, one round, the variants of a scenario side by side, no warm-up, no real "
                        "Trino: proves every variant and scenario runs; its figures mean nothing")
    p.add_argument("--seconds", type=int, help="seconds per loaded wrk run (default 8, quick 1)")
    p.add_argument("--latency-seconds", type=int, help="seconds per low-load wrk run (default 3, quick 1)")
    p.add_argument("--rounds", type=int, help="rounds of every scenario and variant (default 3, quick 1)")
    p.add_argument("--warmup", type=int, help="warm-up seconds per scenario and variant (default 1, quick 0)")
    p.add_argument("--idle-seconds", type=float,
                   help="seconds each Envoy's idle CPU is measured before the rounds (default 5, quick 1)")
    p.add_argument("--placement", choices=PLACEMENTS, default="envoy-core",
                   help="where processes run (default envoy-core: every Envoy on the first CPU, upstreams and "
                        "wrk on the second; split: upstreams on one CPU, wrk on another, Envoy anywhere; "
                        "none: no pinning)")
    p.add_argument("--no-trino", action="store_true", help="skip the real-Trino row (quick never runs it)")
    p.add_argument("--trino-reps", type=int, default=5, help="times each real-Trino query runs per variant")
    p.add_argument("--no-instructions", action="store_true",
                   help="skip the instruction table (each variant under valgrind's callgrind, ~20 minutes; "
                        "quick never runs it)")
    p.add_argument("--instructions-only", action="store_true",
                   help="only the instruction table: no wrk, no real Trino, so no wall-clock CPU to convert the "
                        "microsecond targets with (report in target/bench/instructions/)")
    p.add_argument("--out", type=Path,
                   help=f"report directory (default {OUT_DIR}, quick: {OUT_DIR / 'quick'}, so a quick run "
                        "never replaces a full report)")
    args = p.parse_args(argv)
    args.seconds = args.seconds or (1 if args.quick else 8)
    args.latency_seconds = args.latency_seconds or (1 if args.quick else 3)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.warmup = args.warmup if args.warmup is not None else (0 if args.quick else 1)
    args.idle_seconds = args.idle_seconds if args.idle_seconds is not None else (1.0 if args.quick else 5.0)
    if args.instructions_only and (args.quick or args.no_instructions):
        p.error("--instructions-only runs only what --quick and --no-instructions leave out")
    args.trino = not (args.quick or args.no_trino or args.instructions_only)
    args.instructions = not (args.quick or args.no_instructions)
    args.out = args.out or (OUT_DIR / "quick" if args.quick else
                            OUT_DIR / "instructions" if args.instructions_only else OUT_DIR)
    return args


def target_url(stack: BenchStack, variant: str, scenario: Scenario, paths: Dict[str, Paths]) -> str:
    path = {"a": "/v1/statement", "b": paths[variant].small_page, "c": paths[variant].large_page,
            "d": "/v1/statement"}[scenario.key]
    return stack.url(variant) + path


def problems(scenario: Scenario, variant: str, result: WrkResult) -> List[str]:
    """Why a run does not count: errors, no throughput, or URIs the router did or did not pin."""
    found = []
    if result.throughput(scenario) <= 0:
        found.append("no throughput")
    if result.errors:
        found.append(f"{result.errors} errors (non-2xx answers or socket errors)")
    if scenario.wrk_mode == "lifecycle":
        if variant not in FILTERED and result.pinned:
            found.append(f"{result.pinned} nextUris carried a routing prefix without the filter")
        if variant in FILTERED and result.unpinned:
            found.append(f"{result.unpinned} nextUris were not pinned by the filter")
    return [f"{scenario.key}/{variant}: {p}" for p in found]


class Runner:
    """One wrk run against one variant, with that Envoy's CPU over the run."""

    def __init__(self, stack: BenchStack, paths: Dict[str, Paths]):
        self.stack = stack
        self.paths = paths

    def run(self, scenario: Scenario, variant: str, seconds: int, connections: int) -> WrkResult:
        cpu_before = self.stack.cpu.raw(variant)
        began = time.monotonic()
        result = run_wrk(target_url(self.stack, variant, scenario, self.paths), scenario, seconds,
                         marker_prefix(variant), self.stack.layout.wrk_cpus, connections)
        used = self.stack.cpu.used(variant, cpu_before, time.monotonic() - began)
        if result.requests:
            result.envoy_cpu_us_per_req = used * 1e6 / result.requests
            result.envoy_busy = used / result.seconds
        return result


def measure(stack: BenchStack, args: argparse.Namespace, paths: Dict[str, Paths]) -> Results:
    runner = Runner(stack, paths)
    results: Results = {(load, s.key, v): [] for load in LOADS for s in SCENARIOS for v in VARIANTS}
    setups = {THROUGHPUT: (args.seconds, LOAD_CONNECTIONS), LATENCY: (args.latency_seconds, LOW_LOAD_CONNECTIONS)}
    if args.warmup:
        for scenario in SCENARIOS:
            for variant in VARIANTS:
                runner.run(scenario, variant, args.warmup, LOAD_CONNECTIONS)
    for round_no in range(args.rounds):
        # Rotating the order cancels whatever the position within a round does.
        shift = round_no % len(VARIANTS)
        order = VARIANTS[shift:] + VARIANTS[:shift]
        for load in LOADS:
            seconds, connections = setups[load]
            for scenario in SCENARIOS:
                if args.quick:
                    # Side by side: quick proves each run works, and its figures are not read.
                    with ThreadPoolExecutor(max_workers=len(order)) as pool:
                        done = dict(zip(order, pool.map(
                            lambda v: runner.run(scenario, v, seconds, connections), order)))
                else:
                    done = {v: runner.run(scenario, v, seconds, connections) for v in order}
                for variant in order:
                    results[(load, scenario.key, variant)].append(done[variant])
                    _print_run(round_no, args.rounds, load, scenario, variant, done[variant])
    return results


def _print_run(round_no: int, rounds: int, load: str, scenario: Scenario, variant: str, r: WrkResult) -> None:
    print(f"round {round_no + 1}/{rounds} {load:10} {scenario.key} {variant:16} {r.req_per_s:9,.0f} req/s"
          f"  p50 {r.p50_us:7,.0f} us  p99 {r.p99_us:7,.0f} us  Envoy {r.envoy_cpu_us_per_req:6.1f} us CPU/req,"
          f" {r.envoy_busy:4.0%} busy"
          + (f"  {r.lifecycles_per_s:,.0f} lifecycles/s" if scenario.wrk_mode == "lifecycle" else "")
          + (f"  ERRORS {r.errors}" if r.errors else ""), flush=True)


def _probe_all(stack: BenchStack) -> Dict[str, Paths]:
    paths = {}
    for variant in VARIANTS:
        try:
            paths[variant] = probe(stack.url(variant), marker_prefix(variant))
        except (AssertionError, requests.RequestException) as exc:
            raise ProbeFailed(f"the checked query through {variant} ({stack.url(variant)}) failed: {exc}") from None
    return paths


class ProbeFailed(RuntimeError):
    pass


def _check_tools(args: argparse.Namespace) -> None:
    """Fails before anything starts when a tool or a build the run needs is missing."""
    if not args.instructions_only:
        wrk_binary()
    if args.instructions:
        callgrind_tools()
    require_file(WASM_MODULE, "wasm")
    require_file(NOOP_MODULE, "noop")


def _instructions(args: argparse.Namespace, logs: Path, found: List[str]) -> Tuple[Optional[InstructionRun], str]:
    """The instruction table when asked for, and the line the report gives about it."""
    if not args.instructions:
        return None, "Not counted in this run (--quick or --no-instructions)."
    try:
        run = measure_instructions(logs / "callgrind")
    except InstructionsFailed as exc:
        found.append(f"instruction table: {exc}")
        return None, f"Not counted: failed: {exc}"
    return run, run.describe()


def _instructions_only(args: argparse.Namespace, argv: List[str], logs: Path, started: float) -> int:
    found: List[str] = []
    run, facts = _instructions(args, logs, found)
    if run is None:
        print("bench: FAILED\n  " + "\n  ".join(found), file=sys.stderr)
        return 1
    settings = {"command": "python -m tests.bench " + " ".join(argv),
                "Envoy": "--concurrency 1, shipped envoy/envoy.yaml without access log, log level warning"}
    report = counts_markdown(run.counts, settings, facts)
    _write(args.out, report, {"instructions": run.counts.to_json()}, started)
    return 0


def _write(out: Path, report: str, results: dict, started: float) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(report)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print()
    print(report)
    print(f"written to {out / 'report.md'} in {time.monotonic() - started:.0f} s")


def main(argv: List[str]) -> int:
    args = parse_args(argv)
    try:
        _check_tools(args)
    except (WrkMissing, CallgrindMissing, RuntimeError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    started = time.monotonic()
    machine()  # the commit and modules measured, before a long run gives time to change them
    load_before = os.getloadavg()
    logs = args.out / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    if args.instructions_only:
        return _instructions_only(args, argv, logs, started)
    layout = Layout.choose(args.placement)
    found: List[str] = []
    trino: TrinoRows = TrinoRows.skipped("--quick" if args.quick else "--no-trino")
    try:
        with BenchStack(logs, layout) as stack:
            paths = _probe_all(stack)
            idle = stack.cpu.measure_idle(args.idle_seconds)
            results = measure(stack, args, paths)
            found += [f"Envoy {v} died during the run (log in {logs / v})" for v in stack.dead()]
            envoy_logs = stack.envoy_logs()
    except (FloorMismatch, ProbeFailed) as exc:
        print(f"bench: FAILED: {exc}", file=sys.stderr)
        return 1
    found += [p for (load, key, variant), runs in results.items() for r in runs
              for p in problems(SCENARIO[key], variant, r)]
    counted, counts_facts = _instructions(args, logs, found)
    if args.trino:
        try:
            trino = real_trino_rows(logs / "trino", layout, args.trino_reps)
        except TrinoRowFailed as exc:
            found.append(f"real Trino: {exc}")
            trino = TrinoRows.skipped(f"failed: {exc}")
    settings = {
        "command": "python -m tests.bench " + " ".join(argv),
        "run": f"{'quick' if args.quick else 'full'}: {args.rounds} round(s); per round, scenario and variant "
               f"{args.seconds} s at {LOAD_CONNECTIONS} connections and {args.latency_seconds} s at "
               f"{LOW_LOAD_CONNECTIONS}; {args.warmup} s warm-up; wrk -t1 ({wrk_version()})",
        "placement": layout.describe(),
        "Envoy": "--concurrency 1, shipped envoy/envoy.yaml without access log, log level warning",
        "idle Envoy CPU (taken off every run)": ", ".join(f"{v} {s * 1e3:.1f} ms/s" for v, s in idle.items()),
        "load average (1/5/15 min) before": " / ".join(f"{x:.2f}" for x in load_before),
        "load average (1/5/15 min) after": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    counts = counted.counts if counted else None
    report = markdown(results, trino, settings, quick=args.quick, counts=counts, counts_facts=counts_facts)
    _write(args.out, report,
           {"/".join(k): [r.to_json() for r in runs] for k, runs in results.items()}
           | {"trino": trino.to_json(), "instructions": counts.to_json() if counts else None}, started)
    if found:
        print("bench: FAILED\n  " + "\n  ".join(found), file=sys.stderr)
        print("\n".join(envoy_logs), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
