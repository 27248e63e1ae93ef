"""Queries held open on real Trino: started, read a little, left running while a test acts.

A real query runs as long as its client has not read all its pages, so a large TPC-H
result read one batch at a time is a "long query" that ends exactly when the test says.
"""

import uuid
from typing import List

import requests
import trino

from harness import wait_until
from harness.trino_http import QueryRun, run_query

# 150,000 rows over many pages.
LONG_SQL = "SELECT custkey, name, address FROM tpch.sf1.customer /* {marker} */"
LONG_ROWS = 150000


class HeldQuery:
    """A query of the real Python client, read 10 rows into; `finish()` reads the rest (or the error)."""

    def __init__(self, port: int, user: str = "demo", sql: str = LONG_SQL):
        # encoding=None: the direct protocol, so the query runs until its pages are read (with
        # spooling a coordinator may finish it early, its rows parked in object storage).
        self.connection = trino.dbapi.connect(host="127.0.0.1", port=port, user=user, request_timeout=30,
                                              max_attempts=5, encoding=None)
        self.cursor = self.connection.cursor()
        self.cursor.execute(sql.format(marker=uuid.uuid4().hex))
        self.rows = len(self.cursor.fetchmany(10))

    @property
    def query_id(self) -> str:
        return self.cursor.query_id

    def finish(self):
        """The number of rows read in all, or the exception the client raised."""
        try:
            self.rows += len(self.cursor.fetchall())
            return self.rows
        except Exception as exc:  # noqa: BLE001 - what the application would get is the result
            return exc
        finally:
            self.connection.close()


def hold_until_on(port: int, owner_of, wanted: set, limit: int = 16) -> List[HeldQuery]:
    """Starts held queries through the router until every cluster in `wanted` runs at least one."""
    held: List[HeldQuery] = []
    while len(held) < limit and not wanted <= {owner_of(h.query_id) for h in held}:
        held.append(HeldQuery(port))
    assert wanted <= {owner_of(h.query_id) for h in held}, f"{limit} queries never reached all of {wanted}"
    return held


def queue_on(server, count: int) -> List[QueryRun]:
    """`count` + 1 queries straight on `server` as user `queue-me` (one at a time there): one runs,
    `count` stay QUEUED, as /metrics then reports. Cancel them with `cancel`."""
    runs = [run_query([server.url], LONG_SQL.format(marker=f"queued-{uuid.uuid4().hex}"), user="queue-me",
                      max_pages=2) for _ in range(count + 1)]
    wait_until(lambda: sum(1 for q in server.queries() if q["state"] == "QUEUED"
                           and q["session"]["user"] == "queue-me") >= count, 20,
               f"{count} queries to be queued on {server.name}")
    return runs


def cancel(runs: List[QueryRun], user: str = "queue-me") -> None:
    for run in runs:
        if run.next_uri:
            requests.delete(run.next_uri, headers={"X-Trino-User": user}, timeout=10)
