"""How one call is retried: transient errors, capped exponential backoff with jitter. No Airflow import.

Polling is not retrying (see ``polling``): this is about one look at the operation. A poll whose
retries run out is "not done yet", not a failure (``outcome.outcome_of_error``); the next poll tries
again. Start calls (create, deploy, ...) are never retried with this: a blind retry of a create
could start a second job; they keep the client library's own policy, Google's for the API.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from google.api_core import exceptions, retry_async
from google.api_core import retry as retries
from google.api_core.retry import exponential_sleep_generator

from ccai_airflow.core.budget import RequestBudget
from ccai_airflow.core.outcome import is_transient

__all__ = [
    "ATTEMPT_TIMEOUT_S",
    "RETRY_INITIAL_S",
    "RETRY_MAXIMUM_S",
    "RETRY_MULTIPLIER",
    "RETRY_TIMEOUT_S",
    "honour_retry_after",
    "poll_retry",
    "retry_after",
    "retry_seconds",
    "sleep_generator",
    "transient_async_retry",
    "transient_retry",
]

# Longer waits than this that a server asks for are capped: a poll's retries are bounded anyway.
MAX_RETRY_AFTER_S = 600.0
# The sleep is drawn uniformly up to twice the nominal delay (google-api-core's jitter).
RETRY_INITIAL_S = 1.0
RETRY_MAXIMUM_S = 32.0
RETRY_MULTIPLIER = 2.0
RETRY_TIMEOUT_S = 120.0
# One GetOperation attempt that has no answer after this long is abandoned (and retried): a call hung
# on a broken connection must not hold its place in flight and in the budget for ever.
ATTEMPT_TIMEOUT_S = 60.0


def retry_seconds(retry_timeout: float | None) -> float:
    """How long one poll may spend retrying: ``RETRY_TIMEOUT_S``, or less when a caller's deadline is nearer."""
    return RETRY_TIMEOUT_S if retry_timeout is None else min(RETRY_TIMEOUT_S, max(retry_timeout, 0.0))


def sleep_generator() -> Any:
    return exponential_sleep_generator(RETRY_INITIAL_S, RETRY_MAXIMUM_S, RETRY_MULTIPLIER)


def poll_retry(on_error: Any, retry_timeout: float | None) -> dict[str, Any]:
    """The keyword arguments of ``retry_target`` / ``retry_target_async`` for one poll: the sync and async
    hooks retry a poll's attempts the same (what ``Retry`` and ``AsyncRetry`` would pass, without building
    one at every poll)."""
    return {
        "predicate": is_transient, "sleep_generator": sleep_generator(), "timeout": retry_seconds(retry_timeout),
        "on_error": on_error,
    }


def transient_retry(on_error: Any = None, retry_timeout: float | None = None) -> retries.Retry:
    return retries.Retry(
        predicate=is_transient, initial=RETRY_INITIAL_S, maximum=RETRY_MAXIMUM_S,
        multiplier=RETRY_MULTIPLIER, timeout=retry_seconds(retry_timeout), on_error=on_error,
    )


def transient_async_retry(on_error: Any = None, retry_timeout: float | None = None) -> retry_async.AsyncRetry:
    return retry_async.AsyncRetry(
        predicate=is_transient, initial=RETRY_INITIAL_S, maximum=RETRY_MAXIMUM_S,
        multiplier=RETRY_MULTIPLIER, timeout=retry_seconds(retry_timeout), on_error=on_error,
    )


def retry_after(exc: BaseException) -> float | None:
    """How long the server asked us to wait before the next request, when it said so; else None.

    A Google front end says it with a 429's ``Retry-After`` header (seconds, or an HTTP date) or with a
    ``google.rpc.RetryInfo`` in the error details (REST and gRPC alike). Capped at ``MAX_RETRY_AFTER_S``.
    """
    if not isinstance(exc, exceptions.GoogleAPICallError):
        return None
    seconds: float | None = None
    for detail in exc.details or ():
        delay = getattr(detail, "retry_delay", None)
        if delay is not None and hasattr(delay, "ToTimedelta"):
            seconds = delay.ToTimedelta().total_seconds()
    headers = getattr(getattr(exc, "response", None), "headers", None)
    value = headers.get("Retry-After") if headers is not None else None
    if isinstance(value, str) and value.strip():
        seconds = _header_seconds(value.strip())
    return None if seconds is None or seconds <= 0 else min(seconds, MAX_RETRY_AFTER_S)


def _header_seconds(value: str) -> float | None:
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()


@contextmanager
def honour_retry_after(budget: RequestBudget | None) -> Iterator[None]:
    """Around one call: a server that asks us to wait (429 with Retry-After, or RetryInfo) holds the
    project's whole budget, so no poll of that project in this process goes before the time it named."""
    try:
        yield
    except Exception as exc:
        delay = retry_after(exc)
        if delay is not None and budget is not None:
            budget.hold(delay)
        raise
