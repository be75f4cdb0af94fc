"""One wait for one long-running operation, and its one owner: :class:`OperationWait`. No Airflow import.

As google-api-core's ``Operation`` future is handed its refresh and cancel, an ``OperationWait`` is handed
the hook's poll and cancel (sync functions in a worker, coroutines in the triggerer) and owns everything
else: the operation's name, the absolute deadline, the polling policy, what the wait has cost (its
:class:`~ccai_airflow.core.progress.WaitTally`) and the cancel rule. The sensor's poke, the sync wait, the
trigger and every operator go through it; the hook keeps no state of a wait.

It crosses into the triggerer as the trigger's kwargs (:meth:`to_trigger_kwargs`), and back
(:meth:`from_trigger_kwargs`): the round trip is exact, and kwargs of a trigger serialized by an earlier
release still load (a key this release added takes its default).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from ccai_airflow.core.cancelling import CancelRule
from ccai_airflow.core.names import (
    parse_operation_name,
    validate_flag,
    validate_response_type,
    validate_seconds,
    validate_subscription,
)
from ccai_airflow.core.outcome import Outcome, Status
from ccai_airflow.core.polling import PollingPolicy, Step, next_step
from ccai_airflow.core.progress import WaitTally, log_progress
from ccai_airflow.core.xcom import XComTooLargeError, xcoms_of

__all__ = [
    "NO_METER",
    "Ending",
    "Finish",
    "Meter",
    "OperationWait",
    "PollObserver",
    "finish_outcome",
]

class PollObserver(Protocol):
    """What a hook tells the wait about the attempts of one poll (the wait counts them; the hook keeps none)."""

    def retried(self, code: str) -> None: ...

    def budget_waited(self, seconds: float) -> None: ...


class Meter(Protocol):
    """Where a wait reports its counts besides its tally: ``ccai_airflow.metrics`` (Airflow's Stats) in Airflow."""

    def polled(self, outcome: Outcome, first_done: bool) -> None: ...

    def retried(self, code: str) -> None: ...

    def budget_waited(self, seconds: float) -> None: ...

    def deferred(self, seconds: float) -> None: ...


class _NoMeter:
    def polled(self, outcome: Outcome, first_done: bool) -> None:
        pass

    def retried(self, code: str) -> None:
        pass

    def budget_waited(self, seconds: float) -> None:
        pass

    def deferred(self, seconds: float) -> None:
        pass


NO_METER: Meter = _NoMeter()

SyncPoll = Callable[[str, float | None, PollObserver], Outcome]
AsyncPoll = Callable[[str, float | None, PollObserver], Awaitable[Outcome]]


class Ending(StrEnum):
    """How a finished wait ends the task: its XComs pushed, or which error the task raises."""

    PUSH = "push"
    TIMEOUT = "timeout"
    FAILED = "failed"
    TOO_LARGE = "too_large"


@dataclass(frozen=True)
class Finish:
    """What to do with a finished wait: push ``values`` (``return_value`` among them), or raise for ``error``."""

    ending: Ending
    values: dict[str, Any] = field(default_factory=dict)
    error: str = ""


@dataclass(eq=False)
class OperationWait:
    """The wait for operation ``name`` until ``end_time`` (Unix seconds; None: none), polling every
    ``poll_interval`` seconds (None: the adaptive ``DEFAULT_POLLING``), woken early in the triggerer by a message
    on ``notification_subscription`` (Pub/Sub; None: polling only). ``poll(name, retry_timeout, observer)``
    and ``cancel(name)`` are the hook's, not part of the wait's value (equality, trigger kwargs): a wait rebuilt
    in the triggerer is handed the async ones. ``meter`` receives the counts (``NO_METER``: none)."""

    name: str
    end_time: float | None = None
    poll_interval: float | None = None
    cancel_on_kill: bool = False
    notification_subscription: str | None = None
    tally: WaitTally = None  # type: ignore[assignment]  # None: a fresh one, made by __post_init__
    poll: SyncPoll | AsyncPoll | None = field(default=None, repr=False)
    cancel: Callable[[str], Any] | None = field(default=None, repr=False)
    meter: Meter = field(default=NO_METER, repr=False)
    last_status: Status | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.name = parse_operation_name(self.name).name
        self.poll_interval = validate_seconds("poll_interval", self.poll_interval, zero_ok=False)
        self.end_time = _unix_seconds("end_time", self.end_time)
        self.cancel_on_kill = validate_flag("cancel_on_kill", self.cancel_on_kill)
        self.notification_subscription = validate_subscription(self.notification_subscription)
        self.cancel_rule = CancelRule(self.cancel_on_kill)
        if self.tally is None:
            self.tally = WaitTally(self.name)
        self.policy = PollingPolicy.for_interval(self.poll_interval)

    def __eq__(self, other: object) -> bool:  # equal: they cross into the triggerer the same
        return isinstance(other, OperationWait) and self.to_trigger_kwargs() == other.to_trigger_kwargs()

    # -- into and out of the triggerer ---------------------------------------------------------------
    def to_trigger_kwargs(self) -> dict[str, Any]:
        """JSON primitives only, as the trigger serializes them; a key this release added is left out at its
        default, so the row of an earlier release's trigger is written back unchanged."""
        return {
            "operation_name": self.name, "poll_interval": self.poll_interval, "end_time": self.end_time,
            "cancel_on_kill": self.cancel_on_kill, "wait_tally": self.tally.to_event(),
            **({"notification_subscription": self.notification_subscription} if self.notification_subscription else {}),
        }

    @classmethod
    def from_trigger_kwargs(cls, kwargs: Mapping[str, Any], meter: Meter = NO_METER) -> OperationWait:
        """The wait of a trigger's kwargs, validated (a bad value names itself and what was expected)."""
        tally = kwargs.get("wait_tally")
        if tally is not None and not isinstance(tally, dict):
            raise ValueError(f"Invalid wait_tally {tally!r}: expected a dict from WaitTally.to_event() or None.")
        name = kwargs["operation_name"]
        return cls(
            name=name, cancel_on_kill=kwargs.get("cancel_on_kill", False),
            **{key: kwargs.get(key) for key in ("end_time", "poll_interval", "notification_subscription")},
            tally=WaitTally.from_event(parse_operation_name(name).name, tally), meter=meter,
        )

    # -- the step ----------------------------------------------------------------------------------
    def remaining(self, now: float | None = None) -> float | None:
        """Seconds left before the deadline (never negative); None without one."""
        return None if self.end_time is None else max(self.end_time - (time.time() if now is None else now), 0.0)

    def step(self, outcome: Outcome, now: float | None = None) -> Step:
        """What next after a look: finish (done, or the deadline passed: TIMEOUT) or sleep and look again."""
        step = next_step(outcome, self.policy, self.tally.started, self.end_time, time.time() if now is None else now)
        if step.finished:
            self.last_status = step.outcome.status
        return step

    def _poll(self) -> Any:
        if self.poll is None:
            raise TypeError(f"The wait for {self.name} was handed no poll function.")
        return self.poll(self.name, self.remaining(), self)

    def look(self) -> Outcome:
        """One poll through the sync ``poll``, counted."""
        return self.observe(self._poll())

    async def alook(self) -> Outcome:
        """One poll through the async ``poll``, counted."""
        return self.observe(await self._poll())

    def run(self, log: Any, sleep: Callable[[float], None] = time.sleep) -> Outcome:
        """Look until done or past the deadline, in this thread (past the deadline it cancels the operation if
        asked to); the wait ends with its summary line."""
        while True:
            outcome = self.look()
            step = self.step(outcome)
            if step.sleep is None:
                if step.outcome.status is Status.TIMEOUT:
                    self.cancel_abandoned(log, "the deadline passed")
                log.info("%s", self.tally.summary(step.outcome))
                return step.outcome
            log_progress(log, outcome, self.tally)
            sleep(step.sleep)

    def look_or_hand_over(self, log: Any, hand_over: Callable[[OperationWait], Any]) -> Outcome:
        """One look: done, the wait ends here with its summary line; else the wait is handed over whole
        (``hand_over``: the task defers to the triggerer, which raises)."""
        outcome = self.look()
        if outcome.done:
            log.info("%s", self.tally.summary(outcome))
            return outcome
        log_progress(log, outcome, self.tally)
        hand_over(self)
        return outcome

    async def arun(self, log: Any, sleep: Callable[[float], Awaitable[None]]) -> Outcome:
        """As :meth:`run`, in an event loop; past the deadline it cancels the operation if asked to."""
        while True:
            outcome = await self.alook()
            step = self.step(outcome)
            if step.sleep is None:
                if step.outcome.status is Status.TIMEOUT:
                    await self.acancel_abandoned(log, "the deadline passed")
                return step.outcome
            log_progress(log, outcome, self.tally)
            await sleep(step.sleep)

    # -- counting (the hook reports through PollObserver; the meter gets the same counts) ----------------
    def observe(self, outcome: Outcome) -> Outcome:
        self.last_status = outcome.status
        self.meter.polled(outcome, self.tally.polled(outcome))
        return outcome

    def retried(self, code: str) -> None:
        self.tally.retried(code)
        self.meter.retried(code)

    def budget_waited(self, seconds: float) -> None:
        if self.tally.budget_waited(seconds):
            self.meter.budget_waited(seconds)

    def deferring(self, now: float | None = None) -> None:
        """The wait is handed to the triggerer now."""
        self.tally.deferred_at = time.time() if now is None else now

    def resumed(self, now: float | None = None) -> None:
        """The task resumed after the triggerer: how long it was deferred goes to the meter."""
        if self.tally.deferred_at is not None:
            self.meter.deferred((time.time() if now is None else now) - self.tally.deferred_at)

    # -- the cancel rule (CancelRule: once, only while the operation may still be running) ---------------
    def cancel_abandoned(self, log: Any, why: str) -> None:
        """Cancel through the sync ``cancel`` if the rule says so; a failed cancel is logged, not raised."""
        self.cancel_rule.cancel(log, self.name, self.last_status, self.cancel, why)

    async def acancel_abandoned(self, log: Any, why: str) -> None:
        """As :meth:`cancel_abandoned`, through the async ``cancel``."""
        await self.cancel_rule.acancel(log, self.name, self.last_status, self.cancel, why)


def _unix_seconds(arg: str, value: Any) -> float | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValueError(f"Invalid {arg} {value!r}: expected Unix seconds or None.")
    return None if value is None else float(value)


def finish_outcome(
    outcome: Outcome, response_fields: Any = None, max_xcom_bytes: int | None = None,
    expected_response_type: str | None = None,
) -> Finish:
    """The XComs of a success (cut to ``response_fields``, refused over ``max_xcom_bytes``), or the error.

    A success whose response is not of ``expected_response_type`` (its ``@type``: the type URL, or the bare message
    name) is a failure: the task waited on another kind of operation than its downstream tasks read.
    """
    if outcome.status is Status.TIMEOUT:
        return Finish(Ending.TIMEOUT, error=f"Timed out waiting: {outcome.describe_failure()}")
    if outcome.status is not Status.SUCCEEDED:
        return Finish(Ending.FAILED, error=outcome.describe_failure())
    expected = validate_response_type(expected_response_type)
    actual = (outcome.response or {}).get("@type")
    if expected is not None and actual != expected:
        return Finish(Ending.FAILED, error=(
            f"Operation {outcome.operation_name} succeeded, but its response is of @type {actual!r}, not the expected "
            f"{expected!r} (expected_response_type): is it the operation this task should wait for?"))
    try:
        return Finish(Ending.PUSH, values=xcoms_of(outcome, response_fields, max_xcom_bytes))
    except XComTooLargeError as exc:
        return Finish(Ending.TOO_LARGE, error=str(exc))
