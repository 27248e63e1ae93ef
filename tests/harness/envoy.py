"""An Envoy process running a given config, with its admin API for readiness, health and stats.

Envoy is started the way two replicas would run side by side: hot restart off and
a distinct base id, so several Envoys can live on one machine during a test.
"""

import itertools
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Optional, Sequence

import requests
import yaml

from .envoy_config import trino_cluster_names
from .paths import REPO_ROOT, WASM_MODULE, envoy_binary, require_file
from .procs import ManagedProcess
from .waiting import wait_until

_TIMEOUT = 5.0
# Distinct per Envoy started by this interpreter and unlikely to clash with another run's.
_BASE_IDS = itertools.count(os.getpid() % 10_000 * 100)


class Envoy:
    """Envoy started from a config dict (see envoy_config.build_config) or a file used as is."""

    def __init__(self, config: Optional[dict] = None, config_path: Optional[Path] = None,
                 log_dir: Optional[Path] = None, concurrency: int = 2, log_level: str = "info",
                 extra_args: Sequence[str] = (), wrapper: Sequence[str] = ()):
        if (config is None) == (config_path is None):
            raise ValueError("give exactly one of config or config_path")
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="envoy-"))
        self.base_id = next(_BASE_IDS)
        if config is not None:
            config_path = self.log_dir / f"envoy-{self.base_id}.yaml"
            config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        else:
            config = yaml.safe_load(Path(config_path).read_text())
        self.config = config
        self.config_path = Path(config_path)
        self.concurrency = concurrency
        self.log_level = log_level
        self.extra_args = list(extra_args)
        # A command Envoy runs under (the benchmark's valgrind); never for `--mode validate`.
        self.wrapper = list(wrapper)
        self.process: Optional[ManagedProcess] = None

    @property
    def port(self) -> int:
        return self.config["static_resources"]["listeners"][0]["address"]["socket_address"]["port_value"]

    @property
    def admin_port(self) -> int:
        return self.config["admin"]["address"]["socket_address"]["port_value"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def argv(self, mode: Optional[str] = None) -> list:
        argv = [str(envoy_binary()), "-c", str(self.config_path), "--concurrency", str(self.concurrency),
                "--disable-hot-restart", "--base-id", str(self.base_id), "-l", self.log_level]
        argv += self.extra_args
        if mode:
            return argv + ["--mode", mode]
        return self.wrapper + argv

    def validate(self) -> subprocess.CompletedProcess:
        """`envoy --mode validate`: checks the config; it also loads the wasm and runs the filter's config check."""
        return subprocess.run(self.argv("validate"), cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)

    def start(self, timeout: float = 30.0, wait_healthy: bool = True) -> "Envoy":
        return self.launch().wait_started(timeout, wait_healthy)

    def launch(self) -> "Envoy":
        """Starts the process and returns at once: several Envoys compile their wasm side by side,
        then `wait_started` each. Call it from a thread that outlives the process (see procs.py)."""
        require_file(WASM_MODULE, "wasm")
        # The shipped config names the wasm relative to the repository root.
        self.process = ManagedProcess(self.argv(), self.log_dir / f"envoy-{self.base_id}.log", cwd=REPO_ROOT).start()
        return self

    def wait_started(self, timeout: float = 30.0, wait_healthy: bool = True) -> "Envoy":
        """Waits until the admin API says LIVE and (by default) every cluster is healthy."""
        try:
            wait_until(self._live, timeout, f"Envoy admin {self.admin_url}/ready to say LIVE")
            if wait_healthy:
                self.wait_clusters_healthy(timeout)
        except AssertionError as exc:
            self.stop()
            raise AssertionError(f"{exc}\n--- Envoy log {self.process.log_path} (tail) ---\n"
                                 f"{self.process.log_tail(60)}") from None
        return self

    def _live(self) -> bool:
        if not self.process.is_running():
            raise RuntimeError(f"Envoy exited with {self.process.returncode()}")
        r = requests.get(f"{self.admin_url}/ready", timeout=_TIMEOUT)
        return r.status_code == 200 and r.text.strip() == "LIVE"

    def host_health(self) -> dict:
        """{envoy cluster: [health flags of each host]} from admin /clusters."""
        text = requests.get(f"{self.admin_url}/clusters", timeout=_TIMEOUT).text
        flags: dict = {}
        for line in text.splitlines():
            parts = line.split("::")
            if len(parts) == 4 and parts[2] == "health_flags":
                flags.setdefault(parts[0], []).append(parts[3])
        return flags

    def wait_clusters_healthy(self, timeout: float = 30.0, clusters: Optional[list] = None) -> None:
        names = clusters or trino_cluster_names(self.config)

        def all_healthy() -> bool:
            health = self.host_health()
            if all(health.get(n) and all(f == "healthy" for f in health[n]) for n in names):
                return True
            # Raised, not returned, so a timeout reports the flags last seen.
            raise AssertionError(f"health flags: { {n: health.get(n) for n in names} }")

        wait_until(all_healthy, timeout, f"Envoy clusters {names} to be healthy", interval=0.1)

    def wait_cluster_unhealthy(self, cluster: str, timeout: float = 30.0) -> None:
        wait_until(lambda: any(f != "healthy" for f in self.host_health().get(cluster, ["healthy"])),
                   timeout, f"Envoy to mark {cluster} unhealthy", interval=0.1)

    def answered_polls(self, cluster: str) -> int:
        """How many `/v1/info` polls of a Trino cluster (the filter's name for it) were answered."""
        name = f"wasmcustom.trino_router.cluster.{cluster}.polls.answered"
        return self.stats(re.escape(name) + "$").get(name, 0)

    def wait_filter_ready(self, clusters: list, timeout: float = 30.0) -> None:
        """Waits until the filter has had a poll of every cluster answered after Envoy's health
        checks passed: only then does it know they take queries (a poll made at start may have
        been refused). The filter counts an answer after storing its verdict."""
        before = {c: self.answered_polls(c) for c in clusters}
        wait_until(lambda: all(self.answered_polls(c) > before[c] for c in clusters), timeout,
                   f"the filter's /v1/info polls of {clusters} to be answered", interval=0.1)

    def stats(self, filter_regex: Optional[str] = None) -> dict:
        """Counters and gauges from admin /stats as {name: int} (histograms are left out)."""
        params = {"filter": filter_regex} if filter_regex else None
        text = requests.get(f"{self.admin_url}/stats", params=params, timeout=_TIMEOUT).text
        stats = {}
        for line in text.splitlines():
            name, sep, value = line.partition(": ")
            if sep and value.strip().lstrip("-").isdigit():
                stats[name] = int(value)
        return stats

    def log_text(self) -> str:
        return self.process.log_text() if self.process else ""

    def is_running(self) -> bool:
        return bool(self.process and self.process.is_running())

    def stop(self) -> None:
        if self.process:
            self.process.stop()
