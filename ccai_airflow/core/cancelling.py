"""The cancel rule of a wait, shared by the worker (sync) and the triggerer (async) paths. No Airflow import.

With ``cancel_on_kill``, a wait that ends before its operation is done (its deadline, a kill, any other
interruption) cancels the operation: once, and never after it succeeded or failed. Cancelling is best
effort: a failed cancel is logged, never raised, so that the event or the error that made us cancel is
what goes through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ccai_airflow.core.outcome import Status

__all__ = ["CancelRule", "cancel_logged"]


@contextmanager
def cancel_logged(log: Any, operation_name: str, why: str) -> Iterator[None]:
    """Around one cancel call, sync or async: log it; a failure is logged, never raised."""
    try:
        yield
    except Exception as exc:
        log.warning("Could not cancel operation %s: %s", operation_name, exc)
    else:
        log.warning("Cancelled operation %s because %s (cancel_on_kill=True).", operation_name, why)


@dataclass
class CancelRule:
    """``enabled`` is the task's ``cancel_on_kill``; ``requested`` turns True at the first cancel."""

    enabled: bool = False
    requested: bool = False

    def applies(self, last_status: Status | None) -> bool:
        """Whether to cancel now: asked to, not yet done, and the operation may still be running."""
        return self.enabled and not self.requested and last_status in (None, Status.RUNNING, Status.TIMEOUT)

    def cancel(self, log: Any, name: str, last_status: Status | None, cancel: Callable[[str], Any] | None,
               why: str) -> None:
        if cancel is not None and self.applies(last_status):
            self.requested = True
            with cancel_logged(log, name, why):
                cancel(name)

    async def acancel(self, log: Any, name: str, last_status: Status | None,
                      cancel: Callable[[str], Awaitable[Any]] | None, why: str) -> None:
        if cancel is not None and self.applies(last_status):
            self.requested = True
            with cancel_logged(log, name, why):
                await cancel(name)
