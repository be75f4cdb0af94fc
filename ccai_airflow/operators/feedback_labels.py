"""Operators that move feedback labels in bulk through Cloud Storage: upload them from an object, download
them to objects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.cloud.contact_center_insights_v1 import types

from ccai_airflow import lineage
from ccai_airflow.core.names import validate_flag, validate_gcs_object_uri
from ccai_airflow.operators.base import ContactCenterInsightsStartOperationOperator, _message

__all__ = [
    "ContactCenterInsightsBulkDownloadFeedbackLabelsOperator",
    "ContactCenterInsightsBulkUploadFeedbackLabelsOperator",
]

Upload = types.BulkUploadFeedbackLabelsRequest
Download = types.BulkDownloadFeedbackLabelsRequest
FEEDBACK_LABELS = "conversations/feedbackLabels"  # lineage: the labels of a location's conversations


def _labels(parent: str) -> lineage.DatasetRef:
    return lineage.DatasetRef(lineage.insights_namespace(parent), FEEDBACK_LABELS)


def _format(message: Any, arg: str, value: Any) -> None:
    """The file format is Required: FORMAT_UNSPECIFIED (or none) is refused before the call."""
    if message.format_ == 0:
        raise ValueError(f"Invalid {arg} {value!r}: expected a format, 'CSV' or 'JSON'.")


def _text(arg: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"Invalid {arg} {value!r}: expected a string (a filter expression, or '' for none).")
    return value


class ContactCenterInsightsBulkUploadFeedbackLabelsOperator(ContactCenterInsightsStartOperationOperator):
    """Upload feedback labels from one Cloud Storage object (a file BulkDownloadFeedbackLabels wrote, say).

    The response is empty; the XCom ``upload_stats`` holds the operation's counts (``processedObjectCount``,
    ``failedValidationCount``, ``successfulUploadCount``), and ``operation`` its ``partialErrors``.

    :param gcs_source: ``{"object_uri": "gs://bucket/labels.csv", "format": "CSV"}`` (``CSV`` or ``JSON``;
        templated).
    :param validate_only: only validate the labels, upload none.
    """

    template_fields: Sequence[str] = (*ContactCenterInsightsStartOperationOperator.template_fields, "gcs_source")
    template_fields_renderers = {"gcs_source": "json"}

    def __init__(self, *, gcs_source: dict[str, Any], validate_only: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gcs_source = gcs_source
        self.validate_only = validate_flag("validate_only", validate_only)

    def build_request(self, parent: str) -> Any:
        source = _message(Upload.GcsSource, self.gcs_source, "gcs_source")
        validate_gcs_object_uri("gcs_source.object_uri", source.object_uri)
        _format(source, "gcs_source", self.gcs_source)
        return Upload(parent=parent, gcs_source=source, validate_only=self.validate_only)

    def lineage_datasets(self) -> lineage.Datasets:
        """The object in, the location's feedback labels out."""
        request = self.build_request(self._parent())
        return lineage.Datasets(inputs=(lineage.gcs_objects(request.gcs_source.object_uri),),
                                outputs=(_labels(request.parent),))


class ContactCenterInsightsBulkDownloadFeedbackLabelsOperator(ContactCenterInsightsStartOperationOperator):
    """Download feedback labels to Cloud Storage objects.

    The response is empty; the XComs ``file_names`` (the objects written) and ``download_stats`` come from
    the operation's metadata.

    :param gcs_destination: ``{"object_uri": "gs://bucket/prefix", "format": "CSV"}``; the extension is
        appended, and the name is a prefix when the labels are split across files (``records_per_file_count``;
        templated).
    :param filter: which labels, e.g. ``issue_model_id = "123"`` (templated).
    :param max_download_count: at most this many labels.
    :param feedback_label_type: ``QUALITY_AI`` or ``TOPIC_MODELING``.
    :param conversation_filter: the conversations whose labels to download (templated).
    :param template_qa_scorecard_id: scorecards to make a labeling template from.
    """

    template_fields: Sequence[str] = (
        *ContactCenterInsightsStartOperationOperator.template_fields, "gcs_destination", "filter",
        "conversation_filter",
    )
    template_fields_renderers = {"gcs_destination": "json"}

    def __init__(
        self, *, gcs_destination: dict[str, Any], filter: str = "", max_download_count: int | None = None,
        feedback_label_type: str | None = None, conversation_filter: str = "",
        template_qa_scorecard_id: Sequence[str] = (), **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.gcs_destination = gcs_destination
        self.filter = filter
        self.max_download_count = max_download_count
        self.feedback_label_type = feedback_label_type
        self.conversation_filter = conversation_filter
        self.template_qa_scorecard_id = template_qa_scorecard_id

    def build_request(self, parent: str) -> Any:
        destination = _message(Download.GcsDestination, self.gcs_destination, "gcs_destination")
        validate_gcs_object_uri("gcs_destination.object_uri", destination.object_uri)
        _format(destination, "gcs_destination", self.gcs_destination)
        request = Download(parent=parent, gcs_destination=destination, filter=_text("filter", self.filter),
                           conversation_filter=_text("conversation_filter", self.conversation_filter))
        count = self.max_download_count
        if count is not None:
            if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
                raise ValueError(f"Invalid max_download_count {count!r}: expected a positive integer or None.")
            request.max_download_count = count
        if self.feedback_label_type is not None:
            types_known = [name for name in Download.FeedbackLabelType.__members__ if not name.endswith("UNSPECIFIED")]
            if self.feedback_label_type not in types_known:
                raise ValueError(f"Invalid feedback_label_type {self.feedback_label_type!r}: expected one of "
                                 f"{types_known}.")
            request.feedback_label_type = Download.FeedbackLabelType.__members__[self.feedback_label_type]
        ids = () if self.template_qa_scorecard_id is None else self.template_qa_scorecard_id  # None: no template
        if isinstance(ids, str) or not all(isinstance(i, str) and i for i in ids):
            raise ValueError(f"Invalid template_qa_scorecard_id {ids!r}: expected a list of scorecard ids.")
        request.template_qa_scorecard_id = list(ids)
        return request

    def lineage_datasets(self) -> lineage.Datasets:
        """The location's feedback labels in, the objects under ``object_uri`` (a name or a prefix) out."""
        request = self.build_request(self._parent())
        return lineage.Datasets(inputs=(_labels(request.parent),),
                                outputs=(lineage.gcs_objects(request.gcs_destination.object_uri),))

