"""The conversation and insights operators (conversations.py): bulk analyze, ingest from Cloud Storage, export to
BigQuery: the requests they build, their lineage, and runs by Airflow (dag.test) against the emulator."""

from __future__ import annotations

import re
from typing import Any

import pytest
from google.cloud.contact_center_insights_v1 import types

from ccai_airflow import lineage
from ccai_airflow.emulator import Emulator
from ccai_airflow.operators import (
    ContactCenterInsightsBulkAnalyzeConversationsOperator,
    ContactCenterInsightsExportInsightsDataOperator,
    ContactCenterInsightsIngestConversationsOperator,
)
from tests.conftest import PARENT
from tests.helpers import run_dag, states, xcom

INSIGHTS = f"contactcenterinsights://{PARENT}"
BASE_TEMPLATES = ("project_id", "location", "gcp_conn_id", "impersonation_chain")
Ingest = types.IngestConversationsRequest
Export = types.ExportInsightsDataRequest


def names(datasets: lineage.Datasets) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    return [(d.namespace, d.name) for d in datasets.inputs], [(d.namespace, d.name) for d in datasets.outputs]


def analyze(**kwargs: Any) -> ContactCenterInsightsBulkAnalyzeConversationsOperator:
    return ContactCenterInsightsBulkAnalyzeConversationsOperator(task_id="analyze", **{"filter": "x", **kwargs})


def ingest(**kwargs: Any) -> ContactCenterInsightsIngestConversationsOperator:
    return ContactCenterInsightsIngestConversationsOperator(
        task_id="ingest", **{"gcs_source": {"bucket_uri": "gs://calls"}, **kwargs})


def export(**kwargs: Any) -> ContactCenterInsightsExportInsightsDataOperator:
    return ContactCenterInsightsExportInsightsDataOperator(
        task_id="export", project_id="test-project", **{"big_query_destination": {"dataset": "d"}, **kwargs})


def test_conversation_operators(emulator_env: Emulator, airflow_db: str) -> None:
    dag_run = run_dag("ccai_test_conversations")

    assert set(states(dag_run).values()) == {"success"}
    analysis = xcom(dag_run, "analyze")
    assert analysis["@type"].endswith(".BulkAnalyzeConversationsResponse")
    assert int(analysis["successfulAnalysisCount"]) > 0
    ingest_request = xcom(dag_run, "ingest", "operation")["metadata"]["request"]
    assert ingest_request["gcsSource"]["bucketUri"] == f"gs://calls/{dag_run.logical_date.strftime('%Y-%m-%d')}/"
    export_request = xcom(dag_run, "export", "operation")["metadata"]["request"]
    assert export_request["bigQueryDestination"]["table"] == f"t_{dag_run.logical_date.strftime('%Y%m%d')}"
    assert export_request["writeDisposition"] == "WRITE_APPEND"


# -- bulk analyze -----------------------------------------------------------------------------------------------
def test_bulk_analyze_builds_its_request_from_the_rendered_filter_and_the_selector() -> None:
    op = analyze(filter='create_time > "{{ ds }}"', analysis_percentage=20, annotator_selector={
        "run_issue_model_annotator": True, "issue_models": [f"{PARENT}/issueModels/7"]})

    op.render_template_fields({"ds": "2026-01-05"})
    request = op.build_request(PARENT)

    assert type(request) is types.BulkAnalyzeConversationsRequest
    assert (request.parent, request.filter) == (PARENT, 'create_time > "2026-01-05"')
    assert request.analysis_percentage == 20.0
    assert request.annotator_selector.run_issue_model_annotator is True
    assert list(request.annotator_selector.issue_models) == [f"{PARENT}/issueModels/7"]


def test_bulk_analyze_defaults_to_every_selected_conversation_and_no_selector() -> None:
    request = analyze().build_request(PARENT)

    assert request.analysis_percentage == 100.0
    assert "annotator_selector" not in request


@pytest.mark.parametrize(("kwargs", "shown"), [
    ({"analysis_percentage": 0}, "Invalid analysis_percentage 0: expected a number in (0, 100]."),
    ({"analysis_percentage": 100.5}, "Invalid analysis_percentage 100.5"),
    ({"analysis_percentage": True}, "Invalid analysis_percentage True"),
    ({"filter": "  "}, "Invalid filter '  ': expected a non-empty conversation filter."),
    ({"annotator_selector": {"run_everything": True}},
     "Invalid annotator_selector {'run_everything': True}: not a AnnotatorSelector"),
])
def test_bulk_analyze_names_a_bad_argument(kwargs: dict[str, Any], shown: str) -> None:
    with pytest.raises(ValueError, match=re.escape(shown)):
        analyze(**kwargs).build_request(PARENT)


# -- ingest -----------------------------------------------------------------------------------------------------
def test_ingest_builds_its_request_from_the_rendered_source_and_each_config() -> None:
    op = ingest(
        gcs_source={"bucket_uri": "gs://calls/{{ ds }}/", "metadata_bucket_uri": "gs://meta/{{ ds }}"},
        transcript_object_config={"medium": "PHONE_CALL"}, sample_size=7,
        conversation_config={"agent_id": "agent-1", "agent_channel": 1, "customer_channel": 2},
    )

    op.render_template_fields({"ds": "2026-01-05"})
    request = op.build_request(PARENT)

    assert type(request) is Ingest
    assert request.parent == PARENT
    assert request.gcs_source.bucket_uri == "gs://calls/2026-01-05/"
    assert request.gcs_source.metadata_bucket_uri == "gs://meta/2026-01-05"
    assert request.transcript_object_config.medium == types.Conversation.Medium.PHONE_CALL
    config = request.conversation_config
    assert (config.agent_id, config.agent_channel, config.customer_channel) == ("agent-1", 1, 2)
    assert request.sample_size == 7


@pytest.mark.parametrize(("kwargs", "shown"), [
    ({"gcs_source": {"bucket_uri": "s3://calls"}},
     "Invalid gcs_source {'bucket_uri': 's3://calls'}: expected a bucket_uri gs://BUCKET[/PREFIX]."),
    ({"gcs_source": "gs://calls"}, "Invalid gcs_source 'gs://calls': expected a dict or GcsSource."),
    ({"transcript_object_config": {"medium": "FAX"}}, "Invalid transcript_object_config {'medium': 'FAX'}"),
    ({"conversation_config": {"agent": "a"}}, "Invalid conversation_config {'agent': 'a'}: not a ConversationConfig"),
    ({"gcs_source": {"bucket_uri": "gs://"}}, "Invalid gcs_source {'bucket_uri': 'gs://'}: expected a bucket_uri"),
    ({"sample_size": "5"}, "Invalid sample_size '5': expected an integer >= 0"),
    ({"sample_size": -1}, "Invalid sample_size -1: expected an integer >= 0"),
    ({"sample_size": True}, "Invalid sample_size True"),
])
def test_ingest_names_a_bad_argument(kwargs: dict[str, Any], shown: str) -> None:
    with pytest.raises(ValueError, match=re.escape(shown)):
        ingest(**kwargs).build_request(PARENT)


# -- export -----------------------------------------------------------------------------------------------------
def test_export_builds_its_request_from_the_rendered_destination_and_filter() -> None:
    op = export(big_query_destination={"project_id": "bq", "dataset": "insights", "table": "t_{{ ds_nodash }}"},
                filter='agent_id = "{{ params.agent }}"', write_disposition="WRITE_TRUNCATE",
                kms_key="projects/p/locations/us-central1/keyRings/r/cryptoKeys/k")

    op.render_template_fields({"ds_nodash": "20260105", "params": {"agent": "a-1"}})
    request = op.build_request(PARENT)

    assert type(request) is Export
    assert request.parent == PARENT
    destination = request.big_query_destination
    assert (destination.project_id, destination.dataset, destination.table) == ("bq", "insights", "t_20260105")
    assert request.filter == 'agent_id = "a-1"'
    assert request.write_disposition == Export.WriteDisposition.WRITE_TRUNCATE
    assert request.kms_key == "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k"


def test_export_without_options_sends_an_empty_filter_and_no_disposition() -> None:
    request = export(filter=None).build_request(PARENT)

    assert request.filter == ""
    assert request.write_disposition == Export.WriteDisposition.WRITE_DISPOSITION_UNSPECIFIED
    assert request.kms_key == ""


@pytest.mark.parametrize(("kwargs", "shown"), [
    ({"big_query_destination": {"table": "t"}}, "Invalid big_query_destination {'table': 't'}: expected at least a "
                                                "dataset."),
    ({"big_query_destination": {"dataset": "d", "schema": "s"}}, "Invalid big_query_destination {'dataset': 'd', "),
    ({"write_disposition": "OVERWRITE"}, "Invalid write_disposition 'OVERWRITE': expected one of "
                                         "['WRITE_DISPOSITION_UNSPECIFIED', 'WRITE_TRUNCATE', 'WRITE_APPEND']."),
    ({"filter": 5}, "Invalid filter 5: expected a conversation filter string ('' for all)."),
    ({"kms_key": 5}, "Invalid kms_key 5: expected a Cloud KMS key name or None."),
])
def test_export_names_a_bad_argument(kwargs: dict[str, Any], shown: str) -> None:
    with pytest.raises(ValueError, match=re.escape(shown)):
        export(**kwargs).build_request(PARENT)


# -- what each operator templates, and its lineage --------------------------------------------------------------
def test_what_each_operator_templates() -> None:
    assert ContactCenterInsightsBulkAnalyzeConversationsOperator.template_fields == (*BASE_TEMPLATES, "filter")
    assert ContactCenterInsightsIngestConversationsOperator.template_fields == (*BASE_TEMPLATES, "gcs_source")
    assert ContactCenterInsightsExportInsightsDataOperator.template_fields == (
        *BASE_TEMPLATES, "big_query_destination", "filter")


def test_the_operators_name_what_they_read_and_write() -> None:
    common: dict[str, Any] = {"task_id": "op", "project_id": "test-project"}
    assert names(ContactCenterInsightsBulkAnalyzeConversationsOperator(filter="x", **common).lineage_datasets()) == (
        [(INSIGHTS, "conversations")], [(INSIGHTS, "conversations/analyses")])
    from_gcs = ingest(project_id="test-project",
                      gcs_source={"bucket_uri": "gs://calls/chats/", "metadata_bucket_uri": "gs://meta/chats/"})
    assert names(from_gcs.lineage_datasets()) == (
        [("gs://calls", "chats"), ("gs://meta", "chats")], [(INSIGHTS, "conversations")])
    # The table is in the destination's project; with no table there is no output.
    to_bq = export(big_query_destination={"project_id": "bq", "dataset": "d", "table": "t"})
    assert names(to_bq.lineage_datasets()) == (
        [(INSIGHTS, "conversations"), (INSIGHTS, "conversations/analyses")], [("bigquery", "bq.d.t")])
    assert to_bq.lineage_datasets().outputs[0].bigquery == "bq.d.t"
    assert names(export().lineage_datasets())[1] == []


# -- runs against the emulator ----------------------------------------------------------------------------------
def test_export_writes_the_rendered_table_of_the_operators_project(emulator_env: Emulator, airflow_db: str) -> None:
    dag_run = run_dag("ccai_test_op_export_wait")

    assert states(dag_run) == {"setup": "success", "operator": "success"}
    table = f"t_{dag_run.logical_date.strftime('%Y%m%d')}"
    written = emulator_env.backend.get_bigquery_table("test-project", "d", table)
    assert written["tableReference"] == {"projectId": "test-project", "datasetId": "d", "tableId": table}
    assert xcom(dag_run, "operator") == {
        "@type": "type.googleapis.com/google.cloud.contactcenterinsights.v1.ExportInsightsDataResponse"}
