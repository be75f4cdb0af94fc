"""A per-project request budget shared by every poll in the process (triggers and pokes alike).

The Contact Center Insights API allows 3,000 requests per minute per project (50/s) in total.
Thousands of sensors polling one project must not spend that on ``operations.get`` and get
RESOURCE_EXHAUSTED: every poll (each retry attempt included) first takes a slot from its
project's budget. The budget is a virtual-scheduling rate limiter (GCRA): each caller reserves
the next free slot under one lock and sleeps until it, so it works the same from threads and from
any event loop, and keeps at most ``rate`` calls in any one-second window as the server sees
them: slots are spaced ``(1 + JITTER_GUARD_S) / rate`` apart, so that ``rate + 1`` calls span more
than a second even when the network delays the first by up to 50 ms more than the last. A caller that
wakes late for its slot is also held to the times requests really went (a sliding window), so that a
stalled event loop does not send every slot that came due during the stall at once.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Callable

# A fifth of the published per-project quota (3,000 requests/minute), leaving room for the
# other clients of the project. Against the emulator there is no quota: no default budget.
DEFAULT_REQUESTS_PER_SECOND = 10.0
JITTER_GUARD_S = 0.05


class RequestBudget:
    """At most ``rate`` requests per second, spaced evenly; ``clock`` is for tests."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0:
            raise ValueError(f"Invalid requests_per_second {rate!r}: expected a number > 0.")
        self.rate = float(rate)
        self._clock = clock
        self._interval = (1.0 + JITTER_GUARD_S) / self.rate
        self._next = 0.0
        self._lock = threading.Lock()
        # A slot is a plan: when its caller wakes late (an event loop blocked while thousands of triggers start,
        # a long GC pause), every slot that came due meanwhile would go out at once. So a request is also checked
        # against the times requests were really let through: at most `capacity` in any `window` seconds.
        self.capacity = max(1, math.floor(self.rate))
        self.window = (1.0 + JITTER_GUARD_S) * max(1.0, self.capacity / self.rate)
        self._sent: deque[float] = deque()

    def _reserve(self) -> float:
        """Reserve the next slot; return how long to wait for it."""
        with self._lock:
            now = self._clock()
            slot = max(self._next, now)
            self._next = slot + self._interval
            return slot - now

    def _admit(self) -> float:
        """Let a request through now (0.0) if the last ``window`` seconds have room; else how long to wait."""
        with self._lock:
            now = self._clock()
            while self._sent and now - self._sent[0] >= self.window:
                self._sent.popleft()
            if len(self._sent) < self.capacity:
                self._sent.append(now)
                return 0.0
            return self._sent[0] + self.window - now

    def wait(self) -> None:
        delay = self._reserve()
        if delay > 0:
            time.sleep(delay)
        while (delay := self._admit()) > 0:
            time.sleep(delay)

    async def await_slot(self) -> None:
        delay = self._reserve()
        if delay > 0:
            await asyncio.sleep(delay)
        while (delay := self._admit()) > 0:
            await asyncio.sleep(delay)


_BUDGETS: dict[tuple[str, float], RequestBudget] = {}
_BUDGETS_LOCK = threading.Lock()


def budget_for(project: str, rate: float) -> RequestBudget:
    """The process-wide budget of ``project`` at ``rate`` requests per second."""
    key = (project, float(rate))
    with _BUDGETS_LOCK:
        budget = _BUDGETS.get(key)
        if budget is None:
            budget = _BUDGETS[key] = RequestBudget(rate)
        return budget


def parse_rate(value: object, source: str) -> float | None:
    """A requests-per-second setting from a hook argument or a connection extra (string allowed)."""
    if value is None or value == "":
        return None
    try:
        rate = float(value) if isinstance(value, str) else value
    except ValueError:
        rate = value
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0:
        raise ValueError(f"Invalid requests_per_second {value!r} in {source}: expected a number > 0.")
    return float(rate)
