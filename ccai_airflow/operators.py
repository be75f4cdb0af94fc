"""Operators that start Contact Center Insights long-running operations, and optionally wait.

Every operator: pushes the operation name (XCom key ``operation_name``) as soon as the operation
exists; with ``wait_for_completion=True`` (default) waits with the sensor's machinery
(``deferrable`` included) and returns the decoded response under the same XCom contract; with
``False`` returns the operation name so that a separate sensor can wait.

A task retry after the worker died mid-wait does not start a second operation: the name is kept
in Airflow's ``task_state_store`` (per task instance, across tries) and a retry resumes waiting on
it while it is running or succeeded. If it failed, the retry starts a new one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, NoReturn

from airflow.providers.google.cloud.links.base import BaseGoogleLink
from airflow.providers.google.cloud.operators.cloud_base import GoogleCloudBaseOperator
from airflow.providers.google.common.hooks.base_google import PROVIDE_PROJECT_ID
from google.api_core.exceptions import GoogleAPICallError, RetryError
from google.api_core.gapic_v1.method import DEFAULT
from google.cloud.contact_center_insights_v1 import types
from google.longrunning import operations_pb2

from ccai_airflow.compat import conf
from ccai_airflow.exceptions import (
    ContactCenterInsightsOperationFailedError,
    ContactCenterInsightsOperationRetryableError,
)
from ccai_airflow.links import ContactCenterInsightsIssueModelLink, ContactCenterInsightsLink
from ccai_airflow.names import (
    child_name,
    validate_flag,
    validate_impersonation_chain,
    validate_location,
    validate_seconds,
    validate_transport,
)
from ccai_airflow.outcome import Outcome, Status, log_progress, outcome_of_error
from ccai_airflow.resume import adoptable
from ccai_airflow.swap import DEPLOY_METADATA, Step, is_retryable_code, newest_operation, next_action, previous_model
from ccai_airflow.triggers import ContactCenterInsightsOperationTrigger
from ccai_airflow.waiting import (
    DEFERRAL_TIMEOUT_GRACE_S,
    OperationWaitMixin,
    has_task_state,
    set_task_state,
    task_state,
)
from ccai_airflow.xcom import DEFAULT_MAX_XCOM_BYTES

__all__ = [
    "ContactCenterInsightsBulkAnalyzeConversationsOperator",
    "ContactCenterInsightsCreateIssueModelOperator",
    "ContactCenterInsightsDeleteIssueModelOperator",
    "ContactCenterInsightsDeployIssueModelOperator",
    "ContactCenterInsightsExportInsightsDataOperator",
    "ContactCenterInsightsIngestConversationsOperator",
    "ContactCenterInsightsStartOperationOperator",
    "ContactCenterInsightsUndeployIssueModelOperator",
]

STATE_KEY = "ccai_operation_name"
DEPLOY_RESPONSE_TYPE = "type.googleapis.com/google.cloud.contactcenterinsights.v1.DeployIssueModelResponse"
# How long a swap waits before looking again at a model in transition whose operation is not listed.
SWAP_RECHECK_S = 10.0


class ContactCenterInsightsStartOperationOperator(OperationWaitMixin, GoogleCloudBaseOperator):
    """Base of the operators: start one LRO, push its name, maybe wait. Subclasses build the request.

    :param project_id: Google Cloud project; defaults to the connection's project.
    :param location: Insights location, e.g. ``us-central1``.
    :param gcp_conn_id: the Google Cloud connection.
    :param impersonation_chain: service account (or chain) to impersonate.
    :param transport: ``grpc`` (default) or ``rest``.
    :param api_endpoint: optional endpoint override.
    :param wait_for_completion: wait for the operation and return its decoded response (default);
        if False, return the operation name at once.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param poll_interval: seconds between polls while waiting; None (default) polls adaptively,
        about a tenth of the operation's age (2 s to 10 min).
    :param wait_timeout: give up waiting after this many seconds (the operation keeps running).
    :param retry: retry policy of the start call (the library's default when not given).
    :param request_timeout: timeout in seconds of the start call.
    :param metadata: extra gRPC metadata of the start call.
    :param cancel_on_kill: cancel the operation when the task is killed or its wait times out.
    :param response_fields: push only these fields of the response (see the sensor).
    :param max_xcom_bytes: fail (never truncate) when the XComs would be larger; None: no limit.
    """

    template_fields: Sequence[str] = ("project_id", "location", "gcp_conn_id", "impersonation_chain")
    operator_extra_links: tuple[BaseGoogleLink, ...] = (ContactCenterInsightsLink(),)
    failure_error = ContactCenterInsightsOperationRetryableError

    def __init__(
        self,
        *,
        project_id: str = PROVIDE_PROJECT_ID,
        location: str = "us-central1",
        gcp_conn_id: str = "google_cloud_default",
        impersonation_chain: str | Sequence[str] | None = None,
        transport: str = "grpc",
        api_endpoint: str | None = None,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | None = None,
        wait_timeout: float | None = None,
        retry: Any = DEFAULT,
        request_timeout: float | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        cancel_on_kill: bool = False,
        response_fields: Sequence[str] | None = None,
        max_xcom_bytes: int | None = DEFAULT_MAX_XCOM_BYTES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.init_wait_options(cancel_on_kill, response_fields, max_xcom_bytes)
        self.project_id = project_id
        self.location = location
        self.gcp_conn_id = gcp_conn_id
        self.impersonation_chain = impersonation_chain
        self.transport = validate_transport(transport)
        self.api_endpoint = api_endpoint
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = validate_seconds("poll_interval", poll_interval, zero_ok=False)
        self.wait_timeout = validate_seconds("wait_timeout", wait_timeout, zero_ok=True)
        self.retry = retry
        self.request_timeout = request_timeout
        self.metadata = metadata

    # -- what subclasses say -------------------------------------------------------------------
    def build_request(self, parent: str) -> Any:
        """The request (a proto-plus message) for ``parent``, its fields validated: no call is made."""
        raise NotImplementedError

    def start(self, request: Any) -> operations_pb2.Operation:
        """Start the operation of ``request`` with the hook's typed method."""
        raise NotImplementedError

    def _call_options(self) -> dict[str, Any]:
        return {"retry": self.retry, "timeout": self.request_timeout, "metadata": self.metadata}

    # -- shared ---------------------------------------------------------------------------------
    @property
    def extra_links_params(self) -> dict[str, Any]:
        return {"project_id": self.project_id, "location": self.location}

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Render, then validate, so a bad templated value fails before any API call."""
        super().render_template_fields(context, jinja_env)
        validate_location(self.location)
        validate_impersonation_chain(self.impersonation_chain)

    def execute(self, context: Any) -> Any:
        name = self._resume_or_start(context)
        context["ti"].xcom_push(key="operation_name", value=name)
        ContactCenterInsightsLink.persist(context=context, project_id=self._project_id())
        if not self.wait_for_completion:
            return name
        return self.wait(context, name, self.poll_interval, self.wait_timeout, self.deferrable)

    def _project_id(self) -> str:
        project = self.project_id or self.hook.project_id
        if not project:
            raise ValueError(
                f"Invalid project_id {self.project_id!r}: set project_id on {self.task_id} or the 'project' "
                f"extra of connection {self.gcp_conn_id!r}."
            )
        return str(project)

    def _parent(self) -> str:
        return f"projects/{self._project_id()}/locations/{self.location}"

    def _resume_or_start(self, context: Any) -> str:
        """The operation of an earlier try if it is still running or succeeded; else a new one.

        Airflow 3.3+ keeps the name in ``task_state_store``. Before 3.3 a retry looks for it: the newest
        operation under the parent with the same request, started since the DAG run began (``adoptable``).
        """
        parent = self._parent()
        request = self.build_request(parent)
        previous = task_state(context, STATE_KEY)
        if previous is None and not has_task_state(context) and _try_number(context) > 1:
            previous = self._earlier_try_operation(context, parent, request)
        if isinstance(previous, str):
            outcome = self.hook.poll(previous)
            if outcome.status in (Status.RUNNING, Status.SUCCEEDED):
                self.log.info("Resuming operation %s started by an earlier try (%s).", previous, outcome.status)
                return previous
            self.log.warning("Operation %s of an earlier try ended %s: %s; starting a new one.",
                             previous, outcome.status, outcome.error_message)
        operation = self.start(request)
        self.log.info("%s started operation %s", type(self).__name__, operation.name)
        set_task_state(context, STATE_KEY, operation.name)
        return str(operation.name)

    def _earlier_try_operation(self, context: Any, parent: str, request: Any) -> str | None:
        since = getattr(context.get("dag_run"), "start_date", None)
        found = adoptable(self.hook.list_operations(parent), request, since)
        if found is not None:
            self.log.info("Found operation %s with this task's request, started by an earlier try.", found)
        return found


def _swap_error(code: str | None) -> type[Exception]:
    """A failed deploy that was rolled back: a task retry swaps again only when the failure was the service's
    (UNAVAILABLE, INTERNAL, ...); any other would fail again, and each retry takes the live model down again."""
    return ContactCenterInsightsOperationRetryableError if is_retryable_code(code) else (
        ContactCenterInsightsOperationFailedError)


def _try_number(context: Any) -> int:
    return int(getattr(context.get("ti"), "try_number", 1) or 1)


def _field(request: Any, name: str) -> Any:
    """A field of a proto-plus request if it was set (None if not), to pass on to a typed hook method."""
    return getattr(request, name) if name in request else None


def _message(message_type: Any, value: Any, arg: str) -> Any:
    """A proto-plus message from a dict (or the message itself); unknown fields name the argument."""
    if isinstance(value, message_type):
        return value
    if not isinstance(value, dict):
        raise ValueError(f"Invalid {arg} {value!r}: expected a dict or {message_type.__name__}.")
    try:
        return message_type(value)
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"Invalid {arg} {value!r}: not a {message_type.__name__}: {exc}") from None


class _IssueModelOperator(ContactCenterInsightsStartOperationOperator):
    """Operators on one existing issue model, named by id or by full resource name."""

    request_type: type[Any]

    template_fields: Sequence[str] = (*ContactCenterInsightsStartOperationOperator.template_fields, "issue_model_id")
    operator_extra_links = (ContactCenterInsightsLink(), ContactCenterInsightsIssueModelLink())

    def __init__(self, *, issue_model_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.issue_model_id = issue_model_id

    def _model_name(self, parent: str) -> str:
        return child_name(parent, "issueModels", self.issue_model_id, "issue_model_id")

    def build_request(self, parent: str) -> Any:
        return self.request_type(name=self._model_name(parent))

    def execute(self, context: Any) -> Any:
        ContactCenterInsightsIssueModelLink.persist(
            context=context, project_id=self._project_id(), location=self.location,
            issue_model_id=self._model_name(self._parent()).rsplit("/", 1)[-1],
        )
        return super().execute(context)


class ContactCenterInsightsCreateIssueModelOperator(ContactCenterInsightsStartOperationOperator):
    """Create (train) an issue model. Returns the ``IssueModel`` with its training stats.

    :param issue_model: the model to create, e.g. ``{"display_name": "weekly", "input_data_config":
        {"filter": 'start_time > "2026-01-01T00:00:00Z"'}}`` (templated).
    """

    template_fields: Sequence[str] = (*ContactCenterInsightsStartOperationOperator.template_fields, "issue_model")
    template_fields_renderers = {"issue_model": "json"}
    operator_extra_links = (ContactCenterInsightsLink(), ContactCenterInsightsIssueModelLink())

    def __init__(self, *, issue_model: dict[str, Any] | types.IssueModel, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.issue_model = issue_model

    def build_request(self, parent: str) -> Any:
        return types.CreateIssueModelRequest(
            parent=parent, issue_model=_message(types.IssueModel, self.issue_model, "issue_model")
        )

    def start(self, request: Any) -> operations_pb2.Operation:
        return self.hook.create_issue_model(request.parent, request.issue_model, **self._call_options())

    def finish(self, context: Any, outcome: Any) -> Any:
        response = super().finish(context, outcome)
        ContactCenterInsightsIssueModelLink.persist(
            context=context, project_id=self._project_id(), location=self.location,
            issue_model_id=str(response.get("name", "")).rsplit("/", 1)[-1],
        )
        return response


class ContactCenterInsightsDeployIssueModelOperator(_IssueModelOperator):
    """Deploy an issue model so that analyses label conversations with its issues.

    DeployIssueModel is refused while another model of the location is deployed. With
    ``replace_deployed=True`` the operator swaps models safely: it undeploys the deployed model,
    deploys this one, and if that deploy fails (or is refused), deploys the previous model again and
    fails naming both operations and the reason. Each step is derived from the server's state
    (``ccai_airflow.swap``), so a retry after the worker died mid-swap finishes the swap: no second
    undeploy, never no model deployed. Its XComs: ``return_value`` (the DeployIssueModelResponse),
    ``operation`` and ``operation_name`` of the deploy (None when the model was already deployed),
    ``previous_issue_model_name`` and ``undeploy_operation_name`` (None when nothing was replaced).

    :param replace_deployed: undeploy the deployed model first, and redeploy it if the deploy fails
        (default False: deploy only, as DeployIssueModel itself). Needs ``wait_for_completion=True``.
    """

    request_type = types.DeployIssueModelRequest

    def __init__(self, *, replace_deployed: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.replace_deployed = validate_flag("replace_deployed", replace_deployed)
        if self.replace_deployed and not self.wait_for_completion:
            raise ValueError(
                "Invalid wait_for_completion False with replace_deployed=True: expected True, the swap waits for "
                "the undeploy before it deploys, and for the deploy to redeploy the previous model if it fails."
            )

    def start(self, request: Any) -> operations_pb2.Operation:
        return self.hook.deploy_issue_model(request.name, **self._call_options())

    def execute(self, context: Any) -> Any:
        if not self.replace_deployed:
            return super().execute(context)
        ContactCenterInsightsIssueModelLink.persist(
            context=context, project_id=self._project_id(), location=self.location,
            issue_model_id=self._target().rsplit("/", 1)[-1],
        )
        ContactCenterInsightsLink.persist(context=context, project_id=self._project_id())
        return self._swap(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        """After the triggerer: finish (plain deploy), or check the swap's step and carry on from the server."""
        if not self.replace_deployed:
            return super().execute_complete(context, event)
        self._check_step(context, self._resumed(context, event))
        return self._swap(context)

    def rollback_complete(self, context: Any, event: dict[str, Any]) -> Any:
        """After the triggerer waited for the redeploy of the previous model: fail naming both operations."""
        self._rolled_back(context, self._resumed(context, event))

    def _resumed(self, context: Any, event: dict[str, Any]) -> Outcome:
        outcome = Outcome.from_event(event)
        self._last_status = outcome.status
        if outcome.status is Status.TIMEOUT:
            raise self.timeout_error(context, f"Timed out waiting: {outcome.describe_failure()}")
        return outcome

    # -- the swap -------------------------------------------------------------------------------
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
                name = str(self.hook.undeploy_issue_model(action.model, **self._call_options()).name)
                context["ti"].xcom_push(key="undeploy_operation_name", value=name)
                self.log.info("Swap to %s: undeploying %s with operation %s.", target, action.model, name)
            else:
                try:
                    name = str(self.hook.deploy_issue_model(target, **self._call_options()).name)
                except (GoogleAPICallError, RetryError) as exc:
                    refused = outcome_of_error(target, exc, self.hook.credentials_source)
                    self._roll_back(context, None, f"The DeployIssueModel call for {target} was refused: "
                                    f"{refused.error_code}: {refused.error_message}", refused.error_code)
                context["ti"].xcom_push(key="operation_name", value=name)
                self.log.info("Swap to %s: deploying it with operation %s.", target, name)
            self._check_step(context, self._wait_step(context, name))

    def _wait_step(self, context: Any, name: str, method_name: str = "execute_complete") -> Outcome:
        """Wait for one step's operation: in this worker, or deferred (``method_name`` carries on)."""
        end_time = self.end_time(context, self.wait_timeout)
        with self.cancel_if_abandoned(name):
            if self.deferrable:
                outcome = self.hook.poll(name)
                if not outcome.done:
                    log_progress(self.log, outcome)
                    self._defer_step(name, end_time, method_name)
            else:
                remaining = None if end_time is None else max(end_time - time.time(), 0.0)
                outcome = self.hook.wait_for_operation(name, timeout=remaining, poll_interval=self.poll_interval)
            self._last_status = outcome.status
            if outcome.status is Status.TIMEOUT:
                raise self.timeout_error(context, f"Timed out waiting: {outcome.describe_failure()}")
            return outcome

    def _defer_step(self, name: str, end_time: float | None, method_name: str) -> None:
        """As ``defer_until_done``, resuming in ``method_name``.

        The continuation learns what it needs from the trigger's event and the server, not from the
        deferral's kwargs: ``dag.test`` (and so ``airflow dags test``) drops those on resume.
        """
        self.defer(
            trigger=ContactCenterInsightsOperationTrigger(
                operation_name=name, poll_interval=self.poll_interval, gcp_conn_id=self.gcp_conn_id,
                impersonation_chain=self.impersonation_chain, transport=self.transport,
                api_endpoint=self.api_endpoint, end_time=end_time, cancel_on_kill=self.cancel_on_kill,
            ),
            method_name=method_name,
            timeout=None if end_time is None else timedelta(
                seconds=max(end_time - time.time(), 0.0) + DEFERRAL_TIMEOUT_GRACE_S
            ),
        )

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
            redeploy = str(self.hook.deploy_issue_model(model, **self._call_options()).name)
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
        ti.xcom_push(key="operation_name", value=deploy.operation_name if deploy else None)
        if previous:
            self.log.info("Swap done: %s is DEPLOYED, %s was undeployed by %s.", target, *previous)
        if deploy is None:
            self.log.info("Issue model %s was already deployed, and no other is: nothing to do.", target)
            return {"@type": DEPLOY_RESPONSE_TYPE}
        return self.finish(context, deploy)


class ContactCenterInsightsUndeployIssueModelOperator(_IssueModelOperator):
    """Undeploy an issue model."""

    request_type = types.UndeployIssueModelRequest

    def start(self, request: Any) -> operations_pb2.Operation:
        return self.hook.undeploy_issue_model(request.name, **self._call_options())


class ContactCenterInsightsDeleteIssueModelOperator(_IssueModelOperator):
    """Delete an (undeployed) issue model. The response is ``google.protobuf.Empty``."""

    request_type = types.DeleteIssueModelRequest

    def start(self, request: Any) -> operations_pb2.Operation:
        return self.hook.delete_issue_model(request.name, **self._call_options())


class ContactCenterInsightsBulkAnalyzeConversationsOperator(ContactCenterInsightsStartOperationOperator):
    """Analyze the conversations a filter selects.

    :param filter: the conversations to analyze, e.g. ``create_time > "{{ data_interval_start }}"`` (templated).
    :param analysis_percentage: percentage of the selected conversations to analyze, in (0, 100].
    :param annotator_selector: which annotators to run (``AnnotatorSelector`` as a dict).
    """

    template_fields: Sequence[str] = (*ContactCenterInsightsStartOperationOperator.template_fields, "filter")

    def __init__(
        self, *, filter: str, analysis_percentage: float = 100.0,
        annotator_selector: dict[str, Any] | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.filter = filter
        self.analysis_percentage = analysis_percentage
        self.annotator_selector = annotator_selector

    def build_request(self, parent: str) -> Any:
        if not isinstance(self.filter, str) or not self.filter.strip():
            raise ValueError(f"Invalid filter {self.filter!r}: expected a non-empty conversation filter.")
        pct = self.analysis_percentage
        if isinstance(pct, bool) or not isinstance(pct, int | float) or not 0 < pct <= 100:
            raise ValueError(f"Invalid analysis_percentage {pct!r}: expected a number in (0, 100].")
        request = types.BulkAnalyzeConversationsRequest(parent=parent, filter=self.filter, analysis_percentage=pct)
        if self.annotator_selector is not None:
            selector = _message(types.AnnotatorSelector, self.annotator_selector, "annotator_selector")
            request.annotator_selector = selector
        return request

    def start(self, request: Any) -> operations_pb2.Operation:
        selector = request.annotator_selector if "annotator_selector" in request else None
        return self.hook.bulk_analyze_conversations(
            request.parent, request.filter, request.analysis_percentage, selector, **self._call_options()
        )


class ContactCenterInsightsIngestConversationsOperator(ContactCenterInsightsStartOperationOperator):
    """Import conversations from Cloud Storage.

    :param gcs_source: ``{"bucket_uri": "gs://bucket/prefix"}`` (templated).
    :param transcript_object_config: e.g. ``{"medium": "CHAT"}``.
    :param conversation_config: ``IngestConversationsRequest.ConversationConfig`` as a dict.
    :param sample_size: import at most this many conversations.
    """

    template_fields: Sequence[str] = (*ContactCenterInsightsStartOperationOperator.template_fields, "gcs_source")

    def __init__(
        self, *, gcs_source: dict[str, Any], transcript_object_config: dict[str, Any] | None = None,
        conversation_config: dict[str, Any] | None = None, sample_size: int | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.gcs_source = gcs_source
        self.transcript_object_config = transcript_object_config
        self.conversation_config = conversation_config
        self.sample_size = sample_size

    def build_request(self, parent: str) -> Any:
        request_type = types.IngestConversationsRequest
        source = _message(request_type.GcsSource, self.gcs_source, "gcs_source")
        if not source.bucket_uri.startswith("gs://"):
            raise ValueError(f"Invalid gcs_source {self.gcs_source!r}: expected a bucket_uri gs://BUCKET[/PREFIX].")
        request = request_type(parent=parent, gcs_source=source)
        if self.transcript_object_config is not None:
            request.transcript_object_config = _message(
                request_type.TranscriptObjectConfig, self.transcript_object_config, "transcript_object_config")
        if self.conversation_config is not None:
            request.conversation_config = _message(
                request_type.ConversationConfig, self.conversation_config, "conversation_config")
        if self.sample_size is not None:
            request.sample_size = self.sample_size
        return request

    def start(self, request: Any) -> operations_pb2.Operation:
        return self.hook.ingest_conversations(
            request.parent, request.gcs_source, _field(request, "transcript_object_config"),
            _field(request, "conversation_config"), _field(request, "sample_size"), **self._call_options()
        )


class ContactCenterInsightsExportInsightsDataOperator(ContactCenterInsightsStartOperationOperator):
    """Export insights data to BigQuery.

    :param big_query_destination: ``{"project_id": ..., "dataset": ..., "table": ...}`` (templated).
    :param filter: the conversations to export (templated).
    :param write_disposition: ``WRITE_TRUNCATE`` or ``WRITE_APPEND``.
    """

    template_fields: Sequence[str] = (
        *ContactCenterInsightsStartOperationOperator.template_fields, "big_query_destination", "filter",
    )

    def __init__(
        self, *, big_query_destination: dict[str, Any], filter: str = "", kms_key: str | None = None,
        write_disposition: str | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.big_query_destination = big_query_destination
        self.filter = filter
        self.kms_key = kms_key
        self.write_disposition = write_disposition

    def build_request(self, parent: str) -> Any:
        request_type = types.ExportInsightsDataRequest
        destination = _message(request_type.BigQueryDestination, self.big_query_destination, "big_query_destination")
        if not destination.dataset:
            raise ValueError(
                f"Invalid big_query_destination {self.big_query_destination!r}: expected at least a dataset."
            )
        request = request_type(parent=parent, big_query_destination=destination, filter=self.filter or "")
        if self.kms_key:
            request.kms_key = self.kms_key
        if self.write_disposition is not None:
            dispositions = request_type.WriteDisposition.__members__
            if self.write_disposition not in dispositions:
                raise ValueError(
                    f"Invalid write_disposition {self.write_disposition!r}: expected one of {list(dispositions)}."
                )
            request.write_disposition = dispositions[self.write_disposition]
        return request

    def start(self, request: Any) -> operations_pb2.Operation:
        return self.hook.export_insights_data(
            request.parent, request.big_query_destination, request.filter, request.kms_key or None,
            _field(request, "write_disposition"), **self._call_options()
        )
