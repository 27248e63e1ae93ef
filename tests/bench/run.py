"""`make bench` / `make bench-quick`: plain Envoy against the filter, scenario by scenario.

Starts the fast stand-ins and three Envoys (plain, filter in forwarded-prefix mode,
filter in rewrite mode), checks one query through each, then runs every scenario
against every mode with wrk, modes back to back within a round and rounds one after
the other. Writes target/bench/report.md and results.json (quick: target/bench/quick/)
and prints the table.

Exit status: 1 when a run failed or produced errors (non-2xx answers, socket errors,
unpinned nextUris through the filter, no throughput); never because of a timing.
"""

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Dict, List

from tests.harness.paths import REPO_ROOT

from .configs import MODES, PLAIN, SCENARIOS, Scenario, marker_prefix
from .probe import Paths, probe
from .report import Results, markdown
from .stack import PLACEMENTS, BenchStack, Layout
from .wrk import WrkMissing, WrkResult, run_wrk, wrk_binary, wrk_version

OUT_DIR = REPO_ROOT / "target" / "bench"


def parse_args(argv: List[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="1 s per scenario and mode, one round, no warm-up: proves the harness works")
    p.add_argument("--seconds", type=int, help="seconds per wrk run (default 10, quick 1)")
    p.add_argument("--rounds", type=int, help="rounds of every scenario and mode (default 3, quick 1)")
    p.add_argument("--warmup", type=int, help="warm-up seconds per scenario and mode (default 2, quick 0)")
    p.add_argument("--placement", choices=PLACEMENTS, default="split",
                   help="where processes run (default split: stand-ins on one CPU, wrk on another, Envoy "
                        "anywhere; envoy-core: Envoy alone on one CPU; none: no pinning)")
    p.add_argument("--out", type=Path,
                   help=f"report directory (default {OUT_DIR}, quick: {OUT_DIR / 'quick'}, so a quick run "
                        "never replaces a full report)")
    args = p.parse_args(argv)
    args.seconds = args.seconds or (1 if args.quick else 10)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.warmup = args.warmup if args.warmup is not None else (0 if args.quick else 2)
    args.out = args.out or (OUT_DIR / "quick" if args.quick else OUT_DIR)
    return args


def target_url(stack: BenchStack, mode: str, scenario: Scenario, paths: Dict[str, Paths]) -> str:
    path = {"a": "/v1/statement", "b": paths[mode].small_page, "c": paths[mode].large_page,
            "d": "/v1/statement"}[scenario.key]
    return stack.url(mode) + path


def problems(scenario: Scenario, mode: str, result: WrkResult) -> List[str]:
    """Why a run does not count: errors, no throughput, or URIs the router did not pin."""
    found = []
    if result.throughput(scenario) <= 0:
        found.append("no throughput")
    if result.errors:
        found.append(f"{result.errors} errors (non-2xx answers or socket errors)")
    if scenario.wrk_mode == "lifecycle":
        if mode == PLAIN and result.pinned:
            found.append(f"{result.pinned} nextUris carried a routing prefix through plain Envoy")
        if mode != PLAIN and result.unpinned:
            found.append(f"{result.unpinned} nextUris were not pinned by the filter")
    return [f"{scenario.key}/{mode}: {p}" for p in found]


def measure(stack: BenchStack, args: argparse.Namespace, paths: Dict[str, Paths]) -> Results:
    results: Results = {(s.key, m): [] for s in SCENARIOS for m in MODES}
    cpus = stack.layout.wrk_cpus
    if args.warmup:
        for scenario in SCENARIOS:
            for mode in MODES:
                run_wrk(target_url(stack, mode, scenario, paths), scenario, args.warmup, marker_prefix(mode), cpus)
    for round_no in range(args.rounds):
        # Rotating the order cancels whatever the position within a round does.
        order = MODES[round_no % len(MODES):] + MODES[:round_no % len(MODES)]
        for scenario in SCENARIOS:
            for mode in order:
                cpu_before = stack.envoy_cpu_seconds(mode)
                result = run_wrk(target_url(stack, mode, scenario, paths), scenario, args.seconds,
                                 marker_prefix(mode), cpus)
                if result.requests:
                    used = stack.envoy_cpu_seconds(mode) - cpu_before
                    result.envoy_cpu_us_per_req = used * 1e6 / result.requests
                    result.envoy_busy = used / result.seconds
                results[(scenario.key, mode)].append(result)
                print(f"round {round_no + 1}/{args.rounds} {scenario.key} {mode:16} "
                      f"{result.req_per_s:10,.0f} req/s  p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms"
                      f"  Envoy {result.envoy_cpu_us_per_req:6.1f} us CPU/req, {result.envoy_busy:4.0%} busy"
                      + (f"  {result.lifecycles_per_s:,.0f} lifecycles/s" if scenario.wrk_mode == "lifecycle" else "")
                      + (f"  ERRORS {result.errors}" if result.errors else ""), flush=True)
    return results


def main(argv: List[str]) -> int:
    args = parse_args(argv)
    try:
        wrk_binary()
    except WrkMissing as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    started = time.monotonic()
    load_before = os.getloadavg()
    logs = args.out / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    layout = Layout.choose(args.placement)
    with BenchStack(logs, layout) as stack:
        paths = {mode: probe(stack.url(mode), marker_prefix(mode)) for mode in MODES}
        results = measure(stack, args, paths)
        dead = [mode for mode, envoy in stack.envoys.items() if not envoy.is_running()]
    found = [p for (key, mode), runs in results.items() for r in runs
             for p in problems(next(s for s in SCENARIOS if s.key == key), mode, r)]
    found += [f"Envoy {mode} died during the run (log in {logs / mode})" for mode in dead]
    settings = {
        "run": f"{'quick' if args.quick else 'full'}: {args.rounds} round(s) x {args.seconds} s per scenario "
               f"and mode, {args.warmup} s warm-up; wrk -t1 -c{SCENARIOS[0].connections} ({wrk_version()})",
        "placement": layout.describe(),
        "Envoy": "--concurrency 1, shipped envoy/envoy.yaml without access log; plain = no wasm, no compressor",
        "load average (1 min) before / after": f"{load_before[0]:.2f} / {os.getloadavg()[0]:.2f}",
    }
    report = markdown(results, settings)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.md").write_text(report)
    (args.out / "results.json").write_text(json.dumps(
        {f"{k}/{m}": [r.to_json() for r in runs] for (k, m), runs in results.items()}, indent=1))
    print()
    print(report)
    print(f"written to {args.out / 'report.md'} in {time.monotonic() - started:.0f} s")
    if found:
        print("bench: FAILED\n  " + "\n  ".join(found), file=sys.stderr)
        print("\n".join(stack.envoy_logs()), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
