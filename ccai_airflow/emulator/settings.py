"""Location-level methods in the emulator: settings (get, update), the encryption spec, metrics, QA scorecard tuning.

``LocationMethods`` is a base of ``backend.Backend``, on :class:`~ccai_airflow.emulator.conversations.Conversations`
(QueryMetrics counts its conversations; InitializeEncryptionSpec needs a location without any). Sources as in
that module: "definition" = the ``.proto`` comments (googleapis ``f8291d2b``, as in the installed client).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from google.api_core import exceptions
from google.cloud.contact_center_insights_v1 import types
from google.longrunning import operations_pb2

from ccai_airflow.emulator.conversations import Conversations, check_ttl, matches, parse_filter, seconds_of, time_window
from ccai_airflow.emulator.lro import Message, _copy, _timestamp
from ccai_airflow.emulator.notifications import Notifier, topics_for
from ccai_airflow.emulator.updates import apply_mask, mask_paths

_KMS_KEY = re.compile(r"^projects/[^/]+/locations/(?P<location>[^/]+)/keyRings/[^/]+/cryptoKeys/[^/]+$")
Granularity = types.QueryMetricsRequest.TimeGranularity
# Settings.pubsub_notification_settings: "Keys are notification triggers. Supported keys are: ..."
NOTIFICATION_TRIGGERS = (
    "all-triggers", "create-analysis", "create-conversation", "export-insights-data", "ingest-conversations",
    "update-conversation", "upload-conversation",
)
# "Values are Pub/Sub topics. The format of each Pub/Sub topic is: projects/{project}/topics/{topic}"; {topic} as
# Pub/Sub's Topic.name has it: "must start with a letter, and contain only letters ([A-Za-z]), numbers ([0-9]),
# dashes (-), underscores (_), periods (.), tildes (~), plus (+) or percent signs (%). It must be between 3 and 255
# characters in length, and it must not start with "goog"". {project}: a project id, number or domain-scoped id.
_TOPIC = re.compile(r"^projects/[a-z0-9][a-z0-9.:-]*/topics/(?!goog)[A-Za-z][A-Za-z0-9_.~+%-]{2,254}$")


_HOST_PORT = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$")


def _location_of(name: str) -> str:
    return "/".join(name.split("/")[:4])


@dataclass
class LocationMethods(Conversations):
    """Settings, encryption specs and the location-level operations of one emulator."""

    _encryption_keys: dict[str, str] = field(default_factory=dict)  # location -> kms_key, once initialized
    _settings: dict[str, Message] = field(default_factory=dict)  # by name, made when first asked for
    notifier: Notifier = field(default_factory=Notifier)

    def get_settings(self, request: Message) -> Message:
        with self._lock:
            return _copy(self._settings_of(request.name))

    def update_settings(self, request: Message) -> Message:
        # update_mask: "Required. The list of fields to be updated." (the contract asks for it; an empty one lists
        # nothing to update, INVALID_ARGUMENT too). The mask's rules (`*`, Output only, Immutable) are AIP-134's.
        paths = mask_paths(request, "settings", required=True)
        with self._lock:
            stored = self._settings_of(request.settings.name)
            updated, _ = apply_mask(stored, request.settings, paths, "settings")
            _check_settings(updated)
            updated.update_time.CopyFrom(_timestamp(self.wall()))
            stored.CopyFrom(updated)
            return _copy(stored)

    def _settings_of(self, name: str) -> Message:
        # Settings are project-level defaults that always exist ("View these settings with getSettings and change
        # them with updateSettings"); the emulator's first ones hold name, create/update time and language_code.
        settings = self._settings.get(name)
        if settings is None:
            settings = types.Settings.pb()(name=name, language_code="en-US")
            settings.create_time.CopyFrom(_timestamp(self.wall()))
            settings.update_time.CopyFrom(settings.create_time)
            self._settings[name] = settings
        return settings

    def set_pubsub_emulator_host(self, host: str | None) -> None:
        """Publish notifications to the Pub/Sub emulator at ``host`` (``HOST:PORT``); None: publish none."""
        if host is not None and not _HOST_PORT.match(str(host)):
            raise exceptions.InvalidArgument(f"Invalid host {host!r}: expected HOST:PORT, e.g. 127.0.0.1:8085.")
        self.notifier.set_host(host)

    def notifications_published(self) -> dict[str, int]:
        """Messages Pub/Sub accepted, by topic."""
        return dict(self.notifier.published)

    def _notify(self, trigger: str, parent: str, name: str) -> None:
        settings = self._settings.get(parent + "/settings")
        if settings is not None:
            self.notifier.notify(topics_for(dict(settings.pubsub_notification_settings), trigger), trigger, name)

    def _default_ttl(self, parent: str) -> float | None:
        settings = self._settings.get(parent + "/settings")
        if settings is None or not settings.HasField("conversation_ttl"):
            return None
        return seconds_of(settings.conversation_ttl)

    def initialize_encryption_spec(self, request: Message) -> operations_pb2.Operation:
        spec = request.encryption_spec
        location = _location_of(spec.name)
        # EncryptionSpec.kms_key: "Format:
        # `projects/{project}/locations/{location}/keyRings/{keyRing}/cryptoKeys/{key}`"
        # and "Only the key in the same location as this resource is allowed to be used for encryption."
        key = _KMS_KEY.match(spec.kms_key)
        if key is None:
            raise exceptions.InvalidArgument(
                f"Invalid encryption_spec.kms_key {spec.kms_key!r}: expected "
                "projects/{project}/locations/{location}/keyRings/{key_ring}/cryptoKeys/{crypto_key}."
            )
        if key["location"] != location.rsplit("/", 1)[-1]:
            raise exceptions.InvalidArgument(
                f"Invalid encryption_spec.kms_key {spec.kms_key!r}: the key must be in the spec's location "
                f"({location.rsplit('/', 1)[-1]})."
            )
        with self._lock:
            self._advance()
            # InitializeEncryptionSpec: "An error will result if the location has resources already created before
            # the initialization. After the encryption specification is initialized at a location, it is immutable"
            if location in self._encryption_keys:
                raise exceptions.FailedPrecondition(
                    f"The encryption spec of {location} is already initialized (with "
                    f"{self._encryption_keys[location]}); it is immutable."
                )
            others = [*getattr(self, "_models", {}), *getattr(self, "_phrase_matchers", {})]
            existing = [c.name for c in self.conversations_under(location)] + [
                n for n in others if n.startswith(location + "/")]
            if existing:
                raise exceptions.FailedPrecondition(
                    f"{location} already has {len(existing)} resources (e.g. {existing[0]}); the encryption spec can "
                    "only be initialized before any resource is created."
                )
            self._encryption_keys[location] = spec.kms_key

            def rollback() -> None:
                self._encryption_keys.pop(location, None)

            return self._start(
                "InitializeEncryptionSpecMetadata", request, location,
                lambda: types.InitializeEncryptionSpecResponse.pb()(), rollback,
            )

    def query_metrics(self, request: Message) -> operations_pb2.Operation:
        terms = parse_filter(request.filter)
        # filter: "Must specify a window of the conversation create time to compute the metrics. The returned
        # metrics will be from the range [DATE(starting create time), DATE(ending create time))."
        window = time_window(terms)
        if window is None:
            raise exceptions.InvalidArgument(
                f"Invalid filter {request.filter!r}: it must bound create_time on both sides, e.g. "
                'create_time >= "2026-01-01T00:00:00Z" AND create_time < "2026-02-01T00:00:00Z".'
            )
        # dimensions: "Up to one dimension is supported for now." ... "If a dimension is specified, its key must
        # also be specified."
        if len(request.dimensions) > 1:
            raise exceptions.InvalidArgument(
                f"Invalid dimensions: {len(request.dimensions)} given, up to one dimension is supported."
            )
        for index, dimension in enumerate(request.dimensions):
            if not dimension.dimension_key:
                raise exceptions.InvalidArgument(f"Invalid dimensions[{index}].dimension_key: a key is required.")
            raise exceptions.MethodNotImplemented("The emulator does not model QueryMetrics dimensions.")
        if request.time_granularity not in (Granularity.TIME_GRANULARITY_UNSPECIFIED, Granularity.NONE):
            raise exceptions.MethodNotImplemented(
                "The emulator models time_granularity NONE only (a total, no time series)."
            )
        location = request.location

        def finish() -> Message:
            with self._lock:
                found = [c for c in self.conversations_under(location) if matches(c, terms)]
            response = types.QueryMetricsResponse.pb()(location=location)
            response.update_time.CopyFrom(_timestamp(self.wall()))
            total = response.slices.add().total
            total.interval.start_time.CopyFrom(_timestamp(window[0]))
            total.interval.end_time.CopyFrom(_timestamp(window[1]))
            measure = total.conversation_measure
            measure.conversation_count = len(found)
            if found:
                seconds = sum(c.duration.seconds for c in found) / len(found)
                measure.average_duration.FromNanoseconds(int(seconds * 1e9))
                measure.average_turn_count = sum(c.turn_count for c in found) / len(found)
            return response

        with self._lock:
            return self._start("QueryMetricsMetadata", request, location, finish)

    def tune_qa_scorecard_revision(self, request: Message) -> operations_pb2.Operation:
        # filter: "Required. Filter for selecting the feedback labels that needs to be used for training." A filter
        # of blanks selects nothing (the emulator's reading, as for BulkAnalyzeConversations).
        if not request.filter.strip():
            raise exceptions.InvalidArgument(f"Invalid filter {request.filter!r}: a feedback label filter is required.")
        # The emulator serves no QA scorecard methods, so a revision cannot be looked up: any revision named in
        # the HTTP rule's form is accepted, with two questions of its own.
        questions = [f"{request.parent}/qaQuestions/{n}" for n in (101, 102)]
        labels = 20 + len(request.filter) % 30

        def progress(fraction: float, metadata: Message) -> None:
            # tuning_completion_ratio: "Always between 0 and 1 where 0 indicates the job has not started".
            metadata.tuning_completion_ratio = fraction
            if not metadata.qa_question_dataset_validation_results:
                for question in questions:
                    result = metadata.qa_question_dataset_validation_results.add(question=question)
                    result.valid_feedback_labels_count = labels
            if fraction >= 1.0 and not request.validate_only and not metadata.qa_question_dataset_tuning_metrics:
                # "validate only mode, no fine tuning will actually run": no tuning metrics then.
                for index, question in enumerate(questions):
                    tuned = metadata.qa_question_dataset_tuning_metrics.add(question=question)
                    tuned.metrics.accuracy = 0.8 + index / 20

        with self._lock:
            return self._start(
                "TuneQaScorecardRevisionMetadata", request, _location_of(request.parent),
                lambda: types.TuneQaScorecardRevisionResponse.pb()(), progress=progress,
            )


def _check_settings(settings: Message) -> None:
    """What the Settings fields' docs allow; INVALID_ARGUMENT naming the field and the value otherwise."""
    for key, topic in settings.pubsub_notification_settings.items():
        if key not in NOTIFICATION_TRIGGERS:
            raise exceptions.InvalidArgument(
                f"Invalid settings.pubsub_notification_settings key {key!r}: the supported notification triggers "
                f"are {', '.join(NOTIFICATION_TRIGGERS)}."
            )
        if not _TOPIC.match(topic):
            raise exceptions.InvalidArgument(
                f"Invalid settings.pubsub_notification_settings[{key!r}] {topic!r}: expected a Pub/Sub topic, "
                "projects/{project}/topics/{topic}."
            )
    if settings.HasField("conversation_ttl"):
        check_ttl(settings.conversation_ttl, "settings.conversation_ttl")
    # AnalysisConfig: "Percentage of conversations ... to analyze automatically, between [0, 100]."
    config = settings.analysis_config
    for name in ("runtime_integration_analysis_percentage", "upload_conversation_analysis_percentage"):
        value = getattr(config, name)
        if not 0 <= value <= 100:  # `not <=` refuses NaN too
            raise exceptions.InvalidArgument(
                f"Invalid settings.analysis_config.{name} {value}: expected a percentage between 0 and 100."
            )
