"""Part 2: N concurrent triggers in one asyncio loop, as the triggerer runs them.

Run by ``run.py`` in a fresh process per N (so that RSS and CPU are this N's alone), with
``CONTACT_CENTER_INSIGHTS_EMULATOR_HOST`` pointing at an emulator in another process. Every trigger is an
asyncio task consuming ``ContactCenterInsightsOperationTrigger.run()`` until its single event, with a true
``poll_interval`` (30 s by default). Operations are created first (sync client, in a loop) with durations
spread uniformly over ``[lead, lead + spread]`` seconds, so none is due before every trigger has polled once.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import json
import math
import os
import sys
import time
from typing import Any

import grpc
import psutil
from google.cloud.contact_center_insights_v1 import ContactCenterInsightsClient
from google.cloud.contact_center_insights_v1.services.contact_center_insights.transports import (
    ContactCenterInsightsGrpcTransport,
)

from benchmarks.common import EMULATOR_HOST_ENV, PARENT, issue_model, median, percentile
from ccai_airflow.emulator import EmulatorControl
from ccai_airflow.hooks import ContactCenterInsightsAsyncHook
from ccai_airflow.hooks.shared_state import MAX_INFLIGHT_POLLS
from ccai_airflow.triggers import ContactCenterInsightsOperationTrigger

BUCKETS = 60
SENSOR_DEFAULT_TIMEOUT_S = 7 * 24 * 3600.0


class Probe:
    """Measurement only (the wrapped functions are called unchanged): counts ``grpc.aio.insecure_channel``
    calls, the distinct channel objects behind the clients the triggers' hooks got from ``get_conn``, and the
    polls that came back (so that "every trigger is running" means every first poll was answered).
    """

    def __init__(self) -> None:
        self.created = 0
        self.seen: set[int] = set()
        self.polls_done = 0

    def install(self) -> None:
        probe = self
        original_channel = grpc.aio.insecure_channel
        original_get_conn = ContactCenterInsightsAsyncHook.get_conn
        original_poll = ContactCenterInsightsAsyncHook.poll

        def insecure_channel(*args: Any, **kwargs: Any) -> Any:
            probe.created += 1
            return original_channel(*args, **kwargs)

        async def get_conn(hook: ContactCenterInsightsAsyncHook) -> Any:
            client = await original_get_conn(hook)
            probe.seen.add(id(client.transport.grpc_channel))
            return client

        async def poll(hook: ContactCenterInsightsAsyncHook, *args: Any, **kwargs: Any) -> Any:
            outcome = await original_poll(hook, *args, **kwargs)
            probe.polls_done += 1
            return outcome

        grpc.aio.insecure_channel = insecure_channel  # type: ignore[assignment]
        setattr(ContactCenterInsightsAsyncHook, "get_conn", get_conn)  # noqa: B010
        setattr(ContactCenterInsightsAsyncHook, "poll", poll)  # noqa: B010


def create_operations(target: str, controls: EmulatorControl, n: int, lead: float, spread: float) -> list[str]:
    channel = grpc.insecure_channel(target)
    client = ContactCenterInsightsClient(transport=ContactCenterInsightsGrpcTransport(channel=channel))
    names: list[str] = []
    model = issue_model("bench-scale")
    for bucket in range(BUCKETS):
        count = n // BUCKETS + (1 if bucket < n % BUCKETS else 0)
        controls.set_operation_seconds(lead + spread * (bucket + 0.5) / BUCKETS)
        for _ in range(count):
            names.append(client.create_issue_model(parent=PARENT, issue_model=model).operation.name)
    client.transport.close()
    return names


def _end_time(event: dict[str, Any]) -> float:
    text = event["operation"]["metadata"]["endTime"]
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def get_operation_calls(controls: EmulatorControl) -> int:
    return controls.call_counts().get("GetOperation", 0)


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def run_triggers(
    names: list[str], poll_interval: float, controls: EmulatorControl, emulator_pid: int
) -> dict[str, Any]:
    me = psutil.Process()
    emulator = psutil.Process(emulator_pid)
    probe = Probe()
    probe.install()
    # Warm up: the shared client (one channel) exists before the baseline, as in a running triggerer.
    await ContactCenterInsightsAsyncHook().poll(names[0])
    gc.collect()
    rss_before = me.memory_info().rss
    calls_before = get_operation_calls(controls)
    cpu_before, emu_cpu_before, started = cpu_seconds(me), cpu_seconds(emulator), time.monotonic()

    events: dict[int, tuple[float, dict[str, Any]]] = {}

    async def consume(index: int, trigger: ContactCenterInsightsOperationTrigger) -> None:
        async for event in trigger.run():
            events[index] = (time.time(), event.payload)

    # end_time as a sensor with the default timeout (7 days) gives its trigger: every poll bounds its retries.
    end_time = time.time() + SENSOR_DEFAULT_TIMEOUT_S
    tasks = [
        asyncio.create_task(consume(i, ContactCenterInsightsOperationTrigger(
            operation_name=name, poll_interval=poll_interval, end_time=end_time
        )))
        for i, name in enumerate(names)
    ]
    # "All running": every trigger has had its first poll answered.
    polls_before = probe.polls_done
    while probe.polls_done - polls_before < len(names):
        await asyncio.sleep(0.05)
    first_round_s = time.monotonic() - started
    gc.collect()
    rss_running = me.memory_info().rss
    events_at_rss = len(events)
    n = len(names)
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(me) - cpu_before
    emu_cpu = cpu_seconds(emulator) - emu_cpu_before
    calls = get_operation_calls(controls) - calls_before

    lags = [at - _end_time(payload) for at, payload in events.values() if payload["status"] == "succeeded"]
    statuses: dict[str, int] = {}
    errors: dict[str, int] = {}
    for _, payload in events.values():
        statuses[payload["status"]] = statuses.get(payload["status"], 0) + 1
        if payload["status"] != "succeeded":
            error = f"{payload['status']} {payload.get('error_code')}: {str(payload.get('error_message'))[:300]}"
            errors[error] = errors.get(error, 0) + 1
    return {
        "triggers_n": n,
        "max_inflight_polls": MAX_INFLIGHT_POLLS,
        "poll_interval_s": poll_interval,
        "events": len(events),
        "statuses": statuses,
        "errors": errors,
        "p50_detection_lag_s": median(lags),
        "p99_detection_lag_s": percentile(lags, 99),
        "max_detection_lag_s": max(lags, default=math.nan),
        "min_detection_lag_s": min(lags, default=math.nan),
        "rss_kb_per_trigger": (rss_running - rss_before) / 1024 / n,
        "rss_delta_mb": (rss_running - rss_before) / 2**20,
        "events_before_rss_sample": events_at_rss,
        "first_poll_round_s": first_round_s,
        "get_operation_calls": calls,
        "polls_per_trigger": calls / n,
        "cpu_s": cpu,
        "cpu_s_per_1k_polls": cpu / calls * 1000,
        "emulator_cpu_s": emu_cpu,
        "emulator_cpu_s_per_1k_polls": emu_cpu / calls * 1000,
        "wall_s": elapsed,
        "channels_opened": len(probe.seen),
        "insecure_channel_calls": probe.created,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--poll-interval", type=float, default=30.0)
    parser.add_argument("--lead", type=float, default=15.0)
    parser.add_argument("--spread", type=float, default=60.0)
    parser.add_argument("--rest-url", required=True)
    parser.add_argument("--emulator-pid", type=int, required=True)
    args = parser.parse_args(argv)
    with EmulatorControl(args.rest_url) as controls:
        created = time.monotonic()
        names = create_operations(os.environ[EMULATOR_HOST_ENV], controls, args.n, args.lead, args.spread)
        create_s = time.monotonic() - created
        if create_s > args.lead * 0.8:
            print(f"warning: creating {args.n} operations took {create_s:.1f} s, close to the lead {args.lead} s",
                  file=sys.stderr)
        result = asyncio.run(run_triggers(names, args.poll_interval, controls, args.emulator_pid))
    result.update({"create_s": create_s, "lead_s": args.lead, "spread_s": args.spread})
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
