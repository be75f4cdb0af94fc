"""Part 6: N concurrent triggers on one project under a 20 requests/s budget, against a 20/s quota.

Run by ``run.py`` in its own process with ``AIRFLOW_CONN_BENCH_BUDGET`` set to a Google Cloud connection
whose extra is ``{"requests_per_second": "20"}``; every trigger uses ``gcp_conn_id="bench_budget"``. The
emulator answers RESOURCE_EXHAUSTED past 20 GetOperation calls in any second. Operations are created with
``operation_seconds=0`` (done at the first look), so each trigger needs one successful poll: the run is as
long as N polls take at the budget's pace.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import time
from typing import Any

import grpc
from google.cloud.contact_center_insights_v1 import ContactCenterInsightsClient
from google.cloud.contact_center_insights_v1.services.contact_center_insights.transports import (
    ContactCenterInsightsGrpcTransport,
)

from benchmarks.common import EMULATOR_HOST_ENV, PARENT, issue_model
from ccai_airflow.emulator import EmulatorControl
from ccai_airflow.hooks import ContactCenterInsightsAsyncHook
from ccai_airflow.triggers import ContactCenterInsightsOperationTrigger

CONN_ID = "bench_budget"


def windows(times: list[float], window: float = 1.0) -> list[tuple[float, int]]:
    """For each call, the calls in the half-open window ``[t, t + window)`` starting at it (sliding windows)."""
    ordered = sorted(times)
    counts, j = [], 0
    for i, start in enumerate(ordered):
        while j < len(ordered) and ordered[j] - start < window:
            j += 1
        counts.append((start, j - i))
    return counts


class LoopWatch:
    """How late the event loop ran a 10 ms timer, and how long the garbage collector paused it."""

    def __init__(self) -> None:
        self.late: list[tuple[float, float]] = []  # (when, seconds late) for lateness over 50 ms
        self.gc_pauses: list[tuple[float, float, int]] = []  # (when, seconds, generation) over 20 ms
        self._gc_started = 0.0

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.monotonic()
        elif (pause := time.monotonic() - self._gc_started) > 0.02:
            self.gc_pauses.append((self._gc_started, pause, int(info.get("generation", -1))))

    async def watch(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.01)
            late = time.monotonic() - before - 0.01
            if late > 0.05:
                self.late.append((before, late))


async def run_triggers(names: list[str]) -> dict[str, Any]:
    successes = 0
    original = ContactCenterInsightsAsyncHook.get_operation

    async def counted(hook: ContactCenterInsightsAsyncHook, *args: Any, **kwargs: Any) -> Any:  # measurement only
        nonlocal successes
        operation = await original(hook, *args, **kwargs)
        successes += 1
        return operation

    setattr(ContactCenterInsightsAsyncHook, "get_operation", counted)  # noqa: B010
    statuses: dict[str, int] = {}

    async def consume(trigger: ContactCenterInsightsOperationTrigger) -> None:
        async for event in trigger.run():
            status = event.payload["status"]
            statuses[status] = statuses.get(status, 0) + 1

    watch = LoopWatch()
    gc.callbacks.append(watch.on_gc)
    watcher = asyncio.create_task(watch.watch())
    started = time.monotonic()
    end_time = time.time() + 7 * 24 * 3600.0  # as a sensor with the default timeout defers
    await asyncio.gather(*(
        consume(ContactCenterInsightsOperationTrigger(
            operation_name=name, poll_interval=30, gcp_conn_id=CONN_ID, end_time=end_time
        ))
        for name in names
    ))
    wall = time.monotonic() - started
    watcher.cancel()
    gc.callbacks.remove(watch.on_gc)
    return {"wall_s": wall, "statuses": statuses, "successful_polls": successes, "started_at": started,
            "loop_late": watch.late, "gc_pauses": watch.gc_pauses}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--rest-url", required=True)
    args = parser.parse_args(argv)
    client = ContactCenterInsightsClient(
        transport=ContactCenterInsightsGrpcTransport(channel=grpc.insecure_channel(os.environ[EMULATOR_HOST_ENV]))
    )
    with EmulatorControl(args.rest_url) as controls:
        controls.set_operation_seconds(0)
        model = issue_model("bench-budget")
        names = [client.create_issue_model(parent=PARENT, issue_model=model).operation.name for _ in range(args.n)]
        client.transport.close()
        calls_before = len(controls.call_times("GetOperation"))
        result = asyncio.run(run_triggers(names))
        times = controls.call_times("GetOperation")[calls_before:]
    calls = len(times)
    counts = windows(times)
    started = result.pop("started_at")
    over = [(round(at - started, 3), n) for at, n in counts if n > 20]
    late, pauses = result.pop("loop_late"), result.pop("gc_pauses")
    result.update({
        "windows_over_20": len(over),
        "first_windows_over_20": over[:10],
        "loop_late_over_50ms": [(round(at - started, 3), round(s, 3)) for at, s in late][:20],
        "max_loop_late_s": max((s for _, s in late), default=0.0),
        "gc_pauses_over_20ms": [(round(at - started, 3), round(s, 3), g) for at, s, g in pauses][:20],
        "triggers_n": args.n,
        "get_operation_calls": calls,
        "resource_exhausted": calls - result["successful_polls"],
        "max_calls_in_any_1s_window": max((n for _, n in counts), default=0),
        "achieved_rate_per_s": (calls - 1) / (max(times) - min(times)) if calls > 1 else 0.0,
        "all_completed": result["statuses"] == {"succeeded": args.n},
    })
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
