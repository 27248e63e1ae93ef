"""The issue's targets (issue 16), judged on one run's figures: each row says "met" or
"MISSED" with the figure. A missed target never fails the run; on a loaded machine the
verdicts are indicative only, and the report shows the load average.
"""

from dataclasses import dataclass
from typing import Callable, List

from .figures import Figures
from .variants import FLOOR, FORWARDED, HEADERS, PLAIN, REWRITE


@dataclass(frozen=True)
class Target:
    what: str
    variant: str
    # The figure from a run, how it is printed, and whether it meets the target.
    figure: Callable[[Figures], float]
    shown: str  # format of the figure, e.g. "{:+.1f} us"
    limit: str
    met: Callable[[float], bool]


@dataclass(frozen=True)
class Verdict:
    target: Target
    figure: float

    @property
    def met(self) -> bool:
        return self.target.met(self.figure)

    def row(self) -> str:
        t = self.target
        return (f"| {t.what} | {t.variant} | {t.shown.format(self.figure)} | {t.limit} "
                f"| {'met' if self.met else 'MISSED'} |")


def _cpu_over_floor(key: str, variant: str, limit_us: float, what: str) -> Target:
    return Target(what, variant, lambda f: f.cpu_over(key, variant, FLOOR), "{:+.1f} us",
                  f"<= +{limit_us:g} us", lambda x: x <= limit_us)


def _ratio(key: str, variant: str, base: str, least: float, what: str) -> Target:
    return Target(what, variant, lambda f: f.ratio(key, variant, base), "{:.3f}", f">= {least:.2f} of {base}",
                  lambda x: x >= least)


def _added_p50(variant: str, what: str) -> Target:
    return Target(what, variant, lambda f: f.latency_over("a", variant, PLAIN, 50), "{:+.0f} us",
                  "< +50 us over plain", lambda x: x < 50)


TARGETS = [
    _cpu_over_floor("b", FORWARDED, 5, "b. follow-up GET: Envoy CPU/req over the floor"),
    _cpu_over_floor("b", REWRITE, 5, "b. follow-up GET: Envoy CPU/req over the floor"),
    _cpu_over_floor("a", HEADERS, 10, "a. new query, header rules only: Envoy CPU/req over the floor"),
    _cpu_over_floor("a", FORWARDED, 25, "a. new query, 2 KB SQL, 30 rules: Envoy CPU/req over the floor"),
    Target("c. 1 MB page: rewrite Envoy CPU/req / forwarded-prefix", REWRITE,
           lambda f: f.cpu_ratio("c", REWRITE, FORWARDED), "{:.3f}", "<= 1.05", lambda x: x <= 1.05),
    _ratio("d", FORWARDED, FLOOR, 0.85, "d. whole-query lifecycles/s / floor"),
    _ratio("d", REWRITE, FLOOR, 0.85, "d. whole-query lifecycles/s / floor"),
    _ratio("c", FORWARDED, PLAIN, 0.97, "c. 1 MB pages req/s / plain"),
    _ratio("c", REWRITE, PLAIN, 0.97, "c. 1 MB pages req/s / plain"),
    _added_p50(HEADERS, "a. new query at 1 connection: p50 over plain"),
    _added_p50(FORWARDED, "a. new query at 1 connection: p50 over plain"),
]


def judge(figures: Figures) -> List[Verdict]:
    return [Verdict(t, t.figure(figures)) for t in TARGETS]


def table(verdicts: List[Verdict]) -> str:
    lines = ["| target | variant | figure | limit | verdict |", "|---|---|---:|---|---|"]
    return "\n".join(lines + [v.row() for v in verdicts])
