"""The figures read from a run's wrk results: medians over rounds, and comparisons made
round by round.

Variants of a scenario follow each other within a round, so drift on the machine hits
them alike; a comparison (a ratio, or a difference in microseconds) is computed per
round and the median over rounds is reported (the lower middle one for an even count).
"""

from typing import Callable, Dict, List, Tuple

from .configs import SCENARIO
from .wrk import WrkResult

THROUGHPUT, LATENCY = "throughput", "latency"
LOADS = [THROUGHPUT, LATENCY]
Results = Dict[Tuple[str, str, str], List[WrkResult]]  # (load, scenario key, variant) -> one per round


def lower_median(values: List[float]) -> float:
    return sorted(values)[(len(values) - 1) // 2] if values else 0.0


class Figures:
    def __init__(self, results: Results):
        self.results = results

    def runs(self, load: str, key: str, variant: str) -> List[WrkResult]:
        return self.results[(load, key, variant)]

    def _values(self, load: str, key: str, variant: str, pick: Callable[[WrkResult], float]) -> List[float]:
        return [pick(r) for r in self.runs(load, key, variant)]

    def _tput(self, key: str, variant: str) -> List[float]:
        scenario = SCENARIO[key]
        return self._values(THROUGHPUT, key, variant, lambda r: r.throughput(scenario))

    def throughput(self, key: str, variant: str) -> float:
        """Requests per second (queries per second for the lifecycle), median round."""
        return lower_median(self._tput(key, variant))

    def req_per_s(self, key: str, variant: str) -> float:
        return lower_median(self._values(THROUGHPUT, key, variant, lambda r: r.req_per_s))

    def spread(self, key: str, variant: str) -> float:
        """(max - min) / median throughput over rounds: how far the rounds disagree."""
        values = self._tput(key, variant)
        middle = lower_median(values)
        return (max(values) - min(values)) / middle if middle else 0.0

    def ratio(self, key: str, variant: str, base: str) -> float:
        """Throughput of `variant` / throughput of `base`, round by round, median."""
        return lower_median([v / b if b else 0.0 for v, b in zip(self._tput(key, variant), self._tput(key, base))])

    def _cpu(self, key: str, variant: str, load: str = THROUGHPUT) -> List[float]:
        return self._values(load, key, variant, lambda r: r.envoy_cpu_us_per_req)

    def cpu(self, key: str, variant: str, load: str = THROUGHPUT) -> float:
        """Envoy CPU per request, microseconds, median round."""
        return lower_median(self._cpu(key, variant, load))

    def cpu_over(self, key: str, variant: str, base: str) -> float:
        """Envoy CPU per request of `variant` minus that of `base`, round by round, median (us)."""
        return lower_median([v - b for v, b in zip(self._cpu(key, variant), self._cpu(key, base))])

    def cpu_ratio(self, key: str, variant: str, base: str) -> float:
        """Envoy CPU per request of `variant` / that of `base`, round by round, median."""
        return lower_median([v / b if b else 0.0 for v, b in zip(self._cpu(key, variant), self._cpu(key, base))])

    def busy(self, key: str, variant: str) -> float:
        return lower_median(self._values(THROUGHPUT, key, variant, lambda r: r.envoy_busy))

    def _latency(self, key: str, variant: str, pct: int) -> List[float]:
        return self._values(LATENCY, key, variant, lambda r: r.p50_us if pct == 50 else r.p99_us)

    def latency(self, key: str, variant: str, pct: int) -> float:
        """p50 or p99 at one connection, microseconds, median round."""
        return lower_median(self._latency(key, variant, pct))

    def latency_over(self, key: str, variant: str, base: str, pct: int) -> float:
        """p50 or p99 at one connection of `variant` minus that of `base`, round by round, median (us)."""
        return lower_median([v - b for v, b in zip(self._latency(key, variant, pct), self._latency(key, base, pct))])
