"""What a succeeded operation pushes to XCom, and the size Airflow stores."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.cloud import contact_center_insights_v1 as ci
from google.longrunning import operations_pb2
from google.protobuf.message import Message

from ccai_airflow.core import xcom as xcom_module
from ccai_airflow.core.outcome import (
    Status,
    outcome_of,
)
from ccai_airflow.core.xcom import no_issue_model_name, select_fields, stored_json_size, xcom_values
from tests.operation_fixtures import (
    ISSUE_NAME,
    MODEL_NAME,
    OP_NAME,
    normalise_timestamps,
    pack,
    raw_class,
    succeeded_operation,
    unknown_any,
)

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md).
pytestmark = pytest.mark.airflow_independent


# -- 7. xcom_values ----------------------------------------------------------------------------
def test_xcom_values_of_issue_model() -> None:
    outcome = outcome_of(succeeded_operation())

    values = xcom_values(outcome)

    assert values == {
        "operation": outcome.operation,
        "issue_model_name": MODEL_NAME,
        "training_stats": {
            "analyzedConversationsCount": "8000",
            "unclassifiedConversationsCount": "7",
            "issueStats": {ISSUE_NAME: {"issue": ISSUE_NAME, "labeledConversationsCount": "10"}},
        },
    }
    assert json.loads(json.dumps(values)) == values


def test_xcom_values_of_seed(seed: dict[str, Any], seed_operation: operations_pb2.Operation) -> None:
    values = xcom_values(outcome_of(seed_operation))

    assert set(values) == {"operation", "issue_model_name", "training_stats"}
    assert values["issue_model_name"] == seed["response"]["name"]
    assert values["training_stats"] == seed["response"]["trainingStats"]
    assert normalise_timestamps(values["operation"]) == normalise_timestamps(seed)


def test_xcom_values_of_issue_model_without_stats() -> None:
    model = ci.IssueModel.pb(ci.IssueModel(name=MODEL_NAME))
    operation = operations_pb2.Operation(name=OP_NAME, done=True, response=pack(model))

    values = xcom_values(outcome_of(operation))

    assert values["issue_model_name"] == MODEL_NAME
    assert values["training_stats"] == {}


@pytest.mark.parametrize(
    "response",
    [
        pytest.param(ci.DeployIssueModelResponse.pb()(), id="DeployIssueModelResponse"),
        pytest.param(ci.IngestConversationsResponse.pb()(), id="IngestConversationsResponse"),
        pytest.param(ci.ExportInsightsDataResponse.pb()(), id="ExportInsightsDataResponse"),
    ],
)
def test_xcom_values_of_other_response(response: Message) -> None:
    outcome = outcome_of(operations_pb2.Operation(name=OP_NAME, done=True, response=pack(response)))
    assert outcome.status == Status.SUCCEEDED

    assert xcom_values(outcome) == {"operation": outcome.operation}


CONVERSATION = "projects/p/locations/l/conversations/c-1"


@pytest.mark.parametrize(
    ("response", "metadata", "expected"),
    [
        pytest.param(ci.Conversation(name=CONVERSATION), None, {"conversation_name": CONVERSATION}, id="Conversation"),
        pytest.param(ci.Analysis(name=CONVERSATION + "/analyses/7"), None,
                     {"analysis_name": CONVERSATION + "/analyses/7"}, id="Analysis"),
        pytest.param(ci.BulkDeleteConversationsResponse(),
                     ci.BulkDeleteConversationsMetadata(partial_errors=[{"code": 5, "message": "gone"}]),
                     {"partial_errors": [{"code": 5, "message": "gone"}]}, id="BulkDelete"),
        pytest.param(ci.InitializeEncryptionSpecResponse(), None, {"partial_errors": []}, id="EncryptionSpec"),
        pytest.param(ci.QueryMetricsResponse(slices=[{"total": {"conversation_measure": {"conversation_count": 3}}}]),
                     None, {"slices": [{"total": {"conversationMeasure": {"conversationCount": 3}}}]},
                     id="QueryMetrics"),
        pytest.param(ci.TuneQaScorecardRevisionResponse(), ci.TuneQaScorecardRevisionMetadata(
            qa_question_dataset_tuning_metrics=[{"question": "q", "metrics": {"accuracy": 0.9}}]),
            {"dataset_validation_results": [], "tuning_metrics": [{"question": "q", "metrics": {"accuracy": 0.9}}]},
            id="Tune"),
    ],
)
def test_xcom_values_of_the_issue_14_responses(response: Any, metadata: Any, expected: dict[str, Any]) -> None:
    operation = operations_pb2.Operation(name=OP_NAME, done=True, response=pack(type(response).pb(response)))
    if metadata is not None:
        operation.metadata.Pack(type(metadata).pb(metadata))
    outcome = outcome_of(operation)

    assert xcom_values(outcome) == {"operation": outcome.operation, **expected}


def test_xcom_values_of_unknown_response() -> None:
    outcome = outcome_of(operations_pb2.Operation(name=OP_NAME, done=True, response=unknown_any()))

    assert xcom_values(outcome) == {"operation": outcome.operation}


def stored_json(value: Any) -> int:
    return len(json.dumps(value).encode())


_SHARED: dict[str, Any] = {"x": [1, 2.5, None]}


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({}, id="empty-dict"),
        pytest.param([], id="empty-list"),
        pytest.param(None, id="null"),
        pytest.param("ünïcode ß \u2028 \"quoted\"", id="non-ascii-string"),
        pytest.param({"a": {}, "b": [], "c": ""}, id="empty-children"),
        pytest.param({1: "x", "b": True}, id="non-string-key"),
        pytest.param({"ä": {"ö": {"ü": {"deep": {"deeper": [True, False, -1e300]}}}}}, id="deeper-than-split"),
        pytest.param({"big": {str(i): {"i": i} for i in range(100)}, "small": {"a": 1}}, id="dict-too-big-to-split"),
        pytest.param({"a": _SHARED, "b": {"c": _SHARED, "d": [_SHARED]}, "e": _SHARED}, id="shared"),
    ],
)
def test_stored_json_size_is_the_size_of_the_stored_json(value: Any) -> None:
    assert stored_json_size(value) == stored_json(value)


@pytest.mark.parametrize("fields", [None, ["name", "trainingStats.issueStats"]], ids=["all", "selected"])
@pytest.mark.parametrize("reverse", [False, True], ids=["pushed-order", "reversed"])
def test_stored_json_size_serializes_the_shared_response_once(
    seed_operation: operations_pb2.Operation, monkeypatch: pytest.MonkeyPatch, fields: list[str] | None,
    reverse: bool,
) -> None:
    outcome = outcome_of(seed_operation)
    if fields:
        outcome = select_fields(outcome, fields)
    values = {"return_value": outcome.response, **xcom_values(outcome, selected=bool(fields))}
    if reverse:
        values = dict(reversed(values.items()))
    serialized: list[Any] = []
    real = xcom_module._json_size

    def counting(value: Any) -> int:
        serialized.append(value)
        return real(value)

    monkeypatch.setattr(xcom_module, "_json_size", counting)

    assert stored_json_size(values) == stored_json(values)
    containers = [id(value) for value in serialized if isinstance(value, dict | list)]
    assert len(containers) == len(set(containers))
    # Every byte serialized once: the response and its trainingStats are not serialized again.
    response = outcome.response or {}
    once = stored_json(values) - stored_json(response) - stored_json(response["trainingStats"])
    assert sum(real(value) for value in serialized) <= once


def test_why_no_issue_model_name_is_pushed_names_the_response_type_or_the_selection() -> None:
    model = outcome_of(succeeded_operation())
    assert no_issue_model_name(model) is None
    assert no_issue_model_name(model, ["name"]) is None

    assert no_issue_model_name(model, ["trainingStats"]) == (
        f"No issue_model_name XCom for operation {OP_NAME}: response_fields ['trainingStats'] leave out the "
        "model's 'name'.")
    export = outcome_of(operations_pb2.Operation(
        name=OP_NAME, done=True, response=pack(raw_class(ci.ExportInsightsDataResponse)())))
    assert no_issue_model_name(export) == (
        f"No issue_model_name XCom for operation {OP_NAME}: its response is of @type "
        "'type.googleapis.com/google.cloud.contactcenterinsights.v1.ExportInsightsDataResponse', not an IssueModel "
        "(only CreateIssueModel's is; ExportIssueModel's metadata names its model).")
