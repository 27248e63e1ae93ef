"""Routing tokens as the filter mints them (filter/core/src/pin.rs), to forge them in tests.

Format: base64url-no-pad of `version 1 | name length | name | HMAC-SHA256(key)[:16]`.
Kept in step with pin.rs by the e2e test that checks a minted token against a real one.
"""

import base64
import hashlib
import hmac
from typing import Optional, Tuple
from urllib.parse import urlsplit

MARKER = "trino-router"


def mint(cluster: str, key: bytes) -> str:
    name = cluster.encode()
    payload = bytes([1, len(name)]) + name
    tag = hmac.new(key, payload, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(payload + tag).rstrip(b"=").decode()


def split(uri: str, marker: str = MARKER) -> Optional[Tuple[str, str]]:
    """(token, rest of path+query) of a URI the router handed out, or None without a token."""
    parts = urlsplit(uri)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    head = f"/{marker}/"
    if not path.startswith(head):
        return None
    token, _, rest = path[len(head):].partition("/")
    return token, "/" + rest


def replace_token(uri: str, token: str, marker: str = MARKER) -> str:
    """The same URI with another token in its prefix."""
    found = split(uri, marker)
    if found is None:
        raise ValueError(f"no /{marker}/<token>/ prefix in {uri}")
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}/{marker}/{token}{found[1]}"


def without_prefix(uri: str, marker: str = MARKER) -> str:
    """The same URI with the /<marker>/<token> prefix removed (a client that dropped it)."""
    found = split(uri, marker)
    if found is None:
        raise ValueError(f"no /{marker}/<token>/ prefix in {uri}")
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}{found[1]}"
