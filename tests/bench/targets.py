"""The issue's targets (issue 16), judged on one run's figures: each row says "met" or
"MISSED" with the figure. A missed target never fails the run; on a loaded machine the
verdicts are indicative only, and the report shows the load average. The same targets
are judged again on instruction counts (counts.py), which load does not disturb.
"""

from dataclasses import dataclass
from typing import Callable, List, Optional

from .counts import Counts
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


# --- The same targets judged on instruction counts (instructions.py) ---


@dataclass(frozen=True)
class CountTarget:
    """A target judged on instructions per request. With `limit_us`, the figure is instructions
    over the floor, held to the microseconds limit converted to instructions at plain Envoy's
    pace (instructions per microsecond of CPU for the same scenario in this run). Without, the
    figure is a ratio of counts, held to `bound` (at most, or at least with `at_least`)."""
    what: str
    variant: str
    key: str
    figure: Callable[[Counts], float]
    limit_us: Optional[float] = None
    bound: float = 0.0
    at_least: bool = False
    base: str = ""


@dataclass(frozen=True)
class CountVerdict:
    target: CountTarget
    figure: float
    pace: Optional[float]  # plain's instructions per microsecond of CPU for the target's scenario

    @property
    def limit(self) -> Optional[float]:
        """The bound on the figure; for a microseconds target, None when the pace is unknown."""
        if self.target.limit_us is None:
            return self.target.bound
        return self.target.limit_us * self.pace if self.pace else None

    @property
    def met(self) -> Optional[bool]:
        limit = self.limit
        if limit is None:
            return None
        return self.figure >= limit if self.target.at_least else self.figure <= limit

    def row(self) -> str:
        t = self.target
        if t.limit_us is None:
            figure = f"{self.figure:.3f}"
            limit = f"{'>=' if t.at_least else '<='} {t.bound:.2f}" + (f" of {t.base}" if t.base else "")
        else:
            figure = f"{self.figure:+,.0f}" + (f" (~{self.figure / self.pace:+.1f} us)" if self.pace else "")
            limit = f"<= +{t.limit_us:g} us" + (f" = {self.limit:,.0f}" if self.limit is not None else "")
        verdict = {True: "met", False: "MISSED", None: "not judged: no wall-clock figure for plain"}[self.met]
        return f"| {t.what} | {t.variant} | {figure} | {limit} | {verdict} |"


def _count_over_floor(key: str, variant: str, limit_us: float, what: str) -> CountTarget:
    return CountTarget(what, variant, key, lambda c: c.over(key, variant, FLOOR), limit_us=limit_us)


def _count_throughput(key: str, variant: str, base: str, least: float, what: str) -> CountTarget:
    # A CPU-bound Envoy's throughput ratio is the inverse of its cost ratio.
    return CountTarget(what, variant, key, lambda c: c.ratio(key, base, variant), bound=least, at_least=True,
                       base=base)


COUNT_TARGETS = [
    _count_over_floor("b", FORWARDED, 5, "b. follow-up GET: instructions/req over the floor"),
    _count_over_floor("b", REWRITE, 5, "b. follow-up GET: instructions/req over the floor"),
    _count_over_floor("a", HEADERS, 10, "a. new query, header rules only: instructions/req over the floor"),
    _count_over_floor("a", FORWARDED, 25, "a. new query, 2 KB SQL, 30 rules: instructions/req over the floor"),
    CountTarget("c. 1 MB page: rewrite instructions/req / forwarded-prefix", REWRITE, "c",
                lambda c: c.ratio("c", REWRITE, FORWARDED), bound=1.05),
    _count_throughput("d", FORWARDED, FLOOR, 0.85, "d. whole query: floor instructions / filter instructions"),
    _count_throughput("d", REWRITE, FLOOR, 0.85, "d. whole query: floor instructions / filter instructions"),
    _count_throughput("c", FORWARDED, PLAIN, 0.97, "c. 1 MB page: plain instructions / filter instructions"),
    _count_throughput("c", REWRITE, PLAIN, 0.97, "c. 1 MB page: plain instructions / filter instructions"),
]


def plain_pace(counts: Counts, figures: Optional[Figures], key: str) -> Optional[float]:
    """Plain Envoy's instructions per microsecond of CPU in scenario `key`: its instructions per
    request over its CPU per request in the wall-clock table of the same run (None without one)."""
    if figures is None:
        return None
    cpu_us = figures.cpu(key, PLAIN)
    return counts.per_request(key, PLAIN) / cpu_us if cpu_us > 0 else None


def judge_counts(counts: Counts, figures: Optional[Figures]) -> List[CountVerdict]:
    return [CountVerdict(t, t.figure(counts), plain_pace(counts, figures, t.key)) for t in COUNT_TARGETS]


def count_table(verdicts: List[CountVerdict]) -> str:
    lines = ["| target | variant | figure (instructions) | limit | verdict |", "|---|---|---:|---|---|"]
    return "\n".join(lines + [v.row() for v in verdicts])
