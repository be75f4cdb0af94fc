"""The provider's metrics, sent through Airflow's own ``Stats``: StatsD or OpenTelemetry, whichever the
deployment configured in ``[metrics]``, and nothing when metrics are off.

Every name starts with ``ccai.``; Airflow puts its own prefix in front (``[metrics] statsd_prefix``,
``airflow`` by default), so StatsD sees ``airflow.ccai.poll``. A status code is the last part of a name
(for plain StatsD, which has no tags) and also a ``code`` tag (for Datadog StatsD and OpenTelemetry).
The table of names is in ``docs/usage.md``.
"""

from __future__ import annotations

import datetime
from typing import Any

from airflow.providers.common.compat.sdk import Stats

from ccai_airflow.core.outcome import Outcome, Status

__all__ = [
    "BUDGET_WAIT",
    "DEFERRED",
    "DETECTION_LAG",
    "ERROR",
    "FAILED",
    "POLL",
    "PREFIX",
    "RETRY",
    "SUCCEEDED",
    "budget_waited",
    "deferred",
    "polled",
    "retried",
]

PREFIX = "ccai"
POLL = f"{PREFIX}.poll"
RETRY = f"{PREFIX}.retry"
ERROR = f"{PREFIX}.error"
FAILED = f"{PREFIX}.operation_failed"
SUCCEEDED = f"{PREFIX}.operation_succeeded"
BUDGET_WAIT = f"{PREFIX}.budget_wait"
DETECTION_LAG = f"{PREFIX}.detection_lag"
DEFERRED = f"{PREFIX}.deferred"

def _code_tags(code: str) -> dict[str, Any]:
    return {"code": code}


def polled(outcome: Outcome, first_done: bool) -> None:
    """After one look at an operation: count it; when it is the first look that found it done (``first_done``),
    how it ended and how long after its ``metadata.endTime`` we saw it."""
    Stats.incr(POLL)
    if outcome.status is Status.ERROR:
        code = outcome.error_code or "UNKNOWN"
        Stats.incr(f"{ERROR}.{code}", tags=_code_tags(code))
        return
    if not first_done:
        return
    if outcome.status is Status.SUCCEEDED:
        Stats.incr(SUCCEEDED)
    else:
        code = outcome.error_code or "UNKNOWN"
        Stats.incr(f"{FAILED}.{code}", tags=_code_tags(code))
    ended = outcome.ended_at()
    if ended is not None:
        lag = datetime.datetime.now(datetime.UTC) - ended
        Stats.timing(DETECTION_LAG, max(lag, datetime.timedelta(0)))


def retried(code: str) -> None:
    """A transient error of one attempt, about to be retried."""
    Stats.incr(f"{RETRY}.{code}", tags=_code_tags(code))


def budget_waited(seconds: float) -> None:
    """Time one request waited for its slot in the project's request budget (the wait leaves out rounding)."""
    Stats.timing(BUDGET_WAIT, datetime.timedelta(seconds=seconds))


def deferred(seconds: float) -> None:
    """How long a task was deferred: from handing the wait to the triggerer until it resumed."""
    Stats.timing(DEFERRED, datetime.timedelta(seconds=max(seconds, 0.0)))
