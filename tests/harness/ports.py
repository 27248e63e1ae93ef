"""Loopback port allocation: every test server binds 127.0.0.1 on a port nobody else uses."""

import socket


def free_port() -> int:
    """A port the kernel just considered free on 127.0.0.1.

    There is a small race between closing this socket and the server binding it; the
    servers we start fail loudly (and the harness reports their log) if it is lost.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port and we could bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # Same option servers use, so a port in TIME_WAIT still counts as free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
