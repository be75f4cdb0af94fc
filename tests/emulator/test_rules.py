"""Rules from the reference text (not expressible in the definition), through the client on both transports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google.cloud import contact_center_insights_v1 as ci

from ccai_airflow.emulator import Emulator
from tests.conftest import PARENT
from tests.emulator.test_emulator import (
    Client,
    _grpc_client,
    _rest_client,
    error_of,
    status_of,
    trained_model,
    unpack,
    wait_done,
)

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md).
pytestmark = pytest.mark.airflow_independent

State = ci.IssueModel.State


@pytest.fixture(params=["grpc", "rest"])
def api(request: pytest.FixtureRequest, emulator: Emulator) -> Iterator[Client]:
    made, close = (_grpc_client if request.param == "grpc" else _rest_client)(emulator)
    yield made
    close()


def _deploy_refused(api: Client, name: str, blocker: str, blocker_state: str) -> None:
    err = error_of(lambda: api.deploy_issue_model(name=name))
    assert status_of(err) == "FAILED_PRECONDITION", err
    assert blocker in err.message and blocker_state in err.message, err.message
    assert api.get_issue_model(name=name).state == State.UNDEPLOYED, "the refused model is untouched"


def test_one_deployed_model_per_location(api: Client) -> None:
    """DeployIssueModel: "Returns an error if a model is already deployed." (refused at the call)."""
    first, second = trained_model(api, "first"), trained_model(api, "second")
    deploy = api.deploy_issue_model(name=first.name).operation
    _deploy_refused(api, second.name, first.name, "DEPLOYING")
    wait_done(api, deploy.name)
    _deploy_refused(api, second.name, first.name, "DEPLOYED")

    undeploy = api.undeploy_issue_model(name=first.name).operation
    _deploy_refused(api, second.name, first.name, "UNDEPLOYING")
    wait_done(api, undeploy.name)
    op = wait_done(api, api.deploy_issue_model(name=second.name).operation.name)
    assert not op.HasField("error")
    assert api.get_issue_model(name=second.name).state == State.DEPLOYED
    assert api.get_issue_model(name=first.name).state == State.UNDEPLOYED


def test_another_location_deploys_independently(api: Client) -> None:
    first = trained_model(api, "here")
    wait_done(api, api.deploy_issue_model(name=first.name).operation.name)
    other_parent = PARENT.replace("us-central1", "europe-west1")
    lro = api.create_issue_model(parent=other_parent, issue_model={"display_name": "there"})
    name = unpack(wait_done(api, lro.operation.name).response, ci.IssueModel).name
    wait_done(api, api.deploy_issue_model(name=name).operation.name)
    assert api.get_issue_model(name=name).state == State.DEPLOYED
    assert api.get_issue_model(name=first.name).state == State.DEPLOYED


def test_cancelled_deploy_frees_the_slot(api: Client) -> None:
    first, second = trained_model(api, "first"), trained_model(api, "second")
    deploy = api.deploy_issue_model(name=first.name).operation
    api.cancel_operation(request={"name": deploy.name})
    assert wait_done(api, deploy.name).error.code == 1
    wait_done(api, api.deploy_issue_model(name=second.name).operation.name)
    assert api.get_issue_model(name=second.name).state == State.DEPLOYED


def test_failed_deploy_frees_the_slot(api: Client, emulator: Emulator) -> None:
    first, second = trained_model(api, "first"), trained_model(api, "second")
    emulator.fail_next_operations(1)
    assert wait_done(api, api.deploy_issue_model(name=first.name).operation.name).error.code == 13
    wait_done(api, api.deploy_issue_model(name=second.name).operation.name)
    assert api.get_issue_model(name=second.name).state == State.DEPLOYED


@pytest.mark.parametrize("deployed", [False, True])
def test_bulk_analyze_accepts_an_issue_model_in_any_state(api: Client, deployed: bool) -> None:
    """AnnotatorSelector.issue_models: "will only be used for inference if the issue model is deployed"
    (a model that is not deployed is skipped, not refused); the effect is not visible in the RPCs served."""
    model = trained_model(api)
    if deployed:
        wait_done(api, api.deploy_issue_model(name=model.name).operation.name)
    lro = api.bulk_analyze_conversations(request={
        "parent": PARENT, "filter": 'medium="CHAT"', "analysis_percentage": 10,
        "annotator_selector": {"run_issue_model_annotator": True, "issue_models": [model.name]},
    })
    assert not wait_done(api, lro.operation.name).HasField("error")
