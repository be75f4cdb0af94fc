"""Location-level operators: initialize the encryption spec, query metrics, tune a QA scorecard revision."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from google.cloud.contact_center_insights_v1 import types
from google.protobuf import field_mask_pb2

from ccai_airflow.core.names import child_name
from ccai_airflow.operators.base import ContactCenterInsightsStartOperationOperator, _message

__all__ = [
    "ContactCenterInsightsInitializeEncryptionSpecOperator",
    "ContactCenterInsightsQueryMetricsOperator",
    "ContactCenterInsightsTuneQaScorecardRevisionOperator",
]

_KMS_KEY = re.compile(r"^projects/[^/\s]+/locations/[^/\s]+/keyRings/[^/\s]+/cryptoKeys/[^/\s]+$")
_Base = ContactCenterInsightsStartOperationOperator


def _filter(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"Invalid filter {value!r}: expected a non-empty string selecting {what}.")
    return value


class ContactCenterInsightsInitializeEncryptionSpecOperator(_Base):
    """Initialize the location's customer-managed encryption key (CMEK).

    The API refuses it when the location already holds resources, and the spec is immutable once set.
    Returns the (empty) ``InitializeEncryptionSpecResponse``; XCom ``partial_errors`` holds the metadata's.

    :param kms_key: ``projects/{project}/locations/{location}/keyRings/{ring}/cryptoKeys/{key}``, in the same
        location (templated).
    """

    template_fields: Sequence[str] = (*_Base.template_fields, "kms_key")

    def __init__(self, *, kms_key: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kms_key = kms_key

    def build_request(self, parent: str) -> Any:
        if not isinstance(self.kms_key, str) or not _KMS_KEY.match(self.kms_key):
            raise ValueError(
                f"Invalid kms_key {self.kms_key!r}: expected "
                "projects/{project}/locations/{location}/keyRings/{key_ring}/cryptoKeys/{crypto_key}."
            )
        # EncryptionSpec.kms_key: "Only the key in the same location as this resource is allowed to be used."
        key_location = self.kms_key.split("/")[3]
        if key_location != parent.rsplit("/", 1)[-1]:
            raise ValueError(f"Invalid kms_key {self.kms_key!r}: its location {key_location!r} is not the operator's "
                             f"location {parent.rsplit('/', 1)[-1]!r}; the API allows only a key in the same location.")
        return types.InitializeEncryptionSpecRequest(
            encryption_spec={"name": f"{parent}/encryptionSpec", "kms_key": self.kms_key}
        )


class ContactCenterInsightsQueryMetricsOperator(_Base):
    """Compute conversation metrics over a window of conversation create times.

    QueryMetrics is a **Preview** method: Google enables it per project (on request), and a project
    without it gets an error from the API. Returns the ``QueryMetricsResponse``; XCom ``slices`` holds
    its ``slices``.

    :param filter: must bound ``create_time`` on both sides (templated), e.g.
        ``create_time >= "{{ data_interval_start.isoformat() }}" AND create_time < "{{ ... }}"``.
    :param time_granularity: ``NONE`` (default), ``DAILY``, ``HOURLY``, ...
    :param dimensions: up to one ``Dimension`` as a dict.
    :param measure_mask: the measures to return, e.g. ``["conversation_measure.conversation_count"]``.
    """

    template_fields: Sequence[str] = (*_Base.template_fields, "filter")

    def __init__(
        self, *, filter: str, time_granularity: str | None = None, dimensions: list[dict[str, Any]] | None = None,
        measure_mask: list[str] | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.filter = filter
        self.time_granularity = time_granularity
        self.dimensions = dimensions
        self.measure_mask = measure_mask

    def build_request(self, parent: str) -> Any:
        request = types.QueryMetricsRequest(location=parent, filter=_filter(self.filter, "a create_time window"))
        if self.time_granularity is not None:
            known = types.QueryMetricsRequest.TimeGranularity.__members__
            if self.time_granularity not in known:
                raise ValueError(f"Invalid time_granularity {self.time_granularity!r}: expected one of {list(known)}.")
            request.time_granularity = known[self.time_granularity]
        if self.dimensions is not None:
            if not isinstance(self.dimensions, list):
                raise ValueError(f"Invalid dimensions {self.dimensions!r}: expected a list of Dimension dicts.")
            request.dimensions = [_message(types.Dimension, d, "dimensions") for d in self.dimensions]
        if self.measure_mask is not None:
            if not isinstance(self.measure_mask, list) or not all(isinstance(p, str) and p for p in self.measure_mask):
                raise ValueError(f"Invalid measure_mask {self.measure_mask!r}: expected a list of field paths.")
            request.measure_mask = field_mask_pb2.FieldMask(paths=self.measure_mask)
        return request


class ContactCenterInsightsTuneQaScorecardRevisionOperator(_Base):
    """Fine-tune the QA models of one scorecard revision on feedback labels.

    The response (``TuneQaScorecardRevisionResponse``) is empty; the results are in the metadata, pushed as
    XComs ``dataset_validation_results`` (per question, valid label counts and warnings) and
    ``tuning_metrics`` (per question, the tuned model's accuracy; none with ``validate_only``).

    :param qa_scorecard_id: the scorecard, an id or ``projects/.../qaScorecards/ID`` (templated).
    :param revision_id: the revision's id (templated).
    :param filter: the feedback labels to train on (templated).
    :param validate_only: run the data validations only.
    """

    template_fields: Sequence[str] = (*_Base.template_fields, "qa_scorecard_id", "revision_id", "filter")

    def __init__(
        self, *, qa_scorecard_id: str, revision_id: str, filter: str, validate_only: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.qa_scorecard_id = qa_scorecard_id
        self.revision_id = revision_id
        self.filter = filter
        self.validate_only = validate_only

    def build_request(self, parent: str) -> Any:
        scorecard = child_name(parent, "qaScorecards", self.qa_scorecard_id, "qa_scorecard_id")
        revision = child_name(scorecard, "revisions", self.revision_id, "revision_id")
        if not isinstance(self.validate_only, bool):
            raise ValueError(f"Invalid validate_only {self.validate_only!r}: expected True or False.")
        return types.TuneQaScorecardRevisionRequest(
            parent=revision, filter=_filter(self.filter, "feedback labels"), validate_only=self.validate_only
        )

