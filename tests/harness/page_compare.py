"""Pages through the router next to the same pages straight from their coordinator, as raw text.

A re-GET of the current executing token returns the identical page, so a test can fetch a
page through the router, fetch it again from the coordinator with the same Host, and
require the two to differ in exactly one way: the pin prefix inserted after the authority
of the URIs the coordinator wrote (infoUri, partialCancelUri, nextUri, spooled segments'
uri and ackUri). Rows, pre-signed storage URIs and everything else must be byte-identical.
"""

import json
import re
from dataclasses import dataclass, field
from typing import Callable, List, Optional
from urllib.parse import urlsplit

import requests

from . import tokens

_TIMEOUT = 10.0
_TOP_URI_KEYS = ("infoUri", "partialCancelUri", "nextUri")
_SEGMENT_URI_KEYS = ("uri", "ackUri")


@dataclass
class RoutedPage:
    """One page as a client got it through the router."""

    path: str  # path and query requested through the router (the POST's is /v1/statement)
    text: str  # decoded body
    content_encoding: Optional[str]

    @property
    def page(self) -> dict:
        return json.loads(self.text)


@dataclass
class RoutedQuery:
    pages: List[RoutedPage] = field(default_factory=list)

    @property
    def query_id(self) -> str:
        return self.pages[0].page["id"]


def walk(router_url: str, sql: str, user: str, host: Optional[str] = None, headers: Optional[dict] = None,
         on_page: Optional[Callable[[RoutedPage], None]] = None) -> RoutedQuery:
    """Runs a query through the router with raw HTTP, keeping every page's text.

    `host` overrides the Host header (the client-facing authority the coordinator writes
    into URIs and the router rewrites for); follow-ups go to `router_url` whatever the
    authority in nextUri says. `on_page` sees each page before the next is requested,
    while its token is still the current one (a coordinator answers older ones with 410).
    """
    base = {"X-Trino-User": user, **(headers or {}), **({"Host": host} if host else {})}
    run = RoutedQuery()
    with requests.Session() as session:
        response = session.post(router_url + "/v1/statement", data=sql.encode(), headers=base, timeout=_TIMEOUT)
        path = "/v1/statement"
        while True:
            if response.status_code != 200:
                raise AssertionError(f"{path} through the router answered {response.status_code}: "
                                     f"{response.text[:300]}")
            run.pages.append(RoutedPage(path, response.text, response.headers.get("content-encoding")))
            if on_page:
                on_page(run.pages[-1])
            next_uri = run.pages[-1].page.get("nextUri")
            if not next_uri:
                return run
            parts = urlsplit(next_uri)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            response = session.get(router_url + path, headers=base, timeout=_TIMEOUT)


def direct_text(coordinator_url: str, routed_path: str, user: str, host: str) -> str:
    """The page at `routed_path` (pin prefix removed) fetched straight from the coordinator."""
    found = tokens.split("http://x" + routed_path)
    path = found[1] if found else routed_path
    response = requests.get(coordinator_url + path, headers={"X-Trino-User": user, "Host": host}, timeout=_TIMEOUT)
    if response.status_code != 200:
        raise AssertionError(f"direct GET {path} answered {response.status_code}: {response.text[:300]}")
    return response.text


def pinned(direct: str, authority: str, prefix: str) -> str:
    """`direct` with `prefix` (`/trino-router/<token>`) inserted where the router must put it.

    Key patterns are matched with unescaped quotes, which a JSON string value (a row)
    cannot contain, so row text that merely looks like these fields is left alone.
    """
    scheme_authority = re.escape(f"://{authority}/")
    out = direct
    for key in _TOP_URI_KEYS:
        out = re.sub(f'("{key}":"[a-z]+{scheme_authority})', rf"\g<1>{prefix[1:]}/", out, count=1)
    for key in _SEGMENT_URI_KEYS:
        out = re.sub(f'("{key}":"[a-z]+{scheme_authority})(v1/spooled/)', rf"\g<1>{prefix[1:]}/\g<2>", out)
    return out


def prefix_of(uri: str) -> str:
    """`/trino-router/<token>` of a pinned URI."""
    found = tokens.split(uri)
    if found is None:
        raise AssertionError(f"{uri} carries no routing token")
    return f"/{tokens.MARKER}/{found[0]}"
