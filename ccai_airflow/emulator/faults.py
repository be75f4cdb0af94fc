"""RPC-level fault injection and call counting, shared by the gRPC and REST front ends.

Besides a status code, a fault can take the shapes a Google front end gives its failures: an HTTP
status of its own with an HTML page for a body (a 502/503 from the load balancer, not the API's JSON
error), extra headers (``Retry-After`` on a 429), or a connection closed in the middle of the call
(``drop``; the gRPC client sees UNAVAILABLE).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from itertools import takewhile

import grpc
from google.api_core import exceptions

from ccai_airflow.emulator.routes import RPC_NAMES

_FAULT_CODES = {code.name for code in grpc.StatusCode if code is not grpc.StatusCode.OK}


def busiest_second(times: list[float]) -> int:
    """The most of these calls (``call_times``, oldest first) in any one-second window ``[t, t + 1)``.

    A quota of N per second (``set_quota``) refuses a call exactly when more than N calls, itself
    included, arrived in the second up to it, so ``busiest_second(times) <= N`` means it refused none.
    """
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


@dataclass
class Fault:
    """Fail ``rate`` of the calls to ``rpc`` with ``code``, after ``latency_s`` seconds.

    ``count``: fire at most this many times, then stay inert (None: no limit).
    ``http_status``: the REST answer's status instead of the code's own (502, say); gRPC answers ``code``.
    ``body``: ``"json"`` (the API's error object) or ``"html"`` (a front end's error page), REST only.
    ``headers``: added to the REST answer (``{"Retry-After": "7"}``).
    ``drop``: close the call's connection instead of answering (``code`` stays UNAVAILABLE).
    """

    rpc: str
    code: str
    rate: float
    latency_s: float
    count: int | None = None
    http_status: int | None = None
    body: str = "json"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


class InjectedError(exceptions.GoogleAPICallError):
    """A fault's error, with the REST shape it asks for; the gRPC front end answers its status code."""

    def __init__(self, fault: Fault, message: str) -> None:
        super().__init__(message)
        status = grpc.StatusCode[fault.code]
        self.grpc_status_code = status
        self.code = fault.http_status or exceptions.exception_class_for_grpc_status(status).code
        self.body = fault.body
        self.headers = dict(fault.headers)
        self.drop = fault.drop


class Faults:
    """Decides, per call, whether an injected fault fires, and counts every call."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """No rules, quotas or counts, and the draws of a new ``Faults(seed)``."""
        with self._lock:
            self._rng = random.Random(self.seed)
            self._rules: list[Fault] = []
            self._counts: Counter[str] = Counter()
            self._times: dict[str, deque[float]] = {}
            self._limits: dict[str, float] = {}
            self._in_flight: Counter[str] = Counter()
            self._peak_in_flight: Counter[str] = Counter()
            self._quota_refusals: Counter[str] = Counter()
            self._grpc_connections = 0

    def inject(
        self, rpc: str, code: str = "UNAVAILABLE", rate: float = 1.0, latency_s: float = 0.0, count: int | None = None,
        http_status: int | None = None, body: str = "json", headers: dict[str, str] | None = None, drop: bool = False,
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
        if http_status is not None and (
            isinstance(http_status, bool) or not isinstance(http_status, int) or not 400 <= http_status <= 599
        ):
            raise exceptions.InvalidArgument(f"Invalid http_status {http_status!r}: expected an integer in [400, 599].")
        if body not in ("json", "html"):
            raise exceptions.InvalidArgument(f"Invalid body {body!r}: expected 'json' or 'html'.")
        headers = {} if headers is None else headers
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and k.strip() and "\n" not in k + v for k, v in headers.items()
        ):
            raise exceptions.InvalidArgument(
                f"Invalid headers {headers!r}: expected an object of header: value strings."
            )
        if not isinstance(drop, bool):
            raise exceptions.InvalidArgument(f"Invalid drop {drop!r}: expected true or false.")
        if drop and code != "UNAVAILABLE":
            raise exceptions.InvalidArgument(
                f"Invalid code {code!r} with drop: a dropped connection is UNAVAILABLE to the client."
            )
        if code == "OK" and (http_status is not None or body != "json" or headers or drop):
            raise exceptions.InvalidArgument("Invalid fault: code 'OK' only adds latency_s.")
        fault = Fault(
            rpc=rpc, code=code, rate=float(rate), latency_s=float(latency_s), count=count,
            http_status=http_status, body=body, headers=dict(headers), drop=drop,
        )
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

    def quota_refusals(self) -> dict[str, int]:
        """How many calls to each RPC a quota (``set_quota``) answered RESOURCE_EXHAUSTED (since the start)."""
        with self._lock:
            return dict(self._quota_refusals)

    def count_connection(self) -> None:
        """A client opened a connection to the gRPC port."""
        with self._lock:
            self._grpc_connections += 1

    def grpc_connections(self) -> int:
        with self._lock:
            return self._grpc_connections

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
                self._quota_refusals[rpc] += 1
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
                    return latency, InjectedError(rule, f"Injected fault: {rule.code} on {rpc}.")
        return latency, None
