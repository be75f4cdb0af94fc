"""What-if: the async hook with the changes proposed in ``benchmarks/README.md`` (not applied to ccai_airflow).

``ProposedAsyncHook`` overrides exactly what the proposed diff to ``ccai_airflow/hooks.py`` changes, so that
``poll_overhead.py`` can measure the proposal in the same interleaved run as the code as it is:

* the client is remembered on the hook for its event loop (no weak-dict look-up, shield or key building per
  poll), and the request budget per project; the retry runs through ``retry_target_async`` directly instead of
  building an ``AsyncRetry`` (and, with a deadline, a second one from ``with_timeout``) at every poll;
* a running operation whose bytes are the same as at the previous poll gives the previous ``Outcome`` (no
  second JSON decoding of unchanged metadata); ``memo=False`` leaves that out;
* at most ``MAX_INFLIGHT_POLLS`` GetOperation calls are in flight per event loop (``trigger_scale.py
  --inflight-limit`` measures that part's effect on memory).

``ProposedRequestBudget`` is the proposed change to ``ccai_airflow/budget.py`` (``polling_budget.py
--proposed-budget``): after sleeping until its reserved slot, a request is also checked against the times
requests were really let through, so that slots that came due while the event loop was blocked do not all go
out at once when it resumes.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
import weakref
from collections import deque
from typing import Any

from google.api_core.retry import exponential_sleep_generator, retry_target_async
from google.longrunning import operations_pb2

from ccai_airflow.budget import JITTER_GUARD_S, RequestBudget
from ccai_airflow.hooks import (
    RETRY_INITIAL_S,
    RETRY_MAXIMUM_S,
    RETRY_MULTIPLIER,
    RETRY_TIMEOUT_S,
    ContactCenterInsightsAsyncHook,
)
from ccai_airflow.operations import Outcome, is_transient, outcome_of, outcome_of_error, parse_operation_name

MAX_INFLIGHT_POLLS = 64
_INFLIGHT: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()
_UNSET: Any = object()


def _inflight_limit() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    semaphore = _INFLIGHT.get(loop)
    if semaphore is None:
        semaphore = _INFLIGHT[loop] = asyncio.Semaphore(MAX_INFLIGHT_POLLS)
    return semaphore


class ProposedAsyncHook(ContactCenterInsightsAsyncHook):
    def __init__(self, *args: Any, memo: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._memo = memo
        self._bound: tuple[asyncio.AbstractEventLoop, Any] | None = None
        self._budgets: dict[str, RequestBudget | None] = {}
        self._last_running: tuple[bytes, Outcome] | None = None

    async def get_conn(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._bound is not None and self._bound[0] is loop:
            return self._bound[1]
        client = await super().get_conn()
        self._bound = (loop, client)
        return client

    async def get_operation(self, name: str, retry_timeout: float | None = None) -> operations_pb2.Operation:
        project = parse_operation_name(name).project
        budget = self._budgets.get(project, _UNSET)
        if budget is _UNSET:
            budget = self._budgets[project] = await self.request_budget(project)
        client = await self.get_conn()
        timeout = RETRY_TIMEOUT_S if retry_timeout is None else min(RETRY_TIMEOUT_S, max(retry_timeout, 0.0))
        return await retry_target_async(  # type: ignore[no-any-return]
            functools.partial(self._attempt, client, budget, name), predicate=is_transient,
            sleep_generator=exponential_sleep_generator(RETRY_INITIAL_S, RETRY_MAXIMUM_S, RETRY_MULTIPLIER),
            timeout=timeout, on_error=self._log_retry,
        )

    async def _attempt(self, client: Any, budget: RequestBudget | None, name: str) -> operations_pb2.Operation:
        if budget is not None:
            await budget.await_slot()
        async with _inflight_limit():
            if self.transport == "rest":
                return await asyncio.to_thread(client.get_operation, request={"name": name}, retry=None)
            return await client.get_operation(request={"name": name}, retry=None)  # type: ignore[no-any-return]

    async def poll(self, name: str, retry_timeout: float | None = None) -> Outcome:
        try:
            operation = await self.get_operation(name, retry_timeout)
        except Exception as exc:
            return outcome_of_error(name, exc)
        if operation.done or not self._memo:
            self._last_running = None
            return outcome_of(operation)
        key = operation.SerializeToString()
        if self._last_running is not None and self._last_running[0] == key:
            return self._last_running[1]
        outcome = outcome_of(operation)
        self._last_running = (key, outcome)
        return outcome


class ProposedRequestBudget(RequestBudget):
    """At most ``capacity`` requests let through in any ``window`` (by the times they really went), on top of
    the evenly spaced slots; ``capacity / window`` is at most ``rate`` per second."""

    def __init__(self, rate: float) -> None:
        super().__init__(rate)
        self._capacity = max(1, math.floor(self.rate))
        self._window = (1.0 + JITTER_GUARD_S) * max(1.0, self._capacity / self.rate)
        self._sent: deque[float] = deque()

    def _admit(self) -> float:
        """Let a request through now (0.0) if the window has room, else say how long to wait."""
        with self._lock:
            now = time.monotonic()
            while self._sent and now - self._sent[0] >= self._window:
                self._sent.popleft()
            if len(self._sent) < self._capacity:
                self._sent.append(now)
                return 0.0
            return self._sent[0] + self._window - now

    def wait(self) -> None:
        super().wait()
        while (delay := self._admit()) > 0:
            time.sleep(delay)

    async def await_slot(self) -> None:
        await super().await_slot()
        while (delay := self._admit()) > 0:
            await asyncio.sleep(delay)
