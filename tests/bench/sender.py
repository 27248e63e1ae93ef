"""The requests of each scenario, sent one at a time on one keep-alive connection, as
trino.lua sends them: the same method, path, headers and body, no Accept-Encoding.

Used where wrk cannot be: Envoy under callgrind runs some fifty times slower, and the
instruction table needs an exact count of the requests between two dumps.
"""

import http.client
import json
from typing import Callable, Optional

from .configs import STATEMENT_SQL
from .probe import CLIENT_HEADERS, Paths, path_of

_TIMEOUT_S = 120.0  # one request to an Envoy under valgrind
LIFECYCLE_MAX_PAGES = 20


class RequestFailed(RuntimeError):
    pass


class Sender:
    """One connection to an Envoy; `send(key, n)` runs scenario `key` n times and returns the
    requests it sent (n, or for the lifecycle d every request of n whole queries)."""

    def __init__(self, port: int, paths: Paths, marker: Optional[str]):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=_TIMEOUT_S)
        self.paths = paths
        self.marker = marker
        self.sql = STATEMENT_SQL.read_bytes()

    def __enter__(self) -> "Sender":
        return self

    def __exit__(self, *exc) -> None:
        self.conn.close()

    def send(self, key: str, n: int) -> int:
        one: Callable[[], int] = {
            "a": lambda: self._one(self._post()),
            "b": lambda: self._one(self._get(self.paths.small_page)),
            "c": lambda: self._one(self._get(self.paths.large_page)),
            "d": self._lifecycle,
        }[key]
        return sum(one() for _ in range(n))

    @staticmethod
    def _one(_answer: bytes) -> int:
        return 1

    def _post(self) -> bytes:
        return self._request("POST", "/v1/statement", self.sql)

    def _get(self, path: str) -> bytes:
        return self._request("GET", path)

    def _lifecycle(self) -> int:
        """POST, then every nextUri until a page has none; checks each is pinned or not, as wrk does."""
        page = json.loads(self._post())
        sent = 1
        while "nextUri" in page:
            path = path_of(page["nextUri"])
            pinned = self.marker is not None and path.startswith(self.marker)
            if pinned != (self.marker is not None):
                raise RequestFailed(f"nextUri {path!r}: expected {'a ' + self.marker if self.marker else 'no'} "
                                    "routing prefix")
            if sent > LIFECYCLE_MAX_PAGES:
                raise RequestFailed(f"a query did not end after {LIFECYCLE_MAX_PAGES} pages")
            page = json.loads(self._get(path))
            sent += 1
        return sent

    def _request(self, method: str, path: str, body: Optional[bytes] = None) -> bytes:
        self.conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in CLIENT_HEADERS.items():
            self.conn.putheader(name, value)
        if body is not None:
            self.conn.putheader("Content-Type", "text/plain; charset=utf-8")
            self.conn.putheader("Content-Length", str(len(body)))
        self.conn.endheaders(body)
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RequestFailed(f"{method} {path}: HTTP {resp.status}: {data[:300]!r}")
        return data
