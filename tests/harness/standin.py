"""A Trino stand-in coordinator process (tests/standin) with its test introspection API.

The stand-in records every request it receives, so a test proves where the router
sent something by asking the coordinators, not by trusting the router's word.
"""

import re
import tempfile
from pathlib import Path
from typing import Optional, Sequence

import requests

from .paths import STANDIN_BIN, require_file
from .procs import ManagedProcess
from .waiting import wait_until

_LISTENING = re.compile(r"listening on http://([0-9.]+):(\d+)")
_TIMEOUT = 5.0


class Standin:
    """One stand-in coordinator. `port=0` lets it pick; `restart()` keeps whatever port it got."""

    def __init__(
        self,
        name: str,
        port: int = 0,
        forwarded: str = "accept",
        coordinator_id: Optional[str] = None,
        extra_args: Sequence[str] = (),
        log_dir: Optional[Path] = None,
    ):
        self.name = name
        self.port = port
        self.forwarded = forwarded
        self.coordinator_id = coordinator_id
        self.extra_args = list(extra_args)
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="standin-"))
        self.process: Optional[ManagedProcess] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> "Standin":
        argv = [str(require_file(STANDIN_BIN, "standin")), "--host", "127.0.0.1", "--port", str(self.port),
                "--name", self.name, "--forwarded", self.forwarded, *self.extra_args]
        if self.coordinator_id:
            argv += ["--coordinator-id", self.coordinator_id]
        log = self.log_dir / f"standin-{self.name}.log"
        # Only the new run's output counts when looking for the "listening" line.
        offset = log.stat().st_size if log.exists() else 0
        self.process = ManagedProcess(argv, log).start()

        def bound_port() -> Optional[int]:
            if not self.process.is_running():
                raise RuntimeError(f"stand-in {self.name} exited with {self.process.returncode()}")
            with open(log, "rb") as f:
                f.seek(offset)
                match = _LISTENING.search(f.read().decode(errors="replace"))
            return int(match.group(2)) if match else None

        try:
            self.port = wait_until(bound_port, timeout, f"stand-in {self.name} to print its port")
        except AssertionError as exc:
            self.process.kill()
            raise AssertionError(f"{exc}\n--- {log} ---\n{self.process.log_tail()}") from None
        return self

    def stop(self) -> None:
        if self.process:
            self.process.stop()

    def kill(self) -> None:
        """SIGKILL: the coordinator vanishes mid-whatever, as in a crash."""
        if self.process:
            self.process.kill()

    def restart(self, timeout: float = 10.0) -> "Standin":
        """Stops and starts again on the same port (a new process, so a new coordinator id unless fixed)."""
        self.stop()
        return self.start(timeout)

    def is_running(self) -> bool:
        return bool(self.process and self.process.is_running())

    # --- test introspection (/_standin/...) ---

    def requests(self) -> list:
        """Every request received since start or the last clear: {method, path, headers, status}."""
        r = requests.get(f"{self.url}/_standin/requests", timeout=_TIMEOUT)
        r.raise_for_status()
        return r.json()

    def trino_requests(self) -> list:
        """Requests other than the health checks and polls that Envoy and the filter send on their own."""
        return [r for r in self.requests() if not _is_background(r)]

    def lookups(self) -> list:
        """The query lookups the filter sent this coordinator, as "HEAD path -> status"."""
        return [f"HEAD {r['path']} -> {r['status']}" for r in self.requests() if is_lookup(r)]

    def forwarded_header_requests(self) -> list:
        """Requests that reached this coordinator carrying any X-Forwarded-* header (a stock
        Trino answers those with 406), as "METHOD path: header names"."""
        return [f"{r['method']} {r['path']}: {sorted(h for h in r['headers'] if h.startswith('x-forwarded-'))}"
                for r in self.requests() if any(h.startswith("x-forwarded-") for h in r["headers"])]

    def clear_requests(self) -> None:
        requests.delete(f"{self.url}/_standin/requests", timeout=_TIMEOUT).raise_for_status()

    def state(self) -> dict:
        """{name, coordinatorId, queries: {queued, running, finished, canceled, failed}}."""
        r = requests.get(f"{self.url}/_standin/state", timeout=_TIMEOUT)
        r.raise_for_status()
        return r.json()

    def set_starting(self, secs: int) -> None:
        requests.post(f"{self.url}/_standin/starting", params={"secs": secs}, timeout=_TIMEOUT).raise_for_status()

    def info(self) -> dict:
        r = requests.get(f"{self.url}/v1/info", timeout=_TIMEOUT)
        r.raise_for_status()
        return r.json()

    def __repr__(self) -> str:
        return f"Standin({self.name!r}, {self.url})"


def _is_background(req: dict) -> bool:
    """Envoy's active health check, the filter's /v1/info poll and its query lookups: not client traffic."""
    path = req.get("path", "")
    return path.startswith("/v1/info") or path.startswith("/_standin/") or is_lookup(req)


def is_lookup(req: dict) -> bool:
    """A query lookup: the filter asking a coordinator whether it has a query (a HEAD it sends itself)."""
    return req.get("method") == "HEAD" and req.get("headers", {}).get("user-agent") == "trino-router"
