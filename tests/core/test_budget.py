"""The per-project request budget: thousands of polls on one project stay under the quota."""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import pytest

from ccai_airflow.core.budget import (
    DEFAULT_REQUESTS_PER_SECOND,
    RequestBudget,
    budget_for,
    parse_rate,
    parse_triggerer_count,
    resolve_rate,
)
from ccai_airflow.emulator import Emulator
from ccai_airflow.emulator.faults import busiest_second
from ccai_airflow.hooks import ContactCenterInsightsAsyncHook, ContactCenterInsightsHook
from ccai_airflow.hooks.clients import Endpoint
from ccai_airflow.hooks.contact_center_insights import _triggerer_count as triggerer_count
from ccai_airflow.triggers import ContactCenterInsightsOperationTrigger
from tests.helpers import first_event, start_create


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
    assert emulator_env.quota_refusals("GetOperation") == 0
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
    assert emulator_env.quota_refusals("GetOperation") > 0


def test_sync_pokes_share_the_budget(emulator_env: Emulator) -> None:
    name = start_create()
    hook = ContactCenterInsightsHook(requests_per_second=5)
    before = len(emulator_env.call_times("GetOperation"))
    for _ in range(10):
        hook.get_operation(name)
    times = emulator_env.call_times("GetOperation")[before:]
    assert busiest_second(times) <= 5
    assert times[-1] - times[0] >= 9 * 1.05 / 5 - 0.05


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_budget_reserves_evenly_spaced_slots() -> None:
    clock = FakeClock()
    budget = RequestBudget(50, clock=clock)
    delays = [budget._reserve() for _ in range(20)]  # 20 callers at the same instant
    assert delays[0] == 0.0
    assert [round(b - a, 9) for a, b in itertools.pairwise(delays)] == [round(1.05 / 50, 9)] * 19
    clock.now += 10.0  # idle for a while: the next caller goes at once, no credit was saved up
    assert budget._reserve() == 0.0
    assert budget._reserve() == pytest.approx(1.05 / 50)
    assert budget_for("p", 50) is budget_for("p", 50)
    assert budget_for("p", 50) is not budget_for("q", 50)


def test_slots_that_came_due_during_a_stall_do_not_go_out_together() -> None:
    clock = FakeClock()
    budget = RequestBudget(20, clock=clock)
    assert (budget.capacity, budget.window) == (20, pytest.approx(1.05))
    for _ in range(60):  # 60 callers reserve slots 0 .. 3.1 s ahead ...
        budget._reserve()
    clock.now += 3.6  # ... and the event loop is blocked for 3.6 s: every slot came due
    admitted = [budget._admit() for _ in range(60)]
    assert admitted[:20] == [0.0] * 20  # one window's worth goes now
    assert all(wait > 0 for wait in admitted[20:])  # the rest waits for room
    assert budget.in_flight == 20
    clock.now += 0.5
    for _ in range(20):
        budget._end()  # the answers come back 0.5 s later
    assert budget._admit() == pytest.approx(1.05)  # counted until a window after their answers
    clock.now += 1.05
    assert budget._admit() == 0.0


def test_a_request_counts_from_its_start_until_a_window_after_its_answer() -> None:
    """The server saw the call somewhere in between: a late answer (a stalled loop) keeps it counted."""
    clock = FakeClock()
    budget = RequestBudget(1, clock=clock)
    assert budget._admit() == 0.0
    clock.now += 5.0  # no answer yet: no second request, however long it takes
    assert budget._admit() > 0
    budget._end()
    clock.now += 1.0
    assert budget._admit() == pytest.approx(0.05)
    clock.now += 0.05
    assert budget._admit() == 0.0


async def test_the_async_and_sync_requests_share_one_budget() -> None:
    budget = RequestBudget(1000)
    async with budget.arequest():
        assert budget.in_flight == 1
        with budget.request():
            assert budget.in_flight == 2
    assert budget.in_flight == 0
    with pytest.raises(RuntimeError), budget.request():
        raise RuntimeError("the call failed")
    assert (budget.in_flight, len(budget._ended)) == (0, 3)  # a failed call ended too


@pytest.mark.parametrize(("rate", "capacity", "window"), [(2.5, 2, 1.05), (0.5, 1, 2.1), (50, 50, 1.05)])
def test_the_window_is_never_shorter_than_a_second_nor_over_the_rate(rate: float, capacity: int, window: float) -> None:
    budget = RequestBudget(rate, clock=FakeClock())
    assert (budget.capacity, budget.window) == (capacity, pytest.approx(window))
    assert budget.capacity / budget.window <= rate


def test_rate_settings_are_resolved_and_validated() -> None:
    assert Endpoint("grpc", None, None).default_rate == 10.0  # a fifth of 3,000/minute
    assert Endpoint("grpc", None, "127.0.0.1:1").default_rate is None  # the emulator has no quota
    assert resolve_rate(None, None, "c", default=DEFAULT_REQUESTS_PER_SECOND) == 10.0
    assert resolve_rate(None, None, "c", default=None) is None
    assert resolve_rate(None, "20", "c", default=DEFAULT_REQUESTS_PER_SECOND) == 20.0
    assert resolve_rate(7.0, "20", "c", default=DEFAULT_REQUESTS_PER_SECOND) == 7.0
    assert parse_rate("", "x") is None
    for bad in ("fast", 0, -1, True):
        with pytest.raises(ValueError, match=f"Invalid requests_per_second {bad!r}"):
            parse_rate(bad, "connection 'c'")
    with pytest.raises(ValueError, match="Invalid requests_per_second 0"):
        ContactCenterInsightsAsyncHook(requests_per_second=0)


def test_each_of_n_triggerers_paces_at_its_share_of_the_budget() -> None:
    assert resolve_rate(None, "20", "c", default=None, share=2) == 10.0
    assert resolve_rate(9.0, None, "c", default=None, share=3) == 3.0
    assert resolve_rate(None, None, "c", default=DEFAULT_REQUESTS_PER_SECOND, share=4) == 2.5
    assert resolve_rate(None, None, "c", default=None, share=2) is None  # no budget stays no budget
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="Invalid share"):
            resolve_rate(None, "20", "c", default=None, share=bad)  # type: ignore[arg-type]


def test_the_triggerer_count_setting_is_read_from_airflow_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW__CCAI__TRIGGERER_COUNT", raising=False)
    assert triggerer_count() == 1
    monkeypatch.setenv("AIRFLOW__CCAI__TRIGGERER_COUNT", "3")
    assert triggerer_count() == 3
    assert parse_triggerer_count(None) == parse_triggerer_count("") == 1
    assert parse_triggerer_count(2) == 2
    for bad in ("two", "0", 0, -2, True, 1.5):
        with pytest.raises(ValueError, match=r"Invalid \[ccai\] triggerer_count"):
            parse_triggerer_count(bad)


async def test_the_async_hook_takes_its_triggerers_share_of_the_connections_budget(
    emulator_env: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two triggerers, a budget of 20/s on the connection: each triggerer's triggers pace at 10/s."""
    connection = {"conn_type": "google_cloud_platform", "extra": {"requests_per_second": "20"}}
    monkeypatch.setenv("AIRFLOW_CONN_CCAI_SHARED", json.dumps(connection))
    monkeypatch.setenv("AIRFLOW__CCAI__TRIGGERER_COUNT", "2")
    budget = await ContactCenterInsightsAsyncHook(gcp_conn_id="ccai_shared").request_budget("p")
    assert budget is not None and budget.rate == 10.0
    sync_budget = ContactCenterInsightsHook(gcp_conn_id="ccai_shared").request_budget("p")
    assert sync_budget is not None and sync_budget.rate == 20.0  # a worker's pokes are not the triggerers'
