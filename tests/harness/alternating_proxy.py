"""An HTTP proxy that sends each request to the next of several upstreams in turn: a load balancer
in front of Envoy replicas, as real clients (which keep one connection) meet them.

Every request goes to the upstream after the one the previous request went to, whichever client
connection it came on, so consecutive requests of one client alternate between replicas. POSTs
take turns among themselves and other requests among themselves: a client whose every statement
takes an even number of requests would otherwise send every POST to the same replica. The
client's Host is kept, so the URIs Trino writes keep pointing at this proxy. Binds 127.0.0.1 on a
free port; `requests` lists (upstream index, method, path, status) of every request it carried.

`post_ports` sends POSTs (new queries) to other upstreams than the rest: with `[A]` and
upstreams `[B]`, every query enters by replica A and every follow-up goes by replica B.
`set_headers` overrides request headers on the way up, on paths under `set_headers_under`: with
one upstream, `{"Accept-Encoding": "gzip"}` and `/v1/statement` it is a middlebox between Envoy
and a coordinator that asks for compressed statement pages whatever Envoy asked.
"""

import http.client
import itertools
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional, Tuple

from .ports import free_port

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


class AlternatingProxy:
    def __init__(self, upstream_ports: List[int], port: Optional[int] = None, timeout: float = 120.0,
                 set_headers: Optional[Dict[str, str]] = None, set_headers_under: str = "/",
                 post_ports: Optional[List[int]] = None):
        self.upstream_ports = list(upstream_ports)
        self.post_ports = list(post_ports or upstream_ports)
        self.set_headers = dict(set_headers or {})
        self.set_headers_under = set_headers_under
        self.port = port or free_port()
        self.timeout = timeout
        self.requests: List[Tuple[int, str, str, int]] = []
        self._turns = {"POST": itertools.count(), "other": itertools.count()}
        self._lock = threading.Lock()
        self._server: Optional[ThreadingHTTPServer] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "AlternatingProxy":
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _carry(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                ports = proxy.post_ports if self.command == "POST" else proxy.upstream_ports
                with proxy._lock:
                    turn = proxy._turns["POST" if self.command == "POST" else "other"]
                    index = next(turn) % len(ports)
                upstream = http.client.HTTPConnection("127.0.0.1", ports[index], timeout=proxy.timeout)
                try:
                    override = proxy.set_headers if self.path.startswith(proxy.set_headers_under) else {}
                    overridden = {k.lower() for k in override}
                    headers = {k: v for k, v in self.headers.items()
                               if k.lower() not in HOP_BY_HOP and k.lower() not in overridden}
                    headers.update(override)
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    payload = answer.read()
                    self.send_response_only(answer.status, answer.reason)
                    for name, value in answer.getheaders():
                        if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                            self.send_header(name, value)
                    if self.command != "HEAD":
                        self.send_header("Content-Length", str(len(payload)))
                    elif answer.getheader("Content-Length"):
                        self.send_header("Content-Length", answer.getheader("Content-Length"))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                    with proxy._lock:
                        proxy.requests.append((index, self.command, self.path, answer.status))
                finally:
                    upstream.close()

            do_GET = do_POST = do_DELETE = do_HEAD = do_PUT = _carry

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
