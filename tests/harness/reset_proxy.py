"""A TCP proxy between Envoy and a coordinator that resets connections in the middle of a request.

Once armed with `arm(n)`, the next `n` distinct client requests whose first bytes match a prefix
(by default a nextUri GET) are not forwarded: the connection that carried the request gets a TCP
RST instead of an answer, which is what a NAT, a load balancer or a restarted sidecar does to a
connection in the middle of a long poll. A request is reset at most once, so Envoy's retry of it
goes through. Deterministic on purpose: sampling "connections with a request in flight" found
none on a loaded machine, where the answers to short polls come back within milliseconds.
Binds 127.0.0.1 on a free port.
"""

import select
import socket
import struct
import threading
from typing import List, Optional, Set

from .ports import free_port

NEXT_URI_GET = b"GET /v1/statement/"


class ResetProxy:
    def __init__(self, upstream_port: int, port: Optional[int] = None):
        self.upstream_port = upstream_port
        self.port = port or free_port()
        self.resets = 0
        self._armed = 0
        self._prefix = NEXT_URI_GET
        self._already_reset: Set[bytes] = set()  # request lines reset once: their retry passes
        self._sockets: List[socket.socket] = []
        self._lock = threading.Lock()
        self._server: Optional[socket.socket] = None

    def start(self) -> "ResetProxy":
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", self.port))
        self._server.listen(128)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def arm(self, count: int, prefix: bytes = NEXT_URI_GET) -> None:
        """Resets the next `count` distinct requests that start with `prefix`."""
        with self._lock:
            self._armed, self._prefix = count, prefix

    def _accept(self) -> None:
        while True:
            try:
                down, _ = self._server.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
                up.settimeout(None)
            except OSError:
                down.close()
                continue
            with self._lock:
                self._sockets += [down, up]
            threading.Thread(target=self._pump, args=(down, up, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, down, False), daemon=True).start()

    def _should_reset(self, data: bytes) -> bool:
        line = data.split(b"\r\n", 1)[0]
        with self._lock:
            if self._armed <= 0 or not data.startswith(self._prefix) or line in self._already_reset:
                return False
            self._armed -= 1
            self._already_reset.add(line)
            self.resets += 1
            return True

    def _pump(self, src: socket.socket, dst: socket.socket, from_envoy: bool) -> None:
        while True:
            try:
                ready, _, _ = select.select([src], [], [], 0.5)
                if not ready:
                    continue
                data = src.recv(65536)
                if not data:
                    break
                if from_envoy and self._should_reset(data):
                    # RST toward Envoy (linger 0, then close); the coordinator never sees it.
                    src.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    src.close()
                    dst.close()
                    return
                dst.sendall(data)
            except (OSError, ValueError):  # the other pump closed the pair
                break
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self) -> None:
        if self._server:
            self._server.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            try:
                s.close()
            except OSError:
                pass
