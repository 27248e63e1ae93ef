"""OAuth2 for the real-Trino tests: a local OpenID Connect provider (npm oauth2-mock-server, run by
tests/clients/node/idp.js), the Trino settings that trust it, a TLS listener for Envoy (Trino runs
its authenticators only on requests it sees as HTTPS: behind the router, X-Forwarded-Proto), and
a "browser" that logs in by following redirects.

The provider approves every authorization request at once, for its user `johndoe`.
"""

import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict, Optional
from urllib.parse import urlsplit, urlunsplit

import requests

from .clients.builds import CLIENTS_SRC, NODE_DIR
from .ports import free_port
from .procs import ManagedProcess
from .waiting import wait_until

CLIENT_ID = "trino"
USER = "johndoe"  # the provider's user for the authorization-code grant
_TIMEOUT = 10.0


class MockIdp:
    def __init__(self, log_dir: Path):
        self.port = free_port()
        self.log_dir = Path(log_dir)
        self.process: Optional[ManagedProcess] = None

    @property
    def issuer(self) -> str:
        return f"http://localhost:{self.port}"  # what the provider writes into its tokens

    def start(self, timeout: float = 30.0) -> "MockIdp":
        node = shutil.which("node")
        modules = NODE_DIR / "node_modules"
        if node is None or not (modules / "oauth2-mock-server").is_dir():
            raise RuntimeError(f"{modules}/oauth2-mock-server missing: run tests/clients/prepare.sh")
        self.process = ManagedProcess(["env", f"NODE_PATH={modules}", node, CLIENTS_SRC / "node" / "idp.js",
                                       str(self.port)], self.log_dir / "idp.log").start()

        def ready() -> bool:
            if not self.process.is_running():
                raise RuntimeError(f"the identity provider exited: {self.process.log_tail()}")
            return "READY" in self.process.log_text()

        wait_until(ready, timeout, f"the identity provider on port {self.port}", interval=0.2)
        return self

    def stop(self) -> None:
        if self.process:
            self.process.stop()


def trino_config(idp: MockIdp, internal_secret: str) -> Dict[str, str]:
    """Trino settings for OAuth2 against `idp`. Plain HTTP requests (X-Forwarded-Proto http) stay
    insecure: only requests that arrive as HTTPS are authenticated."""
    return {
        "http-server.authentication.type": "oauth2",
        "http-server.authentication.allow-insecure-over-http": "true",
        "http-server.authentication.oauth2.issuer": idp.issuer,
        "http-server.authentication.oauth2.client-id": CLIENT_ID,
        "http-server.authentication.oauth2.client-secret": "not-checked-by-the-mock",
        "http-server.authentication.oauth2.principal-field": "sub",
        "internal-communication.shared-secret": internal_secret,
    }


def self_signed(directory: Path) -> Dict[str, Path]:
    """A certificate for 127.0.0.1 and its key, made with openssl."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "router.crt", directory / "router.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return {"cert": cert, "key": key}


def tls_listener(files: Dict[str, Path]):
    """An `adjust` for launch_envoy: the listener speaks TLS, so Envoy sends X-Forwarded-Proto: https."""
    def adjust(config: dict) -> None:
        for chain in config["static_resources"]["listeners"][0]["filter_chains"]:
            chain["transport_socket"] = {
                "name": "envoy.transport_sockets.tls",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                    "common_tls_context": {"tls_certificates": [{
                        "certificate_chain": {"filename": str(files["cert"])},
                        "private_key": {"filename": str(files["key"])},
                    }]},
                },
            }
    return adjust


class Browser:
    """Logs in as a person would at the URL a client shows, through `via` (a router replica's
    https base URL): the login URL sends it to the provider, which sends it back to Trino's
    callback with a code. Keeps cookies like a browser (the nonce cookie must reach the callback)."""

    def __init__(self, via: str, verify: str):
        self.via = via
        self.session = requests.Session()
        self.session.verify = verify
        self.visited = []  # (method, url, status) of every request

    def __call__(self, login_url: str) -> None:
        url = _on(login_url, self.via)
        for _ in range(5):
            response = self.session.get(url, allow_redirects=False, timeout=_TIMEOUT)
            self.visited.append(("GET", url, response.status_code))
            location = response.headers.get("location")
            if response.status_code not in (302, 303) or not location:
                break
            url = location
        if not self.visited or self.visited[-1][2] != 200:
            raise AssertionError(f"login did not finish: {self.visited}")


def _on(url: str, base: str) -> str:
    parts, target = urlsplit(url), urlsplit(base)
    return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, parts.fragment))


def requests_to(visited, pattern: str):
    return [v for v in visited if re.search(pattern, v[1])]
