"""The Trino CLI client: the executable trino-cli jar with --execute, one process per session.

Its merged --network-logging and JSON output is parsed back into one result per statement.
"""

import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from typing import List, Optional, Sequence

from ..artifacts import maven_artifact
from ..procs import _die_with_parent, kill_group  # _die_with_parent: the CLI dies with the harness too
from .builds import CLI_COORDS, java_argv, java_home
from .interface import FEATURES, Client, InFlight, Session, Statement, StatementResult, as_statement
from .values import canonical


class CliClient(Client):
    """The executable trino-cli 476 jar with --execute; one process is one session.

    Statement boundaries and query ids come from the CLI's own --network-logging=BASIC lines,
    merged with the JSON rows into one pipe (the CLI writes each statement's rows before it
    sends the next POST). No types, no info URI, and no columns for an empty result."""

    name = "cli"
    # No header option; no parameters (its users inline values); JSON rows carry no types;
    # it reads every page as fast as it can print, so start() can cancel but not read slowly.
    features = FEATURES - {"params", "extra_headers", "columns_always", "types", "info_uri", "in_flight"}

    def _argv(self, server_url: str, session: Session, sql: str) -> List[str]:
        argv = java_argv(java_home()) + ["-jar", str(maven_artifact(CLI_COORDS)),
                                          "--server", server_url, "--user", session.user,
                                          "--output-format", "JSON", "--network-logging", "BASIC",
                                          "--ignore-errors", "--no-progress", "--execute", sql]
        for flag, value in (("--source", session.source), ("--catalog", session.catalog),
                            ("--schema", session.schema), ("--encoding", session.encoding)):
            if value is not None:
                argv += [flag, value]
        if session.client_tags:
            argv += ["--client-tags", ",".join(session.client_tags)]
        for key, value in session.session_properties.items():
            argv += ["--session", f"{key}={value}"]
        if not session.compression:
            argv.append("--disable-compression")
        return argv

    def _script(self, statements: Sequence[Statement], session: Session) -> str:
        sqls = [s.sql.strip().rstrip(";") for s in statements]
        if not session.autocommit:
            # The CLI has no autocommit switch; its users write the transaction, and the CLI
            # carries X-Trino-Transaction-Id from START TRANSACTION to COMMIT.
            sqls = ["START TRANSACTION"] + sqls + ["COMMIT"]
        return ";\n".join(sqls) + ";"

    def run(self, server_url, statements, session=Session(), timeout=120):
        statements = [as_statement(s) for s in statements]
        self._check(statements, session)
        proc = _CliProcess(self._argv(server_url, session, self._script(statements, session)))
        proc.wait(timeout)
        parsed = proc.statements()
        if not session.autocommit:
            parsed = parsed[1:]  # the START TRANSACTION we added; the COMMIT stays as the last result
        expected = [s.sql for s in statements] + ([] if session.autocommit else ["COMMIT"])
        results = []
        for i, sql in enumerate(expected):
            if i < len(parsed):
                parsed[i].sql = sql
                results.append(parsed[i])
            else:
                why = proc.failure() or "it stopped early"
                results.append(StatementResult(sql, error=f"no result from the CLI: {why}"))
        return results

    def start(self, server_url, sql, session=Session(), timeout=60):
        self._check_start(sql, session)
        return _CliInFlight(_CliProcess(self._argv(server_url, session, sql.strip().rstrip(";") + ";")),
                            sql, timeout)


_POST = re.compile(r"^--> POST (\S+)/v1/statement ")
_NEXT = re.compile(r"^--> (GET|DELETE|HEAD) \S+/v1/statement/\w+/(\d{8}_\d{6}_\d{5}_\w+)/")
# Trino's query ids, and the router's for a query that waited at the router.
_FAILED = re.compile(r"^Query (\d{8}_\d{6}_\d{5}_\w+|router_queued_[0-9a-f]+) failed: (.*)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_UPDATE = re.compile(r"^([A-Z][A-Z ]*[A-Z])(?:: (\d+) rows?)?$")


def _as_from_a_terminal() -> None:
    """In the CLI child: dies with the harness, and takes Ctrl-C as from a terminal. A harness
    started in the background by a shell without job control inherits SIGINT ignored, and the
    JVM keeps it ignored: the CLI's cancel handler never runs (seen: no DELETE, the query runs on)."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class _CliProcess:
    """One CLI run, its merged output collected line by line as it arrives."""

    def __init__(self, argv: Sequence[str]):
        self.popen = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            cwd=tempfile.gettempdir(), env=dict(os.environ, TERM="dumb"),
            start_new_session=True, preexec_fn=_as_from_a_terminal)
        self.lines: List[str] = []
        self.changed = threading.Condition()
        self.timed_out = False
        self.eof = False
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for raw in self.popen.stdout:
            with self.changed:
                # Errors come in ANSI red even without a terminal.
                self.lines.append(_ANSI.sub("", raw.decode("utf-8", "replace").rstrip("\n")))
                self.changed.notify_all()
        with self.changed:
            self.eof = True
            self.changed.notify_all()

    def wait_for(self, predicate, timeout: float) -> bool:
        """Waits until predicate(lines) holds or the CLI's output ended; returns predicate(lines)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate(self.lines) and not self.eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.changed.wait(left)
            return bool(predicate(self.lines))

    def wait(self, timeout: float) -> None:
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.timed_out = True
            self.kill()
        self.wait_for(lambda lines: False, 10)  # until the pump has taken the last line

    def interrupt(self) -> None:
        # What Ctrl-C does: the CLI's SIGINT handler cancels the running query.
        try:
            os.killpg(self.popen.pid, signal.SIGINT)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        kill_group(self.popen)

    def failure(self) -> Optional[str]:
        if self.timed_out:
            return "timeout: the CLI was killed"
        tail = [ln for ln in self.lines if not ln.startswith(("-->", "<--", "{"))]
        return f"CLI exit {self.popen.poll()}: " + " | ".join(tail[-5:]) if tail else None

    def statements(self) -> List[StatementResult]:
        """One result per POST /v1/statement seen, with the rows and messages that followed it."""
        results: List[StatementResult] = []
        for line in list(self.lines):
            if _POST.match(line):
                results.append(StatementResult(""))
                continue
            if not results:
                continue
            current = results[-1]
            nxt = _NEXT.match(line)
            if nxt:
                current.query_id = current.query_id or nxt.group(2)
            elif line.startswith("{"):
                _cli_row(current, line)
            elif _FAILED.match(line):
                current.query_id = current.query_id or _FAILED.match(line).group(1)
                current.error = _FAILED.match(line).group(2)
            elif _UPDATE.match(line) and current.error is None and not current.rows:
                count = _UPDATE.match(line).group(2)
                current.update_count = int(count) if count else None
            # "Error starting query at ...": the POST got no Trino answer (a 429 of a rate limit).
            elif line.startswith(("Error running command:", "Error starting query", "Query aborted", "java.",
                                  "io.trino.")):
                current.error = current.error or line
        if self.timed_out:
            for r in results:
                r.error = r.error or "timeout: the CLI was killed"
        return results


def _cli_row(result: StatementResult, line: str) -> None:
    try:
        pairs = json.loads(line, object_pairs_hook=list)
    except ValueError:
        result.error = result.error or f"unparsable CLI output: {line[:200]}"
        return
    if not result.columns:
        result.columns = [k for k, _ in pairs]
    result.rows.append([canonical(v) for _, v in pairs])


class _CliInFlight(InFlight):
    def __init__(self, proc: _CliProcess, sql: str, timeout: float):
        self.proc, self.sql = proc, sql
        self.handed_out = 0
        # Started once the CLI has followed the first nextUri: the query id is then known.
        proc.wait_for(lambda lines: any(_NEXT.match(ln) or _FAILED.match(ln) for ln in lines), timeout)
        self.query_id = self._current().query_id

    def _current(self) -> StatementResult:
        parsed = self.proc.statements()
        return parsed[0] if parsed else StatementResult(self.sql)

    def read_some(self, rows=1, timeout=60):
        # The CLI reads as fast as it can print; "reading" here is waiting until it has printed rows.
        want = self.handed_out + rows
        self.proc.wait_for(lambda lines: sum(ln.startswith("{") for ln in lines) >= want, timeout)
        page = self._current().rows[self.handed_out:want]
        self.handed_out += len(page)
        return page

    def cancel(self, timeout=60):
        self.proc.interrupt()
        self.proc.wait(timeout)
        return self._result()

    def finish(self, timeout=120):
        self.proc.wait(timeout)
        return self._result()

    def _result(self) -> StatementResult:
        result = self._current()
        result.sql = self.sql
        if result.error is None and self.proc.popen.returncode not in (0, None):
            result.error = self.proc.failure()
        return result

    def close(self):
        self.proc.kill()
