"""The benchmark's report (target/bench/report.md): machine and settings, then the tables:
loaded throughput and Envoy CPU per request with ratios to plain and to the floor, latency
at one connection, the targets, instructions per request under callgrind and the targets
judged on them, the real-Trino row, and every round's figures.
"""

import functools
import hashlib
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional

from tests.harness.paths import NOOP_MODULE, REPO_ROOT, WASM_MODULE, envoy_binary

from .configs import SCENARIOS
from .counts import Counts
from .figures import LATENCY, THROUGHPUT, Figures, Results
from .targets import count_table, judge, judge_counts, plain_pace
from .targets import table as targets_table
from .trino_row import TrinoRows
from .variants import FLOOR, PLAIN, VARIANTS

HOW_TO_READ = """\
Throughput runs load one Envoy at a time with 16 connections. `vs plain` and `vs floor`
are its throughput (queries/s for d) over that of plain Envoy or of the floor in the same
round, median over rounds. `CPU/req` is the Envoy process's CPU time (schedstat of all its
threads, less what it uses idle) per request, for d per request of the lifecycle; `over
plain` and `over floor` are the differences in microseconds, per round, median. Floor minus
plain is what any proxy-wasm filter costs in this chain; filter minus floor is ours to cut.
CPU per request is the figure other load disturbs least; throughput ratios need a quiet
machine. `busy` is Envoy's CPU time / wall time: well under 100% means wrk or the upstream,
not Envoy, limited that run. `spread` is (max - min) / median throughput over rounds.
The low-load runs send one request at a time (1 connection): p50 and p99 as wrk measures
them, and the difference to plain and to the floor, per round, median. Their CPU/req is
several times the loaded one: each request wakes an idle Envoy, with cold caches (and on
a VM, any time the host takes the vCPU away counts as the task's). It is the regime of
the real-Trino row, where Trino's milliseconds of work separate the requests of a query.
"""


HOW_TO_READ_COUNTS = """\
Instructions per request are counted, not timed: each Envoy runs alone under valgrind's
callgrind (`--concurrency 1`), one request at a time on one connection, and callgrind
counts every instruction the process executes in user space (Envoy, its libraries and the
machine code V8 generates for the wasm module, all threads). Per scenario: warm-up, then
two rounds of an idle window and a window of N requests (at least 6 s), each between two
dumps; per request = (window's count - Envoy's idle instructions per second x the window's
seconds) / N. `rounds` are the two rounds' figures, `spread` (max - min) / mean; the
figure is their mean. `x plain` and `x floor` are cost ratios (the inverse of the
throughput ratio a CPU-bound Envoy would reach). Other load on the machine does not change
these counts. What they leave out: the kernel's share (system calls, loopback TCP), which
the CPU/req column includes, so ratios of counts exceed ratios of CPU where the kernel
does much of the work (1 MB pages); and instructions are not time: Envoy's C++ and our
wasm code run at different instructions per cycle, and V8's code is the code V8 generates
under valgrind. The targets judged on counts convert each microsecond limit to
instructions at plain Envoy's pace in this run (its instructions per request over its
CPU/req, same scenario, loaded table), so those verdicts are estimates that move with the
wall-clock figure; the ratio targets compare counts only.
"""


def counts_table(c: Counts) -> str:
    lines = ["| scenario | variant | instructions/req | over plain | over floor | x plain | x floor | rounds "
             "| spread |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for s in SCENARIOS:
        for v in VARIANTS:
            if not c.has(s.key, v):
                continue
            over = [_over(c.over(s.key, v, base), v == base, "{:+,.0f}") if c.has(s.key, base) else ""
                    for base in (PLAIN, FLOOR)]
            ratio = [_ratio(c.ratio(s.key, v, base), v == base) if c.has(s.key, base) else ""
                     for base in (PLAIN, FLOOR)]
            lines.append(
                f"| {s.key}. {s.title if v == PLAIN else ''} | {v} | {c.per_request(s.key, v):,.0f} "
                f"| {over[0]} | {over[1]} | {ratio[0]} | {ratio[1]} "
                f"| {' / '.join(f'{x:,.0f}' for x in c.rounds(s.key, v))} | {c.spread(s.key, v):.1%} |")
    return "\n".join(lines)


def counts_section(counts: Optional[Counts], figures: Optional[Figures], facts: str) -> List[str]:
    """The instruction table and the targets judged on it, or why there is none."""
    out = ["## Instructions per request (callgrind)", ""]
    if counts is None:
        return out + [facts, ""]
    out += [facts, "", counts_table(counts), ""]
    if all(counts.has(s.key, v) for s in SCENARIOS for v in VARIANTS):
        paces = {s.key: plain_pace(counts, figures, s.key) for s in SCENARIOS}
        pace = ", ".join(f"{k} {p:,.0f}" for k, p in paces.items() if p)
        out += ["### Targets (issue 16), judged on instruction counts", "",
                f"Microsecond limits in instructions at plain Envoy's pace in this run (instructions per "
                f"microsecond of CPU: {pace})." if pace else
                "No wall-clock table in this run: the microsecond limits cannot be converted to instructions.",
                "", count_table(judge_counts(counts, figures)), ""]
    return out


def throughput_table(f: Figures) -> str:
    lines = ["| scenario | variant | req/s | queries/s | vs plain | vs floor | CPU/req | over plain | over floor "
             "| busy | spread |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in SCENARIOS:
        for v in VARIANTS:
            queries = f"{f.throughput(s.key, v):,.0f}" if s.wrk_mode == "lifecycle" else ""
            lines.append(
                f"| {s.key}. {s.title if v == PLAIN else ''} | {v} | {f.req_per_s(s.key, v):,.0f} | {queries} "
                f"| {_ratio(f.ratio(s.key, v, PLAIN), v == PLAIN)} "
                f"| {_ratio(f.ratio(s.key, v, FLOOR), v == FLOOR)} "
                f"| {f.cpu(s.key, v):.1f} us | {_over(f.cpu_over(s.key, v, PLAIN), v == PLAIN)} "
                f"| {_over(f.cpu_over(s.key, v, FLOOR), v == FLOOR)} "
                f"| {f.busy(s.key, v):.0%} | {f.spread(s.key, v):.0%} |")
    return "\n".join(lines)


def latency_table(f: Figures) -> str:
    lines = ["| scenario | variant | p50 | p99 | p50 over plain | p99 over plain | p50 over floor | p99 over floor "
             "| CPU/req |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for s in SCENARIOS:
        for v in VARIANTS:
            lines.append(
                f"| {s.key}. {s.title if v == PLAIN else ''} | {v} | {f.latency(s.key, v, 50):,.0f} us "
                f"| {f.latency(s.key, v, 99):,.0f} us "
                + " ".join(f"| {_over(f.latency_over(s.key, v, base, pct), v == base, '{:+.0f} us')}"
                           for base in (PLAIN, FLOOR) for pct in (50, 99))
                + f" | {f.cpu(s.key, v, LATENCY):.0f} us |")
    return "\n".join(lines)


def _ratio(value: float, is_base: bool) -> str:
    return "1" if is_base else f"{value:.3f}"


def _over(value: float, is_base: bool, shown: str = "{:+.1f} us") -> str:
    return "" if is_base else shown.format(value)


def rounds_table(f: Figures) -> str:
    """Every round's figures, so a reader sees the noise behind each median."""
    count = max(len(runs) for runs in f.results.values())
    lines = ["| scenario | variant | " + " | ".join(f"round {i + 1}" for i in range(count)) + " |",
             "|---|---|" + "---:|" * count]
    for s in SCENARIOS:
        for v in VARIANTS:
            loaded = f.runs(THROUGHPUT, s.key, v)
            low = f.runs(LATENCY, s.key, v)
            cells = [f"{r.throughput(s):,.0f}/s, {r.envoy_cpu_us_per_req:.1f} us; p50 {q.p50_us:,.0f} us"
                     for r, q in zip(loaded, low)]
            lines.append(f"| {s.key} | {v} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


@functools.lru_cache(maxsize=None)
def machine() -> Dict[str, str]:
    """What ran, read once: `run.py` asks at the start, so a commit made or a module
    rebuilt while the benchmark runs does not pass for the code it measured."""
    cpu = _cpuinfo()
    model = (f"{cpu.get('model name', 'unknown')} (family {cpu.get('cpu family', '?')}, model {cpu.get('model', '?')}, "
             f"{float(cpu.get('cpu MHz', 0)):.0f} MHz)")
    envoy = subprocess.run([str(envoy_binary()), "--version"], capture_output=True, text=True).stdout.strip()
    commit = _git("rev-parse", "--short=12", "HEAD")
    if _git("status", "--porcelain", "--untracked-files=no"):
        commit += " + uncommitted changes"
    return {
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": f"{os.cpu_count()} (nproc), {model}",
        "kernel": platform.release(),
        "envoy": envoy.split("version:", 1)[-1].strip(),
        "commit": commit,
        "filter wasm": _module(WASM_MODULE),
        "floor wasm": _module(NOOP_MODULE),
    }


def _module(path: Path) -> str:
    data = path.read_bytes()
    return f"{path.name}, {len(data):,} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}"


def _cpuinfo() -> Dict[str, str]:
    """The first processor's fields of /proc/cpuinfo."""
    fields: Dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break
                name, _, value = line.partition(":")
                fields[name.strip()] = value.strip()
    except OSError:
        pass
    return fields


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def markdown(results: Results, trino: TrinoRows, settings: Dict[str, str], quick: bool = False,
             counts: Optional[Counts] = None, counts_facts: str = "") -> str:
    """The whole report; `counts_facts` says how the instruction table was made, or why there is none."""
    f = Figures(results)
    facts = {**machine(), **settings}
    out = ["# trino-router benchmark", ""]
    if quick:
        out += ["**Quick run: the variants of a scenario ran side by side for 1 s; it proves they all work, "
                "and its figures mean nothing.**", ""]
    out += [f"- {name}: {value}" for name, value in facts.items()]
    out += ["", "## Loaded: throughput and Envoy CPU per request", "", throughput_table(f),
            "", "## Low load: latency at one connection", "", latency_table(f),
            "", "## Targets (issue 16), judged on this run", "", targets_table(judge(f)), ""]
    out += counts_section(counts, f, counts_facts)
    out += ["## Real Trino: tpch.tiny queries", "", trino.markdown(),
            "", "## How to read", "", HOW_TO_READ, HOW_TO_READ_COUNTS if counts else "",
            "## Every round (loaded req/s or queries/s, CPU/req; low-load p50)", "", rounds_table(f), ""]
    return "\n".join(out)


def counts_markdown(counts: Counts, settings: Dict[str, str], counts_facts: str) -> str:
    """The report of a run that counted instructions only (no wall-clock table)."""
    out = ["# trino-router benchmark: instructions only", ""]
    out += [f"- {name}: {value}" for name, value in {**machine(), **settings}.items()]
    out += [""] + counts_section(counts, None, counts_facts) + ["## How to read", "", HOW_TO_READ_COUNTS]
    return "\n".join(out)
