"""The swap of the deployed issue model (model_swap.py, the deploy operator with ``replace_deployed=True``), run by
Airflow (dag.test) against the emulator: what tests/core/test_swap.py leaves out, a failed deploy with no model to
roll back to, and a swap that finds the target's deploy already running."""

from __future__ import annotations

import threading
import time

import pytest
from google.cloud.contact_center_insights_v1 import types

from ccai_airflow.emulator import Emulator
from ccai_airflow.exceptions import (
    ContactCenterInsightsOperationFailedError,
    ContactCenterInsightsOperationRetryableError,
)
from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.operators.model_swap import _swap_error
from tests.conftest import PARENT
from tests.helpers import create_model, run_dag, states, xcom

State = types.IssueModel.State


def train(hook: ContactCenterInsightsHook, *display_names: str) -> dict[str, str]:
    """Train one undeployed issue model per display name (the swap DAG deploys "new"); their names."""
    names = {}
    for display_name in display_names:
        outcome = hook.wait_for_operation(create_model(hook, display_name).name, poll_interval=0.05)
        names[display_name] = outcome.response["name"]  # type: ignore[index]
    return names


def model_states(hook: ContactCenterInsightsHook) -> dict[str, str]:
    return {m.display_name: m.state.name for m in hook.list_issue_models(PARENT)}


def finish_operations_once_polled(emulator: Emulator) -> threading.Thread:
    """Jump the emulator's clock past every running operation once someone polls one (the swap's wait)."""
    polls = emulator.call_counts().get("GetOperation", 0)

    def watch() -> None:
        give_up = time.monotonic() + 60
        while emulator.call_counts().get("GetOperation", 0) == polls and time.monotonic() < give_up:
            time.sleep(0.02)
        emulator.advance_clock(3600)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize(("code", "error"), [
    ("UNAVAILABLE", ContactCenterInsightsOperationRetryableError),
    ("INTERNAL", ContactCenterInsightsOperationRetryableError),
    ("FAILED_PRECONDITION", ContactCenterInsightsOperationFailedError),
    (None, ContactCenterInsightsOperationFailedError),
])
def test_a_rolled_back_swap_is_retried_only_after_the_services_own_failure(code: str | None, error: type) -> None:
    assert _swap_error(code) is error


@pytest.mark.parametrize(("code", "tries", "deployed"), [("FAILED_PRECONDITION", 1, "UNDEPLOYED"),
                                                         ("INTERNAL", 2, "DEPLOYED")])
def test_a_failed_deploy_with_nothing_undeployed_redeploys_nothing(
    code: str, tries: int, deployed: str, emulator_env: Emulator, airflow_db: str, capfd: pytest.CaptureFixture[str]
) -> None:
    hook = ContactCenterInsightsHook()
    train(hook, "old", "new")
    emulator_env.fail_next_operations(1, code=code, message="deploy broke")

    dag_run = run_dag("ccai_test_swap_retry")

    assert states(dag_run) == {"pick": "success", "swap": "success" if tries == 2 else "failed"}
    assert dag_run.get_task_instance("swap").try_number == tries
    # No redeploy of a model that was never undeployed: one deploy a try, and "old" was never touched.
    assert emulator_env.call_counts()["DeployIssueModel"] == tries
    assert "UndeployIssueModel" not in emulator_env.call_counts()
    assert model_states(hook) == {"old": "UNDEPLOYED", "new": deployed}
    output = capfd.readouterr()
    assert (f"{code}: deploy broke. No model was undeployed by this swap, so there is none to redeploy."
            in output.out + output.err)
    if tries == 2:  # the retry deployed the target, replacing nothing
        assert xcom(dag_run, "swap", "previous_issue_model_name") is None
        assert xcom(dag_run, "swap", "operation_name").startswith(f"{PARENT}/operations/")


def test_the_swap_waits_for_a_running_deploy_of_its_target_instead_of_starting_one(
    emulator_env: Emulator, airflow_db: str, capfd: pytest.CaptureFixture[str]
) -> None:
    hook = ContactCenterInsightsHook()
    names = train(hook, "old", "new")
    emulator_env.set_operation_seconds(3600)  # DEPLOYING until the swap's wait polls it
    running = hook.start_operation(types.DeployIssueModelRequest(name=names["new"])).name
    emulator_env.set_operation_seconds(0.3)
    before = emulator_env.call_counts()
    watcher = finish_operations_once_polled(emulator_env)

    dag_run = run_dag("ccai_test_swap_wait")
    watcher.join(timeout=10)

    assert states(dag_run) == {"pick": "success", "swap": "success"}
    assert model_states(hook) == {"old": "UNDEPLOYED", "new": "DEPLOYED"}
    assert emulator_env.call_counts().get("DeployIssueModel", 0) == before["DeployIssueModel"]
    output = capfd.readouterr()
    assert f"Swap to {names['new']}: waiting for operation {running} of {names['new']}." in output.out + output.err
