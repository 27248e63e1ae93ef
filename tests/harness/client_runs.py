"""Queries run to the end with the real `trino` Python client, one at a time or many at once.

Each run records what an application would see (query id, row count, or the exception
the client raised), so a test can say "none of these 50 failed" or "those that ran on
the killed coordinator raised Http503Error".
"""

from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import List, Optional, Tuple

import trino

from .waiting import WaitTimeout


@dataclass
class ClientQuery:
    sql: str
    user: str = "demo"
    routing_group: Optional[str] = None
    query_id: Optional[str] = None
    rows: Optional[int] = None
    error: Optional[Exception] = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.rows is not None

    def __repr__(self) -> str:
        outcome = f"{self.rows} rows" if self.ok else f"{type(self.error).__name__}: {self.error}"
        return f"ClientQuery({self.query_id or 'no id'}, user={self.user}, {outcome})"


def fetch_rows(port: int, sql: str, user: str = "demo", headers: Optional[dict] = None) -> Tuple[str, list]:
    """Runs `sql` to the end with the real client (gzip, absolute nextUri, its retries) through
    127.0.0.1:port; returns (query id, rows). The client's errors are raised."""
    conn = trino.dbapi.connect(host="127.0.0.1", port=port, user=user, http_scheme="http", request_timeout=30,
                               http_headers=headers)
    try:
        cur = conn.cursor()
        cur.execute(sql)
        rows = cur.fetchall()
        return cur.query_id, rows
    finally:
        conn.close()


def run_client_query(port: int, sql: str, user: str = "demo", routing_group: Optional[str] = None,
                     max_attempts: int = 3) -> ClientQuery:
    """Runs `sql` through 127.0.0.1:port with the client's default retries (3 attempts)."""
    run = ClientQuery(sql, user, routing_group)
    headers = {"X-Trino-Routing-Group": routing_group} if routing_group else None
    conn = trino.dbapi.connect(host="127.0.0.1", port=port, user=user, http_scheme="http",
                               http_headers=headers, max_attempts=max_attempts, request_timeout=30)
    cursor = conn.cursor()
    try:
        cursor.execute(sql)
        run.rows = len(cursor.fetchall())
    except Exception as exc:  # noqa: BLE001 - what the application would get is the result
        run.error = exc
    finally:
        run.query_id = cursor.query_id
        conn.close()
    return run


class ConcurrentQueries:
    """Client queries running in threads while the test does something else (kill, push, ...)."""

    def __init__(self, port: int, max_threads: int = 64):
        self.port = port
        self._pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="trino-client")
        self._futures: List[Future] = []

    def submit(self, sql: str, user: str = "demo", routing_group: Optional[str] = None) -> Future:
        future = self._pool.submit(run_client_query, self.port, sql, user, routing_group)
        self._futures.append(future)
        return future

    def results(self, timeout: float) -> List[ClientQuery]:
        """Every query submitted so far, in submission order, once all have ended."""
        _, pending = wait(self._futures, timeout=timeout)
        if pending:
            raise WaitTimeout(f"{len(pending)} of {len(self._futures)} client queries still running after {timeout}s")
        return [f.result() for f in self._futures]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> "ConcurrentQueries":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
