"""Feedback labels in bulk, through the emulator's Cloud Storage: BulkUploadFeedbackLabels reads an object
into the location's labels, BulkDownloadFeedbackLabels writes them out. A base of ``backend.Backend``.

The file formats are not documented by Google beyond the enum (CSV, JSON) and the download's notes
("CSV format. 1,000 labels are stored per CSV file by default.", "JSON format. 1 label stored per
JSON file by default.", "The file extension will be appended to the file name based on the format
selected."). The emulator's reading, the same for both methods so that a download uploads again:

* JSON: a JSON array of ``FeedbackLabel`` objects in proto3 JSON (an upload also takes one object);
* CSV: a header ``name,labeled_resource,label`` and one row per label (string labels only).

A label's ``name`` is ``projects/*/locations/*/conversations/{conversation}/feedbackLabels/{label}``; an
upload files it under the request's parent with the same conversation and label ids. A record without a
well-formed name, a ``labeled_resource`` or a label fails validation: it counts in
``failed_validation_count`` and adds a ``partial_errors`` entry, the others are uploaded.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

from google.api_core import exceptions
from google.cloud.contact_center_insights_v1 import types
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2

from ccai_airflow.emulator.lro import Message, Operations, _copy, _timestamp
from ccai_airflow.emulator.storage import Storage, parse_object_uri

FeedbackLabel = types.FeedbackLabel.pb()
Upload = types.BulkUploadFeedbackLabelsRequest
Download = types.BulkDownloadFeedbackLabelsRequest
_LABEL_NAME = re.compile(r"projects/[^/]+/locations/[^/]+/(?P<tail>conversations/[^/]+/feedbackLabels/[^/]+)")
CSV_HEADER = ("name", "labeled_resource", "label")
_EXTENSION = {Download.GcsDestination.Format.CSV: "csv", Download.GcsDestination.Format.JSON: "json"}
# "CSV format. 1,000 labels are stored per CSV file by default."; "JSON format. 1 label stored per JSON file by
# default."
_PER_FILE = {Download.GcsDestination.Format.CSV: 1000, Download.GcsDestination.Format.JSON: 1}


@dataclass
class FeedbackLabels(Operations):
    """The locations' feedback labels, uploaded from and downloaded to the emulator's Cloud Storage."""

    storage: Storage = field(default_factory=Storage)
    _labels: dict[str, Message] = field(default_factory=dict)

    def bulk_upload_feedback_labels(self, request: Message) -> Message:
        # oneof `source` ("Configuration for an external data store containing objects that will be converted to
        # FeedbackLabels"): with none there is nothing to upload.
        if not request.HasField("gcs_source"):
            raise exceptions.InvalidArgument("Invalid gcs_source: expected a source {format, object_uri}.")
        source = request.gcs_source
        # "Required. The Google Cloud Storage URI of the file to import. Format: gs://bucket_name/object_name"
        data = self.storage.read(source.object_uri, "gcs_source.object_uri")
        labels, errors = _parse(source.format_, source.object_uri, data, request.parent)
        total, failed = len(labels) + len(errors), len(errors)

        def progress(fraction: float, metadata: Message) -> None:
            stats = metadata.upload_stats
            stats.processed_object_count = int(total * fraction)
            stats.failed_validation_count = int(failed * fraction)
            # "validate_only: If set, upload will not happen and the labels will be validated."
            stats.successful_upload_count = 0 if request.validate_only else int(len(labels) * fraction)
            if fraction >= 1.0:
                del metadata.partial_errors[:]
                metadata.partial_errors.extend(errors)

        def finish() -> Message:
            if not request.validate_only:
                now = self.wall()
                for label in labels:
                    label.create_time.CopyFrom(self._labels[label.name].create_time if label.name in self._labels
                                               else _timestamp(now))
                    label.update_time.CopyFrom(_timestamp(now))
                    self._labels[label.name] = label
            return types.BulkUploadFeedbackLabelsResponse.pb()()

        with self._lock:
            return self._start("BulkUploadFeedbackLabelsMetadata", request, request.parent, finish, progress=progress)

    def bulk_download_feedback_labels(self, request: Message) -> Message:
        # oneof `destination`: "A cloud storage bucket destination."
        if not request.HasField("gcs_destination"):
            raise exceptions.InvalidArgument("Invalid gcs_destination: expected a destination {format, object_uri}.")
        destination = request.gcs_destination
        parse_object_uri("gcs_destination.object_uri", destination.object_uri)
        # "Limits the maximum number of feedback labels that will be downloaded" / "The number of records per file":
        # counts, so never negative (the emulator's reading); 0 is unset.
        if request.max_download_count < 0:
            raise exceptions.InvalidArgument(f"Invalid max_download_count {request.max_download_count}: expected >= 0.")
        if destination.records_per_file_count < 0:
            raise exceptions.InvalidArgument(
                f"Invalid gcs_destination.records_per_file_count {destination.records_per_file_count}: expected >= 0."
            )
        with self._lock:
            self._advance()
            prefix = request.parent + "/conversations/"
            chosen = [_copy(label) for name, label in sorted(self._labels.items())
                      if name.startswith(prefix) and _of_type(label, request.feedback_label_type)]
            processed = len(chosen)
            if request.max_download_count:
                chosen = chosen[: request.max_download_count]
            per_file = destination.records_per_file_count or _PER_FILE[destination.format_]
            chunks = [chosen[i : i + per_file] for i in range(0, len(chosen), per_file)] or [[]]
            extension = _EXTENSION[destination.format_]
            # "The file name will be used as a prefix for the files written to the bucket if the output needs to be
            # split across multiple files, otherwise it will be used as is." The suffix is the emulator's.
            uri, count = destination.object_uri, len(chunks)
            names = ([f"{uri}.{extension}"] if count == 1 else
                     [f"{uri}-{i + 1:05d}-of-{count:05d}.{extension}" for i in range(count)])

            def progress(fraction: float, metadata: Message) -> None:
                stats = metadata.download_stats
                stats.processed_object_count = int(processed * fraction)
                stats.successful_download_count = int(len(chosen) * fraction)
                stats.total_files_written = int(len(names) * fraction)
                del stats.file_names[:]
                stats.file_names.extend(names[: stats.total_files_written])

            def finish() -> Message:
                for name, chunk in zip(names, chunks, strict=True):
                    self.storage.write(name, _render(destination, chunk), "gcs_destination.object_uri")
                return types.BulkDownloadFeedbackLabelsResponse.pb()()

            return self._start("BulkDownloadFeedbackLabelsMetadata", request, request.parent, finish,
                               progress=progress)


def _of_type(label: Message, wanted: int) -> bool:
    """FeedbackLabelType: QUALITY_AI "all Quality AI labels", TOPIC_MODELING "only Topic Modeling labels"."""
    if wanted == Download.FeedbackLabelType.QUALITY_AI:
        return label.HasField("qa_answer_label") or "/qaQuestions/" in label.labeled_resource
    if wanted == Download.FeedbackLabelType.TOPIC_MODELING:
        return "/issueModels/" in label.labeled_resource
    return True


def _render(destination: Message, labels: list[Message]) -> bytes:
    if destination.format_ == Download.GcsDestination.Format.CSV:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for label in labels:
            writer.writerow([label.name, label.labeled_resource, label.label])
        return out.getvalue().encode()
    empty = destination.always_print_empty_fields
    records = [json_format.MessageToDict(label, always_print_fields_with_no_presence=empty) for label in labels]
    return json.dumps(records, indent=2 if destination.add_whitespace else None).encode()


def _parse(fmt: int, uri: str, data: bytes, parent: str) -> tuple[list[Message], list[Any]]:
    """The valid labels of an uploaded object, refiled under ``parent``, and a Status per invalid record."""
    try:
        text = data.decode()
        if fmt == Upload.GcsSource.Format.CSV:
            rows = list(csv.DictReader(io.StringIO(text)))
            records: list[Any] = [{key: value for key, value in row.items() if value} for row in rows]
        else:
            loaded = json.loads(text)
            records = loaded if isinstance(loaded, list) else [loaded]
    except (UnicodeDecodeError, ValueError, csv.Error) as exc:
        raise exceptions.InvalidArgument(
            f"Invalid gcs_source.object_uri {uri!r}: not a {Upload.GcsSource.Format(fmt).name} file of feedback "
            f"labels ({exc})."
        ) from None
    labels, errors = [], []
    for index, record in enumerate(records):
        try:
            label = json_format.ParseDict(record, FeedbackLabel())
            found = _LABEL_NAME.fullmatch(label.name)
            if found is None or not label.labeled_resource or label.WhichOneof("label_type") is None:
                raise ValueError("expected a name .../conversations/C/feedbackLabels/L, a labeled_resource and a label")
        except (ValueError, TypeError, json_format.ParseError) as exc:
            errors.append(status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=f"Record {index}: {exc}"))
            continue
        label.name = f"{parent}/{found['tail']}"
        label.ClearField("create_time")  # Output only
        label.ClearField("update_time")  # Output only
        labels.append(label)
    return labels, errors
