"""The safe model swap: the plan from the server's state, and the deploy operator with replace_deployed=True
run by Airflow (dag.test) against the emulator."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from google.cloud.contact_center_insights_v1 import types

from ccai_airflow.core.outcome import Status, outcome_of
from ccai_airflow.core.swap import (
    DEPLOY_METADATA,
    UNDEPLOY_METADATA,
    Action,
    Step,
    is_retryable_code,
    next_action,
    previous_model,
)
from ccai_airflow.emulator import Emulator
from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.operators import ContactCenterInsightsDeployIssueModelOperator
from tests.conftest import PARENT
from tests.helpers import create_model, run_dag, states, xcom

T = "t"  # the target
DEPLOY_RESPONSE = {"@type": "type.googleapis.com/google.cloud.contactcenterinsights.v1.DeployIssueModelResponse"}
OPERATION_PREFIX = f"{PARENT}/operations/"


# -- the plan ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("models", "expected"),
    [
        # Nothing else deployed: deploy the target; done once it is deployed.
        ({T: "UNDEPLOYED"}, Action(Step.DEPLOY, T)),
        ({T: "UNDEPLOYED", "a": "UNDEPLOYED"}, Action(Step.DEPLOY, T)),
        ({T: "DEPLOYED"}, Action(Step.DONE, T)),
        ({T: "DEPLOYED", "a": "UNDEPLOYED", "b": "CREATING"}, Action(Step.DONE, T)),
        # Another model deployed: undeploy it first (all of them, where a lenient server has several).
        ({T: "UNDEPLOYED", "a": "DEPLOYED"}, Action(Step.UNDEPLOY, "a")),
        ({T: "DEPLOYED", "a": "DEPLOYED"}, Action(Step.UNDEPLOY, "a")),
        ({T: "UNDEPLOYED", "a": "UNDEPLOYED", "b": "DEPLOYED"}, Action(Step.UNDEPLOY, "b")),
        # A model in transition: wait for it, the target first.
        ({T: "DEPLOYING", "a": "UNDEPLOYED"}, Action(Step.WAIT, T)),
        ({T: "UNDEPLOYING"}, Action(Step.WAIT, T)),
        ({T: "UNDEPLOYED", "a": "UNDEPLOYING"}, Action(Step.WAIT, "a")),
        ({T: "UNDEPLOYED", "a": "DEPLOYING"}, Action(Step.WAIT, "a")),
        ({T: "DEPLOYED", "a": "DEPLOYING"}, Action(Step.WAIT, "a")),
        ({T: "DEPLOYING", "a": "UNDEPLOYING"}, Action(Step.WAIT, T)),
        ({T: "UNDEPLOYED", "a": "DEPLOYED", "b": "UNDEPLOYING"}, Action(Step.WAIT, "b")),
        # Models being created or deleted do not stand in the way.
        ({T: "UNDEPLOYED", "a": "DELETING", "b": "CREATING"}, Action(Step.DEPLOY, T)),
    ],
)
def test_the_plan_is_the_next_step_the_servers_state_calls_for(models: dict[str, str], expected: Action) -> None:
    assert next_action(T, models.items()) == expected
    # The order the server lists the models in does not matter.
    assert next_action(T, reversed(list(models.items()))) == expected


@pytest.mark.parametrize("state", ["CREATING", "DELETING", "STATE_UNSPECIFIED"])
def test_the_plan_refuses_a_target_that_cannot_be_deployed(state: str) -> None:
    with pytest.raises(ValueError, match=f"Invalid issue model 't' in state '{state}': expected a trained model"):
        next_action(T, [(T, state), ("a", "DEPLOYED")])


def test_the_plan_refuses_a_target_the_location_does_not_have() -> None:
    with pytest.raises(ValueError, match=r"Invalid issue model 't': expected one of the location's models \['a'\]"):
        next_action(T, [("a", "DEPLOYED")])


def test_only_the_services_own_failures_make_a_rolled_back_swap_retryable() -> None:
    assert all(is_retryable_code(code) for code in ("UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED"))
    assert not any(is_retryable_code(code) for code in ("FAILED_PRECONDITION", "INVALID_ARGUMENT", "CANCELLED", None))


@pytest.mark.parametrize(
    ("kwargs", "shown"),
    [({"replace_deployed": "yes"}, "Invalid replace_deployed 'yes': expected True or False."),
     ({"replace_deployed": True, "wait_for_completion": False},
      "Invalid wait_for_completion False with replace_deployed=True: expected True")],
)
def test_bad_swap_options_fail_when_the_dag_is_parsed(kwargs: dict[str, Any], shown: str) -> None:
    with pytest.raises(ValueError, match=shown):
        ContactCenterInsightsDeployIssueModelOperator(task_id="deploy", issue_model_id="1", **kwargs)


# -- the operator, against the emulator ---------------------------------------------------------------------------
def make_models(deployed: str | None = "old") -> dict[str, str]:
    """Train issue models "old" and "new" and deploy ``deployed``; their names by display name."""
    hook = ContactCenterInsightsHook()
    names = {}
    for display_name in ("old", "new"):
        operation = create_model(hook, display_name)
        outcome = hook.wait_for_operation(operation.name, poll_interval=0.1)
        assert outcome.response is not None
        names[display_name] = outcome.response["name"]
    if deployed:
        deploy = hook.start_operation(types.DeployIssueModelRequest(name=names[deployed]))
        outcome = hook.wait_for_operation(deploy.name, poll_interval=0.1)
        assert outcome.status is Status.SUCCEEDED
    return names


def model_states() -> dict[str, str]:
    return {m.display_name: m.state.name for m in ContactCenterInsightsHook().list_issue_models(PARENT)}


def deploy_operations(model: str) -> list[Any]:
    """The outcomes of the DeployIssueModel operations of ``model``, oldest first."""
    found = [outcome_of(op) for op in ContactCenterInsightsHook().list_operations(PARENT)]
    found = [o for o in found if o.metadata.get("@type") == DEPLOY_METADATA
             and o.metadata["request"]["name"] == model]
    return sorted(found, key=lambda o: o.metadata["createTime"])


def calls_since(emulator: Emulator, before: dict[str, int], rpc: str) -> int:
    return emulator.call_counts().get(rpc, 0) - before.get(rpc, 0)


@contextmanager
def fail_the_operation_after_the_undeploy(code: str, message: str, emulator: Emulator) -> Iterator[None]:
    """Make the emulator fail the next operation once the swap's undeploy has started: the new model's deploy."""
    stop = threading.Event()

    def watch() -> None:
        hook = ContactCenterInsightsHook()
        while not stop.is_set():
            if any(outcome_of(op).metadata.get("@type") == UNDEPLOY_METADATA for op in hook.list_operations(PARENT)):
                emulator.fail_next_operations(1, code=code, message=message)
                return
            time.sleep(0.01)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


@pytest.mark.parametrize("mode", ["wait", "deferrable"])
def test_the_swap_undeploys_the_previous_model_and_deploys_the_new_one(
    mode: str, emulator_env: Emulator, airflow_db: str
) -> None:
    names = make_models(deployed="old")
    before = emulator_env.call_counts()

    dag_run = run_dag(f"ccai_test_swap_{mode}")

    assert states(dag_run) == {"pick": "success", "swap": "success"}
    assert model_states() == {"old": "UNDEPLOYED", "new": "DEPLOYED"}
    assert calls_since(emulator_env, before, "UndeployIssueModel") == 1
    assert calls_since(emulator_env, before, "DeployIssueModel") == 1
    assert xcom(dag_run, "swap") == DEPLOY_RESPONSE
    assert xcom(dag_run, "swap", "previous_issue_model_name") == names["old"]
    assert xcom(dag_run, "swap", "undeploy_operation_name").startswith(OPERATION_PREFIX)
    [deploy] = deploy_operations(names["new"])
    assert xcom(dag_run, "swap", "operation_name") == deploy.operation_name
    assert xcom(dag_run, "swap", "operation")["name"] == deploy.operation_name


def test_with_nothing_deployed_the_swap_just_deploys(emulator_env: Emulator, airflow_db: str) -> None:
    make_models(deployed=None)
    before = emulator_env.call_counts()

    dag_run = run_dag("ccai_test_swap_wait")

    assert states(dag_run) == {"pick": "success", "swap": "success"}
    assert model_states() == {"old": "UNDEPLOYED", "new": "DEPLOYED"}
    assert calls_since(emulator_env, before, "UndeployIssueModel") == 0
    assert xcom(dag_run, "swap", "previous_issue_model_name") is None
    assert xcom(dag_run, "swap", "undeploy_operation_name") is None
    assert xcom(dag_run, "swap", "operation_name").startswith(OPERATION_PREFIX)


def test_a_target_already_deployed_makes_no_call_but_pushes_the_xcoms(emulator_env: Emulator, airflow_db: str) -> None:
    make_models(deployed="new")
    before = emulator_env.call_counts()

    dag_run = run_dag("ccai_test_swap_deferrable")

    assert states(dag_run) == {"pick": "success", "swap": "success"}
    assert model_states() == {"old": "UNDEPLOYED", "new": "DEPLOYED"}
    assert calls_since(emulator_env, before, "DeployIssueModel") == 0
    assert calls_since(emulator_env, before, "UndeployIssueModel") == 0
    assert xcom(dag_run, "swap") == DEPLOY_RESPONSE
    assert xcom(dag_run, "swap", "operation_name") is None
    assert xcom(dag_run, "swap", "previous_issue_model_name") is None
    assert xcom(dag_run, "swap", "undeploy_operation_name") is None


@pytest.mark.parametrize("mode", ["wait", "deferrable"])
def test_a_failed_deploy_redeploys_the_previous_model_and_fails_naming_both_operations(
    mode: str, emulator_env: Emulator, airflow_db: str, capfd: pytest.CaptureFixture[str]
) -> None:
    names = make_models(deployed="old")

    with fail_the_operation_after_the_undeploy("FAILED_PRECONDITION", "too few issues", emulator_env):
        dag_run = run_dag(f"ccai_test_swap_retry{'_deferrable' if mode == 'deferrable' else ''}")

    assert states(dag_run) == {"pick": "success", "swap": "failed"}
    # FAILED_PRECONDITION would fail again: no retry takes the live model down a second time.
    assert dag_run.get_task_instance("swap").try_number == 1
    assert model_states() == {"old": "DEPLOYED", "new": "UNDEPLOYED"}
    [failed] = deploy_operations(names["new"])
    redeploy = deploy_operations(names["old"])[-1]
    assert failed.status is Status.FAILED and redeploy.status is Status.SUCCEEDED
    output = capfd.readouterr()
    log = output.out + output.err
    assert (f"Swap to {names['new']} failed and was rolled back: Operation {failed.operation_name} failed: "
            f"FAILED_PRECONDITION: too few issues. The previous model {names['old']} was redeployed by operation "
            f"{redeploy.operation_name} and is DEPLOYED again.") in log


def test_a_refused_deploy_call_redeploys_the_previous_model(
    emulator_env: Emulator, airflow_db: str, capfd: pytest.CaptureFixture[str]
) -> None:
    names = make_models(deployed="old")
    emulator_env.inject_fault(rpc="DeployIssueModel", code="INVALID_ARGUMENT", count=1)

    dag_run = run_dag("ccai_test_swap_retry")

    assert states(dag_run) == {"pick": "success", "swap": "failed"}
    assert dag_run.get_task_instance("swap").try_number == 1
    assert model_states() == {"old": "DEPLOYED", "new": "UNDEPLOYED"}
    redeploy = deploy_operations(names["old"])[-1]
    output = capfd.readouterr()
    assert (f"The DeployIssueModel call for {names['new']} was refused: INVALID_ARGUMENT: Injected fault: "
            f"INVALID_ARGUMENT on DeployIssueModel. The previous model {names['old']} was redeployed by operation "
            f"{redeploy.operation_name}") in output.out + output.err


def test_a_transient_deploy_failure_is_rolled_back_and_the_retry_swaps_again(
    emulator_env: Emulator, airflow_db: str
) -> None:
    names = make_models(deployed="old")
    before = emulator_env.call_counts()

    with fail_the_operation_after_the_undeploy("INTERNAL", "backend restarted", emulator_env):
        dag_run = run_dag("ccai_test_swap_retry")

    assert states(dag_run) == {"pick": "success", "swap": "success"}
    assert dag_run.get_task_instance("swap").try_number == 2
    assert model_states() == {"old": "UNDEPLOYED", "new": "DEPLOYED"}
    # Try 1: undeploy old, deploy new (fails), redeploy old. Try 2: undeploy old, deploy new.
    assert calls_since(emulator_env, before, "UndeployIssueModel") == 2
    assert calls_since(emulator_env, before, "DeployIssueModel") == 3
    assert xcom(dag_run, "swap", "previous_issue_model_name") == names["old"]
    assert xcom(dag_run, "swap", "operation_name") == deploy_operations(names["new"])[-1].operation_name


@pytest.mark.parametrize("mode", ["wait", "deferrable"])
def test_a_retry_after_the_worker_died_mid_swap_finishes_it_without_a_second_undeploy(
    mode: str, emulator_env: Emulator, airflow_db: str
) -> None:
    names = make_models(deployed="old")
    before = emulator_env.call_counts()
    # The first try's first poll (of its undeploy) is refused, as if its worker had died while waiting.
    emulator_env.inject_fault(rpc="GetOperation", code="PERMISSION_DENIED", count=1)

    dag_run = run_dag(f"ccai_test_swap_retry{'_deferrable' if mode == 'deferrable' else ''}")

    assert states(dag_run) == {"pick": "success", "swap": "success"}
    assert dag_run.get_task_instance("swap").try_number == 2
    assert model_states() == {"old": "UNDEPLOYED", "new": "DEPLOYED"}
    assert calls_since(emulator_env, before, "UndeployIssueModel") == 1
    assert calls_since(emulator_env, before, "DeployIssueModel") == 1
    # The retry found the model the first try undeployed on the server.
    assert xcom(dag_run, "swap", "previous_issue_model_name") == names["old"]


def test_the_previous_model_is_the_newest_undeploy_since_the_run_began_not_of_the_target(
    seed_operation: Any,
) -> None:
    from datetime import UTC, datetime

    from google.cloud.contact_center_insights_v1 import types
    from google.longrunning import operations_pb2
    from google.protobuf import timestamp_pb2

    def undeploy(name: str, model: str, created: str, failed: bool = False) -> operations_pb2.Operation:
        metadata = types.UndeployIssueModelMetadata(request={"name": model})
        stamp = timestamp_pb2.Timestamp()
        stamp.FromJsonString(created)
        metadata.create_time = stamp
        operation = operations_pb2.Operation(name=f"{OPERATION_PREFIX}{name}", done=True)
        operation.metadata.Pack(types.UndeployIssueModelMetadata.pb(metadata))
        if failed:
            operation.error.code = 9
        else:
            operation.response.Pack(types.UndeployIssueModelResponse.pb()())
        return operation

    since = datetime(2026, 1, 5, tzinfo=UTC)
    operations = [
        undeploy("1", "a", "2026-01-04T00:00:00Z"),  # before the run
        undeploy("2", "b", "2026-01-05T01:00:00Z"),
        undeploy("3", "c", "2026-01-05T03:00:00Z", failed=True),  # c is still deployed
        undeploy("4", T, "2026-01-05T04:00:00Z"),  # the target itself
        seed_operation,  # another kind of operation
    ]

    assert previous_model(operations, T, since) == ("b", f"{OPERATION_PREFIX}2")
    assert previous_model(operations, T, datetime(2026, 1, 5, 2, tzinfo=UTC)) is None
