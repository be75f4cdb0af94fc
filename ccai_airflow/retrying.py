"""How one call is retried: transient errors, capped exponential backoff with jitter. No Airflow import.

Polling is not retrying (see ``polling``): this is about one look at the operation. A poll whose
retries run out is "not done yet", not a failure (``outcome.outcome_of_error``); the next poll tries
again. Start calls (create, deploy, ...) are never retried with this: a blind retry of a create
could start a second job; they keep the client library's own policy, Google's for the API.
"""

from __future__ import annotations

from typing import Any

from google.api_core import retry as retries
from google.api_core import retry_async
from google.api_core.retry import exponential_sleep_generator

from ccai_airflow.outcome import is_transient

__all__ = [
    "ATTEMPT_TIMEOUT_S",
    "RETRY_INITIAL_S",
    "RETRY_MAXIMUM_S",
    "RETRY_MULTIPLIER",
    "RETRY_TIMEOUT_S",
    "retry_seconds",
    "sleep_generator",
    "transient_async_retry",
    "transient_retry",
]

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
