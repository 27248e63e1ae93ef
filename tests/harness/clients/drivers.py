"""The JDBC and Node clients: driver programs in tests/clients/ speaking one JSON object per line.

A _Driver runs one program (one client session); JdbcClient and NodeClient say how to start theirs.
"""

import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from typing import Optional, Sequence

from ..artifacts import maven_artifact
from ..procs import _die_with_parent, kill_group  # _die_with_parent: drivers die with the harness too
from .builds import CLIENTS_SRC, JDBC_CLASSES, JDBC_COORDS, NODE_DIR, java_argv, java_home
from .interface import FEATURES, Client, ClientNotPrepared, InFlight, Session, StatementResult, as_statement
from .values import canonical


class _Driver:
    """A driver program answering one JSON line per command line; killed on timeout or close."""

    def __init__(self, argv: Sequence[str], config: dict, env: Optional[dict] = None):
        self.stderr = tempfile.TemporaryFile()
        self.popen = subprocess.Popen(
            list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
            env=env, cwd=tempfile.gettempdir(), start_new_session=True, preexec_fn=_die_with_parent)
        self.lines: "queue.Queue[Optional[str]]" = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self._send(config)

    def _pump(self) -> None:
        for raw in self.popen.stdout:
            self.lines.put(raw.decode("utf-8", "replace"))
        self.lines.put(None)

    def _send(self, message: dict) -> None:
        self.popen.stdin.write((json.dumps(message) + "\n").encode())
        self.popen.stdin.flush()

    def ask(self, message: dict, timeout: float) -> dict:
        """Sends one command and returns the answer; {'type': 'fatal', ...} if the program died or hung."""
        try:
            self._send(message)
            line = self.lines.get(timeout=timeout)
        except OSError:  # the program is gone: report how it ended
            line = None
        except queue.Empty:
            self.kill()
            return {"type": "fatal",
                    "error": f"timeout: no answer to {message.get('op')} within {timeout:.1f}s; killed"}
        if line is None:
            self.kill()
            return {"type": "fatal", "error": f"driver exited (rc={self.popen.poll()}): {self.stderr_tail()}"}
        return json.loads(line)

    def stderr_tail(self, chars: int = 2000) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")[-chars:]

    def kill(self) -> None:
        kill_group(self.popen)

    def close(self, timeout: float = 30) -> dict:
        answer = self.ask({"op": "close"}, timeout) if self.popen.poll() is None else {"type": "closed"}
        try:
            self.popen.stdin.close()
        except OSError:
            pass
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self.stderr.close()
        return answer


def _from_answer(sql: str, answer: dict) -> StatementResult:
    if answer.get("type") != "result":
        return StatementResult(sql, query_id=answer.get("query_id"), error=answer.get("error") or repr(answer))
    types = answer.get("types") or []
    rows = [[canonical(v, t) for v, t in zip(row, types)] for row in answer.get("rows") or []]
    return StatementResult(sql, query_id=answer.get("query_id"), columns=answer.get("columns") or [],
                           types=types, rows=rows,
                           update_count=answer.get("update_count"), error=answer.get("error"),
                           info_uri=answer.get("info_uri"))


class _DriverClient(Client):
    def _driver(self, server_url: str, session: Session) -> _Driver:
        raise NotImplementedError

    def run(self, server_url, statements, session=Session(), timeout=120):
        statements = [as_statement(s) for s in statements]
        self._check(statements, session)
        deadline = time.monotonic() + timeout
        driver = self._driver(server_url, session)
        results = []
        try:
            for stmt in statements:
                left = deadline - time.monotonic()
                if left <= 0 or driver.popen.poll() is not None:
                    results.append(StatementResult(stmt.sql, error=f"not run: driver gone or timeout ({timeout}s)"))
                    continue
                command = {"op": "run", "sql": stmt.sql}
                if stmt.params is not None:
                    command["params"] = list(stmt.params)
                results.append(_from_answer(stmt.sql, driver.ask(command, left)))
        finally:
            closed = driver.close(max(5.0, deadline - time.monotonic()))
        if not session.autocommit:
            results.append(StatementResult("COMMIT", error=closed.get("error")))
        return results

    def start(self, server_url, sql, session=Session(), timeout=60):
        self._check_start(sql, session)
        return _DriverInFlight(self._driver(server_url, session), sql, timeout)

    def start_many(self, server_url, sqls, session=Session(), timeout=60):
        """Starts one query per SQL, each in its own driver program: the programs (JVMs) are
        launched together and start up side by side, then each query is started in turn."""
        for sql in sqls:
            self._check_start(sql, session)
        drivers = [self._driver(server_url, session) for _ in sqls]
        return [_DriverInFlight(driver, sql, timeout) for driver, sql in zip(drivers, sqls)]


class _DriverInFlight(InFlight):
    def __init__(self, driver: _Driver, sql: str, timeout: float):
        self.driver, self.sql = driver, sql
        self.rows: list = []
        answer = driver.ask({"op": "start", "sql": sql}, timeout)
        self.query_id = answer.get("query_id")
        self.start_error = answer.get("error")
        self.done = answer.get("type") != "started" or self.start_error is not None

    def read_some(self, rows=1, timeout=60):
        if self.done:
            return []
        answer = self.driver.ask({"op": "fetch", "max_rows": rows}, timeout)
        if answer.get("type") != "rows":
            self.start_error = answer.get("error") or repr(answer)  # the driver died or hung
        types = answer.get("types") or []
        page = [[canonical(v, t) for v, t in zip(row, types)] if types else row for row in answer.get("rows") or []]
        self.rows.extend(page)
        self.query_id = self.query_id or answer.get("query_id")
        self.done = bool(answer.get("done")) or answer.get("type") != "rows"
        return page

    def _end(self, op: str, timeout: float) -> StatementResult:
        if self.start_error is not None:
            result = StatementResult(self.sql, query_id=self.query_id, rows=self.rows, error=self.start_error)
        else:
            result = _from_answer(self.sql, self.driver.ask({"op": op}, timeout))
        result.query_id = result.query_id or self.query_id
        self.close()
        return result

    def cancel(self, timeout=60):
        return self._end("cancel", timeout)

    def finish(self, timeout=120):
        return self._end("finish", timeout)

    def close(self):
        if self.driver.popen.poll() is None:
            self.driver.kill()


class JdbcClient(_DriverClient):
    """trino-jdbc 476 via tests/clients/jdbc/JdbcClient.java, one Connection per run."""

    name = "jdbc"
    # No custom headers in the driver; no info URI in its API.
    features = FEATURES - {"extra_headers", "info_uri"}

    def _driver(self, server_url, session):
        compiled = JDBC_CLASSES / "JdbcClient.class"
        if not compiled.is_file():
            raise ClientNotPrepared(f"{compiled} missing: run tests/clients/prepare.sh")
        # pytest run by hand after an edit would otherwise drive the old program.
        edited = [s.name for s in (CLIENTS_SRC / "jdbc").glob("*.java") if s.stat().st_mtime > compiled.stat().st_mtime]
        if edited:
            raise ClientNotPrepared(f"{', '.join(sorted(edited))} changed since {compiled} was compiled: "
                                    "run tests/clients/prepare.sh (or make clients)")
        classpath = f"{JDBC_CLASSES}{os.pathsep}{maven_artifact(JDBC_COORDS)}"
        argv = java_argv(java_home()) + ["-cp", classpath, "JdbcClient"]
        return _Driver(argv, _config(server_url, session))


class NodeClient(_DriverClient):
    """npm trino-client (exact version in tests/clients/node/package-lock.json) via client.js."""

    name = "node"
    # The library tracks no transaction id and knows no parameters or spooling; columns come with
    # the first data page; cancel is its own DELETE /v1/query/{id}.
    features = FEATURES - {"params", "transactions", "encoding"}

    def _driver(self, server_url, session):
        modules = NODE_DIR / "node_modules"
        if not (modules / "trino-client").is_dir():
            raise ClientNotPrepared(f"{modules}/trino-client missing: run tests/clients/prepare.sh")
        node = shutil.which("node")
        if node is None:
            raise ClientNotPrepared("`node` is not on PATH (Node.js 18+ is needed for the npm trino-client)")
        env = dict(os.environ, NODE_PATH=str(modules))
        return _Driver([node, str(CLIENTS_SRC / "node" / "client.js")], _config(server_url, session), env)


def _config(server_url: str, session: Session) -> dict:
    return {
        "server": server_url.rstrip("/"), "user": session.user, "source": session.source,
        "client_tags": list(session.client_tags), "catalog": session.catalog, "schema": session.schema,
        "session_properties": dict(session.session_properties), "extra_headers": dict(session.extra_headers),
        "compression": session.compression, "encoding": session.encoding, "autocommit": session.autocommit,
    }
