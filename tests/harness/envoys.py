"""Envoys with the filter in front of a set of coordinators, as the suites start them.

Shared by the stand-in suites (tests/e2e) and the real-Trino suites (tests/real_trino):
one place that builds the config from the shipped file, starts it with the filter's
decisions logged, and remembers what is running so a failing test can show its log.
"""

import tempfile
from pathlib import Path
from typing import Callable, List, Mapping, Optional

from .envoy import Envoy
from .envoy_config import build_config
from .live_config import FilterConfigFile, LiveEnvoy, build_live_config
from .ports import free_port

RUNNING: List[Envoy] = []


def launch_envoy(upstream_ports: Mapping[str, int], filter_json: dict, log_dir: Path, live: bool = False,
                 wait_healthy: bool = True, timeout: float = 30.0,
                 adjust: Optional[Callable[[dict], None]] = None, base: Optional[dict] = None) -> Envoy:
    """Starts an Envoy whose clusters {envoy cluster name: port} reach the coordinators.

    `live`: envoy-live.yaml, the filter config discovered from a file (LiveEnvoy.push_filter_config).
    `wait_healthy=False`: returns once Envoy is live, even if some coordinator is down.
    `adjust`: changes the built Envoy config dict in place (a circuit breaker, a timeout).
    `base`: another Envoy config to start from than envoy/envoy.yaml (an example under envoy/examples).
    Otherwise it returns once Envoy's health checks passed and the filter has had a poll of
    every cluster answered since, so a test's first query finds every cluster usable.
    """
    # The filter logs each routing decision at debug; failing tests show those lines.
    args = dict(log_dir=log_dir, extra_args=["--component-log-level", "wasm:debug"])
    if live:
        filter_file = FilterConfigFile(Path(tempfile.mkdtemp(prefix="ecds-", dir=log_dir)))
        filter_file.write(filter_json)
        envoy = LiveEnvoy(build_live_config(free_port(), free_port(), upstream_ports, filter_file), filter_file, **args)
    else:
        config = build_config(free_port(), free_port(), upstream_ports, filter_json=filter_json, base=base)
        if adjust:
            adjust(config)
        envoy = Envoy(config, **args)
    RUNNING.append(envoy)
    try:
        envoy.start(timeout=timeout, wait_healthy=wait_healthy)
        if wait_healthy:
            envoy.wait_filter_ready([c["name"] for c in filter_json["clusters"]], timeout)
        return envoy
    except BaseException:
        envoy.stop()
        RUNNING.remove(envoy)
        raise


def stop_envoy(envoy: Envoy) -> None:
    envoy.stop()
    if envoy in RUNNING:
        RUNNING.remove(envoy)


def log_tails(lines: int = 40) -> List[tuple]:
    """(title, text) of every running Envoy's log tail, for a failing test's report."""
    return [(f"Envoy {e.url} log tail ({e.process.log_path})", e.process.log_tail(lines))
            for e in RUNNING if e.process]
