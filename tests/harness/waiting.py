"""Waiting for a condition with a deadline, never a fixed sleep.

A timeout names what was awaited and the last value or error seen, so a failing
test says why instead of just "timed out".
"""

import time
from typing import Callable, TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """Raised when a condition did not become true in time (an AssertionError, so pytest shows it plainly)."""


def wait_until(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Calls `predicate` until it returns a truthy value, and returns that value.

    Exceptions from `predicate` count as "not yet" (a server still starting refuses
    connections), but the last one is reported if the deadline passes.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last = value
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
            last = exc
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:.1f}s waiting for {what}; last result: {last!r}")
        time.sleep(interval)
