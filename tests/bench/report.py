"""The benchmark's report: one row per scenario and mode, the median round, the budget verdict.

Plain and filter runs of a scenario follow each other within every round, so drift on
the machine hits both; `ratio` is the median over rounds of filter / plain throughput
of the same round, and the other figures are those of the median round (the lower
middle one for an even count). `spread` is (max - min) / median of the throughput over
rounds: a large one means the machine was noisy and the figures are not to be trusted.

`CPU/req` is the Envoy process's CPU time over a run divided by its requests, and
`CPU ratio` the median over rounds of plain / filter CPU per request: the throughput
ratio an Envoy with a core to itself would show. Other load on the machine slows a
process down but barely changes the CPU time it needs per request, so on a shared
machine this is the figure to read; on a quiet one both ratios agree when Envoy is the
bottleneck.
"""

import hashlib
import os
import platform
import subprocess
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from tests.harness.paths import REPO_ROOT, WASM_MODULE, envoy_binary

from .configs import MODES, PLAIN, SCENARIOS, Scenario
from .wrk import WrkResult

Results = Dict[Tuple[str, str], List[WrkResult]]


@dataclass
class Row:
    scenario: Scenario
    mode: str
    median: WrkResult
    throughput: float
    ratio: Optional[float]
    cpu_us: float
    cpu_ratio: Optional[float]
    spread: float

    @property
    def verdict(self) -> str:
        if self.mode == PLAIN:
            return "baseline"
        if self.mode not in self.scenario.budget_modes:
            return "no budget"
        assert self.ratio is not None
        word = "PASS" if self.ratio >= self.scenario.budget else "short"
        return f"{word} (>= {self.scenario.budget:.2f})"


def _lower_median(values: List[float]) -> float:
    return sorted(values)[(len(values) - 1) // 2]


def rows(results: Results) -> List[Row]:
    out = []
    for scenario in SCENARIOS:
        plain = [r.throughput(scenario) for r in results[(scenario.key, PLAIN)]]
        plain_cpu = [r.envoy_cpu_us_per_req for r in results[(scenario.key, PLAIN)]]
        for mode in MODES:
            runs = results[(scenario.key, mode)]
            values = [r.throughput(scenario) for r in runs]
            cpu = [r.envoy_cpu_us_per_req for r in runs]
            middle = _lower_median(values)
            median_run = runs[values.index(middle)]
            ratio = cpu_ratio = None
            if mode != PLAIN:
                ratio = _lower_median([v / p if p else 0.0 for v, p in zip(values, plain)])
                cpu_ratio = _lower_median([p / c if c else 0.0 for c, p in zip(cpu, plain_cpu)])
            spread = (max(values) - min(values)) / middle if middle else 0.0
            out.append(Row(scenario, mode, median_run, middle, ratio, _lower_median(cpu), cpu_ratio, spread))
    return out


def table(report_rows: List[Row]) -> str:
    lines = ["| scenario | mode | req/s | lifecycles/s | p50 ms | p99 ms | ratio | spread | budget "
             "| Envoy CPU/req | CPU ratio | Envoy busy |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"]
    for row in report_rows:
        r = row.median
        lifecycles = f"{r.lifecycles_per_s:,.0f}" if row.scenario.wrk_mode == "lifecycle" else "-"
        ratio = f"{row.ratio:.3f}" if row.ratio is not None else "1"
        cpu_ratio = f"{row.cpu_ratio:.3f}" if row.cpu_ratio is not None else "1"
        lines.append(f"| {row.scenario.key}. {row.scenario.title} | {row.mode} | {r.req_per_s:,.0f} | {lifecycles} "
                     f"| {r.p50_ms:.2f} | {r.p99_ms:.2f} | {ratio} | {row.spread * 100:.0f}% | {row.verdict} "
                     f"| {row.cpu_us:.1f} us | {cpu_ratio} | {r.envoy_busy:.0%} |")
    return "\n".join(lines)


def rounds_table(results: Results) -> str:
    """Every round's throughput and Envoy CPU per request, so a reader sees the noise behind each median."""
    count = max(len(v) for v in results.values())
    head = "| scenario | mode | " + " | ".join(f"round {i + 1}" for i in range(count)) + " |"
    lines = [head, "|---|---|" + "---:|" * count]
    for scenario in SCENARIOS:
        for mode in MODES:
            values = [f"{r.throughput(scenario):,.0f} ({r.envoy_cpu_us_per_req:.1f} us)"
                      for r in results[(scenario.key, mode)]]
            lines.append(f"| {scenario.key} | {mode} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def machine() -> Dict[str, str]:
    cpu = _cpuinfo()
    model = (f"{cpu.get('model name', 'unknown')} (family {cpu.get('cpu family', '?')}, model {cpu.get('model', '?')}, "
             f"{float(cpu.get('cpu MHz', 0)):.0f} MHz)")
    envoy = subprocess.run([str(envoy_binary()), "--version"], capture_output=True, text=True).stdout.strip()
    envoy = envoy.split("version:", 1)[-1].strip()
    commit = _git("rev-parse", "--short=12", "HEAD")
    if _git("status", "--porcelain", "--untracked-files=no"):
        commit += " + uncommitted changes"
    wasm = WASM_MODULE.read_bytes()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": f"{os.cpu_count()} (nproc), {model}",
        "kernel": platform.release(),
        "envoy": envoy,
        "commit": commit,
        "wasm": f"{len(wasm):,} bytes, sha256 {hashlib.sha256(wasm).hexdigest()[:16]}",
    }


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


def markdown(results: Results, settings: Dict[str, str]) -> str:
    report_rows = rows(results)
    facts = {**machine(), **settings}
    out = ["# trino-router benchmark", ""]
    out += [f"- {name}: {value}" for name, value in facts.items()]
    out += ["", table(report_rows), "",
            "ratio: filter throughput / plain Envoy throughput (lifecycles/s for d, req/s otherwise), "
            "median over rounds; the budget verdict is on it. Budgets are the issue's, for 2 cores and one "
            "run; they are reported, not enforced. Envoy CPU/req: CPU time of the Envoy process per request "
            "(for d, per request of the lifecycle); CPU ratio: plain / filter CPU per request, the ratio an "
            "Envoy with a core to itself reaches, and the figure that other load on the machine disturbs least. "
            "Envoy busy: its CPU time / wall time in the median round; well under 100% means wrk or the "
            "stand-in limited that run, not Envoy.",
            "", "## Throughput per round (Envoy CPU per request)", "", rounds_table(results), ""]
    return "\n".join(out)
