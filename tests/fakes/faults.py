"""Faults injected AFTER a fake provider acted: the message is recorded as accepted (or
the action as done), then the answer is lost. A seeded plan decides which requests fail,
so a run is reproducible, and every injected fault is kept for the test to compare."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field


@dataclass
class AfterProcessingFaults:
    """Fail ``rate`` of the requests after processing them, with one of ``kinds``."""

    rate: float
    kinds: tuple[str, ...]
    seed: int = 7
    injected: list[str] = field(default_factory=list)  # the kind of each fault, in order
    _random: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.rate <= 1 or not self.kinds:
            raise ValueError("rate must be within [0, 1] and kinds must not be empty")
        self._random = random.Random(self.seed)

    def draw(self) -> str | None:
        """The fault to inject after this request was processed, or None."""
        with self._lock:
            if self._random.random() >= self.rate:
                return None
            kind = self._random.choice(self.kinds)
            self.injected.append(kind)
            return kind
