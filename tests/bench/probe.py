"""Before measuring: one whole query through each Envoy, checked, and the page paths to load.

This proves the mode does what it claims (the filter pins every URI, or plain Envoy
passes them through untouched) and gives the paths the GET scenarios repeat: the
pinned small data page, and the same query's 1 MB page (executing token 1000 of the
fast stand-in).
"""

import time
from dataclasses import dataclass
from typing import List, Optional
from urllib.parse import urlsplit

import requests

from .configs import STATEMENT_SQL

LARGE_TOKEN = 1000  # tests/standin/src/fast.rs LARGE_FROM
CLIENT_HEADERS = {"X-Trino-User": "bench", "X-Trino-Source": "trino-bench",
                  "X-Trino-Catalog": "hive", "X-Trino-Schema": "web"}
_TIMEOUT = 10.0


@dataclass
class Paths:
    small_page: str
    large_page: str


def path_of(uri: str) -> str:
    """The path and query of a nextUri, as a request line names it."""
    parts = urlsplit(uri)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def probe(url: str, marker: Optional[str]) -> Paths:
    """Runs one query through `url`; `marker` is the prefix every nextUri must (or, None, must not) carry."""
    with requests.Session() as http:
        pages = [_checked(_post_as_clients_do(http, url), "POST /v1/statement")]
        next_paths: List[str] = []
        while "nextUri" in pages[-1]:
            path = path_of(pages[-1]["nextUri"])
            pinned = marker is not None and path.startswith(marker)
            if pinned != (marker is not None):
                raise AssertionError(f"nextUri {path!r} through {url}: expected "
                                     f"{'a ' + marker if marker else 'no'} routing prefix")
            next_paths.append(path)
            pages.append(_checked(http.get(f"{url}{path}", headers=CLIENT_HEADERS, timeout=_TIMEOUT), path))
            if len(pages) > 20:
                raise AssertionError(f"query through {url} did not end after 20 pages")
        states = [p["stats"]["state"] for p in pages]
        if states != ["QUEUED", "QUEUED"] + ["RUNNING"] * 4 + ["FINISHED"]:
            raise AssertionError(f"unexpected page states through {url}: {states}")
        # POST -> queued/1 -> executing/0 -> executing/1: the first data page.
        small = next_paths[2]
        large = small.rsplit("/", 1)[0] + f"/{LARGE_TOKEN}"
        big = http.get(f"{url}{large}", headers=CLIENT_HEADERS, timeout=_TIMEOUT)
        if big.status_code != 200 or len(big.content) < 1_000_000:
            raise AssertionError(f"GET {large} through {url}: {big.status_code}, {len(big.content)} bytes")
        return Paths(small_page=small, large_page=large)


def _post_as_clients_do(http: requests.Session, url: str, deadline_s: float = 20.0) -> requests.Response:
    """POSTs the statement, retrying a 503 with Retry-After as the Trino clients do.

    Right after Envoy starts, the filter may not yet have polled every cluster and answers
    503 + Retry-After (issue 13 defines what a fresh Envoy should do instead); the benchmark
    measures the router once it serves, like a client that retries.
    """
    deadline = time.monotonic() + deadline_s
    while True:
        resp = http.post(f"{url}/v1/statement", data=STATEMENT_SQL.read_bytes(), headers=CLIENT_HEADERS,
                         timeout=_TIMEOUT)
        retry_after = resp.headers.get("retry-after", "")
        if resp.status_code != 503 or not retry_after.isdigit() or time.monotonic() > deadline:
            return resp
        time.sleep(min(int(retry_after), 2))


def _checked(resp: requests.Response, what: str) -> dict:
    if resp.status_code != 200:
        raise AssertionError(f"{what}: HTTP {resp.status_code}: {resp.text[:300]}")
    return resp.json()
