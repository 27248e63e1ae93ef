"""The processes of one benchmark run: a fast stand-in per forwarded mode and one Envoy per
variant, where they run, and how much CPU each Envoy uses.

Envoys run with `--concurrency 1` on free loopback ports. Where processes run is the
`Layout` (`--placement`), recorded in the report:
- `envoy-core` (default): every Envoy on the first CPU, the stand-ins and wrk on the
  second. Only one Envoy is loaded at a time, so throughput is that of one Envoy worker
  with a core to itself, and the load generator never steals its cycles.
- `split`: the stand-ins on one CPU, wrk on another, Envoy wherever the scheduler puts it.
- `none`: no pinning.
Pinning is what `taskset -p` does (sched_setaffinity on every thread), applied once an
Envoy is up, so the Envoys compile their wasm on both CPUs side by side at start.
"""

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set

from tests.harness import Envoy, Standin, free_port

from .variants import FLOOR, FORWARDED, UPSTREAM_FORWARDED, VARIANTS, check_floor, envoy_config

PLACEMENTS = ["envoy-core", "split", "none"]


@dataclass(frozen=True)
class Layout:
    name: str
    envoy_cpus: Optional[Set[int]]
    upstream_cpus: Optional[Set[int]]
    wrk_cpus: Optional[Set[int]]

    @staticmethod
    def choose(placement: str) -> "Layout":
        cpus = sorted(os.sched_getaffinity(0))
        if placement == "none" or len(cpus) < 2:
            return Layout("none", None, None, None)
        first, second = {cpus[0]}, {cpus[1]}
        if placement == "envoy-core":
            return Layout(placement, first, second, second)
        if placement == "split":
            return Layout(placement, None, first, second)
        raise ValueError(f"unknown placement {placement!r}: one of {PLACEMENTS}")

    def describe(self) -> str:
        def where(cpus: Optional[Set[int]]) -> str:
            return f"CPU {','.join(str(c) for c in sorted(cpus))}" if cpus is not None else "any CPU"

        return (f"{self.name}: Envoy on {where(self.envoy_cpus)}, upstreams on {where(self.upstream_cpus)}, "
                f"wrk on {where(self.wrk_cpus)}")


def pin_process(pid: int, cpus: Optional[Set[int]]) -> None:
    """Pins every thread of a running process (threads it starts later inherit it)."""
    if cpus is None:
        return
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except ProcessLookupError:
            pass  # a thread that just ended


def cpu_seconds(pid: int) -> float:
    """CPU time the threads of a process have run, from /proc/<pid>/task/*/schedstat (nanoseconds,
    where /proc/<pid>/stat counts clock ticks). A thread that ended takes its time with it; Envoy's
    threads live as long as the process."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / 1e9


def pin_tree(pid: int, cpus: Optional[Set[int]]) -> None:
    """Pins a process and its descendants (a launcher and the JVM it started)."""
    pin_process(pid, cpus)
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                children = [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
        for child in children:
            pin_tree(child, cpus)


def launch_envoys(configs: Dict[str, dict], log_dir: Path) -> Dict[str, Envoy]:
    """Starts one Envoy per config and returns at once: they compile the wasm side by side (slow
    at start); `wait_envoys` waits for them. Stops those started if one fails to start."""
    envoys: Dict[str, Envoy] = {}
    try:
        # Launched from this thread: the harness has a child killed when the thread that
        # started it exits (PR_SET_PDEATHSIG), so no short-lived threads here.
        for name, config in configs.items():
            (log_dir / name).mkdir(parents=True, exist_ok=True)
            envoys[name] = Envoy(config, log_dir=log_dir / name, concurrency=1, log_level="warning").launch()
    except BaseException:
        stop_envoys(envoys)
        raise
    return envoys


def wait_envoys(envoys: Dict[str, Envoy], cpus: Optional[Set[int]], timeout: float = 120.0) -> None:
    """Waits until every Envoy is live with healthy clusters, then pins it; stops all if one fails."""
    try:
        for envoy in envoys.values():
            envoy.wait_started(timeout)
            pin_process(envoy.process.pid, cpus)
    except BaseException:
        stop_envoys(envoys)
        raise


def stop_envoys(envoys: Dict[str, Envoy]) -> None:
    for envoy in envoys.values():
        envoy.stop()


class CpuMeter:
    """Envoy CPU over a stretch of wall time, less what the same Envoy uses idle (health
    checks, the filter's polls and ticks) over as long."""

    def __init__(self, envoys: Dict[str, Envoy]):
        self.envoys = envoys
        self.idle_per_s: Dict[str, float] = {name: 0.0 for name in envoys}

    def measure_idle(self, seconds: float) -> Dict[str, float]:
        """CPU seconds per second each Envoy uses with no traffic, measured all at once."""
        before = {name: self.raw(name) for name in self.envoys}
        began = time.monotonic()
        time.sleep(seconds)
        wall = time.monotonic() - began
        self.idle_per_s = {name: (self.raw(name) - before[name]) / wall for name in self.envoys}
        return self.idle_per_s

    def raw(self, name: str) -> float:
        return cpu_seconds(self.envoys[name].process.pid)

    def used(self, name: str, cpu_before: float, wall_seconds: float) -> float:
        """CPU seconds `name` used since `cpu_before` (a `raw` reading), idle share taken off."""
        return max(0.0, self.raw(name) - cpu_before - self.idle_per_s[name] * wall_seconds)


class BenchStack:
    """Upstreams and Envoys of the given variants; a context manager that always stops them."""

    def __init__(self, log_dir: Path, layout: Layout, variants: Iterable[str] = VARIANTS):
        self.log_dir = log_dir
        self.layout = layout
        self.variants = list(variants)
        self.upstreams: Dict[str, Standin] = {}
        self.envoys: Dict[str, Envoy] = {}
        self.cpu = CpuMeter({})

    def __enter__(self) -> "BenchStack":
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _start(self) -> None:
        for forwarded in sorted({UPSTREAM_FORWARDED[v] for v in self.variants}):
            upstream = Standin(f"fast-{forwarded}", forwarded=forwarded, extra_args=["--fast"],
                               log_dir=self.log_dir)
            self.upstreams[forwarded] = upstream.start()
            pin_process(upstream.process.pid, self.layout.upstream_cpus)
        configs = {v: envoy_config(v, free_port(), free_port(), self.upstreams[UPSTREAM_FORWARDED[v]].port)
                   for v in self.variants}
        if FLOOR in configs:
            # Against the filter's config as it would be built, whether or not it runs.
            check_floor(configs[FLOOR], configs.get(FORWARDED) or envoy_config(FORWARDED, 0, 0, 0))
        self.envoys = launch_envoys(configs, self.log_dir)
        wait_envoys(self.envoys, self.layout.envoy_cpus)
        self.cpu = CpuMeter(self.envoys)

    def stop(self) -> None:
        stop_envoys(self.envoys)
        for upstream in self.upstreams.values():
            upstream.stop()

    def url(self, variant: str) -> str:
        return self.envoys[variant].url

    def dead(self) -> List[str]:
        return [v for v, envoy in self.envoys.items() if not envoy.is_running()]

    def envoy_logs(self) -> List[str]:
        return [f"--- {v} ---\n{e.process.log_tail(30)}" for v, e in self.envoys.items() if e.process]
