"""Real single-node Trino servers (coordinator that also runs tasks) on free loopback ports.

Each server gets its own etc/ and data dir under the log dir, catalogs `tpch` (sample data)
and `memory` (writable), and a JDK 24+. Start several with `start_all`: they boot in
parallel, and each counts as ready only when /v1/info says it is not starting and a
query has run on it.
"""

import os
import re
import signal
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import requests

from .artifacts import TRINO_VERSION
from .java import find_jdk
from .ports import free_port
from .procs import ManagedProcess
from .trino_dist import trino_installation
from .trino_http import coordinator_of, run_query
from .waiting import wait_until

# Trino 476 refuses runtimes older than 24; 483's jars are Java 25 bytecode.
MIN_JAVA = {"476": 24, "483": 25}
# Smallest heap that ran every suite on 2 cores without a memory error (see tests/trino/README.md).
DEFAULT_HEAP = "1G"
_TIMEOUT = 10.0
# JDK 25 needs these for Trino 476's vector code and its off-heap access.
_JDK25_FLAGS = ["--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow"]


class JdkMissing(RuntimeError):
    """No JDK new enough for Trino on this machine."""


def trino_jdk(version: str = TRINO_VERSION) -> Path:
    needed = MIN_JAVA.get(version, max(MIN_JAVA.values()))
    home = find_jdk(needed)
    if home is None:
        raise JdkMissing(f"Trino {version} needs a JDK {needed}+ (none in $JAVA_HOME or /usr/lib/jvm)")
    return home


class TrinoServer:
    """One Trino coordinator. `process_forwarded=False` is a stock server (406 on X-Forwarded-*)."""

    def __init__(self, name: str, port: int = 0, process_forwarded: bool = True, heap: str = DEFAULT_HEAP,
                 log_dir: Optional[Path] = None, config: Mapping[str, str] = (),
                 extra_files: Mapping[str, str] = (), version: str = TRINO_VERSION):
        self.name = name
        self.version = version
        self.port = port or free_port()
        self.process_forwarded = process_forwarded
        self.heap = heap
        self.config = dict(config)
        self.extra_files = dict(extra_files)  # {path under etc/: text}; "@ETC@" in a text is that etc/
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="trino-"))
        self.home = self.log_dir / f"trino-{name}"
        self.process: Optional[ManagedProcess] = None
        self.coordinator_id: Optional[str] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _write_etc(self) -> Path:
        etc = self.home / "etc"
        (etc / "catalog").mkdir(parents=True, exist_ok=True)
        (self.home / "data").mkdir(parents=True, exist_ok=True)
        _write_properties(etc / "node.properties", {
            "node.environment": "router_test", "node.id": self.name, "node.data-dir": str(self.home / "data"),
            # Loopback only: without these Trino listens on every interface and announces the host's IP.
            "node.bind-ip": "127.0.0.1", "node.internal-address": "127.0.0.1"})
        config = {
            "coordinator": "true",
            "node-scheduler.include-coordinator": "true",
            "http-server.http.port": str(self.port),
            "discovery.uri": self.url,
            "http-server.process-forwarded": "true" if self.process_forwarded else "false",
            "query.max-memory": "400MB",
            "query.max-memory-per-node": "300MB",
            # Two cores for everything: keep each server's thread pools small.
            "task.concurrency": "2",
            "task.max-worker-threads": "4",
            # Tests read the request log to see which coordinator a request reached; without
            # this, Trino writes it in batches and every such check waits seconds for it.
            "http-server.log.immediate-flush": "true",
            **self.config,
        }
        _write_properties(etc / "config.properties", config)
        jvm = ["-server", f"-Xmx{self.heap}", "-XX:+UseSerialGC", "-XX:+ExitOnOutOfMemoryError",
               "-XX:TieredStopAtLevel=1", "-Xss1M", "-Djdk.attach.allowAttachSelf=true", *_JDK25_FLAGS]
        (etc / "jvm.config").write_text("\n".join(jvm) + "\n")
        (etc / "log.properties").write_text("io.trino=INFO\n")
        _write_properties(etc / "catalog" / "tpch.properties", {"connector.name": "tpch"})
        _write_properties(etc / "catalog" / "memory.properties", {"connector.name": "memory"})
        for rel, text in self.extra_files.items():
            (etc / rel).parent.mkdir(parents=True, exist_ok=True)
            (etc / rel).write_text(text.replace("@ETC@", str(etc)))
        return etc

    def start(self) -> "TrinoServer":
        """Starts the process and returns at once; `wait_ready` waits for it."""
        etc = self._write_etc()
        launcher = trino_installation(self.version) / "bin" / "launcher"
        argv = [launcher, "run", f"--etc-dir={etc}", f"--data-dir={self.home / 'data'}",
                f"--jvm-dir={trino_jdk(self.version)}"]
        self.coordinator_id = None
        self.process = ManagedProcess(argv, self.log_dir / f"trino-{self.name}.log").start()
        return self

    def wait_ready(self, timeout: float = 240.0) -> "TrinoServer":
        """Ready: /v1/info says `"starting":false` and a query ran (which also tells its coordinator id)."""
        def ready_or_exited():
            if not self.process or not self.process.is_running():
                return "exited"  # truthy: stop waiting at once, a dead server will not start
            if self.info().get("starting", True):
                return False
            self.coordinator_id = self.run_query_id("SELECT 1")
            return "ready"

        try:
            if wait_until(ready_or_exited, timeout, f"Trino {self.name} on {self.url} to be ready",
                          interval=0.5) == "exited":
                raise AssertionError(f"Trino {self.name} exited with {self.process and self.process.returncode()}")
        except AssertionError as exc:
            tail = self.process.log_tail(30) if self.process else ""
            raise AssertionError(f"{exc}\n--- {self.process and self.process.log_path} (tail) ---\n{tail}") from None
        return self

    def info(self) -> dict:
        r = requests.get(f"{self.url}/v1/info", timeout=_TIMEOUT)
        r.raise_for_status()
        return r.json()

    def run_query_id(self, sql: str, user: str = "harness") -> str:
        """Runs `sql` straight on this coordinator (no router) to the end; returns the query id's coordinator id."""
        run = run_query([self.url], sql, user=user)
        if run.error:
            raise RuntimeError(f"{sql!r} failed on {self.name}: {run.error.get('message')}")
        return coordinator_of(run.query_id)

    def queries(self) -> List[dict]:
        """Every query this coordinator still remembers (GET /v1/query): id, state, query text, session."""
        r = requests.get(f"{self.url}/v1/query", headers={"X-Trino-User": "harness"}, timeout=_TIMEOUT)
        r.raise_for_status()
        return r.json()

    def queries_with(self, marker: str) -> List[dict]:
        """Queries whose SQL contains `marker`: how a test proves which coordinator ran a query."""
        return [q for q in self.queries() if marker in q.get("query", "")]

    def http_requests(self) -> List[Tuple[str, str, int]]:
        """(method, path with query string, status) of every request Trino logged (data/var/log/http-request.log).

        Trino writes that log a moment after answering: wait for what you look for.
        """
        try:
            text = (self.home / "data" / "var" / "log" / "http-request.log").read_text(errors="replace")
        except FileNotFoundError:
            return []
        logged = []
        for line in text.splitlines():
            fields = line.split("\t")
            if len(fields) > 6 and fields[6].isdigit():
                logged.append((fields[2], fields[3], int(fields[6])))
        return logged

    def query_state(self, query_id: str) -> Optional[str]:
        r = requests.get(f"{self.url}/v1/query/{query_id}", headers={"X-Trino-User": "harness"}, timeout=_TIMEOUT)
        return r.json().get("state") if r.status_code == 200 else None

    def owns(self, query_id: str) -> bool:
        return self.coordinator_id is not None and query_id.endswith("_" + self.coordinator_id)

    def is_running(self) -> bool:
        return bool(self.process and self.process.is_running())

    def stop(self) -> None:
        if self.process:
            self.process.stop(timeout=15.0)

    def kill(self) -> None:
        """SIGKILL, like a crashed machine: running queries vanish with it."""
        if self.process:
            self.process.kill()

    def freeze(self) -> None:
        """SIGSTOP: the coordinator keeps its queries and its sockets but answers nothing
        (a long GC pause, a stalled VM); `thaw` resumes it."""
        if self.process and self.process.pid:
            os.killpg(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self.process and self.process.pid:
            os.killpg(self.process.pid, signal.SIGCONT)

    def restart(self, timeout: float = 240.0) -> "TrinoServer":
        """A new process on the same port: a new coordinator id, no memory of earlier queries."""
        self.stop()
        return self.start().wait_ready(timeout)

    def __repr__(self) -> str:
        return f"TrinoServer({self.name!r}, {self.url})"


def start_all(servers: Sequence[TrinoServer], timeout: float = 300.0) -> Dict[str, TrinoServer]:
    """Starts every server at once and waits for all; on any failure, stops them all and raises."""
    began = time.monotonic()
    try:
        for s in servers:
            s.start()
        with ThreadPoolExecutor(max_workers=len(servers) or 1) as pool:
            for future in [pool.submit(s.wait_ready, timeout) for s in servers]:
                future.result()
    except BaseException:
        for s in servers:
            s.stop()
        raise
    versions = ", ".join(sorted({s.version for s in servers}))
    print(f"[harness] {len(servers)} Trino {versions} servers ready in {time.monotonic() - began:.0f}s: "
          + ", ".join(f"{s.name}={s.url}" for s in servers), flush=True)
    return {s.name: s for s in servers}


def _write_properties(path: Path, values: Mapping[str, str]) -> None:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
