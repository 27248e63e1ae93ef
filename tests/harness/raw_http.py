"""HTTP/1.1 over a plain socket, for requests no well-behaved client sends.

requests and http.client refuse or re-encode non-UTF-8 header bytes; a router must
survive them anyway, so tests write the bytes themselves.
"""

import http.client
import socket
from dataclasses import dataclass
from typing import Sequence, Tuple


@dataclass
class RawResponse:
    status: int
    headers: dict  # lowercased names
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


def request(port: int, method: bytes, target: bytes, headers: Sequence[Tuple[bytes, bytes]] = (),
            body: bytes = b"", timeout: float = 10.0) -> RawResponse:
    """Sends one request to 127.0.0.1:port exactly as given and reads the answer."""
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1:" + str(port).encode(),
             b"Connection: close", b"Content-Length: " + str(len(body)).encode()]
    lines += [name + b": " + value for name, value in headers]
    data = b"\r\n".join(lines) + b"\r\n\r\n" + body
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        response = http.client.HTTPResponse(sock, method=method.decode())
        response.begin()
        payload = response.read()
        return RawResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, payload)
