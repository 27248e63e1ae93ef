"""The processes of one benchmark run: a fast stand-in per forwarded mode and three Envoys.

Envoys run with `--concurrency 1` on free loopback ports. Where processes run is the
`Layout` (`--placement`), recorded in the report:
- `split` (default): the stand-ins on one CPU, wrk on another, Envoy wherever the
  scheduler puts it. Everything shares the 2 cores the issue's budget speaks of, so
  throughput is that of the whole box, and the stand-in and wrk cannot steal each
  other's core.
- `envoy-core`: Envoy alone on one CPU, stand-ins and wrk on another: throughput is
  that of one Envoy worker with a core to itself, the strictest comparison.
- `none`: no pinning.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Set

from tests.harness import Envoy, Standin, free_port

from .configs import MODES, UPSTREAM_FORWARDED, envoy_config

PLACEMENTS = ["split", "envoy-core", "none"]


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
            return f"CPU {_cpus(cpus)}" if cpus is not None else "any CPU"

        return (f"{self.name}: Envoy on {where(self.envoy_cpus)}, fast stand-ins on {where(self.upstream_cpus)}, "
                f"wrk on {where(self.wrk_cpus)}")


def _cpus(cpus: Set[int]) -> str:
    return ",".join(str(c) for c in sorted(cpus))


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
    """User + system CPU time a process has used so far (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat(5); 11 and 12 after the command name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class BenchStack:
    """Upstreams and Envoys for all modes; a context manager that always stops them."""

    def __init__(self, log_dir: Path, layout: Layout):
        self.log_dir = log_dir
        self.layout = layout
        self.upstreams: Dict[str, Standin] = {}
        self.envoys: Dict[str, Envoy] = {}

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
        for forwarded in sorted(set(UPSTREAM_FORWARDED.values())):
            upstream = Standin(f"fast-{forwarded}", forwarded=forwarded, extra_args=["--fast"],
                               log_dir=self.log_dir)
            self.upstreams[forwarded] = upstream.start()
            pin_process(upstream.process.pid, self.layout.upstream_cpus)
        for mode in MODES:
            upstream = self.upstreams[UPSTREAM_FORWARDED[mode]]
            config = envoy_config(mode, free_port(), free_port(), upstream.port)
            (self.log_dir / mode).mkdir(parents=True, exist_ok=True)
            self.envoys[mode] = Envoy(config, log_dir=self.log_dir / mode, concurrency=1, log_level="warning")
        # One after the other from this thread: the harness has a child killed when the
        # thread that started it exits (PR_SET_PDEATHSIG), so no short-lived threads here.
        for envoy in self.envoys.values():
            envoy.start(timeout=90.0)
            pin_process(envoy.process.pid, self.layout.envoy_cpus)

    def stop(self) -> None:
        for envoy in self.envoys.values():
            envoy.stop()
        for upstream in self.upstreams.values():
            upstream.stop()

    def url(self, mode: str) -> str:
        return self.envoys[mode].url

    def envoy_cpu_seconds(self, mode: str) -> float:
        return cpu_seconds(self.envoys[mode].process.pid)

    def envoy_logs(self) -> List[str]:
        return [f"--- {mode} ---\n{e.process.log_tail(30)}" for mode, e in self.envoys.items() if e.process]
