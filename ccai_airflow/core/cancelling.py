"""The cancel rule's logging, shared by the worker (sync) and the triggerer (async) paths.

It lives in the domain core, free of Airflow imports, so that neither path reaches into the other's
module for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["cancel_logged"]


@contextmanager
def cancel_logged(log: Any, operation_name: str, why: str) -> Iterator[None]:
    """Around one cancel call, sync or async: log it; a failure is logged, never raised (cancelling is best
    effort, and the event or the error that made us cancel is what must go through)."""
    try:
        yield
    except Exception as exc:
        log.warning("Could not cancel operation %s: %s", operation_name, exc)
    else:
        log.warning("Cancelled operation %s because %s (cancel_on_kill=True).", operation_name, why)
