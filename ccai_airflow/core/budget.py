"""A per-project request budget shared by every poll in the process (triggers and pokes alike).

The Contact Center Insights API allows 3,000 requests per minute per project (50/s) in total.
Thousands of sensors polling one project must not spend that on ``operations.get`` and get
RESOURCE_EXHAUSTED: every poll (each retry attempt included) runs inside a request of its
project's budget. Two rules, both under one lock, so they hold across threads and event loops:

* Pace (GCRA, virtual scheduling): each caller reserves the next free slot and sleeps until it;
  slots are spaced ``(1 + JITTER_GUARD_S) / rate`` apart, so calls are spread evenly.
* Cap: when its slot comes, a request goes only if fewer than ``capacity`` (``floor(rate)``)
  requests are in flight or ended within the last ``window`` (at least a second). The server sees
  a call at some moment between the client letting it go and the client seeing its answer; counting
  each request from the first until a window after the second keeps ``capacity`` calls in any
  one-second window as the server counts them, however late the sending or the answer: an event
  loop blocked while thousands of triggers start, a GC pause, a slow network. Slots that came due
  during such a stall therefore do not all go out together when it ends.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

__all__ = [
    "DEFAULT_REQUESTS_PER_SECOND", "TRIGGERER_COUNT_OPTION", "RequestBudget", "budget_for", "parse_rate",
    "parse_triggerer_count", "reset", "resolve_rate",
]

# A fifth of the published per-project quota (3,000 requests/minute), leaving room for the
# other clients of the project. Against the emulator there is no quota: no default budget.
DEFAULT_REQUESTS_PER_SECOND = 10.0
JITTER_GUARD_S = 0.05


class RequestBudget:
    """At most ``rate`` requests per second, spaced evenly; ``clock`` is for tests.

    Use ``with budget.request() as waited:`` (threads) or ``async with budget.arequest() as waited:`` (event
    loops) around exactly one call; ``waited`` is how long it waited for its turn, in seconds.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0:
            raise ValueError(f"Invalid requests_per_second {rate!r}: expected a number > 0.")
        self.rate = float(rate)
        self._clock = clock
        self._interval = (1.0 + JITTER_GUARD_S) / self.rate
        self._next = 0.0
        self._lock = threading.Lock()
        self.capacity = max(1, math.floor(self.rate))
        self.window = (1.0 + JITTER_GUARD_S) * max(1.0, self.capacity / self.rate)
        self.in_flight = 0
        self._ended: deque[float] = deque()  # when the answers of the last requests were seen

    def _reserve(self) -> float:
        """Reserve the next slot; return how long to wait for it."""
        with self._lock:
            now = self._clock()
            slot = max(self._next, now)
            self._next = slot + self._interval
            return slot - now

    def hold(self, seconds: float) -> None:
        """Let no request that has not reserved its slot yet go for ``seconds`` (a server's Retry-After)."""
        with self._lock:
            self._next = max(self._next, self._clock() + seconds)

    def _admit(self) -> float:
        """Let a request go now (0.0) if the cap has room; else how long to wait before asking again."""
        with self._lock:
            now = self._clock()
            while self._ended and now - self._ended[0] >= self.window:
                self._ended.popleft()
            if self.in_flight + len(self._ended) < self.capacity:
                self.in_flight += 1
                return 0.0
            # Room opens when the oldest ended request leaves the window; an answer still in flight frees none
            # before it has ended and spent its own window: ask again a slot later.
            return self._ended[0] + self.window - now if self._ended else self._interval

    def _end(self) -> None:
        with self._lock:
            self.in_flight -= 1
            self._ended.append(self._clock())

    def _waits(self) -> Iterator[float]:
        """The sleeps before a request may go: until its slot, then until the cap has room (then admitted)."""
        delay = self._reserve()
        if delay > 0:
            yield delay
        while (delay := self._admit()) > 0:
            yield delay

    @contextmanager
    def request(self) -> Iterator[float]:
        """One request, from a thread: waits for its slot and for room under the cap; gives the seconds waited."""
        waited = 0.0
        for delay in self._waits():
            time.sleep(delay)
            waited += delay
        try:
            yield waited
        finally:
            self._end()

    @asynccontextmanager
    async def arequest(self) -> AsyncIterator[float]:
        """One request, from an event loop: as :meth:`request`, sleeping without blocking the loop."""
        waited = 0.0
        for delay in self._waits():
            await asyncio.sleep(delay)
            waited += delay
        try:
            yield waited
        finally:
            self._end()


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


def reset() -> None:
    """Forget every budget (for tests: a new process starts with none)."""
    with _BUDGETS_LOCK:
        _BUDGETS.clear()


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


def resolve_rate(
    explicit: float | None, extra: object, conn_id: str, default: float | None, share: int = 1
) -> float | None:
    """The hook's argument, else the connection's extra, else ``default`` (the endpoint's: none for the emulator).

    ``share``: how many processes spend the project's budget side by side (the triggerers, see
    ``TRIGGERER_COUNT_OPTION``); each gets ``rate / share``, so together they stay within ``rate``.
    """
    if isinstance(share, bool) or not isinstance(share, int) or share < 1:
        raise ValueError(f"Invalid share {share!r}: expected an integer >= 1.")
    rate = explicit
    if rate is None:
        from_connection = parse_rate(extra, f"connection {conn_id!r}")
        rate = from_connection if from_connection is not None else default
    return None if rate is None else rate / share


# The Airflow option that says how many triggerers run side by side. Airflow 3 gives a trigger no view of
# its peers (the triggerer's runner subprocess has no metadata-database access, and the supervisor
# tells it only its own triggers), so the count is the deployment's to set: AIRFLOW__CCAI__TRIGGERER_COUNT.
TRIGGERER_COUNT_OPTION = ("ccai", "triggerer_count")


def parse_triggerer_count(value: object) -> int:
    """The ``[ccai] triggerer_count`` setting: an integer >= 1 (a string from the config is fine); unset: 1."""
    if value is None or value == "":
        return 1
    try:
        count = int(value) if isinstance(value, str) else value
    except ValueError:
        count = value
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        section, key = TRIGGERER_COUNT_OPTION
        raise ValueError(f"Invalid [{section}] {key} {value!r}: expected an integer >= 1 (the number of triggerers).")
    return count
