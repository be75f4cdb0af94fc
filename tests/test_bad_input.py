"""Bad input is a clear error at construction (or render) time, naming the value and what was
expected, before any API call: one table across the sensor, the trigger, the operators and the hooks."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from ccai_airflow.emulator import Emulator
from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.operators import (
    ContactCenterInsightsBulkAnalyzeConversationsOperator,
    ContactCenterInsightsBulkDeleteConversationsOperator,
    ContactCenterInsightsBulkDownloadFeedbackLabelsOperator,
    ContactCenterInsightsBulkUploadFeedbackLabelsOperator,
    ContactCenterInsightsCreateAnalysisOperator,
    ContactCenterInsightsCreateIssueModelOperator,
    ContactCenterInsightsDeployIssueModelOperator,
    ContactCenterInsightsExportIssueModelOperator,
    ContactCenterInsightsImportIssueModelOperator,
    ContactCenterInsightsInitializeEncryptionSpecOperator,
    ContactCenterInsightsQueryMetricsOperator,
    ContactCenterInsightsTuneQaScorecardRevisionOperator,
    ContactCenterInsightsUploadConversationOperator,
)
from ccai_airflow.sensors import ContactCenterInsightsOperationSensor
from ccai_airflow.triggers import ContactCenterInsightsOperationTrigger

GOOD = "projects/test-project/locations/us-central1/operations/123"
FORM = "projects/{project}/locations/{location}/operations/{operation_id}"


def sensor(**kwargs: Any) -> Any:
    return ContactCenterInsightsOperationSensor(task_id="wait", **{"operation_name": GOOD, **kwargs})


def trigger(**kwargs: Any) -> Any:
    return ContactCenterInsightsOperationTrigger(**{"operation_name": GOOD, **kwargs})


def request_of(operator: Any) -> Any:
    """The request an operator would send (what it builds after rendering, before its start call)."""
    return operator.build_request("projects/test-project/locations/us-central1")


def hook_call(name: Any) -> Callable[[], Any]:
    return lambda: ContactCenterInsightsHook().get_operation(name)


def export_model(**kwargs: Any) -> Any:
    return request_of(ContactCenterInsightsExportIssueModelOperator(
        task_id="x", **{"issue_model_id": "1", "object_uri": "gs://bucket/m.json", **kwargs}))


def import_model(**kwargs: Any) -> Any:
    return request_of(ContactCenterInsightsImportIssueModelOperator(
        task_id="i", **{"object_uri": "gs://bucket/m.json", **kwargs}))


def upload(**kwargs: Any) -> Any:
    return request_of(ContactCenterInsightsBulkUploadFeedbackLabelsOperator(task_id="u", **kwargs))


def download(**kwargs: Any) -> Any:
    destination = {"object_uri": "gs://bucket/labels", "format": "CSV"}
    return request_of(ContactCenterInsightsBulkDownloadFeedbackLabelsOperator(
        task_id="d", **{"gcs_destination": destination, **kwargs}))


CASES: list[tuple[str, Callable[[], Any], str]] = [
    ("None name", lambda: sensor(operation_name=None),
     f"Invalid operation name None (NoneType): expected a string of the form {FORM}"),
    ("int name", lambda: sensor(operation_name=42), "Invalid operation name 42 (int)"),
    ("empty", lambda: sensor(operation_name=""), f"Invalid operation name '': expected {FORM}"),
    ("whitespace", lambda: sensor(operation_name="   "), "Invalid operation name '   '"),
    ("relative", lambda: sensor(operation_name="operations/123"), "Invalid operation name 'operations/123'"),
    ("no location", lambda: sensor(operation_name="projects/p/operations/1"), "'projects/p/operations/1'"),
    ("another service", lambda: sensor(operation_name="projects/p/locations/l/jobs/1"),
     "'projects/p/locations/l/jobs/1'"),
    ("another API's full URL", lambda: trigger(operation_name=f"https://dataproc.googleapis.com/v1/{GOOD}"),
     "'https://dataproc.googleapis.com/v1/projects"),
    ("dot-dot", lambda: sensor(operation_name="projects/p/locations/l/operations/.."), "operations/..'"),
    ("dot-dot in the middle", lambda: trigger(operation_name="projects/p/locations/../operations/1"), "locations/../"),
    ("query", lambda: sensor(operation_name=GOOD + "?alt=json"), "123?alt=json'"),
    ("fragment", lambda: sensor(operation_name=GOOD + "#x"), "123#x'"),
    ("custom verb", lambda: hook_call(GOOD + ":cancel")(), "123:cancel'"),
    ("trailing slash", lambda: hook_call(GOOD + "/")(), "123/'"),
    ("newline", lambda: hook_call(GOOD + "\n")(), "123\\n'"),
    ("over-long", lambda: sensor(operation_name="projects/p/locations/l/operations/" + "9" * 600),
     "(634 characters): expected at most 512"),
    ("non-ASCII", lambda: sensor(operation_name="projects/p/locations/l/operations/opé"), "operations/opé'"),
    ("upper-case project", lambda: trigger(operation_name="projects/P/locations/l/operations/1"), "'projects/P/"),
    ("poke_interval 0", lambda: sensor(poke_interval=0), "Invalid poke_interval 0: expected a number of seconds > 0"),
    ("poke_interval negative", lambda: sensor(poke_interval=-5), "Invalid poke_interval -5"),
    ("poke_interval text", lambda: sensor(poke_interval="30"), "Invalid poke_interval '30'"),
    ("poll_interval 0", lambda: trigger(poll_interval=0), "Invalid poll_interval 0"),
    ("negative timeout", lambda: sensor(timeout=-1), "Invalid timeout -1: expected a number of seconds >= 0"),
    ("response type without its package", lambda: sensor(expected_response_type="IssueModel"),
     "Invalid expected_response_type 'IssueModel': expected a message name with its package"),
    ("unknown transport", lambda: sensor(transport="http"),
     "Invalid transport 'http': expected one of ['grpc', 'rest']"),
    ("unknown transport, trigger", lambda: trigger(transport="grpc+tls"), "Invalid transport 'grpc+tls'"),
    ("impersonation not an e-mail", lambda: sensor(impersonation_chain="robot"),
     "Invalid impersonation_chain entry 'robot': expected a service account e-mail"),
    ("impersonation empty list", lambda: trigger(impersonation_chain=[]), "Invalid impersonation_chain []"),
    ("impersonation with a blank", lambda: sensor(impersonation_chain=["a@p.iam.gserviceaccount.com", " "]),
     "Invalid impersonation_chain entry ' '"),
    ("end_time text", lambda: trigger(end_time="tomorrow"), "Invalid end_time 'tomorrow'"),
    ("operator poll_interval", lambda: ContactCenterInsightsDeployIssueModelOperator(
        task_id="d", issue_model_id="1", poll_interval=-1), "Invalid poll_interval -1"),
    ("operator wait_timeout", lambda: ContactCenterInsightsCreateIssueModelOperator(
        task_id="c", issue_model={}, wait_timeout=-3), "Invalid wait_timeout -3"),
    ("operator transport", lambda: ContactCenterInsightsBulkAnalyzeConversationsOperator(
        task_id="b", filter="x", transport="soap"), "Invalid transport 'soap'"),
    ("hook transport", lambda: ContactCenterInsightsHook(transport="REST"), "Invalid transport 'REST'"),
    ("list parent", lambda: ContactCenterInsightsHook().list_operations("projects/p"), "Invalid parent 'projects/p'"),
    # issue 14, first half: the request is built (and refused) before any call
    ("upload: audio URI not gs://", lambda: request_of(ContactCenterInsightsUploadConversationOperator(
        task_id="u", conversation={"data_source": {"gcs_source": {"audio_uri": "https://b/a.wav"}}})),
     "Invalid conversation data_source.gcs_source.audio_uri 'https://b/a.wav': expected gs://BUCKET/OBJECT"),
    ("upload: transcript URI without an object", lambda: request_of(ContactCenterInsightsUploadConversationOperator(
        task_id="u", conversation={"data_source": {"gcs_source": {"transcript_uri": "gs://calls"}}})),
     "transcript_uri 'gs://calls'"),
    ("upload: conversation not a dict", lambda: request_of(ContactCenterInsightsUploadConversationOperator(
        task_id="u", conversation="gs://calls/t.json")), "Invalid conversation 'gs://calls/t.json': expected a dict"),
    ("upload: conversation_id form", lambda: request_of(ContactCenterInsightsUploadConversationOperator(
        task_id="u", conversation={}, conversation_id="Call_1")),
     "Invalid conversation_id 'Call_1': expected 4-64 characters of [a-z0-9-]"),
    ("analysis: conversation of another location", lambda: request_of(ContactCenterInsightsCreateAnalysisOperator(
        task_id="a", conversation_id="projects/test-project/locations/eu/conversations/1")),
     "Invalid conversation_id 'projects/test-project/locations/eu/conversations/1'"),
    ("bulk delete: filter not a string", lambda: request_of(ContactCenterInsightsBulkDeleteConversationsOperator(
        task_id="d", filter={"create_time": "<2026"})), "Invalid filter {'create_time': '<2026'} (dict)"),
    ("bulk delete: empty filter", lambda: request_of(ContactCenterInsightsBulkDeleteConversationsOperator(
        task_id="d", filter=" ")), "set allow_delete_all=True"),
    ("bulk delete: max_delete_count", lambda: request_of(ContactCenterInsightsBulkDeleteConversationsOperator(
        task_id="d", filter='medium="CHAT"', max_delete_count=-1)), "Invalid max_delete_count -1"),
    ("encryption: kms_key missing", lambda: request_of(ContactCenterInsightsInitializeEncryptionSpecOperator(
        task_id="e", kms_key="")), "Invalid kms_key ''"),
    ("encryption: kms_key form", lambda: request_of(ContactCenterInsightsInitializeEncryptionSpecOperator(
        task_id="e", kms_key="projects/p/keyRings/r")), "Invalid kms_key 'projects/p/keyRings/r'"),
    ("metrics: filter not a string", lambda: request_of(ContactCenterInsightsQueryMetricsOperator(
        task_id="q", filter=["create_time > 0"])), "Invalid filter ['create_time > 0']"),
    ("metrics: granularity", lambda: request_of(ContactCenterInsightsQueryMetricsOperator(
        task_id="q", filter="x", time_granularity="WEEKLY")), "Invalid time_granularity 'WEEKLY'"),
    ("tune: filter missing", lambda: request_of(ContactCenterInsightsTuneQaScorecardRevisionOperator(
        task_id="t", qa_scorecard_id="s", revision_id="r", filter="")), "Invalid filter ''"),
    ("tune: revision id", lambda: request_of(ContactCenterInsightsTuneQaScorecardRevisionOperator(
        task_id="t", qa_scorecard_id="s", revision_id="r/1", filter="x")), "Invalid revision_id 'r/1'"),
    ("export URI without gs://", lambda: export_model(object_uri="bucket/m.json"),
     "Invalid object_uri 'bucket/m.json': expected a Cloud Storage object URI gs://<bucket-name>/<object-name>"),
    ("export URI without object", lambda: export_model(object_uri="gs://bucket/"), "Invalid object_uri 'gs://bucket/'"),
    ("export URI bad bucket", lambda: export_model(object_uri="gs://My_Bucket/m"), "Invalid object_uri 'gs://My_Bucket/m'"),
    ("export URI not a string", lambda: export_model(object_uri=None), "Invalid object_uri None"),
    ("export model id", lambda: export_model(issue_model_id="projects/other/locations/l/issueModels/1"),
     "Invalid issue_model_id 'projects/other/locations/l/issueModels/1'"),
    ("import URI", lambda: import_model(object_uri="gs://bucket"), "Invalid object_uri 'gs://bucket'"),
    ("import create_new_model", lambda: import_model(create_new_model="yes"), "Invalid create_new_model 'yes'"),
    ("upload without a source", lambda: upload(gcs_source=None), "Invalid gcs_source None: expected a dict"),
    ("upload without format", lambda: upload(gcs_source={"object_uri": "gs://bucket/l.json"}),
     "Invalid gcs_source {'object_uri': 'gs://bucket/l.json'}: expected a format, 'CSV' or 'JSON'"),
    ("upload URI missing", lambda: upload(gcs_source={"format": "JSON"}), "Invalid gcs_source.object_uri ''"),
    ("upload unknown field", lambda: upload(gcs_source={"uri": "gs://bucket/l"}), "Invalid gcs_source {'uri'"),
    ("download filter not a string", lambda: download(filter={"issue_model_id": "1"}),
     "Invalid filter {'issue_model_id': '1'}: expected a string"),
    ("download conversation_filter not a string", lambda: download(conversation_filter=7),
     "Invalid conversation_filter 7: expected a string"),
    ("download URI", lambda: download(gcs_destination={"object_uri": "s3://bucket/l", "format": "CSV"}),
     "Invalid gcs_destination.object_uri 's3://bucket/l'"),
    ("download without format", lambda: download(gcs_destination={"object_uri": "gs://bucket/l"}),
     "expected a format, 'CSV' or 'JSON'"),
    ("download max count", lambda: download(max_download_count=0), "Invalid max_download_count 0"),
    ("download label type", lambda: download(feedback_label_type="TOPICS"),
     "Invalid feedback_label_type 'TOPICS': expected one of ['QUALITY_AI', 'TOPIC_MODELING']"),
    ("download scorecards", lambda: download(template_qa_scorecard_id="s1"), "Invalid template_qa_scorecard_id 's1'"),
]


@pytest.mark.parametrize(("label", "make", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_before_any_call(
    label: str, make: Callable[[], Any], message: str, emulator_env: Emulator
) -> None:
    with pytest.raises((ValueError, TypeError), match=re.escape(message)):
        make()
    assert emulator_env.call_counts() == {}


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 25
