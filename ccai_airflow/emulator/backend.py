"""In-memory Contact Center Insights: the resources, and the operations each method starts.

Every public method takes and returns raw protobuf messages (``Type.pb()`` of the
generated proto-plus types) so the gRPC and REST front ends share one implementation.
Requests reach it already admitted by :mod:`ccai_airflow.emulator.contract` (required fields,
resource-name forms, enum values): the checks here are the ones the definition cannot express,
each with its source in a comment. Errors are raised as ``google.api_core.exceptions`` (one class per status code); the
front ends turn them into a gRPC status or an HTTP error body.

The operations themselves (clock, due times, get/list/cancel) are ``lro.Operations``, its base;
conversations (create, upload, update, delete, analysis, list, bulk delete) are ``conversations.Conversations``,
the location-level methods (settings, encryption spec, metrics, QA tuning) ``settings.LocationMethods`` and phrase
matchers ``phrase_matchers.PhraseMatchers``.
"""

import hashlib
from dataclasses import dataclass, field
from typing import Any

from google.api_core import exceptions
from google.cloud.contact_center_insights_v1 import types
from google.longrunning import operations_pb2
from google.protobuf import empty_pb2

from ccai_airflow.emulator.bigquery import table_id, table_resource
from ccai_airflow.emulator.contract import clear_output_only
from ccai_airflow.emulator.feedback import FeedbackLabels
from ccai_airflow.emulator.gcs import storage_for, storage_from_environment  # Cloud Storage emulator wiring
from ccai_airflow.emulator.lro import Message, _copy, _timestamp
from ccai_airflow.emulator.phrase_matchers import PhraseMatchers
from ccai_airflow.emulator.settings import LocationMethods
from ccai_airflow.emulator.storage import Storage
from ccai_airflow.emulator.transfer import IssueModelTransfer

IssueModel = types.IssueModel.pb()
State = types.IssueModel.State


def parent_of(name: str) -> str:
    """``projects/p/locations/l/issueModels/1`` -> ``projects/p/locations/l`` (names are admitted already)."""
    return "/".join(name.split("/")[:4])


def _stable_int(text: str, low: int, high: int) -> int:
    """A deterministic integer in [low, high] derived from ``text``."""
    digest = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    return low + digest % (high - low + 1)


@dataclass
class Backend(LocationMethods, IssueModelTransfer, FeedbackLabels, PhraseMatchers):
    """The state of one emulator: issue models and the operations started on them, guarded by one lock.

    Its bases add the location-level methods (``settings``), the issues and export/import of models
    (``transfer``), feedback labels (``feedback``), phrase matchers (``phrase_matchers``), the in-memory Cloud
    Storage they share (``storage``) and the operations themselves (``lro.Operations``).
    """

    _models: dict[str, Message] = field(default_factory=dict)
    _tables: dict[str, dict[str, Any]] = field(default_factory=dict)  # BigQuery tables exports wrote, by id

    # -- Cloud Storage: in memory, or a Cloud Storage emulator (emulator/gcs.py) ---------------
    # The ``storage`` field of transfer.py and feedback.py, defaulted here from STORAGE_EMULATOR_HOST.
    storage: Storage = field(default_factory=storage_from_environment)
    started_storage: Storage | None = None  # what ``reset`` goes back to: ``storage`` when the emulator started

    def __post_init__(self) -> None:
        super().__post_init__()
        self.started_storage = self.storage

    def set_storage_emulator_host(self, host: str | None) -> None:
        """Keep the objects in the Cloud Storage emulator at ``host`` (``http://HOST:PORT``) from now on; None: in
        memory. INVALID_ARGUMENT naming a host that is not a URL; objects written before stay where they are."""
        storage = storage_for(host)
        with self._lock:
            self.storage = storage

    @property
    def storage_emulator_host(self) -> str | None:
        """The Cloud Storage emulator the objects are kept in (``http://HOST:PORT``); None: in memory."""
        return getattr(self.storage, "host", None)

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.storage = self.started_storage or self.storage
        self.storage.clear()
        self.notifier.reset()

    # -- issue models ---------------------------------------------------------------------------
    def create_issue_model(self, request: Message) -> operations_pb2.Operation:
        # Output only fields the client set (state, create_time, training_stats, ...) are ignored, as
        # field_behavior.proto asks; the metadata still echoes the request as sent ("The original request
        # for creation.", CreateIssueModelMetadata.request), as the reference's sample operation shows.
        model = clear_output_only(_copy(request.issue_model))
        with self._lock:
            # IssueModel.name is "Immutable." and the server picks the id: a name the client set is replaced.
            model.name = f"{request.parent}/issueModels/{self._new_model_id(request.parent)}"

            def finish() -> Message:
                now = self.wall()
                _train(model, now)
                self._models[model.name] = model
                self._store_issues(model, now)
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
                self._drop_issues(model.name)
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
        # BigQueryDestination.project_id: "If specified, then export will attempt to write data to this project
        # instead of the resource project. Otherwise, the resource project will be used." The table is kept when
        # the export finishes, with the documented export schema (emulator/bigquery.py), for whoever reads it.
        destination = request.big_query_destination
        project = destination.project_id or request.parent.split("/")[1]

        def finish() -> Message:
            if destination.table:
                self._tables[table_id(project, destination.dataset, destination.table)] = table_resource(
                    project, destination.dataset, destination.table, int(self.wall() * 1000))
            return types.ExportInsightsDataResponse.pb()()

        with self._lock:
            return self._start("ExportInsightsDataMetadata", request, request.parent, finish)

    def get_bigquery_table(self, project: str, dataset: str, table: str) -> dict[str, Any]:
        """BigQuery's ``tables.get`` of a table an export wrote; NOT_FOUND, as BigQuery says it, for any other."""
        with self._lock:
            self._advance()
            found = self._tables.get(table_id(project, dataset, table))
            if found is None:
                raise exceptions.NotFound(f"Not found: Table {table_id(project, dataset, table)}")
            return dict(found)

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

    # -- controls of the in-memory Cloud Storage ------------------------------------------------
    def write_object(self, uri: str, content: str) -> None:
        if not isinstance(content, str):
            raise exceptions.InvalidArgument(f"Invalid content {content!r}: expected the object's text.")
        self.storage.write(uri, content.encode())

    def object_control(self, uri: str | None = None, prefix: str | None = None) -> dict[str, Any]:
        """``{"uri", "content"}`` of one object, or ``{"uris": [...]}`` of those under ``prefix``."""
        if uri is not None:
            return {"uri": uri, "content": self.storage.read(uri).decode(errors="replace")}
        return {"uris": self.storage.names(prefix or "gs://")}

    def _new_model_id(self, parent: str) -> str:
        return str(next(self._ids) * 1000 + _stable_int(parent, 0, 999))

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
