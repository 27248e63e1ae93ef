"""The instruction table of `make bench`: instructions Envoy executes per request, counted
by valgrind's callgrind, variant by variant. Unlike CPU time, the count does not depend on
what else the machine runs (rounds agree to about 1%).

Each variant in turn: its fast stand-in, its Envoy (`--concurrency 1`, the config of
variants.py) under callgrind, ready within 10 minutes (V8 compiles the 1.6 MB module under
valgrind for ~3 minutes), one checked query (probe.py, which also gives the page paths).
Then per scenario: warm-up requests, then per round an idle window (no requests, as long
as a measured window) and a measured window (at least N requests and 6 s), each between two dumps
(counts.py does the arithmetic). Envoy and the stand-in are stopped and the dump files
deleted whatever happens.
"""

import http.client
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import requests

from tests.harness import Envoy, Standin, free_port

from .callgrind import Dumps, callgrind_argv
from .configs import SCENARIOS
from .counts import Counts, Measurement, Window
from .probe import probe
from .sender import Sender
from .variants import (FLOOR, FORWARDED, UPSTREAM_FORWARDED, VARIANTS, FloorMismatch, check_floor, envoy_config,
                       marker_prefix)

READY_TIMEOUT_S = 600.0
ROUNDS = 2


@dataclass(frozen=True)
class Plan:
    warmup: int
    # A measured window sends at least this many requests (a, b, c) or whole queries of 7
    # requests (d), and goes on until it has lasted WINDOW_S.
    measured: int


PLANS = {"a": Plan(60, 300), "b": Plan(60, 300), "c": Plan(10, 60), "d": Plan(10, 40)}
# Warm-up lets V8 finish optimising the hot wasm functions before anything is counted.
# Envoy's work by the clock comes in bursts (health checks each second, stats flushes each
# 5 s, the filter's polls): over windows of several seconds the bursts one window catches
# beyond the idle rate are a small share of its requests' count.
WINDOW_S = 6.0


class InstructionsFailed(RuntimeError):
    pass


@dataclass
class InstructionRun:
    counts: Counts
    started_s: Dict[str, float]  # seconds each Envoy took to be ready under callgrind
    seconds: float

    def describe(self) -> str:
        plans = ", ".join(f"{k} {p.warmup} + {ROUNDS} x at least {p.measured}{' queries' if k == 'd' else ''}"
                          for k, p in PLANS.items())
        ready = ", ".join(f"{v} {s:.0f} s" for v, s in self.started_s.items())
        return (f"valgrind --tool=callgrind, one variant at a time; requests per scenario (warm-up + rounds x "
                f"measured, each measured window at least {WINDOW_S:g} s): {plans}; Envoy ready under callgrind "
                f"after {ready}; {self.seconds / 60:.0f} min")


def _print(line: str) -> None:
    print(line, flush=True)


def measure_instructions(log_dir: Path, variants: List[str] = VARIANTS,
                         progress: Callable[[str], None] = _print) -> InstructionRun:
    """Counts every scenario through every variant; InstructionsFailed on any error."""
    began = time.monotonic()
    try:
        check_floor(envoy_config(FLOOR, 0, 0, 0), envoy_config(FORWARDED, 0, 0, 0))
    except FloorMismatch as exc:
        raise InstructionsFailed(str(exc)) from exc
    measured: Dict[Tuple[str, str], Measurement] = {}
    started: Dict[str, float] = {}
    for variant in variants:
        try:
            started[variant] = _measure_variant(variant, log_dir, measured, progress)
        except (AssertionError, RuntimeError, OSError, ValueError, http.client.HTTPException,
                requests.RequestException) as exc:
            raise InstructionsFailed(f"{variant} under callgrind (logs in {log_dir / variant}): {exc}") from exc
    return InstructionRun(Counts(measured), started, time.monotonic() - began)


def _measure_variant(variant: str, log_dir: Path, measured: Dict[Tuple[str, str], Measurement],
                     progress: Callable[[str], None]) -> float:
    """Measures one variant into `measured`; returns the seconds its Envoy took to be ready."""
    with ExitStack() as cleanup:
        dump_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="bench-callgrind-")))
        upstream = Standin(f"fast-{UPSTREAM_FORWARDED[variant]}", forwarded=UPSTREAM_FORWARDED[variant],
                           extra_args=["--fast"], log_dir=log_dir / variant)
        cleanup.callback(upstream.stop)
        upstream.start()
        config = envoy_config(variant, free_port(), free_port(), upstream.port)
        envoy = Envoy(config, log_dir=log_dir / variant, concurrency=1, log_level="warning",
                      wrapper=callgrind_argv(dump_dir))
        # Registered before launch: the stop runs even if the wait below fails.
        cleanup.callback(envoy.stop)
        began = time.monotonic()
        envoy.launch().wait_started(READY_TIMEOUT_S)
        ready_s = time.monotonic() - began
        progress(f"instructions: {variant} ready under callgrind after {ready_s:.0f} s")
        marker = marker_prefix(variant)
        paths = probe(envoy.url, marker)
        dumps = Dumps(dump_dir, envoy.process.pid)
        with Sender(envoy.port, paths, marker) as sender:
            for scenario in SCENARIOS:
                m = _measure_scenario(sender, dumps, scenario.key, PLANS[scenario.key])
                measured[(scenario.key, variant)] = m
                progress(f"instructions: {scenario.key} {variant:16} "
                         + ", ".join(f"{x:,.0f}" for x in m.per_round()) + " instructions/request"
                         + f" (idle {m.idle[0].instructions / max(m.idle[0].seconds, 1e-9):,.0f}/s)")
        return ready_s


def _measure_scenario(sender: Sender, dumps: Dumps, key: str, plan: Plan) -> Measurement:
    began = time.monotonic()
    sender.send(key, plan.warmup)
    # The first idle window lasts as long as a measured window will, judged by the warm-up.
    expected_s = max(WINDOW_S, (time.monotonic() - began) * plan.measured / max(plan.warmup, 1))
    dumps.take()  # zeroes the counters: what came before is not counted
    idle: List[Window] = []
    busy: List[Window] = []
    for _ in range(ROUNDS):
        time.sleep(expected_s)
        idle.append(Window(0, *dumps.take()))
        sent = _send_window(sender, key, plan.measured)
        busy.append(Window(sent, *dumps.take()))
        expected_s = busy[-1].seconds
    return Measurement(idle, busy)


def _send_window(sender: Sender, key: str, least: int) -> int:
    """Sends `least` times, then more until the window has lasted WINDOW_S; returns the requests sent."""
    began = time.monotonic()
    sent = sender.send(key, least)
    while time.monotonic() - began < WINDOW_S:
        sent += sender.send(key, 1)
    return sent
