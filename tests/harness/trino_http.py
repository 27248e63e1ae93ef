"""A raw Trino protocol client over `requests`, for tests that need control the real client hides.

It can send each follow-up to a different router replica (rewriting nextUri's
host:port), stop after N pages, and keeps every response for inspection.
"""

import itertools
import re
from dataclasses import dataclass, field
from typing import Iterable, Optional
from urllib.parse import urlsplit, urlunsplit

import requests

QUERY_ID = re.compile(r"\d{8}_\d{6}_\d{5}_([a-z2-9]{5})")
_TIMEOUT = 10.0


def coordinator_of(query_id: str) -> str:
    """The coordinator id Trino puts at the end of every query id."""
    match = QUERY_ID.fullmatch(query_id)
    if not match:
        raise ValueError(f"not a Trino query id: {query_id!r}")
    return match.group(1)


def query_ids_in(text: str) -> list:
    return [m.group(0) for m in QUERY_ID.finditer(text)]


def with_base(uri: str, base_url: str) -> str:
    """`uri` with scheme and host:port replaced by those of `base_url` (another replica)."""
    target = urlsplit(base_url)
    parts = urlsplit(uri)
    return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, parts.fragment))


@dataclass
class QueryRun:
    """What one query looked like from the client side."""

    query_id: Optional[str] = None
    rows: list = field(default_factory=list)
    columns: Optional[list] = None
    error: Optional[dict] = None
    pages: list = field(default_factory=list)  # every decoded JSON page, in order
    requested: list = field(default_factory=list)  # (method, url, status) of every request
    encodings: list = field(default_factory=list)  # Content-Encoding of every page, in order

    @property
    def next_uri(self) -> Optional[str]:
        return self.pages[-1].get("nextUri") if self.pages else None


def post_statement(base_url: str, sql: str, user: Optional[str] = "test", headers: Optional[dict] = None,
                   path: str = "/v1/statement") -> requests.Response:
    """POSTs a new query; `user=None` sends no X-Trino-User (e.g. Basic auth only)."""
    h = {**({"X-Trino-User": user} if user is not None else {}), **(headers or {})}
    return requests.post(base_url + path, data=sql.encode(), headers=h, timeout=_TIMEOUT)


def run_query(bases: Iterable[str], sql: str, user: str = "test", headers: Optional[dict] = None,
              max_pages: Optional[int] = None) -> QueryRun:
    """POSTs to the first base and sends each follow-up to the next base in turn (cycling).

    Stops when a page has no nextUri, or after `max_pages` pages (to cancel or poke a
    running query). Any non-200 answer fails with the method, URL and body.
    """
    cycle = itertools.cycle(list(bases))
    run = QueryRun()
    response = post_statement(next(cycle), sql, user, headers)
    run.requested.append(("POST", response.url, response.status_code))
    with requests.Session() as session:
        while True:
            _check(response)
            page = response.json()
            _collect(run, page)
            run.encodings.append(response.headers.get("content-encoding"))
            if not page.get("nextUri") or (max_pages and len(run.pages) >= max_pages):
                return run
            url = with_base(page["nextUri"], next(cycle))
            response = session.get(url, headers={"X-Trino-User": user}, timeout=_TIMEOUT)
            run.requested.append(("GET", url, response.status_code))


def _check(response: requests.Response) -> None:
    if response.status_code != 200:
        raise AssertionError(f"{response.request.method} {response.url} answered {response.status_code}: "
                             f"{response.text[:500]}")


def _collect(run: QueryRun, page: dict) -> None:
    run.pages.append(page)
    run.query_id = run.query_id or page.get("id")
    run.columns = run.columns or page.get("columns")
    run.rows.extend(page.get("data") or [])
    run.error = run.error or page.get("error")
