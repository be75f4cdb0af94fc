"""Operators on issue models: create (train), deploy (optionally swapping out the deployed model), undeploy,
delete."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.cloud.contact_center_insights_v1 import types

from ccai_airflow import lineage
from ccai_airflow.core.names import (
    validate_flag,
)
from ccai_airflow.core.outcome import Outcome, Status
from ccai_airflow.links import (
    ContactCenterInsightsIssueModelLink,
    ContactCenterInsightsLink,
    ContactCenterInsightsOperationLink,
)
from ccai_airflow.operators.base import ContactCenterInsightsStartOperationOperator, _IssueModelOperator, _message
from ccai_airflow.operators.model_swap import IssueModelSwap

__all__ = [
    "ContactCenterInsightsCreateIssueModelOperator",
    "ContactCenterInsightsDeleteIssueModelOperator",
    "ContactCenterInsightsDeployIssueModelOperator",
    "ContactCenterInsightsUndeployIssueModelOperator",
]


class ContactCenterInsightsCreateIssueModelOperator(ContactCenterInsightsStartOperationOperator):
    """Create (train) an issue model. Returns the ``IssueModel`` with its training stats.

    :param issue_model: the model to create, e.g. ``{"display_name": "weekly", "input_data_config":
        {"filter": 'start_time > "2026-01-01T00:00:00Z"'}}`` (templated).
    """

    template_fields: Sequence[str] = (*ContactCenterInsightsStartOperationOperator.template_fields, "issue_model")
    template_fields_renderers = {"issue_model": "json"}
    operator_extra_links = (
        ContactCenterInsightsLink(), ContactCenterInsightsOperationLink(), ContactCenterInsightsIssueModelLink(),
    )

    def __init__(self, *, issue_model: dict[str, Any] | types.IssueModel, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.issue_model = issue_model

    def execute(self, context: Any) -> Any:
        ContactCenterInsightsIssueModelLink.persist_pending(context)
        return super().execute(context)

    def build_request(self, parent: str) -> Any:
        return types.CreateIssueModelRequest(
            parent=parent, issue_model=_message(types.IssueModel, self.issue_model, "issue_model")
        )

    def lineage_datasets(self) -> lineage.Datasets:
        """Conversations in, the trained model out (once it exists: the response names it)."""
        parent = self._parent()
        name = (self._succeeded() or {}).get("name")
        model = (lineage.issue_model(str(name), lifecycle="CREATE"),) if name else ()
        return lineage.Datasets(inputs=(lineage.conversations(parent),), outputs=model)

    def succeeded(self, context: Any, outcome: Outcome) -> None:
        ContactCenterInsightsIssueModelLink.persist(
            context=context, project_id=self._project_id(), location=self.location,
            # The whole response names the model: ``response_fields`` may have cut the name from what is pushed.
            issue_model_id=str((outcome.response or {}).get("name", "")).rsplit("/", 1)[-1],
        )


class ContactCenterInsightsDeployIssueModelOperator(IssueModelSwap):
    """Deploy an issue model so that analyses label conversations with its issues.

    DeployIssueModel is refused while another model of the location is deployed. With
    ``replace_deployed=True`` the operator swaps models safely: it undeploys the deployed model,
    deploys this one, and if that deploy fails (or is refused), deploys the previous model again and
    fails naming both operations and the reason. Each step is derived from the server's state
    (``ccai_airflow.core.swap``), so a retry after the worker died mid-swap finishes the swap: no second
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
        outcome = self.resumed(event)
        if outcome.status is Status.TIMEOUT:
            raise self.timeout_error(context, f"Timed out waiting: {outcome.describe_failure()}")
        return outcome


class ContactCenterInsightsUndeployIssueModelOperator(_IssueModelOperator):
    """Undeploy an issue model."""

    request_type = types.UndeployIssueModelRequest


class ContactCenterInsightsDeleteIssueModelOperator(_IssueModelOperator):
    """Delete an (undeployed) issue model. The response is ``google.protobuf.Empty``."""

    request_type = types.DeleteIssueModelRequest

    def lineage_datasets(self) -> lineage.Datasets:
        """The model as the output, marked dropped once the delete succeeded."""
        name = self._model_name(self._parent())
        dropped = "DROP" if self._succeeded() is not None else None
        return lineage.Datasets(outputs=(lineage.issue_model(name, lifecycle=dropped),))

