"""The feedback label operators (feedback_labels.py): bulk upload from a Cloud Storage object, bulk download to
objects: the requests they build, and a run by Airflow (dag.test) against the emulator. (test_bad_input.py has the
bad URIs, formats and filters; test_lineage.py the datasets.)"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from google.cloud.contact_center_insights_v1 import types

from ccai_airflow.emulator import Emulator
from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.operators import (
    ContactCenterInsightsBulkDownloadFeedbackLabelsOperator,
    ContactCenterInsightsBulkUploadFeedbackLabelsOperator,
)
from tests.conftest import PARENT
from tests.helpers import run_dag, states, xcom

BASE_TEMPLATES = ("project_id", "location", "gcp_conn_id", "impersonation_chain")
Upload = types.BulkUploadFeedbackLabelsRequest
Download = types.BulkDownloadFeedbackLabelsRequest


def download(**kwargs: Any) -> ContactCenterInsightsBulkDownloadFeedbackLabelsOperator:
    destination = {"object_uri": "gs://labels/out", "format": "CSV"}
    return ContactCenterInsightsBulkDownloadFeedbackLabelsOperator(
        task_id="download", **{"gcs_destination": destination, **kwargs})


def test_upload_builds_its_request_from_the_rendered_source() -> None:
    op = ContactCenterInsightsBulkUploadFeedbackLabelsOperator(
        task_id="upload", gcs_source={"object_uri": "gs://labels/{{ ds }}/in.csv", "format": "CSV"}, validate_only=True)

    op.render_template_fields({"ds": "2026-01-05"})
    request = op.build_request(PARENT)

    assert type(request) is Upload
    assert request.parent == PARENT
    assert request.gcs_source.object_uri == "gs://labels/2026-01-05/in.csv"
    assert request.gcs_source.format_ == Upload.GcsSource.Format.CSV
    assert request.validate_only is True


def test_upload_refuses_a_validate_only_that_is_not_a_flag_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match=re.escape("Invalid validate_only 'yes'")):
        ContactCenterInsightsBulkUploadFeedbackLabelsOperator(
            task_id="upload", gcs_source={"object_uri": "gs://labels/in.csv", "format": "CSV"},
            validate_only="yes",  # type: ignore[arg-type]
        )


def test_download_builds_its_request_from_every_argument() -> None:
    op = download(
        gcs_destination={"object_uri": "gs://labels/{{ ds }}/labels", "format": "JSON", "records_per_file_count": 10},
        filter='issue_model_id = "{{ params.model }}"', conversation_filter='agent_id = "{{ params.agent }}"',
        max_download_count=5, feedback_label_type="TOPIC_MODELING", template_qa_scorecard_id=["s1", "s2"],
    )

    op.render_template_fields({"ds": "2026-01-05", "params": {"model": "7", "agent": "a-1"}})
    request = op.build_request(PARENT)

    assert type(request) is Download
    assert request.parent == PARENT
    destination = request.gcs_destination
    assert (destination.object_uri, destination.format_) == ("gs://labels/2026-01-05/labels",
                                                             Download.GcsDestination.Format.JSON)
    assert destination.records_per_file_count == 10
    assert (request.filter, request.conversation_filter) == ('issue_model_id = "7"', 'agent_id = "a-1"')
    assert request.max_download_count == 5
    assert request.feedback_label_type == Download.FeedbackLabelType.TOPIC_MODELING
    assert list(request.template_qa_scorecard_id) == ["s1", "s2"]


def test_download_defaults_select_every_label() -> None:
    request = download().build_request(PARENT)

    assert (request.filter, request.conversation_filter, request.max_download_count) == ("", "", 0)
    assert request.feedback_label_type == Download.FeedbackLabelType.FEEDBACK_LABEL_TYPE_UNSPECIFIED
    assert list(request.template_qa_scorecard_id) == []


@pytest.mark.parametrize(("kwargs", "shown"), [
    ({"max_download_count": True}, "Invalid max_download_count True: expected a positive integer or None."),
    ({"max_download_count": -2}, "Invalid max_download_count -2"),
    ({"template_qa_scorecard_id": ["s1", ""]}, "Invalid template_qa_scorecard_id ['s1', '']"),
    ({"feedback_label_type": "FEEDBACK_LABEL_TYPE_UNSPECIFIED"},
     "Invalid feedback_label_type 'FEEDBACK_LABEL_TYPE_UNSPECIFIED'"),
    ({"gcs_destination": {"object_uri": "gs://labels/out", "format": "XML"}},
     "Invalid gcs_destination {'object_uri': 'gs://labels/out', 'format': 'XML'}: not a GcsDestination"),
])
def test_download_names_a_bad_argument(kwargs: dict[str, Any], shown: str) -> None:
    with pytest.raises(ValueError, match=re.escape(shown)):
        download(**kwargs).build_request(PARENT)


def test_what_each_operator_templates() -> None:
    assert ContactCenterInsightsBulkUploadFeedbackLabelsOperator.template_fields == (*BASE_TEMPLATES, "gcs_source")
    assert ContactCenterInsightsBulkUploadFeedbackLabelsOperator.template_fields_renderers == {"gcs_source": "json"}
    assert ContactCenterInsightsBulkDownloadFeedbackLabelsOperator.template_fields == (
        *BASE_TEMPLATES, "gcs_destination", "filter", "conversation_filter")
    assert ContactCenterInsightsBulkDownloadFeedbackLabelsOperator.template_fields_renderers == {
        "gcs_destination": "json"}


def test_download_writes_the_locations_labels_to_the_object_it_names(emulator_env: Emulator, airflow_db: str) -> None:
    records = [{"name": f"projects/x/locations/l/conversations/c{i}/feedbackLabels/l{i}",
                "labeledResource": f"{PARENT}/issueModels/1/issues/{i}", "label": f"topic-{i}"} for i in (1, 2)]
    emulator_env.write_object("gs://labels-bucket/seed.json", json.dumps(records))
    hook = ContactCenterInsightsHook()
    seeded = hook.start_operation(Upload(parent=PARENT, gcs_source={"object_uri": "gs://labels-bucket/seed.json",
                                                                     "format_": "JSON"}))
    hook.wait_for_operation(seeded.name, poll_interval=0.05)

    dag_run = run_dag("ccai_test_op_download_labels_wait")

    assert states(dag_run) == {"setup": "success", "operator": "success"}
    [written] = xcom(dag_run, "operator", "file_names")
    assert written == f"gs://labels-bucket/{dag_run.logical_date.strftime('%Y-%m-%d')}/labels.csv"
    rows = list(csv.reader(io.StringIO(emulator_env.read_object(written))))
    # Refiled under the location they were uploaded to.
    assert [row[1:] for row in rows[1:]] == [[r["labeledResource"], r["label"]] for r in records]
    assert [row[0] for row in rows[1:]] == [f"{PARENT}/conversations/c{i}/feedbackLabels/l{i}" for i in (1, 2)]
    assert xcom(dag_run, "operator", "download_stats")["successfulDownloadCount"] == 2


def test_download_takes_no_scorecards_as_none_or_empty() -> None:
    assert list(download(template_qa_scorecard_id=None).build_request(PARENT).template_qa_scorecard_id) == []
    assert list(download(template_qa_scorecard_id=["s1"]).build_request(PARENT).template_qa_scorecard_id) == ["s1"]
