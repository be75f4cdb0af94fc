"""In-memory Contact Center Insights: resources, long-running operations and their clock.

Every public method takes and returns raw protobuf messages (``Type.pb()`` of the
generated proto-plus types) so the gRPC and REST front ends share one implementation.
Requests reach it already admitted by :mod:`ccai_airflow.emulator.contract` (required fields,
resource-name forms, enum values): the checks here are the ones the definition cannot express,
each with its source in a comment. Errors are raised as ``google.api_core.exceptions`` (one class per status code); the
front ends turn them into a gRPC status or an HTTP error body.

Operations are lazy: each has a due time on the emulator clock and is finished by the
first RPC that looks at the backend after that time (``_advance``). No thread runs them.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.api_core import exceptions
from google.cloud.contact_center_insights_v1 import types
from google.longrunning import operations_pb2
from google.protobuf import empty_pb2, timestamp_pb2
from google.rpc import status_pb2

from ccai_airflow.emulator.contract import clear_output_only

# Raw protobuf messages of the generated types: their fields are only known at run time.
Message = Any

IssueModel = types.IssueModel.pb()
_MAX_FAILURES = 100_000  # fail_next_operations queues one entry per failure
State = types.IssueModel.State


def parent_of(name: str) -> str:
    """``projects/p/locations/l/issueModels/1`` -> ``projects/p/locations/l`` (names are admitted already)."""
    return "/".join(name.split("/")[:4])


def _timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9) // 1000 * 1000)
    return ts


def _stable_int(text: str, low: int, high: int) -> int:
    """A deterministic integer in [low, high] derived from ``text``."""
    digest = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    return low + digest % (high - low + 1)



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
class Backend:
    """The state of one emulator: issue models and operations, guarded by one lock."""

    operation_seconds: float = 2.0
    _offset: float = 0.0
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _operations: dict[str, _Operation] = field(default_factory=dict)
    _due: list[tuple[float, str]] = field(default_factory=list)
    _models: dict[str, Message] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _failures: list[_Failure] = field(default_factory=list)

    # -- the clock ------------------------------------------------------------------------------
    def clock(self) -> float:
        """Monotonic emulator time: real time plus every ``advance_clock``."""
        return time.monotonic() + self._offset

    def wall(self) -> float:
        """Wall-clock emulator time (for createTime, endTime)."""
        return time.time() + self._offset

    def advance_clock(self, seconds: float) -> None:
        """Jump the emulator's time forward: operations due by then are done at their due time."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds < 10**9:
            raise exceptions.InvalidArgument(f"Invalid seconds {seconds!r}: expected a number >= 0.")
        with self._lock:
            self._offset += float(seconds)

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
        try:
            start = int(request.page_token or 0)
        except ValueError:
            raise exceptions.InvalidArgument(f"Invalid page_token {request.page_token!r}.") from None
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

    # -- issue models ---------------------------------------------------------------------------
    def create_issue_model(self, request: Message) -> operations_pb2.Operation:
        # Output only fields the client set (state, create_time, training_stats, ...) are ignored, as
        # field_behavior.proto asks; the metadata still echoes the request as sent ("The original request
        # for creation.", CreateIssueModelMetadata.request), as the reference's sample operation shows.
        model = clear_output_only(_copy(request.issue_model))
        with self._lock:
            model_id = str(next(self._ids) * 1000 + _stable_int(request.parent, 0, 999))
            # IssueModel.name is "Immutable." and the server picks the id: a name the client set is replaced.
            model.name = f"{request.parent}/issueModels/{model_id}"

            def finish() -> Message:
                _train(model, self.wall())
                self._models[model.name] = model
                return _copy(model)

            return self._start("CreateIssueModelMetadata", request, request.parent, finish)

    def get_issue_model(self, request: Message) -> Message:
        with self._lock:
            self._advance()
            return _copy(self._find_model(request.name))

    def list_issue_models(self, request: Message) -> Message:
        with self._lock:
            self._advance()
            prefix = request.parent + "/issueModels/"
            models = [_copy(m) for name, m in self._models.items() if name.startswith(prefix)]
            return types.ListIssueModelsResponse.pb()(issue_models=models)

    def deploy_issue_model(self, request: Message) -> operations_pb2.Operation:
        # "Deploys an issue model. Returns an error if a model is already deployed." (DeployIssueModel's
        # reference text): one deployed model per project and location. The call itself fails, before any
        # operation starts, like every other precondition the server can see at request time. A model
        # DEPLOYING or UNDEPLOYING counts as deployed: either operation may still end with it DEPLOYED (an
        # undeploy that fails or is cancelled rolls back), and two DEPLOYED models must never result.
        with self._lock:
            self._advance()
            model = self._find_model(request.name)
            if model.state == State.UNDEPLOYED:
                busy = (State.DEPLOYED, State.DEPLOYING, State.UNDEPLOYING)
                parent = parent_of(model.name)
                for other in self._models.values():
                    if other.state in busy and parent_of(other.name) == parent:
                        raise exceptions.FailedPrecondition(
                            f"Cannot deploy issue model {model.name}: issue model {other.name} is already "
                            f"{State(other.state).name} in {parent}, and only one issue model can be deployed "
                            "per project and location; undeploy it first."
                        )
            return self._transition(
            request, "DeployIssueModelMetadata", State.UNDEPLOYED, State.DEPLOYING, State.DEPLOYED,
            types.DeployIssueModelResponse.pb(),
        )

    def undeploy_issue_model(self, request: Message) -> operations_pb2.Operation:
        return self._transition(
            request, "UndeployIssueModelMetadata", State.DEPLOYED, State.UNDEPLOYING, State.UNDEPLOYED,
            types.UndeployIssueModelResponse.pb(),
        )

    def delete_issue_model(self, request: Message) -> operations_pb2.Operation:
        with self._lock:
            self._advance()
            model = self._find_model(request.name)
            # No reference text says so; kept from the first emulator: a model that may be serving analyses
            # (or is on its way in or out) is not deleted under them. The documented flow undeploys first.
            if model.state not in (State.UNDEPLOYED, State.STATE_UNSPECIFIED):
                raise exceptions.FailedPrecondition(
                    f"Issue model {model.name} is {State(model.state).name}; undeploy it before deleting."
                )
            before = model.state
            model.state = State.DELETING

            def finish() -> Message:
                self._models.pop(model.name, None)
                return empty_pb2.Empty()

            def rollback() -> None:
                model.state = before

            return self._start("DeleteIssueModelMetadata", request, parent_of(model.name), finish, rollback)

    # -- conversations and insights -------------------------------------------------------------
    def bulk_analyze_conversations(self, request: Message) -> operations_pb2.Operation:
        # "Required. Filter used to select the subset of conversations to analyze.": the contract rejects an
        # empty filter; one of blanks only selects nothing either (the emulator's reading).
        if not request.filter.strip():
            raise exceptions.InvalidArgument(
                f"Invalid filter {request.filter!r}: a filter selecting the conversations is required."
            )
        # "Required. Percentage of selected conversation to analyze, between [0, 100]." 0 is the unset value
        # of a required float, which the contract already rejected; `not <=` rejects NaN too.
        if not 0 <= request.analysis_percentage <= 100:
            raise exceptions.InvalidArgument(
                f"Invalid analysis_percentage {request.analysis_percentage}: expected a number in [0, 100]."
            )
        # AnnotatorSelector.issue_models: "The provided issue model will only be used for inference if the
        # issue model is deployed": a model that is not deployed is skipped, not an error, so the emulator
        # accepts any. What a deployed model adds to an analysis is not visible through the RPCs served.
        total = max(1, int(_stable_int(request.filter, 200, 5000) * request.analysis_percentage / 100))
        failed = total // 50

        def progress(fraction: float, metadata: Message) -> None:
            metadata.total_requested_analyses_count = total
            metadata.completed_analyses_count = int((total - failed) * fraction)
            metadata.failed_analyses_count = int(failed * fraction)

        def finish() -> Message:
            return types.BulkAnalyzeConversationsResponse.pb()(
                successful_analysis_count=total - failed, failed_analysis_count=failed
            )

        with self._lock:
            return self._start("BulkAnalyzeConversationsMetadata", request, request.parent, finish, progress=progress)

    def ingest_conversations(self, request: Message) -> operations_pb2.Operation:
        # The request names one source (oneof `source`, whose only member is gcs_source), a Cloud Storage
        # bucket: "Required. The Cloud Storage bucket containing source objects.", written gs://BUCKET as in
        # the reference's own examples (metadata_bucket_uri). With no source there is nothing to ingest.
        uri = request.gcs_source.bucket_uri
        if not uri.startswith("gs://") or len(uri) <= len("gs://"):
            raise exceptions.InvalidArgument(f"Invalid gcs_source.bucket_uri {uri!r}: expected gs://BUCKET[/PREFIX].")
        # "the number of objects to ingest": a count, so never negative (the emulator's reading).
        if request.sample_size < 0:
            raise exceptions.InvalidArgument(f"Invalid sample_size {request.sample_size}: expected >= 0.")
        total = request.sample_size or _stable_int(uri, 50, 2000)
        duplicates = total // 20

        def progress(fraction: float, metadata: Message) -> None:
            stats = metadata.ingest_conversations_stats
            stats.processed_object_count = int(total * fraction)
            stats.duplicates_skipped_count = int(duplicates * fraction)
            stats.successful_ingest_count = int((total - duplicates) * fraction)
            stats.failed_ingest_count = 0

        with self._lock:
            return self._start(
                "IngestConversationsMetadata", request, request.parent,
                lambda: types.IngestConversationsResponse.pb()(), progress=progress,
            )

    def export_insights_data(self, request: Message) -> operations_pb2.Operation:
        # "Export insights data to a destination defined in the request body." (ExportInsightsData): oneof
        # `destination` must be set; its Required dataset is the contract's business.
        if not request.HasField("big_query_destination"):
            raise exceptions.InvalidArgument(
                "Invalid big_query_destination: expected a destination with at least a dataset."
            )
        with self._lock:
            return self._start(
                "ExportInsightsDataMetadata", request, request.parent,
                lambda: types.ExportInsightsDataResponse.pb()(),
            )

    # -- internals ------------------------------------------------------------------------------
    def _transition(
        self, request: Message, metadata_type: str, source: int, during: int, target: int,
        response_type: type[Message],
    ) -> operations_pb2.Operation:
        with self._lock:
            self._advance()
            model = self._find_model(request.name)
            if model.state != source:
                raise exceptions.FailedPrecondition(
                    f"Issue model {model.name} is {State(model.state).name}; expected {State(source).name}."
                )
            model.state = during

            def finish() -> Message:
                model.state = target
                return response_type()

            def rollback() -> None:
                model.state = source

            return self._start(metadata_type, request, parent_of(model.name), finish, rollback)

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
        metadata.request.CopyFrom(request)
        op = _Operation(
            proto=proto, metadata=metadata, started=now, wall_started=self.wall(),
            due=now + self.operation_seconds, finish=finish,
            rollback=rollback, fail_with=self._failures.pop(0) if self._failures else None, progress=progress,
        )
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
        op.metadata.end_time.CopyFrom(_timestamp(self.wall() if at is None else at))
        op.proto.metadata.Pack(op.metadata)
        op.proto.done = True
        if error is None:
            op.proto.response.Pack(op.finish())
        else:
            op.rollback()
            op.proto.error.CopyFrom(status_pb2.Status(code=error.code.value[0], message=error.message))

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

    def _find_model(self, name: str) -> Message:
        model = self._models.get(name)
        if model is None:
            raise exceptions.NotFound(f"Issue model {name} not found.")
        return model


def _train(model: Message, now: float) -> None:
    """Fill the output fields of a trained issue model with deterministic, plausible stats."""
    seed = model.display_name or model.name
    config = model.input_data_config
    config.training_conversations_count = _stable_int(seed + config.filter, 1000, 20000)  # Output only
    if config.medium == 0:
        config.medium = types.Conversation.Medium.CHAT
    analyzed = config.training_conversations_count * 2 // 3
    n_issues = _stable_int(seed, 3, 8)
    stats = model.training_stats
    stats.analyzed_conversations_count = analyzed
    remaining = analyzed
    for index in range(n_issues):
        issue = f"{model.name}/issues/{(index + 1) * 1000 + _stable_int(seed + str(index), 0, 999)}"
        share = remaining * _stable_int(f"{seed}/{index}", 10, 35) // 100
        entry = stats.issue_stats[issue]
        entry.issue = issue
        entry.display_name = _ISSUE_TITLES[index % len(_ISSUE_TITLES)]
        entry.labeled_conversations_count = share
        remaining -= share
    stats.unclassified_conversations_count = remaining
    model.issue_count = n_issues
    model.state = State.UNDEPLOYED
    model.create_time.CopyFrom(_timestamp(now))
    model.update_time.CopyFrom(_timestamp(now))
    if not model.language_code:
        model.language_code = "en-US"


_ISSUE_TITLES = (
    "Billing dispute", "Password reset", "Delivery delay", "Cancel subscription",
    "Upgrade plan", "Refund request", "Technical outage", "Address change",
)


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


def _copy(message: Message) -> Message:
    clone = type(message)()
    clone.CopyFrom(message)
    return clone
