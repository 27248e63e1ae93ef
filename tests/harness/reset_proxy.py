"""A TCP proxy between Envoy and a coordinator that can reset the connections it carries.

`reset_busy()` sends a TCP RST to Envoy on every connection that has a request in flight (bytes
went up, the answer has not finished) — what a NAT, a load balancer or a restarted sidecar does
to a connection in the middle of a long poll. Binds 127.0.0.1 on a free port.
"""

import select
import socket
import struct
import threading
import time
from typing import List, Optional

from .ports import free_port


class _Pair:
    def __init__(self, down: socket.socket, up: socket.socket):
        self.down, self.up = down, up
        self.last_up = 0.0    # when Envoy last sent bytes (a request)
        self.last_down = 0.0  # when the coordinator last sent bytes (an answer)
        self.closed = False
        self.last_request = b""  # the start of the last request Envoy sent

    def busy(self) -> bool:
        """A client's request in flight (health checks and the filter's polls of /v1/info aside)."""
        return not self.closed and self.last_up > self.last_down and not self.last_request.startswith(b"GET /v1/info")

    def reset(self) -> None:
        """Asks the pumps to reset: a socket closed while another thread waits in recv() on it
        stays open in the kernel, so the pump that reads from Envoy closes it itself."""
        self.closed = True


class ResetProxy:
    def __init__(self, upstream_port: int, port: Optional[int] = None):
        self.upstream_port = upstream_port
        self.port = port or free_port()
        self.pairs: List[_Pair] = []
        self.resets = 0
        self._lock = threading.Lock()
        self._server: Optional[socket.socket] = None

    def start(self) -> "ResetProxy":
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", self.port))
        self._server.listen(128)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

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
            pair = _Pair(down, up)
            with self._lock:
                self.pairs.append(pair)
            threading.Thread(target=self._pump, args=(pair, down, up, "last_up"), daemon=True).start()
            threading.Thread(target=self._pump, args=(pair, up, down, "last_down"), daemon=True).start()

    def _pump(self, pair: _Pair, src: socket.socket, dst: socket.socket, stamp: str) -> None:
        while True:
            try:
                ready, _, _ = select.select([src], [], [], 0.05)
                if pair.closed:
                    if src is pair.down:  # RST toward Envoy: linger 0, then close
                        src.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        src.close()
                        pair.up.close()
                    return
                if not ready:
                    continue
                data = src.recv(65536)
                if not data:
                    break
                setattr(pair, stamp, time.monotonic())
                if stamp == "last_up" and data[:4] in (b"GET ", b"POST", b"HEAD", b"DELE"):
                    pair.last_request = data[:64]
                dst.sendall(data)
            except OSError:
                break
        if not pair.closed:
            pair.closed = True
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def reset_busy(self) -> int:
        """Resets every connection with a request in flight; returns how many."""
        with self._lock:
            busy = [p for p in self.pairs if p.busy()]
        for p in busy:
            p.reset()
        self.resets += len(busy)
        return len(busy)

    def stop(self) -> None:
        if self._server:
            self._server.close()
        with self._lock:
            for p in self.pairs:
                p.reset()
