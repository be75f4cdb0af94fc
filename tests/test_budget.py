"""The per-project request budget: thousands of polls on one project stay under the quota."""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import pytest

from ccai_airflow.budget import RequestBudget, budget_for, parse_rate
from ccai_airflow.emulator import Emulator
from ccai_airflow.hooks import ContactCenterInsightsAsyncHook, ContactCenterInsightsHook, resolve_rate
from ccai_airflow.triggers import ContactCenterInsightsOperationTrigger
from tests.test_trigger import first_event, start_create


def busiest_second(times: list[float]) -> int:
    """The most calls in any one-second window [t, t + 1)."""
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_many_triggers_on_one_project_stay_within_the_budget(
    emulator_env: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = {"conn_type": "google_cloud_platform", "extra": {"requests_per_second": "20"}}
    monkeypatch.setenv("AIRFLOW_CONN_CCAI_BUDGET", json.dumps(connection))
    emulator_env.set_quota("GetOperation", per_second=20)  # what the real API would enforce
    names = [start_create() for _ in range(150)]
    started = time.monotonic()

    events = await asyncio.gather(*(
        first_event(ContactCenterInsightsOperationTrigger(operation_name=n, gcp_conn_id="ccai_budget"), timeout=120)
        for n in names
    ))

    assert [e["status"] for e in events] == ["succeeded"] * len(names)
    times = emulator_env.call_times("GetOperation")
    assert busiest_second(times) <= 20, busiest_second(times)
    # No call was refused: every one of them was a successful poll.
    assert emulator_env.call_counts()["GetOperation"] == len(times)
    assert len(times) >= len(names)
    assert time.monotonic() - started >= (len(times) - 20) / 20


async def test_without_a_budget_the_quota_is_hit_and_retried(emulator_env: Emulator) -> None:
    """The contrast: no budget, same quota -> RESOURCE_EXHAUSTED answers (retried, still succeeding)."""
    emulator_env.set_quota("GetOperation", per_second=20)
    names = [start_create() for _ in range(60)]
    events = await asyncio.gather(*(
        first_event(ContactCenterInsightsOperationTrigger(operation_name=n), timeout=120) for n in names
    ))
    assert {e["status"] for e in events} == {"succeeded"}
    assert busiest_second(emulator_env.call_times("GetOperation")) > 20


def test_sync_pokes_share_the_budget(emulator_env: Emulator) -> None:
    name = start_create()
    hook = ContactCenterInsightsHook(requests_per_second=5)
    before = len(emulator_env.call_times("GetOperation"))
    for _ in range(10):
        hook.get_operation(name)
    times = emulator_env.call_times("GetOperation")[before:]
    assert busiest_second(times) <= 5
    assert times[-1] - times[0] >= 9 * 1.05 / 5 - 0.05


def test_budget_spaces_calls_evenly() -> None:
    budget = RequestBudget(50)
    stamps = []
    for _ in range(20):
        budget.wait()
        stamps.append(time.monotonic())
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert min(gaps) >= 1.05 / 50 - 0.002
    assert budget_for("p", 50) is budget_for("p", 50)
    assert budget_for("p", 50) is not budget_for("q", 50)


def test_rate_settings_are_resolved_and_validated() -> None:
    assert resolve_rate(None, None, "c", emulator=None) == 10.0  # a fifth of 3,000/minute
    assert resolve_rate(None, None, "c", emulator="127.0.0.1:1") is None
    assert resolve_rate(None, "20", "c", emulator=None) == 20.0
    assert resolve_rate(7.0, "20", "c", emulator=None) == 7.0
    assert parse_rate("", "x") is None
    for bad in ("fast", 0, -1, True):
        with pytest.raises(ValueError, match=f"Invalid requests_per_second {bad!r}"):
            parse_rate(bad, "connection 'c'")
    with pytest.raises(ValueError, match="Invalid requests_per_second 0"):
        ContactCenterInsightsAsyncHook(requests_per_second=0)
