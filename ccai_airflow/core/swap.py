"""The safe model swap, decided from the server's state alone. No Airflow import.

DeployIssueModel "returns an error if a model is already deployed", so replacing the deployed
issue model of a location is three steps: undeploy the deployed one, deploy the new one, and if
that fails, deploy the previous one again. A worker can die between any two of them; so nothing
here is remembered between steps: :func:`next_action` looks at the location's models (name and
state) and says what to do next, and :func:`previous_model` finds the model the swap took down
among the operations under the location. A retry asks again and carries on from where the
server is, instead of starting over.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ccai_airflow.core.outcome import Outcome, Status, outcome_of

__all__ = [
    "DEPLOY_METADATA",
    "UNDEPLOY_METADATA",
    "Action",
    "Step",
    "is_retryable_code",
    "newest_operation",
    "next_action",
    "previous_model",
]

_TYPE_PREFIX = "type.googleapis.com/google.cloud.contactcenterinsights.v1."
DEPLOY_METADATA = f"{_TYPE_PREFIX}DeployIssueModelMetadata"
UNDEPLOY_METADATA = f"{_TYPE_PREFIX}UndeployIssueModelMetadata"

# States in which a model is on its way between deployed and not: the API refuses to move it (or,
# for DEPLOYING, to deploy another model) until its operation ends, so the swap waits for it.
TRANSITIONAL = ("DEPLOYING", "UNDEPLOYING")
# States the target may be deployed from (or already be in).
DEPLOYABLE = ("UNDEPLOYED", "DEPLOYED")

# Codes of a failed deploy worth a task retry (the service's own trouble). Any other code (the model is
# unfit, a precondition, a permission) would fail again, and every retry takes the live model down
# again for the length of an undeploy and a redeploy.
_RETRYABLE_CODES = frozenset(
    {"UNAVAILABLE", "INTERNAL", "ABORTED", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "UNKNOWN"}
)


class Step(StrEnum):
    WAIT = "wait"  # a model is DEPLOYING or UNDEPLOYING: wait for its operation, then ask again
    UNDEPLOY = "undeploy"  # another model is DEPLOYED: undeploy it first
    DEPLOY = "deploy"  # nothing else is deployed: deploy the target
    DONE = "done"  # the target is DEPLOYED and no other model is


@dataclass(frozen=True)
class Action:
    step: Step
    model: str  # the model to wait for, undeploy or deploy; the target when DONE


def next_action(target: str, models: Iterable[tuple[str, str]]) -> Action:
    """What the swap to ``target`` does next, given every ``(name, state)`` of the location's models.

    In this order: wait for any model in transition (the target's first); undeploy any other
    DEPLOYED model (the real API has at most one; a lenient server may have more, and all go);
    deploy the target; or done. ``state`` is the ``IssueModel.State`` name, e.g. ``"DEPLOYED"``.
    Raises ValueError when the target is not among the models or cannot be deployed (CREATING, ...).
    """
    states = dict(models)
    if target not in states:
        raise ValueError(
            f"Invalid issue model {target!r}: expected one of the location's models {sorted(states)}."
        )
    others = [(name, state) for name, state in states.items() if name != target]
    if states[target] in TRANSITIONAL:
        return Action(Step.WAIT, target)
    for name, state in others:
        if state in TRANSITIONAL:
            return Action(Step.WAIT, name)
    if states[target] not in DEPLOYABLE:
        raise ValueError(
            f"Invalid issue model {target!r} in state {states[target]!r}: expected a trained model, one of "
            f"{list(DEPLOYABLE)}."
        )
    for name, state in others:
        if state == "DEPLOYED":
            return Action(Step.UNDEPLOY, name)
    if states[target] == "UNDEPLOYED":
        return Action(Step.DEPLOY, target)
    return Action(Step.DONE, target)


def _request_name(outcome: Outcome) -> str | None:
    request = outcome.metadata.get("request")
    return request.get("name") if isinstance(request, dict) else None


def newest_operation(
    operations: Iterable[Any], metadata_type: str | None, model: str | None = None, *,
    not_model: str | None = None, since: datetime.datetime | None = None,
    statuses: Iterable[Status] = tuple(Status),
) -> Outcome | None:
    """The newest operation (by ``metadata.createTime``) of ``metadata_type`` (None: any type) on ``model``
    (or on any model but ``not_model``), created at or after ``since``, in one of ``statuses``.

    ``operations`` are ``google.longrunning`` Operations (as ``list_operations`` returns them) or Outcomes.
    """
    wanted = frozenset(statuses)
    best: tuple[datetime.datetime, Outcome] | None = None
    for operation in operations:
        outcome = operation if isinstance(operation, Outcome) else outcome_of(operation)
        name = _request_name(outcome)
        if name is None or (metadata_type is not None and outcome.metadata.get("@type") != metadata_type):
            continue
        if (model is not None and name != model) or (not_model is not None and name == not_model):
            continue
        created = outcome.created_at()
        if outcome.status not in wanted or created is None or (since is not None and created < since):
            continue
        if best is None or created > best[0]:
            best = (created, outcome)
    return None if best is None else best[1]


def previous_model(
    operations: Iterable[Any], target: str, since: datetime.datetime | None
) -> tuple[str, str] | None:
    """``(model, undeploy operation)`` of the model the swap to ``target`` took down, or None.

    The newest UndeployIssueModel operation since ``since`` (the DAG run's start) on a model other
    than the target that has not failed: the server keeps it, so a retry after the worker died
    finds it as the first try would have.
    """
    found = newest_operation(
        operations, UNDEPLOY_METADATA, not_model=target, since=since, statuses=(Status.RUNNING, Status.SUCCEEDED)
    )
    if found is None:
        return None
    return str(_request_name(found)), found.operation_name


def is_retryable_code(code: str | None) -> bool:
    """Whether a failed deploy (its ``google.rpc.Code`` name) is worth another swap in a task retry."""
    return code in _RETRYABLE_CODES
