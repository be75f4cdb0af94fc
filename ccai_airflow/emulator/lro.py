"""Long-running operations on the emulator's clock: started, advanced, listed, cancelled.

Operations are lazy: each has a due time on the emulator clock and is finished by the first RPC
that looks at the backend after that time (``_advance``), at its due time. No thread runs them.
``Operations`` is the base of ``backend.Backend``, which starts them for each method.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

import grpc
from google.api_core import exceptions
from google.cloud.contact_center_insights_v1 import types
from google.longrunning import operations_pb2
from google.protobuf import empty_pb2, timestamp_pb2
from google.rpc import status_pb2

from ccai_airflow.emulator.notifications import OPERATION_TRIGGERS

# Raw protobuf messages of the generated types: their fields are only known at run time.
Message = Any

_MAX_FAILURES = 100_000  # fail_next_operations queues one entry per failure
_MAX_CLOCK_RATE = 1_000_000.0  # an emulated year in about half a minute
# What an emulator was started with, which ``reset`` keeps: everything else is state a test leaves behind.
_KEPT_ON_RESET = frozenset({"_lock", "notifier", "storage", "started_storage", "started_operation_seconds"})


def _timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9) // 1000 * 1000)
    return ts


@dataclass
class _Failure:
    code: grpc.StatusCode
    message: str


Progress = Callable[[float, Message], None]


@dataclass
class _Operation:
    proto: operations_pb2.Operation
    metadata: Message
    started: float
    wall_started: float
    due: float
    finish: Callable[[], Message]
    rollback: Callable[[], None]
    fail_with: _Failure | None
    progress: Progress | None


@dataclass
class Operations:
    """The operations of one emulator and their clock, guarded by one lock."""

    operation_seconds: float = 2.0
    started_operation_seconds: float = -1.0  # what ``reset`` goes back to: ``operation_seconds`` when made
    _offset: float = 0.0
    _rate: float = 1.0
    _rate_since: float = 0.0  # time.monotonic() when the rate was set
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _operations: dict[str, _Operation] = field(default_factory=dict)
    _due: list[tuple[float, str]] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _failures: list[_Failure] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.started_operation_seconds < 0:
            self.started_operation_seconds = self.operation_seconds

    # -- the clock ------------------------------------------------------------------------------
    def _sped_up(self, monotonic: float) -> float:
        """The seconds ``set_clock_rate`` has added since the rate was set."""
        return (self._rate - 1.0) * (monotonic - self._rate_since)

    def clock(self) -> float:
        """Monotonic emulator time: real time, sped up by ``set_clock_rate``, plus every ``advance_clock``."""
        now = time.monotonic()
        return now + self._offset + self._sped_up(now)

    def wall(self) -> float:
        """Wall-clock emulator time (for createTime, endTime)."""
        return time.time() + self._offset + self._sped_up(time.monotonic())

    def advance_clock(self, seconds: float) -> None:
        """Jump the emulator's time forward: operations due by then are done at their due time."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds < 10**9:
            raise exceptions.InvalidArgument(f"Invalid seconds {seconds!r}: expected a number >= 0.")
        with self._lock:
            self._offset += float(seconds)

    def set_clock_rate(self, rate: float) -> None:
        """Run the emulator's clock ``rate`` times as fast as real time from now on (1: real time), so that an
        operation of hours ends in seconds while a DAG that waits for it runs, with no one to move the clock."""
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 1 <= rate <= _MAX_CLOCK_RATE:
            raise exceptions.InvalidArgument(
                f"Invalid rate {rate!r}: expected a number from 1 (real time) to {_MAX_CLOCK_RATE:.0f}.")
        with self._lock:
            now = time.monotonic()
            self._offset += self._sped_up(now)
            self._rate, self._rate_since = float(rate), now

    def reset(self) -> None:
        """Empty, as a new emulator: no resources, operations, queued failures, moved clock or settings; where
        notifications go and which storage it uses stay, and operations take as long as when it started."""
        # Each field from its own default: a whole new Backend would make a notifier and a storage only to drop them.
        with self._lock:
            operation_seconds = self.started_operation_seconds
            for each in fields(self):
                if each.name in _KEPT_ON_RESET:
                    continue
                setattr(self, each.name, each.default if each.default_factory is MISSING else each.default_factory())
            self.operation_seconds = operation_seconds

    # -- controls -------------------------------------------------------------------------------
    def fail_next_operations(self, n: int, code: str = "INTERNAL", message: str = "Injected failure") -> None:
        status = _status_code(code)
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= _MAX_FAILURES:
            raise exceptions.InvalidArgument(f"Invalid n {n!r}: expected an integer in [0, {_MAX_FAILURES}].")
        with self._lock:
            self._failures.extend(_Failure(status, message) for _ in range(n))

    def set_operation_seconds(self, seconds: float) -> None:
        # `not >= 0` rejects NaN too: a NaN due time would stall the heap of pending operations.
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds >= 0:
            raise exceptions.InvalidArgument(f"Invalid operation_seconds {seconds!r}: expected a number >= 0.")
        self.operation_seconds = float(seconds)

    def tick(self) -> None:
        """Complete the operations due by now."""
        with self._lock:
            self._advance()

    # -- operations -----------------------------------------------------------------------------
    def get_operation(self, request: operations_pb2.GetOperationRequest) -> operations_pb2.Operation:
        with self._lock:
            self._advance()
            op = self._find_operation(request.name)
            self._update_progress(op)
            return _copy(op.proto)

    def list_operations(self, request: operations_pb2.ListOperationsRequest) -> operations_pb2.ListOperationsResponse:
        done_filter = _parse_done_filter(request.filter)
        if request.page_size < 0:
            raise exceptions.InvalidArgument(f"Invalid page_size {request.page_size}: expected >= 0.")
        start = page_start(request.page_token)
        with self._lock:
            self._advance()
            prefix = request.name + "/operations/"
            ops = [op for name, op in self._operations.items() if name.startswith(prefix)]
            if done_filter is not None:
                ops = [op for op in ops if op.proto.done == done_filter]
            size = request.page_size or 100
            page = ops[start : start + size]
            for op in page:
                self._update_progress(op)
            response = operations_pb2.ListOperationsResponse(operations=[_copy(op.proto) for op in page])
            if start + size < len(ops):
                response.next_page_token = str(start + size)
            return response

    def cancel_operation(self, request: operations_pb2.CancelOperationRequest) -> empty_pb2.Empty:
        with self._lock:
            self._advance()
            op = self._find_operation(request.name)
            if not op.proto.done:
                self._complete(op, error=_Failure(grpc.StatusCode.CANCELLED, "Operation was cancelled."))
            return empty_pb2.Empty()

    def _start(
        self,
        metadata_type: str,
        request: Message,
        parent: str,
        finish: Callable[[], Message],
        rollback: Callable[[], None] = lambda: None,
        progress: Progress | None = None,
    ) -> operations_pb2.Operation:
        """Create an operation under ``parent`` that finishes after ``operation_seconds``."""
        now = self.clock()
        op_id = str(next(self._ids) * 7919 + 1_000_000_000_000)
        proto = operations_pb2.Operation(name=f"{parent}/operations/{op_id}", done=False)
        metadata = getattr(types, metadata_type).pb()()
        # Most metadata types echo the request and carry create/end times; some do not
        # (CreateAnalysisOperationMetadata has no `request`, QueryMetricsMetadata is empty): only set what exists.
        fields = metadata.DESCRIPTOR.fields_by_name
        if "request" in fields:
            metadata.request.CopyFrom(request)
        op = _Operation(
            proto=proto, metadata=metadata, started=now, wall_started=self.wall(),
            due=now + self.operation_seconds, finish=finish,
            rollback=rollback, fail_with=self._failures.pop(0) if self._failures else None, progress=progress,
        )
        if "create_time" in fields:
            metadata.create_time.CopyFrom(_timestamp(op.wall_started))
        if progress is not None:
            progress(0.0, metadata)
        proto.metadata.Pack(metadata)
        self._operations[proto.name] = op
        heapq.heappush(self._due, (op.due, proto.name))
        return _copy(proto)

    def _advance(self) -> None:
        now = self.clock()
        while self._due and self._due[0][0] <= now:
            _, name = heapq.heappop(self._due)
            op = self._operations.get(name)
            if op is not None and not op.proto.done:
                # Done at its due time, not at the first look after it.
                self._complete(op, error=op.fail_with, at=op.wall_started + (op.due - op.started))

    def _complete(self, op: _Operation, error: _Failure | None, at: float | None = None) -> None:
        if op.progress is not None and error is None:
            op.progress(1.0, op.metadata)
        if "end_time" in op.metadata.DESCRIPTOR.fields_by_name:
            op.metadata.end_time.CopyFrom(_timestamp(self.wall() if at is None else at))
        op.proto.metadata.Pack(op.metadata)
        op.proto.done = True
        if error is None:
            try:
                op.proto.response.Pack(op.finish())
            except exceptions.GoogleAPICallError as exc:  # e.g. the Cloud Storage emulator an export writes to is down
                error = _Failure(exc.grpc_status_code or grpc.StatusCode.INTERNAL, exc.message)
        if error is not None:
            op.rollback()
            op.proto.error.CopyFrom(status_pb2.Status(code=error.code.value[0], message=error.message))
        if (trigger := OPERATION_TRIGGERS.get(op.metadata.DESCRIPTOR.name)) is not None:
            self._notify(trigger, "/".join(op.proto.name.split("/")[:4]), op.proto.name)

    def _notify(self, trigger: str, parent: str, name: str) -> None:
        """A notification trigger occurred in ``parent`` (``settings.LocationMethods`` publishes it)."""

    def _update_progress(self, op: _Operation) -> None:
        if op.proto.done or op.progress is None:
            return
        span = max(op.due - op.started, 1e-9)
        op.progress(min(1.0, max(0.0, (self.clock() - op.started) / span)), op.metadata)
        op.proto.metadata.Pack(op.metadata)

    def _find_operation(self, name: str) -> _Operation:
        op = self._operations.get(name)
        if op is None:
            raise exceptions.NotFound(f"Operation {name} not found.")
        return op


def _status_code(name: str) -> grpc.StatusCode:
    try:
        code = grpc.StatusCode[name]
    except KeyError:
        raise exceptions.InvalidArgument(
            f"Invalid code {name!r}: expected a gRPC status code name such as INTERNAL or UNAVAILABLE."
        ) from None
    if code == grpc.StatusCode.OK:
        raise exceptions.InvalidArgument("Invalid code 'OK': expected an error status code.")
    return code


def _parse_done_filter(text: str) -> bool | None:
    cleaned = text.replace(" ", "").lower()
    if not cleaned:
        return None
    if cleaned in ("done=true", "done:true"):
        return True
    if cleaned in ("done=false", "done:false"):
        return False
    raise exceptions.InvalidArgument(f"Invalid filter {text!r}: the emulator understands '' and 'done=true|false'.")


def page_start(page_token: str) -> int:
    """Where a page starts: the emulator's page tokens are offsets ("" for the first page)."""
    try:
        return int(page_token or 0)
    except ValueError:
        raise exceptions.InvalidArgument(f"Invalid page_token {page_token!r}.") from None


def _copy(message: Message) -> Message:
    clone = type(message)()
    clone.CopyFrom(message)
    return clone
