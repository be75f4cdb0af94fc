"""When to look again: the polling policy, and the one wait step both wait loops take. No Airflow import.

The sync loop (``ContactCenterInsightsHook.wait_for_operation``) and the trigger's loop differ only
in ``time.sleep`` versus ``await asyncio.sleep``; what they do after each poll (done? past the
deadline? how long to sleep?) is :func:`next_step`, as google-api-core's sync and async retries share
their sleep generator.
"""

from __future__ import annotations

from dataclasses import dataclass

from ccai_airflow.core.names import validate_seconds
from ccai_airflow.core.outcome import Outcome, Status

__all__ = ["DEFAULT_POLLING", "PollingPolicy", "Step", "next_step", "timed_out"]


@dataclass(frozen=True)
class PollingPolicy:
    """How long to wait before the next poll, given how long the operation has been running.

    The delay is ``fraction`` of the operation's age, at least ``initial`` and at most ``maximum``:
    a 10 s job is seen within ~2 s, a 3 h training job is polled a few dozen times, not 540 times
    (google-api-core's LRO default: 1 s x1.5 up to 20 s). Detection lag is at most
    ``max(initial, fraction * duration)``. Polling is not RPC retry: transient errors of one poll are
    retried separately (see ``retrying``). Policies are values; ``fixed`` returns a
    new one.
    """

    initial: float = 2.0
    fraction: float = 0.1
    maximum: float = 600.0

    def __post_init__(self) -> None:
        validate_seconds("initial", self.initial, zero_ok=False)
        validate_seconds("maximum", self.maximum, zero_ok=False)
        if not 0 <= self.fraction <= 1:
            raise ValueError(f"Invalid fraction {self.fraction!r}: expected a number in [0, 1].")
        if self.maximum < self.initial:
            raise ValueError(f"Invalid maximum {self.maximum!r}: expected >= initial ({self.initial}).")

    @classmethod
    def fixed(cls, seconds: float) -> PollingPolicy:
        return cls(initial=seconds, fraction=0.0, maximum=seconds)

    @classmethod
    def for_interval(cls, poll_interval: float | None) -> PollingPolicy:
        """A fixed policy when the user set an interval, else the adaptive default."""
        return DEFAULT_POLLING if poll_interval is None else cls.fixed(poll_interval)

    def delay(self, age_seconds: float | None) -> float:
        age = max(age_seconds or 0.0, 0.0)
        return min(self.maximum, max(self.initial, self.fraction * age))


DEFAULT_POLLING = PollingPolicy()


@dataclass(frozen=True)
class Step:
    """What a wait loop does after a poll: finish with ``outcome`` (``sleep`` None) or sleep and poll again."""

    outcome: Outcome
    sleep: float | None

    @property
    def finished(self) -> bool:
        return self.sleep is None


def next_step(
    outcome: Outcome, policy: PollingPolicy, started: float, deadline: float | None, now: float
) -> Step:
    """The one decision of every wait loop; times are Unix seconds (``deadline`` is absolute).

    Done: finish with the outcome. Past the deadline: finish with a TIMEOUT outcome. Otherwise sleep
    the policy's delay for the operation's age (from its ``createTime``, else since the wait started),
    but never past the deadline.
    """
    if outcome.done:
        return Step(outcome, None)
    if deadline is not None and now >= deadline:
        return Step(timed_out(outcome, deadline), None)
    delay = policy.delay(outcome.elapsed_seconds() or now - started)
    return Step(outcome, delay if deadline is None else min(delay, deadline - now))


def timed_out(last: Outcome, deadline: float) -> Outcome:
    """The TIMEOUT outcome of a wait whose deadline passed; the last look at the operation is kept, and so is the
    error its retries ran out on, if they did: a wait that never reached the API (an emulator nothing answers at, an
    outage) says so when it times out."""
    seen = f" The last poll's retries ran out on {last.error_code}: {last.error_message}" if last.error_code else ""
    return Outcome(
        Status.TIMEOUT, last.operation_name, last.operation, error_code="DEADLINE_EXCEEDED",
        error_message=f"Operation not done by the deadline (end_time={deadline}).{seen}",
    )
