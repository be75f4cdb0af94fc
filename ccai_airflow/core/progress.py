"""What one wait has cost and shown: polls, transient retries by code, time spent waiting for the request
budget, and the progress line. No Airflow import.

A wait logs one line when the operation's progress counters change (and at its first look), not one line
per poll: an operation polled every few seconds for hours would otherwise fill the task log with the same
line. When the wait ends, :meth:`WaitTally.summary` is the one line that says what it cost.

The trigger carries its tally in its event (``WaitTally.to_event``), so the worker that resumes the task
logs the summary of the whole wait, the polls made in the triggerer included.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ccai_airflow.core.outcome import Outcome, Status

__all__ = ["MIN_BUDGET_WAIT_S", "WaitTally", "log_progress"]

# Shorter budget waits than this are the pacing's rounding, not a wait worth counting.
MIN_BUDGET_WAIT_S = 0.001


@dataclass
class WaitTally:
    """The counters of one wait for one operation. ``started`` is Unix seconds."""

    operation_name: str
    started: float = field(default_factory=time.time)
    polls: int = 0
    retries: dict[str, int] = field(default_factory=dict)
    budget_wait_s: float = 0.0
    deferred_at: float | None = None
    seen_done: bool = False
    _shown: tuple[tuple[str, str], ...] | None = None

    def retried(self, code: str) -> None:
        self.retries[code] = self.retries.get(code, 0) + 1

    def polled(self, outcome: Outcome) -> bool:
        """Count one look; True when it is the first that found the operation done (a TIMEOUT is not done)."""
        self.polls += 1
        first_done = outcome.done and outcome.status is not Status.TIMEOUT and not self.seen_done
        self.seen_done = self.seen_done or first_done
        return first_done

    def budget_waited(self, seconds: float) -> bool:
        """Count time a request waited for the budget; False (not counted) for the pacing's rounding."""
        if seconds < MIN_BUDGET_WAIT_S:
            return False
        self.budget_wait_s += seconds
        return True

    def progress_changed(self, outcome: Outcome) -> bool:
        """Whether this running outcome's counters differ from the last ones logged (True at the first look)."""
        shown = tuple(sorted(outcome.progress().items()))
        if shown == self._shown:
            return False
        self._shown = shown
        return True

    def summary(self, outcome: Outcome, now: float | None = None) -> str:
        """One line for the end of the wait: how it ended, how long it took, what it cost."""
        seconds = max((time.time() if now is None else now) - self.started, 0.0)
        retried = sum(self.retries.values())
        codes = ", ".join(f"{code} x{count}" for code, count in sorted(self.retries.items()))
        text = (f"Operation {self.operation_name} {outcome.status.value} after {seconds:.1f} s of waiting: "
                f"{self.polls} poll{'' if self.polls == 1 else 's'}, {retried} transient "
                f"retr{'y' if retried == 1 else 'ies'}{f' ({codes})' if codes else ''}")
        if self.budget_wait_s >= 0.05:
            text += f", {self.budget_wait_s:.1f} s waiting for the request budget"
        return text + "."

    def to_event(self) -> dict[str, Any]:
        """JSON primitives only, for a trigger's kwargs and its event."""
        return {
            "started": self.started, "polls": self.polls, "retries": dict(self.retries),
            "budget_wait_s": self.budget_wait_s, "deferred_at": self.deferred_at,
        }

    @classmethod
    def from_event(cls, operation_name: str, value: Any) -> WaitTally:
        """The tally a trigger carried (kwargs or event); a fresh one when there is none or it is malformed."""
        if not isinstance(value, dict):
            return cls(operation_name)
        retries = value.get("retries")
        return cls(
            operation_name,
            started=_number(value.get("started"), time.time()),
            polls=int(_number(value.get("polls"), 0)),
            retries={str(k): int(v) for k, v in retries.items() if isinstance(v, int)}
            if isinstance(retries, dict) else {},
            budget_wait_s=_number(value.get("budget_wait_s"), 0.0),
            deferred_at=_number(value.get("deferred_at"), None),
        )


def _number(value: Any, default: Any) -> Any:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def log_progress(log: Any, outcome: Outcome, tally: WaitTally) -> None:
    """After a poll of a running operation: a line when its progress counters changed, else nothing.

    A poll whose transient errors outlasted its retries is a warning every time: it is rare and worth seeing.
    """
    if outcome.error_code:
        log.warning("Operation %s: transient %s, will poll again: %s",
                    outcome.operation_name, outcome.error_code, outcome.error_message)
        return
    if not tally.progress_changed(outcome):
        return
    elapsed = outcome.elapsed_seconds()
    progress = ", ".join(f"{k}={v}" for k, v in outcome.progress().items()) or "no progress counters"
    log.info("Operation %s running; elapsed %s; %s", outcome.operation_name,
             "unknown" if elapsed is None else f"{elapsed:.0f}s", progress)
