"""OpenLineage: the events of a real ``airflow dags test`` run, and the paths where lineage cannot be built.

The run goes through the OpenLineage provider's own listener with its file transport (one JSON
event a line), the emulator serving both Insights and BigQuery's ``tables.get`` for the table the
export wrote. The other tests call the operators' OpenLineage methods after a real operation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ccai_airflow import lineage
from ccai_airflow.emulator import Emulator
from ccai_airflow.emulator.bigquery import EXPORT_SCHEMA
from ccai_airflow.exceptions import ContactCenterInsightsOperationRetryableError
from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.operators import (
    ContactCenterInsightsCreateIssueModelOperator,
    ContactCenterInsightsExportInsightsDataOperator,
    ContactCenterInsightsIngestConversationsOperator,
)
from tests.conftest import DAGS_FOLDER, PARENT
from tests.helpers import start_create

DAG_ID = "ccai_test_lineage"
LOGICAL_DATE = "2026-01-05"
INSIGHTS = f"contactcenterinsights://{PARENT}"
AIRFLOW = Path(sys.executable).parent / "airflow"


def _xcoms(dag_id: str, key: str) -> dict[str, Any]:
    """The ``key`` XCom of each task of the DAG's only run, from the metadata database."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = list(session.scalars(select(XComModel).where(XComModel.dag_id == dag_id, XComModel.key == key)))
        assert len({row.run_id for row in rows}) == 1, rows
        return {row.task_id: XComModel.deserialize_value(row) for row in rows}


def _complete_events(path: Path) -> dict[str, dict[str, Any]]:
    """The COMPLETE event of each task, by task id, from the file transport's JSON lines."""
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {event["job"]["name"].split(".", 1)[1]: event for event in events
            if event["eventType"] == "COMPLETE" and "." in event["job"]["name"]}


def _names(datasets: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(dataset["namespace"], dataset["name"]) for dataset in datasets]


def test_airflow_dags_test_emits_our_datasets_schema_and_operations(
    emulator_env: Emulator, airflow_db: str, tmp_path: Path,
) -> None:
    events_file = tmp_path / "openlineage.jsonl"
    env = {
        **os.environ,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "ccai-test",
        "AIRFLOW__OPENLINEAGE__DISABLED": "False",
    }
    result = subprocess.run(
        [str(AIRFLOW), "dags", "test", DAG_ID, LOGICAL_DATE], env=env, cwd=DAGS_FOLDER.parent.parent,
        capture_output=True, text=True, timeout=240, check=False,
    )

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    # The listener forks to emit and waits for the child: the file is complete when the CLI exits.
    events = _complete_events(events_file)
    assert set(events) == {"ingest", "create", "export"}
    operation_names = _xcoms(DAG_ID, "operation_name")
    for task_id, event in events.items():
        facet = event["run"]["facets"][lineage.RUN_FACET]
        assert facet["operationName"] == operation_names[task_id]
        assert facet["operationName"].startswith(f"{PARENT}/operations/")
        assert (facet["done"], facet["status"]) == (True, "succeeded")
        assert facet["_producer"] == lineage.PRODUCER and facet["_schemaURL"] == lineage.SCHEMA_URL

    ingest = events["ingest"]
    assert _names(ingest["inputs"]) == [("gs://ccai-test-transcripts", "chats")]  # the wildcard cut to its folder
    assert _names(ingest["outputs"]) == [(INSIGHTS, "conversations")]

    create = events["create"]  # deferred: the run facet comes from execute_complete's finish()
    model = _xcoms(DAG_ID, "issue_model_name")["create"]
    assert _names(create["inputs"]) == [(INSIGHTS, "conversations")]
    assert _names(create["outputs"]) == [(INSIGHTS, "issueModels/" + model.rsplit("/", 1)[1])]
    assert create["outputs"][0]["facets"]["lifecycleStateChange"]["lifecycleStateChange"] == "CREATE"

    export = events["export"]
    assert _names(export["inputs"]) == [(INSIGHTS, "conversations"), (INSIGHTS, "conversations/analyses")]
    assert _names(export["outputs"]) == [("bigquery", "test-warehouse.insights.conversations_20260105")]
    schema = export["outputs"][0]["facets"]["schema"]["fields"]
    assert [(field["name"], field["type"]) for field in schema] == [(c["name"], c["type"]) for c in EXPORT_SCHEMA]


def _export(**destination: str) -> ContactCenterInsightsExportInsightsDataOperator:
    return ContactCenterInsightsExportInsightsDataOperator(
        task_id="export", project_id="test-project", big_query_destination=destination)


def test_a_table_that_cannot_be_read_gives_the_output_without_a_schema(
    emulator_env: Emulator, monkeypatch: pytest.MonkeyPatch,
) -> None:
    never_written = _export(dataset="insights", table="missing").get_openlineage_facets_on_complete(None)
    monkeypatch.delenv("CONTACT_CENTER_INSIGHTS_EMULATOR_REST")  # emulated, with no REST port to read from
    no_rest = _export(dataset="insights", table="t").get_openlineage_facets_on_complete(None)

    for found, name in ((never_written, "test-project.insights.missing"), (no_rest, "test-project.insights.t")):
        assert [(d.namespace, d.name, d.facets) for d in found.outputs] == [("bigquery", name, {})]
        assert found.run_facets == {}  # nothing was started


def test_lineage_that_cannot_be_built_is_none_and_says_so(
    emulator_env: Emulator, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:
    bad = ContactCenterInsightsIngestConversationsOperator(
        task_id="ingest", project_id="test-project", gcs_source={"bucket_uri": "s3://not-gcs"})

    assert bad.get_openlineage_facets_on_complete(None) is None
    output = capfd.readouterr()
    logged = output.out + output.err + caplog.text
    assert "could not build the lineage of task ingest; the task is not affected" in logged
    assert "Invalid gcs_source" in logged


def test_a_failed_operation_is_in_the_failure_run_facet(emulator_env: Emulator) -> None:
    emulator_env.fail_next_operations(1, code="FAILED_PRECONDITION", message="Not enough conversations")
    name = start_create()
    create = ContactCenterInsightsCreateIssueModelOperator(
        task_id="create", project_id="test-project", issue_model={"display_name": "m"})
    with pytest.raises(ContactCenterInsightsOperationRetryableError):
        create.finish({}, ContactCenterInsightsHook().wait_for_operation(name, timeout=30, poll_interval=0.1))

    found = create.get_openlineage_facets_on_failure(None)

    assert [(d.namespace, d.name) for d in found.inputs] == [(INSIGHTS, "conversations")]
    assert found.outputs == []  # no model was made
    facet = found.run_facets[lineage.RUN_FACET]
    assert (facet.operationName, facet.done, facet.status) == (name, True, "failed")
    assert (facet.errorCode, facet.errorMessage) == ("FAILED_PRECONDITION", "Not enough conversations")


def test_operators_import_and_skip_lineage_without_the_openlineage_provider() -> None:
    # A fresh interpreter where neither the provider's extractors nor the client can be imported, as without the
    # extra. (The provider's package itself stays importable: Airflow's provider discovery finds it installed.)
    code = (
        "import sys\n"
        "for name in ('openlineage', 'airflow.providers.openlineage.extractors'): sys.modules[name] = None\n"
        "from ccai_airflow.operators import ContactCenterInsightsExportInsightsDataOperator as Export\n"
        "op = Export(task_id='e', project_id='p', big_query_destination={'dataset': 'd', 'table': 't'})\n"
        "assert op.get_openlineage_facets_on_complete(None) is None\n"
        "assert op.get_openlineage_facets_on_failure(None) is None\n"
        "print('skipped')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)

    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.strip().endswith("skipped")


@pytest.mark.parametrize(("uri", "namespace", "name"), [
    ("gs://bucket", "gs://bucket", "/"),
    ("gs://bucket/", "gs://bucket", "/"),
    ("gs://bucket/chats/", "gs://bucket", "chats"),
    ("gs://bucket/chats/2026-01-*", "gs://bucket", "chats"),
    ("gs://bucket/chats/one.json", "gs://bucket", "chats/one.json"),
])
def test_cloud_storage_names_follow_the_google_providers_operators(uri: str, namespace: str, name: str) -> None:
    ref = lineage.gcs_objects(uri)

    assert (ref.namespace, ref.name) == (namespace, name)


def test_the_conversation_operators_name_their_datasets() -> None:
    from ccai_airflow.operators import (
        ContactCenterInsightsBulkDeleteConversationsOperator,
        ContactCenterInsightsCreateAnalysisOperator,
        ContactCenterInsightsUploadConversationOperator,
    )

    insights = "contactcenterinsights://projects/test-project/locations/us-central1"
    upload = ContactCenterInsightsUploadConversationOperator(
        task_id="upload", project_id="test-project", conversation={"data_source": {"gcs_source": {
            "audio_uri": "gs://calls/2026/a.wav", "transcript_uri": "gs://transcripts/2026/a.json"}}},
    ).get_openlineage_facets_on_complete(None)
    analysis = ContactCenterInsightsCreateAnalysisOperator(
        task_id="analyze", project_id="test-project", conversation_id="c-1").get_openlineage_facets_on_complete(None)
    delete = ContactCenterInsightsBulkDeleteConversationsOperator(
        task_id="delete", project_id="test-project", filter='create_time < "2026-01-01T00:00:00Z"',
    ).get_openlineage_facets_on_complete(None)

    def names(datasets: Any) -> list[tuple[str, str]]:
        return [(d.namespace, d.name) for d in datasets]

    assert names(upload.inputs) == [("gs://calls", "2026/a.wav"), ("gs://transcripts", "2026/a.json")]
    assert names(upload.outputs) == [(insights, "conversations")]
    assert (names(analysis.inputs), names(analysis.outputs)) == (
        [(insights, "conversations")], [(insights, "conversations/analyses")])
    assert (names(delete.inputs), names(delete.outputs)) == ([], [(insights, "conversations")])


def test_the_cloud_storage_operators_name_their_objects_and_models() -> None:
    from ccai_airflow.operators import (
        ContactCenterInsightsBulkDownloadFeedbackLabelsOperator,
        ContactCenterInsightsBulkUploadFeedbackLabelsOperator,
        ContactCenterInsightsExportIssueModelOperator,
        ContactCenterInsightsImportIssueModelOperator,
    )

    def names(op: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        found = op.lineage_datasets()
        return [(d.namespace, d.name) for d in found.inputs], [(d.namespace, d.name) for d in found.outputs]

    common = {"project_id": "test-project"}
    export = ContactCenterInsightsExportIssueModelOperator(
        task_id="x", issue_model_id="7", object_uri="gs://models/2026/m.json", **common)
    assert names(export) == ([(INSIGHTS, "issueModels/7")], [("gs://models", "2026/m.json")])
    imported = ContactCenterInsightsImportIssueModelOperator(
        task_id="i", object_uri="gs://models/2026/m.json", **common)
    assert names(imported) == ([("gs://models", "2026/m.json")], [])  # the model is known once the import is found
    imported._imported_name = f"{PARENT}/issueModels/9"
    assert names(imported)[1] == [(INSIGHTS, "issueModels/9")]
    assert imported.lineage_datasets().outputs[0].lifecycle == "CREATE"
    upload = ContactCenterInsightsBulkUploadFeedbackLabelsOperator(
        task_id="u", gcs_source={"object_uri": "gs://labels/in.csv", "format": "CSV"}, **common)
    assert names(upload) == ([("gs://labels", "in.csv")], [(INSIGHTS, "conversations/feedbackLabels")])
    download = ContactCenterInsightsBulkDownloadFeedbackLabelsOperator(
        task_id="d", gcs_destination={"object_uri": "gs://labels/out/labels", "format": "JSON"}, **common)
    # A name without an extension is a prefix to the provider: cut to its folder.
    assert names(download) == ([(INSIGHTS, "conversations/feedbackLabels")], [("gs://labels", "out")])
