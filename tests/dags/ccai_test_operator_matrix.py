"""One DAG per (operator, case): every operator with waiting, without, deferrable, a failed
operation, and a retry that must resume the first try's operation.

A ``setup`` task prepares what the operator needs (an issue model in the right state, a conversation,
old and new conversations, an exported model or a file of feedback labels in the emulator's Cloud
Storage), returns its name (the model's, the conversation's, the retention cutoff, or ""), and then arms
the emulator for the case through its HTTP controls. Without waiting, a sensor waits for the operation.
"""

from __future__ import annotations

import datetime
import json
import os
import urllib.request
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, task
from google.cloud.contact_center_insights_v1 import types

from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.operators import (
    ContactCenterInsightsBulkAnalyzeConversationsOperator,
    ContactCenterInsightsBulkDeleteConversationsOperator,
    ContactCenterInsightsBulkDownloadFeedbackLabelsOperator,
    ContactCenterInsightsBulkUploadFeedbackLabelsOperator,
    ContactCenterInsightsCreateAnalysisOperator,
    ContactCenterInsightsCreateIssueModelOperator,
    ContactCenterInsightsDeleteIssueModelOperator,
    ContactCenterInsightsDeployIssueModelOperator,
    ContactCenterInsightsExportInsightsDataOperator,
    ContactCenterInsightsExportIssueModelOperator,
    ContactCenterInsightsImportIssueModelOperator,
    ContactCenterInsightsIngestConversationsOperator,
    ContactCenterInsightsInitializeEncryptionSpecOperator,
    ContactCenterInsightsQueryMetricsOperator,
    ContactCenterInsightsTuneQaScorecardRevisionOperator,
    ContactCenterInsightsUndeployIssueModelOperator,
    ContactCenterInsightsUploadConversationOperator,
)
from ccai_airflow.sensors import ContactCenterInsightsOperationSensor

PROJECT = "test-project"
PARENT = f"projects/{PROJECT}/locations/us-central1"
MODEL = "{{ ti.xcom_pull(task_ids='setup') }}"
EXPORTED = "gs://models-bucket/setup/model.json"
LABELS = "gs://labels-bucket/setup/labels.json"
LABEL_RECORDS = [
    {"name": f"projects/elsewhere/locations/l/conversations/c{i}/feedbackLabels/l{i}",
     "labeledResource": f"{PARENT}/issueModels/1/issues/{i}", "label": f"topic-{i}"} for i in (1, 2)
]

# operator name -> (class, arguments, state of the model the setup task prepares)
OPERATORS: dict[str, tuple[type, dict[str, Any], str | None]] = {
    "create": (ContactCenterInsightsCreateIssueModelOperator,
               {"issue_model": {"display_name": "m-{{ ds_nodash }}"}}, None),
    "deploy": (ContactCenterInsightsDeployIssueModelOperator, {"issue_model_id": MODEL}, "UNDEPLOYED"),
    "undeploy": (ContactCenterInsightsUndeployIssueModelOperator, {"issue_model_id": MODEL}, "DEPLOYED"),
    "delete": (ContactCenterInsightsDeleteIssueModelOperator, {"issue_model_id": MODEL}, "UNDEPLOYED"),
    "bulk_analyze": (ContactCenterInsightsBulkAnalyzeConversationsOperator,
                     {"filter": 'create_time > "{{ ds }}"', "analysis_percentage": 20}, None),
    "ingest": (ContactCenterInsightsIngestConversationsOperator,
               {"gcs_source": {"bucket_uri": "gs://b/{{ ds }}"}}, None),
    "export": (ContactCenterInsightsExportInsightsDataOperator,
               {"big_query_destination": {"dataset": "d", "table": "t_{{ ds_nodash }}"}}, None),
    # issue 14, first half. CONVERSATION: one conversation (its name); CONVERSATIONS: 3 conversations 400 days
    # old and 2 new ones (the cutoff between them, 30 days ago).
    "upload_conversation": (ContactCenterInsightsUploadConversationOperator, {
        "conversation": {"medium": "CHAT",
                         "data_source": {"gcs_source": {"transcript_uri": "gs://calls/{{ ds }}/t.json"}}},
        "conversation_id": "c-{{ ds_nodash }}"}, None),
    "create_analysis": (ContactCenterInsightsCreateAnalysisOperator, {"conversation_id": MODEL}, "CONVERSATION"),
    "bulk_delete": (ContactCenterInsightsBulkDeleteConversationsOperator,
                    {"filter": f'create_time < "{MODEL}"', "force": True}, "CONVERSATIONS"),
    "init_encryption_spec": (ContactCenterInsightsInitializeEncryptionSpecOperator,
                             {"kms_key": PARENT + "/keyRings/r/cryptoKeys/k-{{ ds_nodash }}"}, None),
    "query_metrics": (ContactCenterInsightsQueryMetricsOperator, {
        "filter": 'create_time >= "2000-01-01T00:00:00Z" AND create_time < "{{ macros.ds_add(ds, 36500) }}T00:00:00Z"',
    }, "CONVERSATIONS"),
    "tune_qa_scorecard": (ContactCenterInsightsTuneQaScorecardRevisionOperator, {
        "qa_scorecard_id": "sc-1", "revision_id": "r-{{ ds_nodash }}", "filter": 'update_time >= "{{ ds }}"'}, None),
    "export_model": (ContactCenterInsightsExportIssueModelOperator,
                     {"issue_model_id": MODEL, "object_uri": "gs://models-bucket/{{ ds }}/model.json"}, "UNDEPLOYED"),
    "import_model": (ContactCenterInsightsImportIssueModelOperator,
                     {"object_uri": EXPORTED, "create_new_model": True}, "EXPORTED"),
    "upload_labels": (ContactCenterInsightsBulkUploadFeedbackLabelsOperator,
                      {"gcs_source": {"object_uri": LABELS, "format": "JSON"}}, "LABELS"),
    "download_labels": (ContactCenterInsightsBulkDownloadFeedbackLabelsOperator,
                        {"gcs_destination": {"object_uri": "gs://labels-bucket/{{ ds }}/labels", "format": "CSV"},
                         "filter": "{{ '' }}"}, None),
}

# case -> (operator arguments, emulator control to arm after setup)
CASES: dict[str, tuple[dict[str, Any], tuple[str, dict[str, Any]] | None]] = {
    "wait": ({}, None),
    "no_wait": ({"wait_for_completion": False}, None),
    "deferrable": ({"deferrable": True}, None),
    "failed": ({}, ("failNextOperations", {"n": 1, "code": "ABORTED", "message": "operation aborted"})),
    "retry": ({"retries": 1, "retry_delay": timedelta(0)},
              ("faults", {"rpc": "GetOperation", "code": "PERMISSION_DENIED", "count": 1})),
}


def _control(action: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        f"{os.environ['CONTACT_CENTER_INSIGHTS_EMULATOR_REST']}/emulator/v1/{action}",
        data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read() or b"{}")


@task
def setup(state: str | None, arm: tuple[str, dict[str, Any]] | None) -> str:
    """An issue model in ``state`` (or conversations, or exported, or a labels file, or nothing), then arm the
    emulator; returns the name to act on ("" when there is none)."""
    name = ""
    if state == "CONVERSATION":
        name = _control("seedConversations", {"parent": PARENT, "count": 1})["names"][0]
    elif state == "CONVERSATIONS":
        _control("seedConversations", {"parent": PARENT, "count": 3, "age_days": 400})
        _control("seedConversations", {"parent": PARENT, "count": 2})
        cutoff = datetime.datetime.now(datetime.UTC) - timedelta(days=30)
        name = cutoff.isoformat(timespec="seconds").replace("+00:00", "Z")
    elif state == "LABELS":
        _control("storageObjects", {"uri": LABELS, "content": json.dumps(LABEL_RECORDS)})
    elif state is not None:
        hook = ContactCenterInsightsHook()
        create = types.CreateIssueModelRequest(parent=PARENT, issue_model={"display_name": "setup"})
        created = hook.wait_for_operation(hook.start_operation(create).name, poll_interval=0.05)
        name = created.response["name"]  # type: ignore[index]
        if state == "DEPLOYED":
            deploy = types.DeployIssueModelRequest(name=name)
            hook.wait_for_operation(hook.start_operation(deploy).name, poll_interval=0.05)
        if state == "EXPORTED":
            export = types.ExportIssueModelRequest(name=name, gcs_destination={"object_uri": EXPORTED})
            hook.wait_for_operation(hook.start_operation(export).name, poll_interval=0.05)
            name = ""
    if arm is not None:
        _control(*arm)
    return name


for _op, (_cls, _args, _state) in OPERATORS.items():
    for _case, (_case_args, _arm) in CASES.items():
        with DAG(dag_id=f"ccai_test_op_{_op}_{_case}", schedule=None, catchup=False,
                 start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), tags=["ccai-test"]):
            _operator = _cls(task_id="operator", project_id=PROJECT, poll_interval=0.1, **_args, **_case_args)
            setup(_state, _arm) >> _operator
            if _case == "no_wait":
                _operator >> ContactCenterInsightsOperationSensor(
                    task_id="wait", operation_name="{{ ti.xcom_pull(task_ids='operator') }}", poke_interval=0.1,
                    timeout=60,
                )
