"""RPC-level fault injection and call counting, shared by the gRPC and REST front ends."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from itertools import takewhile

import grpc
from google.api_core import exceptions

from ccai_airflow.emulator.routes import RPC_NAMES

_FAULT_CODES = {code.name for code in grpc.StatusCode if code is not grpc.StatusCode.OK}


@dataclass
class Fault:
    """Fail ``rate`` of the calls to ``rpc`` with ``code``, after ``latency_s`` seconds.

    ``count``: fire at most this many times, then stay inert (None: no limit).
    """

    rpc: str
    code: str
    rate: float
    latency_s: float
    count: int | None = None


class Faults:
    """Decides, per call, whether an injected fault fires, and counts every call."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._rules: list[Fault] = []
        self._counts: Counter[str] = Counter()
        self._times: dict[str, deque[float]] = {}
        self._limits: dict[str, float] = {}
        self._in_flight: Counter[str] = Counter()
        self._peak_in_flight: Counter[str] = Counter()
        self._lock = threading.Lock()

    def inject(
        self, rpc: str, code: str = "UNAVAILABLE", rate: float = 1.0, latency_s: float = 0.0, count: int | None = None
    ) -> Fault:
        if rpc != "*" and rpc not in RPC_NAMES:
            raise exceptions.InvalidArgument(f"Invalid rpc {rpc!r}: expected '*' or one of {sorted(RPC_NAMES)}.")
        if code not in _FAULT_CODES and code != "OK":
            raise exceptions.InvalidArgument(f"Invalid code {code!r}: expected a gRPC status code name.")
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise exceptions.InvalidArgument(f"Invalid rate {rate!r}: expected a number in [0, 1].")
        if isinstance(latency_s, bool) or not isinstance(latency_s, int | float) or not 0 <= latency_s <= 60:
            raise exceptions.InvalidArgument(f"Invalid latency_s {latency_s!r}: expected seconds in [0, 60].")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise exceptions.InvalidArgument(f"Invalid count {count!r}: expected a positive integer or None.")
        fault = Fault(rpc=rpc, code=code, rate=float(rate), latency_s=float(latency_s), count=count)
        with self._lock:
            self._rules.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def call_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def call_times(self, rpc: str) -> list[float]:
        """When the last calls to ``rpc`` arrived (time.monotonic), oldest first; at most 200,000."""
        if rpc not in RPC_NAMES:
            raise exceptions.InvalidArgument(f"Invalid rpc {rpc!r}: expected one of {sorted(RPC_NAMES)}.")
        with self._lock:
            return list(self._times.get(rpc, ()))

    def peak_in_flight(self) -> dict[str, int]:
        """The most calls to each RPC that were being answered at one time (since the start)."""
        with self._lock:
            return dict(self._peak_in_flight)

    def finish(self, rpc: str) -> None:
        """A call counted by :meth:`on_call` was answered (or failed)."""
        with self._lock:
            self._in_flight[rpc] -= 1

    def set_quota(self, rpc: str, per_second: float | None) -> None:
        """Answer RESOURCE_EXHAUSTED when ``rpc`` gets more than ``per_second`` calls in one second."""
        if rpc != "*" and rpc not in RPC_NAMES:
            raise exceptions.InvalidArgument(f"Invalid rpc {rpc!r}: expected '*' or one of {sorted(RPC_NAMES)}.")
        if per_second is not None and (
            isinstance(per_second, bool) or not isinstance(per_second, int | float) or not per_second > 0
        ):
            raise exceptions.InvalidArgument(f"Invalid per_second {per_second!r}: expected a number > 0 or None.")
        with self._lock:
            if per_second is None:
                self._limits.pop(rpc, None)
            else:
                self._limits[rpc] = float(per_second)

    def on_call(self, rpc: str) -> tuple[float, exceptions.GoogleAPICallError | None]:
        """Count a call; return the latency to add and the error to answer with (or None).

        Rules for the same RPC share one draw: with 30% UNAVAILABLE and 10% RESOURCE_EXHAUSTED,
        40% of calls fail. A rule with code OK only adds latency. Every call must end with :meth:`finish`.
        """
        with self._lock:
            self._counts[rpc] += 1
            self._in_flight[rpc] += 1
            self._peak_in_flight[rpc] = max(self._peak_in_flight[rpc], self._in_flight[rpc])
            now = time.monotonic()
            times = self._times.setdefault(rpc, deque(maxlen=200_000))
            times.append(now)
            limit = self._limits.get(rpc, self._limits.get("*"))
            if limit is not None and sum(1 for _ in takewhile(lambda t: now - t < 1.0, reversed(times))) > limit:
                status = grpc.StatusCode.RESOURCE_EXHAUSTED
                return 0.0, exceptions.from_grpc_status(status, f"Quota exceeded: over {limit:g} {rpc} calls/s.")
            rules = [rule for rule in self._rules if rule.rpc in (rpc, "*") and rule.count != 0]
            draw = self._rng.random() if rules else 1.0
            latency = max((rule.latency_s for rule in rules), default=0.0)
            threshold = 0.0
            for rule in rules:
                if rule.code == "OK":
                    continue
                threshold += rule.rate
                if draw < threshold:
                    if rule.count is not None:
                        rule.count -= 1
                    status = grpc.StatusCode[rule.code]
                    return latency, exceptions.from_grpc_status(status, f"Injected fault: {rule.code} on {rpc}.")
        return latency, None
