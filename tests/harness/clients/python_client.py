"""The `trino` DB-API client (PyPI `trino`, from .venv), run in this process.

Each statement runs in a worker thread so a timeout can cancel it with cursor.cancel().
"""

import threading
import time
from typing import Optional

from .interface import FEATURES, Client, InFlight, Session, Statement, StatementResult, as_statement
from .values import canonical


class PythonClient(Client):
    """The `trino` DB-API client, in this process."""

    name = "python"
    features = FEATURES

    def _connect(self, server_url: str, session: Session, timeout: float):
        import trino
        from trino.transaction import IsolationLevel

        headers = dict(session.extra_headers)
        if not session.compression:
            # No option for it: requests asks for gzip/deflate unless the header is set.
            headers["Accept-Encoding"] = "identity"
        kwargs = {}
        if session.source is not None:
            kwargs["source"] = session.source
        if session.encoding is not None:
            kwargs["encoding"] = session.encoding
        return trino.dbapi.connect(
            host=server_url, user=session.user, catalog=session.catalog, schema=session.schema,
            session_properties=dict(session.session_properties) or None, http_headers=headers or None,
            client_tags=list(session.client_tags) or None, request_timeout=timeout,
            # READ UNCOMMITTED is what a bare START TRANSACTION (JDBC, CLI) gets too.
            isolation_level=IsolationLevel.AUTOCOMMIT if session.autocommit else IsolationLevel.READ_UNCOMMITTED,
            **kwargs)

    def run(self, server_url, statements, session=Session(), timeout=120):
        statements = [as_statement(s) for s in statements]
        self._check(statements, session)
        deadline = time.monotonic() + timeout
        results = []
        conn = self._connect(server_url, session, timeout)
        try:
            for stmt in statements:
                left = deadline - time.monotonic()
                if left <= 0:
                    results.append(StatementResult(stmt.sql, error=f"timeout: not run within {timeout}s"))
                    continue
                results.append(_python_statement(conn, stmt, left))
            if not session.autocommit:
                results.append(_python_commit(conn))
        finally:
            conn.close()
        return results

    def start(self, server_url, sql, session=Session(), timeout=60):
        self._check_start(sql, session)
        return _PythonInFlight(self._connect(server_url, session, timeout), sql)


def _python_statement(conn, stmt: Statement, timeout: float) -> StatementResult:
    """One statement to the end, in a worker thread: the client blocks until rows or the end come,
    so only a cursor.cancel() from here can stop a statement that overruns `timeout`."""
    result = StatementResult(stmt.sql)
    try:
        cursor = conn.cursor()  # with a transaction, the first one sends START TRANSACTION
    except Exception as exc:  # noqa: BLE001
        result.error = f"{type(exc).__name__}: {exc}"
        return result

    def work() -> None:
        try:
            if stmt.params is not None:
                cursor.execute(stmt.sql, list(stmt.params))
            else:
                cursor.execute(stmt.sql)
            _describe_python(cursor, result, cursor.fetchall())
        except Exception as exc:  # noqa: BLE001 - what the application would get is the result
            _python_failure(cursor, result, exc)

    worker = threading.Thread(target=work, daemon=True, name="trino-python-statement")
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        try:
            cursor.cancel()
        except Exception:  # noqa: BLE001 - the timeout is the outcome either way
            pass
        worker.join(10)
        result.query_id = result.query_id or cursor.query_id
        result.error = f"timeout: still running after {timeout:.1f}s; cancelled with cursor.cancel()"
    return result


def _describe_python(cursor, result: StatementResult, rows: list) -> None:
    result.query_id = cursor.query_id
    result.info_uri = cursor.info_uri
    if cursor.update_type is not None:
        # An update's count comes as one synthetic row; the other clients show only the count.
        result.update_count = cursor.rowcount if cursor.rowcount >= 0 else None
        return
    description = cursor.description or []
    result.columns = [d.name for d in description]
    result.types = [d.type_code for d in description]
    result.rows = [[canonical(v, t) for v, t in zip(row, result.types)] for row in rows]


def _python_failure(cursor, result: StatementResult, exc: Exception) -> None:
    # Only plain attributes here: description and rowcount would fetch again and raise again.
    query = getattr(cursor, "_query", None)
    result.query_id = getattr(exc, "query_id", None) or (query.query_id if query is not None else None)
    result.info_uri = query.info_uri if query is not None else None
    result.error = f"{type(exc).__name__}: {exc}"


def _python_commit(conn) -> StatementResult:
    result = StatementResult("COMMIT")
    try:
        conn.commit()
    except Exception as exc:  # noqa: BLE001
        result.error = f"{type(exc).__name__}: {exc}"
    return result


class _PythonInFlight(InFlight):
    def __init__(self, conn, sql: str):
        self.conn = conn
        self.result = StatementResult(sql)
        self.cursor = conn.cursor()  # autocommit: no request yet
        self.rows: list = []
        self.done = self.failed = False
        try:
            self.cursor.execute(sql)
        except Exception as exc:  # noqa: BLE001
            self._failed(exc)
        self.query_id = self.cursor.query_id or self.result.query_id

    def _failed(self, exc: Exception) -> None:
        _python_failure(self.cursor, self.result, exc)
        self.failed = True
        self.done = True

    def read_some(self, rows=1, timeout=60):
        if self.done:
            return []
        try:
            page = self.cursor.fetchmany(rows)
        except Exception as exc:  # noqa: BLE001
            self._failed(exc)
            return []
        if len(page) < rows:
            self.done = True
        self.rows.extend(page)
        return [[canonical(v, t) for v, t in zip(row, self._types())] for row in page]

    def _types(self) -> list:
        return [d.type_code for d in (self.cursor.description or [])]

    def cancel(self, timeout=60):
        # cursor.cancel() sends DELETE to the current nextUri; the cursor then just stops.
        try:
            self.cursor.cancel()
        except Exception as exc:  # noqa: BLE001
            self.result.error = f"cancel failed: {type(exc).__name__}: {exc}"
        self.done = True
        return self._result(default_error="cancelled by cursor.cancel()")

    def finish(self, timeout=120):
        while not self.done:
            self.read_some(1000)
        return self._result()

    def _result(self, default_error: Optional[str] = None) -> StatementResult:
        if not self.failed:
            error = self.result.error
            try:
                _describe_python(self.cursor, self.result, self.rows)
            except Exception as exc:  # noqa: BLE001 - e.g. the cancelled query's final state
                error = error or f"{type(exc).__name__}: {exc}"
            self.result.error = error or default_error
        self.close()
        return self.result

    def close(self):
        self.conn.close()
