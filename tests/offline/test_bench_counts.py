"""The arithmetic of `make bench`'s instruction table, without valgrind: a callgrind dump
file read for its total, instructions per request with Envoy's idle work taken off, the
comparisons between variants, and the targets judged on counts with microsecond limits
converted at plain Envoy's pace.
"""

from pathlib import Path

import pytest

from tests.bench.callgrind import DumpError, dump_total
from tests.bench.counts import Counts, Measurement, Window, per_request
from tests.bench.figures import THROUGHPUT, Figures
from tests.bench.report import counts_section
from tests.bench.targets import judge_counts
from tests.bench.variants import FLOOR, FORWARDED, HEADERS, PLAIN, REWRITE, VARIANTS
from tests.bench.wrk import WrkResult

# The shape of a dump valgrind 3.19 writes for `callgrind_control -d` (cut short).
DUMP = """\
# callgrind format
version: 1
creator: callgrind-3.19.0
pid: 19952
cmd:  envoy -c plain.json --concurrency 1 -l warning
part: 3


desc: I1 cache: 
desc: D1 cache: 
desc: LL cache: 

desc: Timerange: Basic block 52572161 - 52680385
desc: Trigger: dump

positions: line
events: Ir
summary: 428824


ob=(2) ???
fl=(52) ???
fn=(1442) 0x000000000628d840
0 19690
0 754

totals: 428824
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "callgrind.19952.3"
    path.write_text(text)
    return path


def test_a_dump_counts_the_instructions_of_its_totals_line(tmp_path):
    assert dump_total(write(tmp_path, DUMP)) == 428824


@pytest.mark.parametrize("broken, message", [
    (DUMP.rsplit("totals:", 1)[0], "no totals line"),
    (DUMP.replace("summary: 428824", "summary: 428825"), "disagree"),
    (DUMP.replace("events: Ir", "events: Dr Ir"), "Ir"),
])
def test_an_incomplete_or_foreign_dump_is_refused(tmp_path, broken, message):
    with pytest.raises(DumpError, match=message):
        dump_total(write(tmp_path, broken))


def test_idle_work_is_taken_off_at_its_rate_over_the_window():
    # Envoy idles at 200,000 instructions/s (2 s and 3 s of idle); 100 requests in 1.5 s.
    idle = [Window(0, 400_000, 2.0), Window(0, 600_000, 3.0)]
    busy = Window(100, 20_300_000, 1.5)
    assert per_request(busy, idle) == pytest.approx(200_000)


def counts(per_req: dict) -> Counts:
    """Counts whose rounds give exactly `per_req[(key, variant)]` (a pair of rounds), no idle work."""
    idle = [Window(0, 0, 1.0)]
    return Counts({k: Measurement(idle, [Window(100, int(r * 100), 1.0) for r in rounds])
                   for k, rounds in per_req.items()})


def test_variants_compare_by_mean_of_rounds():
    c = counts({("a", PLAIN): (190_000, 210_000), ("a", FLOOR): (240_000, 240_000)})
    assert c.per_request("a", PLAIN) == 200_000
    assert c.over("a", FLOOR, PLAIN) == 40_000
    assert c.ratio("a", FLOOR, PLAIN) == pytest.approx(1.2)
    assert c.spread("a", PLAIN) == pytest.approx(0.1)


def wall_clock(plain_cpu_us: float) -> Figures:
    """A wall-clock table where plain Envoy costs `plain_cpu_us` of CPU per request in every scenario."""
    result = WrkResult(requests=1, seconds=1.0, errors=0, p50_us=0, p99_us=0, lifecycles=0, pinned=0,
                       unpinned=0, envoy_cpu_us_per_req=plain_cpu_us)
    return Figures({(THROUGHPUT, key, PLAIN): [result] for key in "abcd"})


def every_scenario(**per_variant) -> Counts:
    return counts({(key, v): (n, n) for key in "abcd" for v, n in per_variant.items()})


def test_microsecond_limits_become_instructions_at_plains_pace():
    # Plain: 200,000 instructions in 100 us of CPU, so 2,000 instructions per us; 25 us = 50,000.
    c = every_scenario(plain=200_000, floor=240_000, **{HEADERS: 265_000, FORWARDED: 289_000, REWRITE: 292_000})
    verdicts = {(v.target.key, v.target.variant): v for v in judge_counts(c, wall_clock(100.0))}
    a30 = verdicts[("a", FORWARDED)]
    assert (a30.limit, a30.figure, a30.met) == (50_000, 49_000, True)
    assert verdicts[("a", HEADERS)].met is False  # +25,000 against 10 us = 20,000
    assert verdicts[("b", REWRITE)].met is False  # +52,000 against 5 us = 10,000
    assert "~+24.5 us" in a30.row()


def test_throughput_targets_are_inverse_cost_ratios_and_need_no_wall_clock():
    c = every_scenario(plain=400_000, floor=340_000, **{HEADERS: 400_000, FORWARDED: 400_000, REWRITE: 420_000})
    verdicts = judge_counts(c, None)
    d = next(v for v in verdicts if v.target.key == "d" and v.target.variant == FORWARDED)
    assert (d.figure, d.met) == (pytest.approx(0.85), True)
    c_rewrite = next(v for v in verdicts if v.target.key == "c" and v.target.variant == REWRITE
                     and v.target.base == PLAIN)
    assert (c_rewrite.figure, c_rewrite.met) == (pytest.approx(400 / 420), False)
    microseconds = [v for v in verdicts if v.target.limit_us is not None]
    assert microseconds and all(v.met is None and "not judged" in v.row() for v in microseconds)


def test_the_report_shows_every_variant_and_the_pace():
    c = every_scenario(**{v: 200_000 + 10_000 * i for i, v in enumerate(VARIANTS)})
    text = "\n".join(counts_section(c, wall_clock(100.0), "how it was counted"))
    assert "| rewrite | 240,000 | +40,000 | +30,000 | 1.200 | 1.143 | 240,000 / 240,000 | 0.0% |" in text
    assert "instructions per microsecond of CPU: a 2,000, b 2,000, c 2,000, d 2,000" in text
