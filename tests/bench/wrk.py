"""One wrk run with tests/bench/trino.lua, and what it measured.

wrk runs one thread (the load generator gets one CPU) with a given number of keep-alive
connections: 16 to load Envoy, 1 to see the latency a lone request meets. Latency
percentiles are wrk's own (`--latency` histogram, microsecond resolution). The script's
done() prints a JSON line with everything the report needs, counted across threads.
"""

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Optional, Set

from .configs import LUA_SCRIPT, STATEMENT_SQL, Scenario

RESULT_PREFIX = "BENCH_RESULT "


class WrkMissing(RuntimeError):
    pass


def wrk_binary() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise WrkMissing("wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu), "
                         "or see https://github.com/wg/wrk; .ci/run installs it in CI")
    return path


@dataclass
class WrkResult:
    requests: int
    seconds: float
    errors: int
    p50_us: float
    p99_us: float
    lifecycles: int
    pinned: int
    unpinned: int
    # Filled in by the caller, which knows the Envoy: its CPU time over the run per request,
    # and as a share of one CPU (near 100% when Envoy, not wrk or the stand-in, is the limit).
    envoy_cpu_us_per_req: float = 0.0
    envoy_busy: float = 0.0

    @property
    def req_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def lifecycles_per_s(self) -> float:
        return self.lifecycles / self.seconds if self.seconds else 0.0

    def throughput(self, scenario: Scenario) -> float:
        """What the scenario is judged by: queries per second for lifecycles, else requests."""
        return self.lifecycles_per_s if scenario.wrk_mode == "lifecycle" else self.req_per_s

    def to_json(self) -> dict:
        return {**self.__dict__, "req_per_s": self.req_per_s, "lifecycles_per_s": self.lifecycles_per_s}


def run_wrk(url: str, scenario: Scenario, seconds: float, marker: Optional[str],
            cpus: Optional[Set[int]], connections: int) -> WrkResult:
    """Runs wrk against `url` (base + path) for `seconds`; raises if wrk reports nothing."""
    extra = {"get": [], "post": [str(STATEMENT_SQL)],
             "lifecycle": [str(STATEMENT_SQL), marker or "-"]}[scenario.wrk_mode]
    argv = [wrk_binary(), "-t1", f"-c{connections}", f"-d{_duration(seconds)}", "--latency",
            "--timeout", "10s", "-s", str(LUA_SCRIPT), url, "--", scenario.wrk_mode, *extra]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60,
                          preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith(RESULT_PREFIX)), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {' '.join(argv)}\n{done.stdout}\n{done.stderr}")
    raw = json.loads(line[len(RESULT_PREFIX):])
    errors = sum(raw["errors"].values()) + raw["bad_status"]
    return WrkResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        errors=errors,
        p50_us=float(raw["latency_us"]["p50"]),
        p99_us=float(raw["latency_us"]["p99"]),
        lifecycles=raw["lifecycles"],
        pinned=raw["pinned"],
        unpinned=raw["unpinned"],
    )


def _duration(seconds: float) -> str:
    """wrk takes whole seconds (or a unit); at least one."""
    return f"{max(1, round(seconds))}s"


def wrk_version() -> str:
    done = subprocess.run([wrk_binary(), "--version"], capture_output=True, text=True)
    return (done.stdout or done.stderr).splitlines()[0].split(" Copyright")[0].strip()
