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
from ccai_airflow.core.progress import WaitTally

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

# Shorter budget waits than this are the pacing's rounding, not a wait worth a metric.
MIN_BUDGET_WAIT_S = 0.001


def _code_tags(code: str) -> dict[str, Any]:
    return {"code": code}


def polled(tally: WaitTally, outcome: Outcome) -> None:
    """After one look at an operation: count it; when it is the first look that found it done, how it ended
    and how long after its ``metadata.endTime`` we saw it."""
    tally.polls += 1
    Stats.incr(POLL)
    if outcome.status is Status.ERROR:
        code = outcome.error_code or "UNKNOWN"
        Stats.incr(f"{ERROR}.{code}", tags=_code_tags(code))
        return
    if not outcome.done or outcome.status is Status.TIMEOUT or tally.seen_done:
        return
    tally.seen_done = True
    if outcome.status is Status.SUCCEEDED:
        Stats.incr(SUCCEEDED)
    else:
        code = outcome.error_code or "UNKNOWN"
        Stats.incr(f"{FAILED}.{code}", tags=_code_tags(code))
    ended = outcome.ended_at()
    if ended is not None:
        lag = datetime.datetime.now(datetime.UTC) - ended
        Stats.timing(DETECTION_LAG, max(lag, datetime.timedelta(0)))


def retried(tally: WaitTally, code: str) -> None:
    """A transient error of one attempt, about to be retried."""
    tally.retried(code)
    Stats.incr(f"{RETRY}.{code}", tags=_code_tags(code))


def budget_waited(tally: WaitTally, seconds: float) -> None:
    """Time one request waited for its slot in the project's request budget."""
    if seconds < MIN_BUDGET_WAIT_S:
        return
    tally.budget_wait_s += seconds
    Stats.timing(BUDGET_WAIT, datetime.timedelta(seconds=seconds))


def deferred(seconds: float) -> None:
    """How long a task was deferred: from handing the wait to the triggerer until it resumed."""
    Stats.timing(DEFERRED, datetime.timedelta(seconds=max(seconds, 0.0)))
