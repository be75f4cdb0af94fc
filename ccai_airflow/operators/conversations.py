"""Operators on conversations and insights: bulk analyze, ingest from Cloud Storage, export to BigQuery."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from airflow.providers.google.cloud.links.bigquery import BigQueryTableLink
from google.cloud.contact_center_insights_v1 import types

from ccai_airflow import lineage
from ccai_airflow.links import persist_no_url, persist_url
from ccai_airflow.operators.base import ContactCenterInsightsStartOperationOperator, _message

__all__ = [
    "ContactCenterInsightsBulkAnalyzeConversationsOperator",
    "ContactCenterInsightsExportInsightsDataOperator",
    "ContactCenterInsightsIngestConversationsOperator",
]


# GcsSource.bucket_uri: "Required. The Cloud Storage bucket containing source objects." A bucket, maybe a prefix.
_BUCKET_URI = re.compile(r"gs://[^/\s]+(/\S*)?")

class ContactCenterInsightsBulkAnalyzeConversationsOperator(ContactCenterInsightsStartOperationOperator):
    """Analyze the conversations a filter selects.

    :param filter: the conversations to analyze, e.g. ``create_time > "{{ data_interval_start }}"`` (templated).
    :param analysis_percentage: percentage of the selected conversations to analyze, in (0, 100].
    :param annotator_selector: which annotators to run (``AnnotatorSelector`` as a dict).
    """

    template_fields: Sequence[str] = (*ContactCenterInsightsStartOperationOperator.template_fields, "filter")

    def __init__(
        self, *, filter: str, analysis_percentage: float = 100.0,
        annotator_selector: dict[str, Any] | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.filter = filter
        self.analysis_percentage = analysis_percentage
        self.annotator_selector = annotator_selector

    def build_request(self, parent: str) -> Any:
        if not isinstance(self.filter, str) or not self.filter.strip():
            raise ValueError(f"Invalid filter {self.filter!r}: expected a non-empty conversation filter.")
        pct = self.analysis_percentage
        if isinstance(pct, bool) or not isinstance(pct, int | float) or not 0 < pct <= 100:
            raise ValueError(f"Invalid analysis_percentage {pct!r}: expected a number in (0, 100].")
        request = types.BulkAnalyzeConversationsRequest(parent=parent, filter=self.filter, analysis_percentage=pct)
        if self.annotator_selector is not None:
            selector = _message(types.AnnotatorSelector, self.annotator_selector, "annotator_selector")
            request.annotator_selector = selector
        return request

    def lineage_datasets(self) -> lineage.Datasets:
        """The location's conversations in, their analyses out."""
        parent = self._parent()
        return lineage.Datasets(inputs=(lineage.conversations(parent),), outputs=(lineage.analyses(parent),))


class ContactCenterInsightsIngestConversationsOperator(ContactCenterInsightsStartOperationOperator):
    """Import conversations from Cloud Storage.

    :param gcs_source: ``{"bucket_uri": "gs://bucket/prefix"}`` (templated).
    :param transcript_object_config: e.g. ``{"medium": "CHAT"}``.
    :param conversation_config: ``IngestConversationsRequest.ConversationConfig`` as a dict.
    :param sample_size: import at most this many conversations.
    """

    notification_trigger = "ingest-conversations"

    template_fields: Sequence[str] = (*ContactCenterInsightsStartOperationOperator.template_fields, "gcs_source")

    def __init__(
        self, *, gcs_source: dict[str, Any], transcript_object_config: dict[str, Any] | None = None,
        conversation_config: dict[str, Any] | None = None, sample_size: int | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.gcs_source = gcs_source
        self.transcript_object_config = transcript_object_config
        self.conversation_config = conversation_config
        self.sample_size = sample_size

    def build_request(self, parent: str) -> Any:
        request_type = types.IngestConversationsRequest
        source = _message(request_type.GcsSource, self.gcs_source, "gcs_source")
        if not _BUCKET_URI.fullmatch(source.bucket_uri):
            raise ValueError(f"Invalid gcs_source {self.gcs_source!r}: expected a bucket_uri gs://BUCKET[/PREFIX].")
        request = request_type(parent=parent, gcs_source=source)
        if self.transcript_object_config is not None:
            request.transcript_object_config = _message(
                request_type.TranscriptObjectConfig, self.transcript_object_config, "transcript_object_config")
        if self.conversation_config is not None:
            request.conversation_config = _message(
                request_type.ConversationConfig, self.conversation_config, "conversation_config")
        if self.sample_size is not None:
            size = self.sample_size
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise ValueError(f"Invalid sample_size {size!r}: expected an integer >= 0 (how many) or None.")
            request.sample_size = size
        return request

    def lineage_datasets(self) -> lineage.Datasets:
        """The Cloud Storage objects (and their metadata objects, if named) in, the location's conversations out."""
        parent = self._parent()
        source = self.build_request(parent).gcs_source
        inputs = [lineage.gcs_objects(source.bucket_uri)]
        if source.metadata_bucket_uri:
            inputs.append(lineage.gcs_objects(source.metadata_bucket_uri))
        return lineage.Datasets(inputs=tuple(inputs), outputs=(lineage.conversations(parent),))


class ContactCenterInsightsExportInsightsDataOperator(ContactCenterInsightsStartOperationOperator):
    """Export insights data to BigQuery.

    Besides the operator's links it links the destination table with the Google provider's
    ``BigQueryTableLink`` (in the table's project: the destination's ``project_id``, else the
    operator's); with no ``table`` in the destination there is no table to link.

    :param big_query_destination: ``{"project_id": ..., "dataset": ..., "table": ...}`` (templated).
    :param filter: the conversations to export (templated).
    :param write_disposition: ``WRITE_TRUNCATE`` or ``WRITE_APPEND``.
    """

    notification_trigger = "export-insights-data"

    template_fields: Sequence[str] = (
        *ContactCenterInsightsStartOperationOperator.template_fields, "big_query_destination", "filter",
    )
    operator_extra_links = (*ContactCenterInsightsStartOperationOperator.operator_extra_links, BigQueryTableLink())

    def __init__(
        self, *, big_query_destination: dict[str, Any], filter: str = "", kms_key: str | None = None,
        write_disposition: str | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.big_query_destination = big_query_destination
        self.filter = filter
        self.kms_key = kms_key
        self.write_disposition = write_disposition

    def build_request(self, parent: str) -> Any:
        request_type = types.ExportInsightsDataRequest
        destination = _message(request_type.BigQueryDestination, self.big_query_destination, "big_query_destination")
        if not destination.dataset:
            raise ValueError(
                f"Invalid big_query_destination {self.big_query_destination!r}: expected at least a dataset."
            )
        if self.filter is not None and not isinstance(self.filter, str):
            raise ValueError(f"Invalid filter {self.filter!r}: expected a conversation filter string ('' for all).")
        if self.kms_key is not None and not isinstance(self.kms_key, str):
            raise ValueError(f"Invalid kms_key {self.kms_key!r}: expected a Cloud KMS key name or None.")
        request = request_type(parent=parent, big_query_destination=destination, filter=self.filter or "")
        if self.kms_key:
            request.kms_key = self.kms_key
        if self.write_disposition is not None:
            dispositions = request_type.WriteDisposition.__members__
            if self.write_disposition not in dispositions:
                raise ValueError(
                    f"Invalid write_disposition {self.write_disposition!r}: expected one of {list(dispositions)}."
                )
            request.write_disposition = dispositions[self.write_disposition]
        return request

    def execute(self, context: Any) -> Any:
        destination = self.build_request(self._parent()).big_query_destination
        if destination.table:
            persist_url(BigQueryTableLink, context, project_id=destination.project_id or self._project_id(),
                        dataset_id=destination.dataset, table_id=destination.table)
        else:  # no table to link; the key must exist all the same (persist_no_url)
            persist_no_url(BigQueryTableLink, context)
        return super().execute(context)

    def lineage_datasets(self) -> lineage.Datasets:
        """The conversations and their analyses in, the BigQuery table out (with its schema facet when it can be
        read). The table is in the destination's project, else the operator's (the API's rule)."""
        parent = self._parent()
        destination = self.build_request(parent).big_query_destination
        project = destination.project_id or self._project_id()
        table = (lineage.bigquery_table(project, destination.dataset, destination.table),) if destination.table else ()
        return lineage.Datasets(inputs=(lineage.conversations(parent), lineage.analyses(parent)), outputs=table)

