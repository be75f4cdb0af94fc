"""The adaptive polling policy: delays, bounds, and the detection lag it promises."""

from __future__ import annotations

import pytest

from ccai_airflow.core.outcome import Outcome, Status
from ccai_airflow.core.polling import DEFAULT_POLLING, PollingPolicy, timed_out

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md).
pytestmark = pytest.mark.airflow_independent


def simulate(policy: PollingPolicy, duration: float) -> tuple[int, float]:
    """Poll an operation that is done after ``duration`` s: (number of polls, detection lag)."""
    now, polls = 0.0, 0
    while True:
        polls += 1
        if now >= duration:
            return polls, now - duration
        now += policy.delay(now)


def test_delay_is_a_tenth_of_the_age_within_bounds() -> None:
    assert DEFAULT_POLLING.delay(None) == 2.0
    assert DEFAULT_POLLING.delay(5) == 2.0
    assert DEFAULT_POLLING.delay(300) == 30.0
    assert DEFAULT_POLLING.delay(3 * 3600) == 600.0
    assert DEFAULT_POLLING.delay(-10) == 2.0


def test_fixed_policy_ignores_age() -> None:
    policy = PollingPolicy.fixed(15)
    assert [policy.delay(age) for age in (0, 100, 10_000)] == [15, 15, 15]
    assert PollingPolicy.for_interval(None) is DEFAULT_POLLING
    assert PollingPolicy.for_interval(7) == PollingPolicy.fixed(7)


@pytest.mark.parametrize("duration", [1, 10, 60, 600, 3600, 3 * 3600, 24 * 3600])
def test_detection_lag_is_bounded(duration: float) -> None:
    _, lag = simulate(DEFAULT_POLLING, duration)
    assert lag <= max(2.0, 0.1 * duration) + 1e-9


def test_three_hour_job_needs_a_fifth_of_the_api_core_default_calls() -> None:
    api_core_default = sum(1 for _ in _api_core_polls(3 * 3600))
    ours, _ = simulate(DEFAULT_POLLING, 3 * 3600)
    assert ours * 5 <= api_core_default, (ours, api_core_default)


def _api_core_polls(duration: float) -> list[float]:
    """google-api-core's DEFAULT_POLLING: 1 s, x1.5, at most 20 s."""
    now, delay, times = 0.0, 1.0, [0.0]
    while now < duration:
        now += delay
        delay = min(delay * 1.5, 20.0)
        times.append(now)
    return times


@pytest.mark.parametrize(
    ("kwargs", "shown"),
    [({"initial": 0}, "initial 0"), ({"maximum": -1}, "maximum -1"), ({"fraction": 2}, "fraction 2"),
     ({"initial": 10, "maximum": 5}, "maximum 5"), ({"initial": "2"}, "initial '2'")],
)
def test_bad_policies_are_named(kwargs: dict[str, object], shown: str) -> None:
    with pytest.raises(ValueError, match=shown):
        PollingPolicy(**kwargs)  # type: ignore[arg-type]


def test_a_timeout_says_what_the_last_polls_retries_ran_out_on() -> None:
    name = "projects/p/locations/l/operations/1"
    never_reached = Outcome(Status.RUNNING, name, None, error_code="UNAVAILABLE",
                            error_message="503 The emulator named by ... is unreachable")
    running = Outcome(Status.RUNNING, name, {"name": name, "done": False})

    assert timed_out(never_reached, 10.0).error_message == (
        "Operation not done by the deadline (end_time=10.0). The last poll's retries ran out on UNAVAILABLE: "
        "503 The emulator named by ... is unreachable")
    assert timed_out(running, 10.0).error_message == "Operation not done by the deadline (end_time=10.0)."
    assert timed_out(running, 10.0).operation == running.operation
