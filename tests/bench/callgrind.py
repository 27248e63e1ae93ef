"""Envoy under valgrind's callgrind: the wrapper command, dumps taken on demand, and the
instruction total a dump file holds.

callgrind counts the instructions a process executes in user space: Envoy, its libraries
and the machine code V8 generates for the wasm module, all threads together. Each
`callgrind_control -d PID` writes what was counted since the previous dump to a new file
(`callgrind.PID.N`) and zeroes the counters, so one dump is one measured window.
"""

import shutil
import subprocess
import time
from pathlib import Path
from typing import List, Tuple

from tests.harness.waiting import wait_until

_DUMP_TIMEOUT_S = 300.0


class CallgrindMissing(RuntimeError):
    pass


class DumpError(RuntimeError):
    """A dump that could not be taken, or a file that is not a complete callgrind dump."""


def callgrind_tools() -> Tuple[str, str]:
    """The valgrind and callgrind_control executables, or CallgrindMissing saying how to get them."""
    valgrind, control = shutil.which("valgrind"), shutil.which("callgrind_control")
    if valgrind is None or control is None:
        raise CallgrindMissing(
            "the instruction table needs valgrind's callgrind and callgrind_control, which are missing: "
            "`apt-get install -y valgrind` (Debian/Ubuntu), or skip the table with --no-instructions")
    return valgrind, control


def callgrind_argv(dump_dir: Path) -> List[str]:
    """The command Envoy runs under. V8 writes machine code into anonymous memory and patches
    it: --smc-check=all-non-file makes valgrind notice, or it would run stale translations."""
    valgrind, _ = callgrind_tools()
    return [valgrind, "--tool=callgrind", "--smc-check=all-non-file",
            f"--callgrind-out-file={dump_dir / 'callgrind.%p'}"]


def dump_total(path: Path) -> int:
    """The instructions (event Ir) counted in a dump file: its `totals:` line, which the
    `summary:` line of the header repeats. DumpError if the file is incomplete or counts
    other events first."""
    events, summary, totals = None, None, None
    with open(path) as f:
        for line in f:
            if line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith("summary:"):
                summary = _first_count(line, path)
            elif line.startswith("totals:"):
                totals = _first_count(line, path)
    if events is None or events[:1] != ["Ir"]:
        raise DumpError(f"{path}: expected instructions (Ir) as the first event, found events {events}")
    if totals is None:
        raise DumpError(f"{path}: no totals line (dump incomplete?)")
    if summary is not None and summary != totals:
        raise DumpError(f"{path}: summary {summary} and totals {totals} disagree")
    return totals


def _first_count(line: str, path: Path) -> int:
    fields = line.split()
    if len(fields) < 2 or not fields[1].isdigit():
        raise DumpError(f"{path}: unreadable line {line.strip()!r}")
    return int(fields[1])


class Dumps:
    """Dumps of one process under callgrind; each file is read once and deleted."""

    def __init__(self, dump_dir: Path, pid: int):
        _, self.control = callgrind_tools()
        self.dump_dir = dump_dir
        self.pid = pid
        self.last = time.monotonic()

    def take(self) -> Tuple[int, float]:
        """Dumps now: the instructions since the previous dump, and the wall seconds since it."""
        before = set(self._files())
        done = subprocess.run([self.control, "-d", str(self.pid)], capture_output=True, text=True,
                              timeout=_DUMP_TIMEOUT_S)
        now = time.monotonic()
        if done.returncode != 0:
            raise DumpError(f"callgrind_control -d {self.pid} failed ({done.returncode}): "
                            f"{done.stdout.strip()} {done.stderr.strip()}")

        def new_file():
            added = [p for p in self._files() if p not in before]
            if len(added) > 1:
                raise DumpError(f"one dump wrote {len(added)} files: {added}")
            return added[0] if added else None

        path = wait_until(new_file, 60.0, f"the dump file of callgrind_control -d {self.pid}")
        total = wait_until(lambda: dump_total(path), 60.0, f"{path} to be complete")
        path.unlink()
        seconds, self.last = now - self.last, now
        return total, seconds

    def _files(self) -> List[Path]:
        return list(self.dump_dir.glob(f"callgrind.{self.pid}.*"))
