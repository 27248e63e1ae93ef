"""Child processes that are always cleaned up: own process group, output in a log file.

Each server runs in its own session so a stop signal reaches it and anything it
spawned; every process started here is also killed at interpreter exit, so a test
that fails (or a Ctrl-C) never leaks a server holding a port.
"""

import atexit
import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Optional, Sequence

_LIVE: "set[ManagedProcess]" = set()


class ManagedProcess:
    """One started server process whose stdout and stderr go to `log_path`."""

    def __init__(self, argv: Sequence[str], log_path: Path, cwd: Optional[Path] = None):
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log_path)
        self.cwd = cwd
        self.popen: Optional[subprocess.Popen] = None

    def start(self) -> "ManagedProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # Append: a restarted server keeps the earlier run's output for post-mortems.
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        _LIVE.add(self)
        return self

    @property
    def pid(self) -> Optional[int]:
        return self.popen.pid if self.popen else None

    def is_running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def returncode(self) -> Optional[int]:
        return self.popen.poll() if self.popen else None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM to the group, then SIGKILL if it has not exited within `timeout`."""
        self._signal_and_wait(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL the group at once, like a crashed machine."""
        self._signal_and_wait(signal.SIGKILL, 5.0)

    def _signal_and_wait(self, sig: int, timeout: float) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            _signal_group(self.popen.pid, sig)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5.0)
        # The leader is gone; make sure nothing it spawned lingers in its group.
        _signal_group(self.popen.pid, signal.SIGKILL)
        _LIVE.discard(self)


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: on Linux, SIGKILL it if the harness itself is killed.

    atexit covers normal exits and Ctrl-C; this covers `kill -9` of pytest or a CI timeout.
    """
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass


def kill_group(popen: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGKILLs a process started with start_new_session (and all it spawned), then reaps it."""
    if popen.poll() is None:
        _signal_group(popen.pid, signal.SIGKILL)
    popen.wait(timeout=timeout)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_LIVE):
        proc.kill()
