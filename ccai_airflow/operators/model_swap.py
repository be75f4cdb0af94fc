"""The safe swap of the deployed issue model, mixed into the deploy operator (``replace_deployed=True``).

DeployIssueModel is refused while another model of the location is deployed. The swap undeploys
the deployed model, deploys the new one, and if that deploy fails deploys the previous one again
and fails naming both operations. Every step is derived from the server's state
(``ccai_airflow.core.swap``), so a retry after a dead worker finishes the swap instead of starting over.
"""

from __future__ import annotations

import time
from typing import Any, NoReturn

from google.api_core.exceptions import GoogleAPICallError, RetryError
from google.cloud.contact_center_insights_v1 import types

from ccai_airflow.core.outcome import Outcome, Status, outcome_of_error
from ccai_airflow.core.swap import (
    DEPLOY_METADATA,
    Step,
    is_retryable_code,
    newest_operation,
    next_action,
    previous_model,
)
from ccai_airflow.exceptions import (
    ContactCenterInsightsOperationFailedError,
    ContactCenterInsightsOperationRetryableError,
)
from ccai_airflow.operators.base import _IssueModelOperator

__all__ = ["IssueModelSwap"]

DEPLOY_RESPONSE_TYPE = "type.googleapis.com/google.cloud.contactcenterinsights.v1.DeployIssueModelResponse"
# How long a swap waits before looking again at a model in transition whose operation is not listed.
SWAP_RECHECK_S = 10.0


def _swap_error(code: str | None) -> type[Exception]:
    """A failed deploy that was rolled back: a task retry swaps again only when the failure was the service's
    (UNAVAILABLE, INTERNAL, ...); any other would fail again, and each retry takes the live model down again."""
    return ContactCenterInsightsOperationRetryableError if is_retryable_code(code) else (
        ContactCenterInsightsOperationFailedError)


class IssueModelSwap(_IssueModelOperator):
    """The swap's steps; the deploy operator runs them when ``replace_deployed=True``."""

    def _target(self) -> str:
        return self._model_name(self._parent())

    def _run_started(self, context: Any) -> Any:
        """Operations of this swap are those created since the DAG run started (earlier tries included)."""
        return getattr(context.get("dag_run"), "start_date", None)

    def _swap(self, context: Any) -> Any:
        """Do the next step the server's state calls for, until the target alone is deployed."""
        parent, target = self._parent(), self._target()
        while True:
            models = self.hook.list_issue_models(parent)
            action = next_action(target, [(model.name, model.state.name) for model in models])
            if action.step is Step.DONE:
                return self._swap_done(context, parent, target)
            if action.step is Step.WAIT:
                running = newest_operation(self.hook.list_operations(parent), None, action.model,
                                           statuses=(Status.RUNNING,))
                if running is None:
                    # Moved by a call whose operation the API no longer lists: look at the model again later.
                    pause = self.poll_interval or SWAP_RECHECK_S
                    self.log.warning("Issue model %s is in transition with no running operation listed; looking "
                                     "again in %s s.", action.model, pause)
                    time.sleep(pause)
                    continue
                name = running.operation_name
                self.log.info("Swap to %s: waiting for operation %s of %s.", target, name, action.model)
            elif action.step is Step.UNDEPLOY:
                name = str(self.start(types.UndeployIssueModelRequest(name=action.model)).name)
                context["ti"].xcom_push(key="undeploy_operation_name", value=name)
                self.log.info("Swap to %s: undeploying %s with operation %s.", target, action.model, name)
            else:
                try:
                    name = str(self.start(types.DeployIssueModelRequest(name=target)).name)
                except (GoogleAPICallError, RetryError) as exc:
                    refused = outcome_of_error(target, exc, self.hook.credentials_source)
                    self._roll_back(context, None, f"The DeployIssueModel call for {target} was refused: "
                                    f"{refused.error_code}: {refused.error_message}", refused.error_code)
                self.push_operation_name(context, name)
                self.log.info("Swap to %s: deploying it with operation %s.", target, name)
            self._check_step(context, self._wait_step(context, name))

    def _wait_step(self, context: Any, name: str, method_name: str = "execute_complete") -> Outcome:
        """Wait for one step's operation: in this worker, or deferred (``method_name`` carries on)."""
        wait = self.begin_wait(context, name, self.poll_interval, self.wait_timeout)
        with self.cancel_if_abandoned(wait):
            outcome = self.wait_step(wait, self.deferrable, method_name)
            if outcome.status is Status.TIMEOUT:
                raise self.timeout_error(context, f"Timed out waiting: {outcome.describe_failure()}")
            return outcome

    def _check_step(self, context: Any, outcome: Outcome) -> None:
        """Return when the step succeeded; roll back a failed deploy of the target; raise for anything else.

        Any other failure (an undeploy, a poll the API refused) leaves the deployed model as it was:
        the task fails and a retry carries on from the server's state.
        """
        if outcome.status is Status.SUCCEEDED:
            return
        request = outcome.metadata.get("request") or {}
        if (outcome.status is Status.FAILED and outcome.metadata.get("@type") == DEPLOY_METADATA
                and request.get("name") == self._target()):
            self._roll_back(context, outcome.operation_name, outcome.describe_failure(), outcome.error_code)
        raise self.failure_error(f"The swap to {self._target()} stopped: {outcome.describe_failure()}")

    def _roll_back(self, context: Any, failed: str | None, failure: str, code: str | None) -> NoReturn:
        """The target's deploy failed: deploy the model the swap undeployed again, wait, and fail naming both."""
        parent, target = self._parent(), self._target()
        failure = failure.rstrip(".")  # API messages may end in a period; ours go on after it
        previous = previous_model(self.hook.list_operations(parent), target, self._run_started(context))
        error = _swap_error(code)
        if previous is None:
            raise error(f"{failure}. No model was undeployed by this swap, so there is none to redeploy.")
        model, _ = previous
        state = self.hook.get_issue_model(model).state.name
        if state == "DEPLOYED":
            raise error(f"{failure}. The previous model {model} is still DEPLOYED.")
        if state != "UNDEPLOYED":
            raise ContactCenterInsightsOperationRetryableError(
                f"{failure}. The previous model {model} is {state}, so it was not redeployed; a retry carries on.")
        self.log.error("Swap to %s failed: %s. Redeploying the previous model %s.", target, failure, model)
        try:
            redeploy = str(self.start(types.DeployIssueModelRequest(name=model)).name)
        except (GoogleAPICallError, RetryError) as exc:
            refused = outcome_of_error(model, exc, self.hook.credentials_source)
            raise ContactCenterInsightsOperationRetryableError(
                f"{failure}. Redeploying the previous model {model} was refused: {refused.error_code}: "
                f"{refused.error_message}; no model is deployed, a retry deploys {target} again."
            ) from None
        self._rolled_back(context, self._wait_step(context, redeploy, "rollback_complete"), (failure, code))

    def _rolled_back(self, context: Any, outcome: Outcome, failure: tuple[str, str | None] | None = None) -> NoReturn:
        """The redeploy of the previous model ended: fail the task, naming the failed deploy and the redeploy.

        ``failure`` (the reason and its code) is known when the wait did not defer; after a deferral it is
        the target's newest failed DeployIssueModel operation of this run, from the server.
        """
        target = self._target()
        previous = (outcome.metadata.get("request") or {}).get("name", "the previous model")
        if failure is None:
            failed = newest_operation(self.hook.list_operations(self._parent()), DEPLOY_METADATA, target,
                                      since=self._run_started(context), statuses=(Status.FAILED,))
            failure = ((failed.describe_failure(), failed.error_code) if failed is not None else
                       (f"The DeployIssueModel call for {target} was refused (its error is logged above)", None))
        reason, code = failure[0].rstrip("."), failure[1]
        if outcome.status is Status.SUCCEEDED:
            raise _swap_error(code)(
                f"Swap to {target} failed and was rolled back: {reason}. The previous model {previous} was "
                f"redeployed by operation {outcome.operation_name} and is DEPLOYED again."
            )
        raise ContactCenterInsightsOperationRetryableError(
            f"Swap to {target} failed: {reason}. The redeploy of the previous model {previous} did not succeed "
            f"either: {outcome.describe_failure()}; no model is deployed, a retry deploys {target} again."
        )

    def _swap_done(self, context: Any, parent: str, target: str) -> Any:
        """The target alone is deployed: push the XComs of this run's deploy, from the server's operations."""
        operations = self.hook.list_operations(parent)
        since = self._run_started(context)
        deploy = newest_operation(operations, DEPLOY_METADATA, target, since=since, statuses=(Status.SUCCEEDED,))
        previous = previous_model(operations, target, since)
        ti = context["ti"]
        ti.xcom_push(key="previous_issue_model_name", value=previous[0] if previous else None)
        ti.xcom_push(key="undeploy_operation_name", value=previous[1] if previous else None)
        if deploy is not None:
            self.push_operation_name(context, deploy.operation_name)
        else:
            ti.xcom_push(key="operation_name", value=None)
        if previous:
            self.log.info("Swap done: %s is DEPLOYED, %s was undeployed by %s.", target, *previous)
        if deploy is None:
            self.log.info("Issue model %s was already deployed, and no other is: nothing to do.", target)
            self.record_asset_events(context, None)
            return {"@type": DEPLOY_RESPONSE_TYPE}
        return self.finish(context, deploy)
