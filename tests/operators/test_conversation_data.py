"""The operators on single conversations (conversation_data.py): upload one, analyze one, bulk delete: the requests
they build, their lineage, and a run by Airflow (dag.test) against the emulator. (test_bad_input.py has the
bad URIs, ids and filters; test_lineage.py the datasets of a full upload.)"""

from __future__ import annotations

import re
from typing import Any

import pytest
from google.cloud.contact_center_insights_v1 import types
from google.protobuf import json_format

from ccai_airflow.emulator import Emulator
from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.operators import (
    ContactCenterInsightsBulkDeleteConversationsOperator,
    ContactCenterInsightsCreateAnalysisOperator,
    ContactCenterInsightsUploadConversationOperator,
)
from tests.conftest import PARENT
from tests.helpers import run_dag, states, xcom

BASE_TEMPLATES = ("project_id", "location", "gcp_conn_id", "impersonation_chain")
TRANSCRIPT = {"data_source": {"gcs_source": {"transcript_uri": "gs://calls/t.json"}}}


def upload(**kwargs: Any) -> ContactCenterInsightsUploadConversationOperator:
    return ContactCenterInsightsUploadConversationOperator(task_id="upload", **{"conversation": TRANSCRIPT, **kwargs})


def delete(**kwargs: Any) -> ContactCenterInsightsBulkDeleteConversationsOperator:
    return ContactCenterInsightsBulkDeleteConversationsOperator(
        task_id="delete", **{"filter": 'medium="CHAT"', **kwargs})


# -- upload -----------------------------------------------------------------------------------------------------
def test_upload_builds_its_request_from_the_rendered_conversation_and_configs() -> None:
    op = upload(
        conversation={"medium": "CHAT", "agent_id": "agent-{{ params.agent }}",
                      "data_source": {"gcs_source": {"transcript_uri": "gs://calls/{{ ds }}/t.json"}}},
        conversation_id="c-{{ ds_nodash }}",
        redaction_config={"deidentify_template": "projects/p/locations/global/deidentifyTemplates/d"},
        speech_config={"speech_recognizer": "projects/p/locations/global/recognizers/r"},
    )

    op.render_template_fields({"ds": "2026-01-05", "ds_nodash": "20260105", "params": {"agent": "7"}})
    request = op.build_request(PARENT)

    assert type(request) is types.UploadConversationRequest
    assert request.parent == PARENT
    assert request.conversation.medium == types.Conversation.Medium.CHAT
    assert request.conversation.agent_id == "agent-7"
    assert request.conversation.data_source.gcs_source.transcript_uri == "gs://calls/2026-01-05/t.json"
    assert request.conversation_id == "c-20260105"
    assert request.redaction_config.deidentify_template == "projects/p/locations/global/deidentifyTemplates/d"
    assert request.speech_config.speech_recognizer == "projects/p/locations/global/recognizers/r"


def test_upload_leaves_the_id_and_configs_to_the_server_when_not_given() -> None:
    request = upload().build_request(PARENT)

    assert "conversation_id" not in request
    assert "redaction_config" not in request
    assert "speech_config" not in request


@pytest.mark.parametrize(("kwargs", "shown"), [
    ({"conversation_id": "abc"}, "Invalid conversation_id 'abc': expected 4-64 characters of [a-z0-9-]."),
    ({"conversation_id": 1234}, "Invalid conversation_id 1234"),
    ({"redaction_config": {"template": "t"}}, "Invalid redaction_config {'template': 't'}: not a RedactionConfig"),
    ({"speech_config": "recognizer"}, "Invalid speech_config 'recognizer': expected a dict or SpeechConfig."),
])
def test_upload_names_a_bad_argument(kwargs: dict[str, Any], shown: str) -> None:
    with pytest.raises(ValueError, match=re.escape(shown)):
        upload(**kwargs).build_request(PARENT)


# -- create analysis --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("conversation_id", ["c-1", f"{PARENT}/conversations/c-1"])
def test_create_analysis_analyzes_the_conversation_named_by_id_or_full_name(conversation_id: str) -> None:
    request = ContactCenterInsightsCreateAnalysisOperator(
        task_id="analyze", conversation_id=conversation_id).build_request(PARENT)

    assert type(request) is types.CreateAnalysisRequest
    assert request.parent == f"{PARENT}/conversations/c-1"
    assert "annotator_selector" not in request.analysis


def test_create_analysis_turns_the_rendered_selector_into_the_message() -> None:
    op = ContactCenterInsightsCreateAnalysisOperator(
        task_id="analyze", conversation_id="{{ params.conversation }}",
        annotator_selector={"run_issue_model_annotator": True, "issue_models": ["{{ params.model }}"]},
    )

    op.render_template_fields({"params": {"conversation": "c-9", "model": f"{PARENT}/issueModels/3"}})
    request = op.build_request(PARENT)

    assert request.parent == f"{PARENT}/conversations/c-9"
    assert request.analysis.annotator_selector.run_issue_model_annotator is True
    assert list(request.analysis.annotator_selector.issue_models) == [f"{PARENT}/issueModels/3"]


def test_create_analysis_names_a_bad_selector() -> None:
    op = ContactCenterInsightsCreateAnalysisOperator(
        task_id="analyze", conversation_id="c-1", annotator_selector={"run_everything": True})

    with pytest.raises(ValueError, match=re.escape(
            "Invalid annotator_selector {'run_everything': True}: not a AnnotatorSelector")):
        op.build_request(PARENT)


# -- bulk delete ------------------------------------------------------------------------------------------------
def test_bulk_delete_takes_a_rendered_count_as_a_number() -> None:
    op = delete(filter='create_time < "{{ ds }}T00:00:00Z"', max_delete_count="{{ params.limit }}", force=True)

    op.render_template_fields({"ds": "2026-01-05", "params": {"limit": 12}})
    request = op.build_request(PARENT)

    assert type(request) is types.BulkDeleteConversationsRequest
    assert (request.parent, request.filter) == (PARENT, 'create_time < "2026-01-05T00:00:00Z"')
    assert (request.max_delete_count, request.force) == (12, True)


def test_bulk_delete_of_everything_needs_allow_delete_all() -> None:
    request = delete(filter="", allow_delete_all=True).build_request(PARENT)

    assert (request.filter, request.max_delete_count, request.force) == ("", 0, False)


@pytest.mark.parametrize(("kwargs", "shown"), [
    ({"force": "yes"}, "Invalid force 'yes': expected True or False."),
    ({"max_delete_count": True}, "Invalid max_delete_count True: expected an integer >= 0."),
    ({"max_delete_count": "twelve"}, "Invalid max_delete_count 'twelve'"),
    ({"max_delete_count": 2.5}, "Invalid max_delete_count 2.5"),
])
def test_bulk_delete_names_a_bad_argument(kwargs: dict[str, Any], shown: str) -> None:
    with pytest.raises(ValueError, match=re.escape(shown)):
        delete(**kwargs).build_request(PARENT)


# -- what each operator templates, and lineage ------------------------------------------------------------------
def test_what_each_operator_templates() -> None:
    assert ContactCenterInsightsUploadConversationOperator.template_fields == (
        *BASE_TEMPLATES, "conversation", "conversation_id")
    assert ContactCenterInsightsCreateAnalysisOperator.template_fields == (
        *BASE_TEMPLATES, "conversation_id", "annotator_selector")
    assert ContactCenterInsightsBulkDeleteConversationsOperator.template_fields == (
        *BASE_TEMPLATES, "filter", "max_delete_count")


def test_an_upload_without_audio_reads_only_its_transcript() -> None:
    found = upload(project_id="test-project").lineage_datasets()

    assert [(d.namespace, d.name) for d in found.inputs] == [("gs://calls", "t.json")]
    assert [(d.namespace, d.name) for d in found.outputs] == [(f"contactcenterinsights://{PARENT}", "conversations")]


# -- a run against the emulator ---------------------------------------------------------------------------------
def test_upload_returns_the_conversation_the_server_stored(emulator_env: Emulator, airflow_db: str) -> None:
    dag_run = run_dag("ccai_test_op_upload_conversation_wait")

    assert states(dag_run) == {"setup": "success", "operator": "success"}
    stored = ContactCenterInsightsHook().get_conversation(xcom(dag_run, "operator", "conversation_name"))
    assert stored.name == f"{PARENT}/conversations/c-{dag_run.logical_date.strftime('%Y%m%d')}"
    assert stored.data_source.gcs_source.transcript_uri == (
        f"gs://calls/{dag_run.logical_date.strftime('%Y-%m-%d')}/t.json")
    assert stored.medium == types.Conversation.Medium.CHAT
    assert xcom(dag_run, "operator") == {"@type": "type.googleapis.com/google.cloud.contactcenterinsights.v1."
                                                  "Conversation", **json_format.MessageToDict(stored._pb)}
