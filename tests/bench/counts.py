"""The arithmetic of the instruction table: windows counted by callgrind, instructions per
request, and comparisons between variants.

A measured window sends N requests between two dumps; an idle window sends none and
lasts about as long. Envoy works by the clock even when idle (health checks, the
filter's polls and ticks), so what it executes idle is taken off at the idle windows'
rate per second, over the measured window's duration.
"""

from dataclasses import asdict, dataclass
from typing import Dict, List, Tuple


@dataclass(frozen=True)
class Window:
    """What one callgrind dump counted: requests sent, instructions, wall seconds since the previous dump."""
    requests: int
    instructions: int
    seconds: float


@dataclass(frozen=True)
class Measurement:
    """One scenario through one variant: the rounds' idle and measured windows."""
    idle: List[Window]
    busy: List[Window]

    def per_round(self) -> List[float]:
        return [per_request(w, self.idle) for w in self.busy]

    def to_json(self) -> dict:
        return {"idle": [asdict(w) for w in self.idle], "busy": [asdict(w) for w in self.busy],
                "per_request": self.per_round()}


def idle_rate(idle: List[Window]) -> float:
    """Instructions per second Envoy executes with no traffic, over all idle windows."""
    seconds = sum(w.seconds for w in idle)
    if seconds <= 0:
        raise ValueError("no idle time measured")
    return sum(w.instructions for w in idle) / seconds


def per_request(busy: Window, idle: List[Window]) -> float:
    """Instructions per request in `busy`, less Envoy's idle work over as long."""
    if busy.requests <= 0:
        raise ValueError("a measured window without requests")
    return (busy.instructions - idle_rate(idle) * busy.seconds) / busy.requests


def spread(values: List[float]) -> float:
    """(max - min) / mean: how far the rounds disagree."""
    mean = sum(values) / len(values) if values else 0.0
    return (max(values) - min(values)) / mean if mean else 0.0


class Counts:
    """Instructions per request by (scenario key, variant): the mean of the rounds."""

    def __init__(self, measured: Dict[Tuple[str, str], Measurement]):
        self.measured = measured

    def rounds(self, key: str, variant: str) -> List[float]:
        return self.measured[(key, variant)].per_round()

    def per_request(self, key: str, variant: str) -> float:
        values = self.rounds(key, variant)
        return sum(values) / len(values)

    def over(self, key: str, variant: str, base: str) -> float:
        """Instructions per request of `variant` minus those of `base`."""
        return self.per_request(key, variant) - self.per_request(key, base)

    def ratio(self, key: str, variant: str, base: str) -> float:
        """Instructions per request of `variant` / those of `base` (a cost ratio: the throughput
        ratio a CPU-bound Envoy would reach is its inverse)."""
        cost = self.per_request(key, base)
        return self.per_request(key, variant) / cost if cost else 0.0

    def spread(self, key: str, variant: str) -> float:
        return spread(self.rounds(key, variant))

    def has(self, key: str, variant: str) -> bool:
        return (key, variant) in self.measured

    def to_json(self) -> dict:
        return {f"{key}/{variant}": m.to_json() for (key, variant), m in self.measured.items()}
