"""What every trigger in one triggerer process shares, per event loop: clients, the in-flight cap, rate look-ups.

A triggerer runs thousands of triggers on one event loop. They share one async client (one gRPC
channel) per connection, impersonation chain, transport and endpoint; at most
``MAX_INFLIGHT_POLLS`` GetOperation calls in flight; and one read of each connection's
``requests_per_second``. Each is made once per loop however many triggers ask at the same moment.
State is kept per event loop (asyncio objects belong to one loop) and goes with the loop.

:func:`reset` forgets all of it, as a new process would start; tests call it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from ccai_airflow.core import budget

__all__ = ["MAX_INFLIGHT_POLLS", "client", "completed_rate_lookups", "inflight_limit", "rate", "reset"]

# At most this many GetOperation calls in flight per event loop: thousands of triggers started at once
# (a triggerer restart) otherwise put thousands of calls in flight, and the process keeps that peak's memory.
MAX_INFLIGHT_POLLS = 64

Key = tuple[Any, ...]


@dataclass
class _LoopState:
    clients: dict[Key, asyncio.Task[Any]] = field(default_factory=dict)
    rates: dict[Key, asyncio.Task[Any]] = field(default_factory=dict)
    inflight: asyncio.Semaphore | None = None


_LOOPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()


def _state() -> _LoopState:
    loop = asyncio.get_running_loop()
    state = _LOOPS.get(loop)
    if state is None:
        state = _LOOPS[loop] = _LoopState()
    return state


async def _once(tasks: dict[Key, asyncio.Task[Any]], key: Key, make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """The result of ``make()``, run once per loop and ``key`` however many callers ask at once.

    A failure is not kept: the next caller tries again.
    """
    task = tasks.get(key)
    if task is None:
        task = tasks[key] = asyncio.get_running_loop().create_task(make())
    try:
        return await asyncio.shield(task)
    except Exception:
        if tasks.get(key) is task:
            tasks.pop(key)
        raise


async def client(key: Key, make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """The async client of ``key`` on this loop, built by ``make`` the first time."""
    return await _once(_state().clients, key, make)


async def rate(key: Key, read: Callable[[], Coroutine[Any, Any, float | None]]) -> float | None:
    """The request rate of ``key`` (connection, explicit rate, endpoint) on this loop, read once."""
    return await _once(_state().rates, key, read)  # type: ignore[no-any-return]


def completed_rate_lookups() -> dict[Key, float | None]:
    """The rates read on this loop so far."""
    return {key: task.result() for key, task in _state().rates.items() if task.done() and not task.exception()}


def inflight_limit() -> asyncio.Semaphore:
    """The cap on GetOperation calls in flight on this loop."""
    state = _state()
    if state.inflight is None:
        state.inflight = asyncio.Semaphore(MAX_INFLIGHT_POLLS)
    return state.inflight


def reset() -> None:
    """Forget every shared client, in-flight cap, rate look-up and request budget, as a new process would."""
    _LOOPS.clear()
    budget.reset()
