"""The issue model operators (issue_models.py): create, deploy (the swap is test_model_swap.py), undeploy, delete:
the requests they build, their lineage, and runs by Airflow (dag.test) against the emulator."""

from __future__ import annotations

import re
from typing import Any

import pytest
from google.cloud.contact_center_insights_v1 import types

from ccai_airflow import lineage
from ccai_airflow.emulator import Emulator
from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.links import ContactCenterInsightsIssueModelLink
from ccai_airflow.operators import (
    ContactCenterInsightsCreateIssueModelOperator,
    ContactCenterInsightsDeleteIssueModelOperator,
    ContactCenterInsightsDeployIssueModelOperator,
    ContactCenterInsightsUndeployIssueModelOperator,
)
from tests.conftest import PARENT
from tests.helpers import create_model, run_dag, states, xcom

OPERATION_PREFIX = "projects/test-project/locations/us-central1/operations/"
INSIGHTS = f"contactcenterinsights://{PARENT}"
BASE_TEMPLATES = ("project_id", "location", "gcp_conn_id", "impersonation_chain")
State = types.IssueModel.State
# The operators on one existing model, and the request each builds.
ON_ONE_MODEL: list[tuple[type[Any], type[Any]]] = [
    (ContactCenterInsightsDeployIssueModelOperator, types.DeployIssueModelRequest),
    (ContactCenterInsightsUndeployIssueModelOperator, types.UndeployIssueModelRequest),
    (ContactCenterInsightsDeleteIssueModelOperator, types.DeleteIssueModelRequest),
]


def names(datasets: lineage.Datasets) -> tuple[list[tuple[str, str, str | None]], list[tuple[str, str, str | None]]]:
    def of(refs: tuple[lineage.DatasetRef, ...]) -> list[tuple[str, str, str | None]]:
        return [(ref.namespace, ref.name, ref.lifecycle) for ref in refs]

    return of(datasets.inputs), of(datasets.outputs)


@pytest.mark.parametrize("suffix", ["wait", "deferrable", "rest"])
def test_create_waits_and_pushes_the_model(suffix: str, emulator_env: Emulator, airflow_db: str) -> None:
    dag_run = run_dag(f"ccai_test_create_{suffix}")

    assert states(dag_run) == {"create": "success", "check_model": "success"}
    assert emulator_env.call_counts()["CreateIssueModel"] == 1
    model = xcom(dag_run, "create")
    assert model["state"] == "UNDEPLOYED"
    assert xcom(dag_run, "create", "issue_model_name") == model["name"]
    assert xcom(dag_run, "create", "training_stats") == model["trainingStats"]
    assert xcom(dag_run, "create", "operation_name").startswith(OPERATION_PREFIX)
    # The templated issue_model was rendered before the request was sent.
    request = xcom(dag_run, "create", "operation")["metadata"]["request"]["issueModel"]
    assert request["displayName"] == f"topics {dag_run.logical_date.strftime('%Y-%m-%d')}"
    assert request["inputDataConfig"]["filter"].startswith('start_time >= "20')


def test_every_issue_model_operator(emulator_env: Emulator, airflow_db: str) -> None:
    dag_run = run_dag("ccai_test_issue_model_lifecycle")

    assert set(states(dag_run).values()) == {"success"}
    counts = emulator_env.call_counts()
    assert [counts[rpc] for rpc in ("CreateIssueModel", "DeployIssueModel", "UndeployIssueModel",
                                    "DeleteIssueModel")] == [1, 1, 1, 1]
    assert xcom(dag_run, "undeploy")["@type"].endswith(".UndeployIssueModelResponse")
    assert xcom(dag_run, "delete") == {"@type": "type.googleapis.com/google.protobuf.Empty"}


# -- the requests -----------------------------------------------------------------------------------------------
def test_create_turns_the_rendered_issue_model_into_the_message() -> None:
    create = ContactCenterInsightsCreateIssueModelOperator(task_id="create", issue_model={
        "display_name": "topics {{ ds }}", "model_type": "TYPE_V2",
        "input_data_config": {"medium": "PHONE_CALL", "filter": 'start_time > "{{ ds }}T00:00:00Z"'},
    })

    create.render_template_fields({"ds": "2026-01-05"})
    request = create.build_request(PARENT)

    assert type(request) is types.CreateIssueModelRequest
    assert request.parent == PARENT
    assert request.issue_model.display_name == "topics 2026-01-05"
    assert request.issue_model.model_type == types.IssueModel.ModelType.TYPE_V2
    assert request.issue_model.input_data_config.medium == types.Conversation.Medium.PHONE_CALL
    assert request.issue_model.input_data_config.filter == 'start_time > "2026-01-05T00:00:00Z"'


def test_create_takes_an_issue_model_message_as_it_is() -> None:
    model = types.IssueModel(display_name="given", input_data_config={"filter": 'agent_id="a"'})

    request = ContactCenterInsightsCreateIssueModelOperator(task_id="create", issue_model=model).build_request(PARENT)

    assert request.issue_model == model


@pytest.mark.parametrize(("issue_model", "shown"), [
    ({"display_name": "m", "input_data_config": {"medium": "FAX"}},
     "Invalid issue_model {'display_name': 'm', 'input_data_config': {'medium': 'FAX'}}: not a IssueModel"),
    ("topics", "Invalid issue_model 'topics': expected a dict or IssueModel."),
])
def test_create_names_a_bad_issue_model(issue_model: Any, shown: str) -> None:
    create = ContactCenterInsightsCreateIssueModelOperator(task_id="create", issue_model=issue_model)

    with pytest.raises(ValueError, match=re.escape(shown)):
        create.build_request(PARENT)


@pytest.mark.parametrize(("operator", "request_type"), ON_ONE_MODEL)
@pytest.mark.parametrize("issue_model_id", ["{{ params.model }}", PARENT + "/issueModels/{{ params.model }}"])
def test_a_model_operator_names_the_rendered_model_by_id_or_full_name(
    operator: type[Any], request_type: type[Any], issue_model_id: str
) -> None:
    op = operator(task_id="op", issue_model_id=issue_model_id)

    op.render_template_fields({"params": {"model": "42"}})
    request = op.build_request(PARENT)

    assert type(request) is request_type
    assert request.name == f"{PARENT}/issueModels/42"


@pytest.mark.parametrize(("operator", "request_type"), ON_ONE_MODEL)
def test_a_model_operator_refuses_a_model_of_another_location(operator: type[Any], request_type: type[Any]) -> None:
    elsewhere = "projects/test-project/locations/europe-west1/issueModels/42"

    with pytest.raises(ValueError, match=re.escape(f"Invalid issue_model_id {elsewhere!r}")):
        operator(task_id="op", issue_model_id=elsewhere).build_request(PARENT)


def test_what_each_operator_templates() -> None:
    assert ContactCenterInsightsCreateIssueModelOperator.template_fields == (*BASE_TEMPLATES, "issue_model")
    assert ContactCenterInsightsCreateIssueModelOperator.template_fields_renderers == {"issue_model": "json"}
    for operator, _ in ON_ONE_MODEL:
        assert operator.template_fields == (*BASE_TEMPLATES, "issue_model_id"), operator


# -- lineage ----------------------------------------------------------------------------------------------------
def test_lineage_before_the_operation_ran() -> None:
    create = ContactCenterInsightsCreateIssueModelOperator(task_id="c", project_id="test-project", issue_model={})
    # The model a create makes is known from its response only.
    assert names(create.lineage_datasets()) == ([(INSIGHTS, "conversations", None)], [])
    for operator, _ in ON_ONE_MODEL:
        op = operator(task_id="op", project_id="test-project", issue_model_id="42")
        # A delete marks the model DROP once it succeeded, not before.
        assert names(op.lineage_datasets()) == ([], [(INSIGHTS, "issueModels/42", None)]), operator


# -- runs against the emulator ----------------------------------------------------------------------------------
def test_deploy_leaves_the_model_deployed_on_the_server(emulator_env: Emulator, airflow_db: str) -> None:
    dag_run = run_dag("ccai_test_op_deploy_wait")

    assert states(dag_run) == {"setup": "success", "operator": "success"}
    model = ContactCenterInsightsHook().get_issue_model(xcom(dag_run, "setup"))
    assert model.state == State.DEPLOYED
    assert xcom(dag_run, "operator", "operation")["metadata"]["request"] == {"name": model.name}


def test_deploy_without_replace_deployed_is_refused_while_another_model_is_deployed(
    emulator_env: Emulator, airflow_db: str, capfd: pytest.CaptureFixture[str]
) -> None:
    hook = ContactCenterInsightsHook()
    live = hook.wait_for_operation(create_model(hook, "live").name, poll_interval=0.05).response["name"]  # type: ignore[index]
    hook.wait_for_operation(hook.start_operation(types.DeployIssueModelRequest(name=live)).name, poll_interval=0.05)

    dag_run = run_dag("ccai_test_op_deploy_wait")

    assert states(dag_run) == {"setup": "success", "operator": "failed"}
    assert hook.get_issue_model(live).state == State.DEPLOYED
    assert hook.get_issue_model(xcom(dag_run, "setup")).state == State.UNDEPLOYED
    assert "UndeployIssueModel" not in emulator_env.call_counts()
    output = capfd.readouterr()
    assert f"issue model {live} is already DEPLOYED" in output.out + output.err


def test_delete_removes_the_model_from_the_location(emulator_env: Emulator, airflow_db: str) -> None:
    dag_run = run_dag("ccai_test_op_delete_wait")

    assert states(dag_run) == {"setup": "success", "operator": "success"}
    assert xcom(dag_run, "setup").startswith(f"{PARENT}/issueModels/")
    assert ContactCenterInsightsHook().list_issue_models(PARENT) == []


class TaskInstance:
    """The one method of Airflow's task instance that finish() and the links call, recording what was pushed."""

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def test_the_model_link_names_the_model_when_response_fields_leave_out_its_name(emulator_env: Emulator) -> None:
    emulator_env.set_operation_seconds(0)
    hook = ContactCenterInsightsHook()
    outcome = hook.wait_for_operation(create_model(hook, "linked").name, poll_interval=0.05)
    model_id = outcome.response["name"].rsplit("/", 1)[-1]
    operator = ContactCenterInsightsCreateIssueModelOperator(
        task_id="create", project_id="test-project", issue_model={}, response_fields=["state"],
    )
    ti = TaskInstance()

    assert operator.finish({"ti": ti}, outcome) == {"@type": outcome.response["@type"], "state": "UNDEPLOYED"}
    assert ti.pushed[ContactCenterInsightsIssueModelLink.key].endswith(f"/issueModels/{model_id}")
