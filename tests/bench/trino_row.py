"""The real-Trino row: a few tpch.tiny queries through plain Envoy, the floor and the filter
(forwarded-prefix, 30 rules) in front of one real Trino 476 server, as a check that the
stand-in scenarios resemble real traffic.

Each query runs once per variant first (Trino plans and compiles it; the rows must be the
same through every variant, and only the filter pins nextUris), then `reps` times per
variant, variants interleaved. Reported per query and variant: the client's wall time
(Python client: milliseconds of Trino work dominate it), the requests a query took, and
Envoy's CPU per request, less its idle CPU.
"""

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional
from urllib.parse import urlsplit

from tests.harness import free_port, wait_until
from tests.harness.trino_http import QueryRun, run_query
from tests.harness.trino_server import JdkMissing, TrinoServer

from .figures import lower_median
from .stack import CpuMeter, Layout, launch_envoys, pin_tree, wait_envoys
from .configs import PATH_MARKER
from .variants import FILTERED, FLOOR, FORWARDED, PLAIN, envoy_config

VARIANTS = [PLAIN, FLOOR, FORWARDED]
QUERIES = {
    "count(*) of lineitem": "SELECT count(*) FROM tpch.tiny.lineitem",
    "join, group by": "SELECT n.name, count(*) AS customers FROM tpch.tiny.customer c "
                      "JOIN tpch.tiny.nation n ON c.nationkey = n.nationkey GROUP BY n.name ORDER BY n.name",
    "20,000 lineitem rows": "SELECT orderkey, linenumber, quantity, comment FROM tpch.tiny.lineitem "
                            "ORDER BY orderkey, linenumber LIMIT 20000",
}
USER = "bench"


class TrinoRowFailed(RuntimeError):
    pass


@dataclass
class Sample:
    wall_ms: float
    requests: int
    envoy_cpu_us_per_req: float


@dataclass
class TrinoRows:
    skipped_because: Optional[str] = None
    rows: Dict[str, int] = field(default_factory=dict)  # query -> result rows
    samples: Dict[str, Dict[str, List[Sample]]] = field(default_factory=dict)  # query -> variant -> runs
    server: str = ""

    @staticmethod
    def skipped(reason: str) -> "TrinoRows":
        return TrinoRows(skipped_because=reason)

    def markdown(self) -> str:
        if self.skipped_because:
            return f"Not run ({self.skipped_because})."
        lines = [f"{self.server}. Median of the runs per variant; `over plain` is the difference of the medians. "
                 "Requests are separated by Trino's work, so compare Envoy CPU/req with the low-load table "
                 "(scenario d at one connection), not with the loaded one.",
                 "", "| query | rows | requests | variant | wall ms | over plain | Envoy CPU/req | over plain "
                 "| over floor |", "|---|---:|---:|---|---:|---:|---:|---:|---:|"]
        for query, by_variant in self.samples.items():
            wall = {v: lower_median([s.wall_ms for s in runs]) for v, runs in by_variant.items()}
            cpu = {v: lower_median([s.envoy_cpu_us_per_req for s in runs]) for v, runs in by_variant.items()}
            requests = lower_median([float(s.requests) for s in by_variant[PLAIN]])
            for v in VARIANTS:
                first = v == PLAIN
                lines.append(
                    f"| {query if first else ''} | {self.rows[query] if first else ''} "
                    f"| {f'{requests:.0f}' if first else ''} | {v} | {wall[v]:.1f} "
                    f"| {'' if first else f'{wall[v] - wall[PLAIN]:+.1f}'} | {cpu[v]:.1f} us "
                    f"| {'' if first else f'{cpu[v] - cpu[PLAIN]:+.1f} us'} "
                    f"| {'' if v in (PLAIN, FLOOR) else f'{cpu[v] - cpu[FLOOR]:+.1f} us'} |")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {"skipped_because": self.skipped_because, "rows": self.rows, "server": self.server,
                "samples": {q: {v: [asdict(s) for s in runs] for v, runs in by.items()}
                            for q, by in self.samples.items()}}


def real_trino_rows(log_dir: Path, layout: Layout, reps: int) -> TrinoRows:
    """Starts Trino and three Envoys, runs the queries, stops them; TrinoRowFailed on any error."""
    log_dir.mkdir(parents=True, exist_ok=True)
    trino = TrinoServer("bench", log_dir=log_dir)
    envoys = {}
    try:
        try:
            trino.start()
        except JdkMissing as exc:
            raise TrinoRowFailed(f"{exc} (`make trino`; --no-trino skips this row)") from None
        configs = {v: envoy_config(v, free_port(), free_port(), trino.port) for v in VARIANTS}
        envoys = launch_envoys(configs, log_dir)  # they compile while Trino boots
        trino.wait_ready()
        # /v1/info and SELECT 1 pass before the node has announced itself to the
        # coordinator; until then a query that reads tpch fails with "nodes is empty".
        wait_until(lambda: not run_query([trino.url], "SELECT count(*) FROM tpch.tiny.nation", user=USER).error,
                   120.0, f"a tpch query on {trino.url} to succeed", interval=1.0)
        wait_envoys(envoys, layout.envoy_cpus)
        pin_tree(trino.process.pid, layout.upstream_cpus)
        print(f"real Trino {trino.info().get('nodeVersion', {}).get('version')} ready on {trino.url}", flush=True)
        result = TrinoRows(server=f"Trino {trino.info().get('nodeVersion', {}).get('version')}, one node, "
                                  f"{reps} runs per query and variant after one checked run")
        _measure(envoys, reps, result)
        return result
    except (AssertionError, RuntimeError) as exc:
        raise TrinoRowFailed(str(exc).splitlines()[0] + f" (logs in {log_dir})") from exc
    finally:
        for envoy in envoys.values():
            envoy.stop()
        trino.stop()


def _measure(envoys: dict, reps: int, result: TrinoRows) -> None:
    meter = CpuMeter(envoys)
    for query, sql in QUERIES.items():
        runs = {v: _checked(envoys[v].url, sql, v) for v in VARIANTS}
        rows = {v: run.rows for v, run in runs.items()}
        if any(r != rows[PLAIN] for r in rows.values()):
            raise TrinoRowFailed(f"{query}: rows differ between variants "
                                 f"({ {v: len(r) for v, r in rows.items()} } rows)")
        result.rows[query] = len(rows[PLAIN])
        result.samples[query] = {v: [] for v in VARIANTS}
    meter.measure_idle(3.0)
    for rep in range(reps):
        order = VARIANTS[rep % len(VARIANTS):] + VARIANTS[:rep % len(VARIANTS)]
        for query, sql in QUERIES.items():
            for v in order:
                cpu_before = meter.raw(v)
                began = time.monotonic()
                run = _checked(envoys[v].url, sql, v)
                wall = time.monotonic() - began
                used = meter.used(v, cpu_before, wall)
                result.samples[query][v].append(Sample(wall * 1e3, len(run.requested), used * 1e6 / len(run.requested)))


def _checked(url: str, sql: str, variant: str) -> QueryRun:
    run = run_query([url], sql, user=USER)
    if run.error:
        raise TrinoRowFailed(f"{sql!r} through {variant} failed: {run.error.get('message')}")
    for method, follow_up, _ in run.requested[1:]:
        pinned = urlsplit(follow_up).path.startswith(f"/{PATH_MARKER}/")
        if pinned != (variant in FILTERED):
            raise TrinoRowFailed(f"{method} {follow_up} through {variant}: "
                                 f"{'expected' if variant in FILTERED else 'unexpected'} routing prefix")
    return run
