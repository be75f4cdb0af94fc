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

from ccai_airflow.core.cancelling import cancel_logged
from ccai_airflow.core.names import parse_operation_name, validate_flag, validate_seconds
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

# Shorter budget waits than this are the pacing's rounding, not a wait worth counting.
MIN_BUDGET_WAIT_S = 0.001


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
    """The wait for operation ``name``: until ``end_time`` (Unix seconds; None: none), polling every
    ``poll_interval`` seconds (None: the adaptive ``DEFAULT_POLLING``).

    ``poll(name, retry_timeout, observer)`` and ``cancel(name)`` are the hook's; they are not part of the
    wait's value (equality and the trigger kwargs), so a wait rebuilt in the triggerer is handed the async
    ones. ``meter`` receives the counts (``NO_METER``: none).
    """

    name: str
    end_time: float | None = None
    poll_interval: float | None = None
    cancel_on_kill: bool = False
    tally: WaitTally | None = None
    poll: SyncPoll | AsyncPoll | None = field(default=None, repr=False)
    cancel: Callable[[str], Any] | None = field(default=None, repr=False)
    meter: Meter = field(default=NO_METER, repr=False)
    last_status: Status | None = field(default=None, repr=False)
    _cancel_requested: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        self.name = parse_operation_name(self.name).name
        self.poll_interval = validate_seconds("poll_interval", self.poll_interval, zero_ok=False)
        if self.end_time is not None and (
            isinstance(self.end_time, bool) or not isinstance(self.end_time, int | float)
        ):
            raise ValueError(f"Invalid end_time {self.end_time!r}: expected Unix seconds or None.")
        self.end_time = None if self.end_time is None else float(self.end_time)
        self.cancel_on_kill = validate_flag("cancel_on_kill", self.cancel_on_kill)
        if self.tally is None:
            self.tally = WaitTally(self.name)
        self.policy = PollingPolicy.for_interval(self.poll_interval)

    @property
    def counts(self) -> WaitTally:
        assert self.tally is not None  # set by __post_init__
        return self.tally

    def __eq__(self, other: object) -> bool:
        """Two waits are equal when they cross into the triggerer the same."""
        return isinstance(other, OperationWait) and self.to_trigger_kwargs() == other.to_trigger_kwargs()

    __hash__ = None  # type: ignore[assignment]  # mutable: the tally counts on

    # -- into and out of the triggerer ---------------------------------------------------------------
    def to_trigger_kwargs(self) -> dict[str, Any]:
        """JSON primitives only, as the trigger serializes them."""
        return {
            "operation_name": self.name,
            "poll_interval": self.poll_interval,
            "end_time": self.end_time,
            "cancel_on_kill": self.cancel_on_kill,
            "wait_tally": self.counts.to_event(),
        }

    @classmethod
    def from_trigger_kwargs(cls, kwargs: Mapping[str, Any], meter: Meter = NO_METER) -> OperationWait:
        """The wait of a trigger's kwargs, validated (a bad value names itself and what was expected)."""
        tally = kwargs.get("wait_tally")
        if tally is not None and not isinstance(tally, dict):
            raise ValueError(f"Invalid wait_tally {tally!r}: expected a dict from WaitTally.to_event() or None.")
        name = kwargs["operation_name"]
        return cls(
            name=name, end_time=kwargs.get("end_time"), poll_interval=kwargs.get("poll_interval"),
            cancel_on_kill=kwargs.get("cancel_on_kill", False),
            tally=WaitTally.from_event(parse_operation_name(name).name, tally) if tally is not None else None,
            meter=meter,
        )

    # -- the step ----------------------------------------------------------------------------------
    def remaining(self, now: float | None = None) -> float | None:
        """Seconds left before the deadline (never negative); None without one."""
        return None if self.end_time is None else max(self.end_time - (time.time() if now is None else now), 0.0)

    def step(self, outcome: Outcome, now: float | None = None) -> Step:
        """What next after a look: finish (done, or the deadline passed: TIMEOUT) or sleep and look again."""
        step = next_step(outcome, self.policy, self.counts.started, self.end_time, time.time() if now is None else now)
        if step.finished:
            self.last_status = step.outcome.status
        return step

    def look(self) -> Outcome:
        """One poll through the sync ``poll``, counted."""
        if self.poll is None:
            raise TypeError(f"The wait for {self.name} was handed no poll function.")
        return self.observe(self.poll(self.name, self.remaining(), self))  # type: ignore[arg-type]

    async def alook(self) -> Outcome:
        """One poll through the async ``poll``, counted."""
        if self.poll is None:
            raise TypeError(f"The wait for {self.name} was handed no poll function.")
        return self.observe(await self.poll(self.name, self.remaining(), self))  # type: ignore[misc]

    def run(self, log: Any, sleep: Callable[[float], None] = time.sleep) -> Outcome:
        """Look until done or past the deadline, in this thread; past the deadline it cancels the operation
        if asked to."""
        while True:
            outcome = self.look()
            step = self.step(outcome)
            if step.sleep is None:
                if step.outcome.status is Status.TIMEOUT:
                    self.cancel_abandoned(log, "the deadline passed")
                return step.outcome
            log_progress(log, outcome, self.counts)
            sleep(step.sleep)

    async def arun(self, log: Any, sleep: Callable[[float], Awaitable[None]]) -> Outcome:
        """As :meth:`run`, in an event loop; past the deadline it cancels the operation if asked to."""
        while True:
            outcome = await self.alook()
            step = self.step(outcome)
            if step.sleep is None:
                if step.outcome.status is Status.TIMEOUT:
                    await self.acancel_abandoned(log, "the deadline passed")
                return step.outcome
            log_progress(log, outcome, self.counts)
            await sleep(step.sleep)

    # -- counting (the hook reports through PollObserver; the meter gets the same counts) ----------------
    def observe(self, outcome: Outcome) -> Outcome:
        tally = self.counts
        tally.polls += 1
        first_done = outcome.done and outcome.status is not Status.TIMEOUT and not tally.seen_done
        if first_done:
            tally.seen_done = True
        self.last_status = outcome.status
        self.meter.polled(outcome, first_done)
        return outcome

    def retried(self, code: str) -> None:
        self.counts.retried(code)
        self.meter.retried(code)

    def budget_waited(self, seconds: float) -> None:
        if seconds < MIN_BUDGET_WAIT_S:
            return
        self.counts.budget_wait_s += seconds
        self.meter.budget_waited(seconds)

    def deferring(self, now: float | None = None) -> None:
        """The wait is handed to the triggerer now."""
        self.counts.deferred_at = time.time() if now is None else now

    def resumed(self, now: float | None = None) -> None:
        """The task resumed after the triggerer: how long it was deferred goes to the meter."""
        if self.counts.deferred_at is not None:
            self.meter.deferred((time.time() if now is None else now) - self.counts.deferred_at)

    def summary(self, outcome: Outcome) -> str:
        """The one line that ends every wait, in whichever mode it waited."""
        self.last_status = outcome.status
        return self.counts.summary(outcome)

    # -- the cancel rule ---------------------------------------------------------------------------
    def should_cancel(self) -> bool:
        """With ``cancel_on_kill``, once, and only while the operation may still be running."""
        return (self.cancel_on_kill and not self._cancel_requested
                and self.last_status in (None, Status.RUNNING, Status.TIMEOUT))

    def cancel_abandoned(self, log: Any, why: str) -> None:
        """Cancel through the sync ``cancel`` if the rule says so; a failed cancel is logged, not raised."""
        if self.cancel is None or not self.should_cancel():
            return
        self._cancel_requested = True
        with cancel_logged(log, self.name, why):
            self.cancel(self.name)

    async def acancel_abandoned(self, log: Any, why: str) -> None:
        """As :meth:`cancel_abandoned`, through the async ``cancel``."""
        if self.cancel is None or not self.should_cancel():
            return
        self._cancel_requested = True
        with cancel_logged(log, self.name, why):
            await self.cancel(self.name)

    # -- the finish --------------------------------------------------------------------------------
    def finish(self, outcome: Outcome, response_fields: Any = None, max_xcom_bytes: int | None = None) -> Finish:
        """How this wait ends the task (see :func:`finish_outcome`)."""
        self.last_status = outcome.status
        return finish_outcome(outcome, response_fields, max_xcom_bytes)


def finish_outcome(outcome: Outcome, response_fields: Any = None, max_xcom_bytes: int | None = None) -> Finish:
    """The XComs of a success (cut to ``response_fields``, refused over ``max_xcom_bytes``), or the error."""
    if outcome.status is Status.TIMEOUT:
        return Finish(Ending.TIMEOUT, error=f"Timed out waiting: {outcome.describe_failure()}")
    if outcome.status is not Status.SUCCEEDED:
        return Finish(Ending.FAILED, error=outcome.describe_failure())
    try:
        return Finish(Ending.PUSH, values=xcoms_of(outcome, response_fields, max_xcom_bytes))
    except XComTooLargeError as exc:
        return Finish(Ending.TOO_LARGE, error=str(exc))
