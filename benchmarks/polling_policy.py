"""Part 4: API calls per operation and detection latency of polling policies, on the emulated clock.

Real GetOperation RPCs against the emulator, in virtual time: for each operation the emulator's operation
length is set to D, the operation created, the emulator clock advanced by a random start phase in
``[0, first delay)``, then: GetOperation; if not done, advance the clock by the policy's next delay; repeat.
Detection latency is the emulator's time at the poll that saw ``done`` minus the operation's ``endTime``
(its true due time). The emulator's clock is real time plus every advance, so the few milliseconds each step
really takes count too. Operations run one after another (the clock is the emulator's, shared by all).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from google.api_core.future import polling
from google.api_core.retry import exponential_sleep_generator
from google.cloud.contact_center_insights_v1 import ContactCenterInsightsClient
from google.cloud.contact_center_insights_v1 import types as ci
from google.cloud.contact_center_insights_v1.services.contact_center_insights.transports import (
    ContactCenterInsightsGrpcTransport,
)

from benchmarks.common import EMULATOR_HOST_ENV, PARENT, issue_model, median, percentile
from ccai_airflow.core.polling import DEFAULT_POLLING, PollingPolicy
from ccai_airflow.emulator import EmulatorControl

DURATIONS = {"10s": 10.0, "10min": 600.0, "3h": 3 * 3600.0}
API_CORE = polling.DEFAULT_POLLING  # initial 1 s, x1.5, at most 20 s (and a 900 s deadline, ignored here)


@dataclass(frozen=True)
class Policy:
    label: str
    first_delay: float  # the start phase is drawn in [0, first_delay)
    make: Callable[[], Callable[[float], float]]  # a fresh "next delay given the operation's age" per operation


def _fixed(seconds: float) -> Callable[[], Callable[[float], float]]:
    return lambda: PollingPolicy.fixed(seconds).delay


def _api_core(jitter: bool) -> Callable[[], Callable[[float], float]]:
    initial, maximum, multiplier = API_CORE._initial, API_CORE._maximum, API_CORE._multiplier

    def nominal() -> Iterator[float]:
        delay = initial
        while True:
            yield delay
            delay = min(delay * multiplier, maximum)

    def make() -> Callable[[float], float]:
        # google-api-core 2.x draws each sleep uniformly in [0, nominal delay] ("full jitter").
        delays = exponential_sleep_generator(initial, maximum, multiplier) if jitter else nominal()
        return lambda age: next(delays)

    return make


POLICIES = (
    Policy("ours (DEFAULT_POLLING)", DEFAULT_POLLING.delay(0), lambda: DEFAULT_POLLING.delay),
    Policy("fixed 10 s", 10.0, _fixed(10.0)),
    Policy("api-core default (as 2.x runs it: full jitter)", API_CORE._initial, _api_core(jitter=True)),
    Policy("api-core default, nominal (no jitter)", API_CORE._initial, _api_core(jitter=False)),
)


class EmulatedClock:
    """The emulator's clock, advanced through its controls: real time plus every advance so far."""

    def __init__(self, controls: EmulatorControl) -> None:
        self.controls = controls
        self.advanced = 0.0

    def advance(self, seconds: float) -> None:
        self.controls.advance_clock(seconds)
        self.advanced += seconds


def _seconds(timestamp: Any) -> float:
    return float(timestamp.seconds + timestamp.nanos / 1e9)


def wait_one(client: ContactCenterInsightsClient, clock: EmulatedClock, policy: Policy, duration: float,
             rng: random.Random) -> tuple[int, float]:
    """Create one operation of ``duration`` s and poll it to done: (GetOperation calls, detection latency s)."""
    clock.controls.set_operation_seconds(duration)
    model = issue_model("bench-policy")
    name = client.create_issue_model(parent=PARENT, issue_model=model).operation.name
    next_delay = policy.make()
    clock.advance(rng.uniform(0.0, policy.first_delay))
    calls = 0
    while True:
        operation = client.get_operation(request={"name": name})
        calls += 1
        now = time.time() + clock.advanced  # the emulator's wall clock
        metadata = ci.CreateIssueModelMetadata.pb().FromString(operation.metadata.value)
        if operation.done:
            return calls, now - _seconds(metadata.end_time)
        clock.advance(next_delay(now - _seconds(metadata.create_time)))


def run(target: str, rest_url: str, repeats: int, seed: int) -> dict[str, Any]:
    random.seed(seed)  # google-api-core's jitter draws from the global generator
    rng = random.Random(seed)
    channel = grpc.insecure_channel(target)
    client = ContactCenterInsightsClient(transport=ContactCenterInsightsGrpcTransport(channel=channel))
    controls = EmulatorControl(rest_url)  # one keep-alive connection for every control call
    clock = EmulatedClock(controls)
    results: dict[str, Any] = {}
    try:
        for policy in POLICIES:
            per_duration: dict[str, Any] = {}
            for label, duration in DURATIONS.items():
                started = time.monotonic()
                runs = [wait_one(client, clock, policy, duration, rng) for _ in range(repeats)]
                calls = [c for c, _ in runs]
                latencies = [lat for _, lat in runs]
                per_duration[label] = {
                    "duration_s": duration,
                    "operations": repeats,
                    "api_calls_per_op": sum(calls) / len(calls),
                    "median_detection_latency_s": median(latencies),
                    "p90_detection_latency_s": percentile(latencies, 90),
                    "max_detection_latency_s": max(latencies),
                    "real_seconds": time.monotonic() - started,
                }
            results[policy.label] = per_duration
    finally:
        controls.close()
        channel.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rest-url", required=True)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20261129)
    args = parser.parse_args(argv)
    print(json.dumps(run(os.environ[EMULATOR_HOST_ENV], args.rest_url, args.repeats, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
