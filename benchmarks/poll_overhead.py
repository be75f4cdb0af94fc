"""Part 1: one trigger poll cycle (our async hook + outcome) against a bare async client call.

Run by ``run.py`` in its own process with ``CONTACT_CENTER_INSIGHTS_EMULATOR_HOST`` set. The arms are
interleaved (A B C, then C B A, in alternate rounds) on one event loop against the same operation, so
that noise on this shared 2-core machine hits them alike; ratios are of the medians. ``ours`` is the
trigger's poll as it runs (its ``OperationWait``'s look through the async hook, counted and reported to
Stats) between two looks at an unchanged operation (the hook remembers the last running outcome and does
not decode the same bytes again); ``ours_changed`` forgets that outcome before every poll, as when the
operation's metadata changed since the last look (progress counters of a bulk analysis).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import time
import timeit
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import grpc
from google.cloud.contact_center_insights_v1 import ContactCenterInsightsAsyncClient, ContactCenterInsightsClient
from google.cloud.contact_center_insights_v1.services.contact_center_insights.transports import (
    ContactCenterInsightsGrpcAsyncIOTransport,
    ContactCenterInsightsGrpcTransport,
)

from benchmarks.common import EMULATOR_HOST_ENV, PARENT, issue_model, median
from ccai_airflow import metrics
from ccai_airflow.core.names import parse_operation_name
from ccai_airflow.core.outcome import Status, outcome_of
from ccai_airflow.core.wait import OperationWait
from ccai_airflow.emulator import EmulatorControl
from ccai_airflow.hooks import ContactCenterInsightsAsyncHook

Call = Callable[[], Awaitable[Any]]


async def interleaved(calls: Mapping[str, Call], rounds: int, warmup: int) -> dict[str, list[float]]:
    """Each round calls every arm once, in the listed order on even rounds and reversed on odd ones."""
    labels = list(calls)
    for _ in range(warmup):
        for label in labels:
            await calls[label]()
    times: dict[str, list[float]] = {label: [] for label in labels}
    clock = time.perf_counter
    gc.collect()
    for index in range(rounds):
        for label in labels if index % 2 == 0 else labels[::-1]:
            call = calls[label]
            start = clock()
            await call()
            times[label].append(clock() - start)
    return times


async def measure(name: str, rounds: int, warmup: int, target: str) -> dict[str, Any]:
    hook = ContactCenterInsightsAsyncHook()
    changed = ContactCenterInsightsAsyncHook()
    bare = ContactCenterInsightsAsyncClient(
        transport=ContactCenterInsightsGrpcAsyncIOTransport(channel=grpc.aio.insecure_channel(target))
    )

    # As the trigger polls: through its OperationWait, which counts each look and reports it to Airflow's Stats.
    wait = OperationWait(name, poll=hook.poll, meter=metrics)
    changed_wait = OperationWait(name, poll=changed.poll, meter=metrics)

    async def ours() -> Any:
        return await wait.alook()

    async def ours_changed() -> Any:
        changed._last_running = None
        return await changed_wait.alook()

    async def baseline() -> Any:
        return await bare.get_operation(request={"name": name})

    arms = {"ours": ours, "bare": baseline, "ours_changed": ours_changed}
    times = await interleaved(arms, rounds, warmup)
    outcome = await hook.poll(name)
    if (await ours_changed()).to_event() != outcome.to_event():
        raise AssertionError("the outcome of a fresh decoding differs from the remembered one")
    await bare.transport.close()
    ours_s, bare_s, changed_s = (median(times[label]) for label in ("ours", "bare", "ours_changed"))
    return {
        "status": outcome.status.value,
        "ours_median_us": ours_s * 1e6,
        "bare_median_us": bare_s * 1e6,
        "ratio": ours_s / bare_s,
        "changed_median_us": changed_s * 1e6,
        "changed_ratio": changed_s / bare_s,
        "rounds": rounds,
        "outcome": outcome,
    }


def in_process_costs(operation: Any) -> dict[str, float]:
    """What our poll adds on top of the RPC, per call, without any network (microseconds)."""
    n = 3000
    name = operation.name
    return {
        "outcome_of_us": timeit.timeit(lambda: outcome_of(operation), number=n) / n * 1e6,
        "parse_operation_name_us": timeit.timeit(lambda: parse_operation_name(name), number=n) / n * 1e6,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--rest-url", required=True)
    args = parser.parse_args(argv)
    target = os.environ[EMULATOR_HOST_ENV]

    channel = grpc.insecure_channel(target)
    sync = ContactCenterInsightsClient(transport=ContactCenterInsightsGrpcTransport(channel=channel))
    model = issue_model("bench-poll")
    with EmulatorControl(args.rest_url) as controls:  # closed before the measurement
        controls.set_operation_seconds(10**8)
        running = sync.create_issue_model(parent=PARENT, issue_model=model).operation.name
        controls.set_operation_seconds(0)
        done = sync.create_issue_model(parent=PARENT, issue_model=model).operation.name

    results: dict[str, Any] = {}
    for label, name, expected in (("running", running, Status.RUNNING), ("done", done, Status.SUCCEEDED)):
        result = asyncio.run(measure(name, args.rounds, args.warmup, target))
        outcome = result.pop("outcome")
        if outcome.status is not expected:
            raise SystemExit(f"expected a {expected.value} operation, got {outcome.status.value}")
        result["response_bytes"] = sync.get_operation(request={"name": name}).ByteSize()
        result.update(in_process_costs(sync.get_operation(request={"name": name})))
        results[label] = result
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
