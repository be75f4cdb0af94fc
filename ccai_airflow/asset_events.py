"""What the sensor and the operators record when they succeed: an Airflow asset event per resource, by default.

Each task declares its own alias (``ccai_airflow.assets.task_alias``) among its ``outlets`` and, where the
task really succeeds (``finish`` after a poke, a reschedule or the triggerer's event, in
``execute_complete`` after a deferral), adds an event through it for each resource its operation produced,
with the extra of ``ccai_airflow.core.asset_extra``. An asset the author declared in ``outlets`` is not
added twice: that event gets the extra instead, and the author's other assets get the extra of the task's
first resource. ``asset_events=False`` records nothing of ours (Airflow still records the author's own
``outlets``, with no extra).

Airflow sends outlet events with the task's success only, from the outlets of the task object that ran,
so the alias is ensured again at run time (an operator built outside a DAG, or mapped, had none at parse).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf import json_format

from ccai_airflow import assets
from ccai_airflow.core.asset_extra import event_extra
from ccai_airflow.core.names import validate_flag
from ccai_airflow.core.outcome import Outcome
from ccai_airflow.lineage import DatasetRef

__all__ = ["AssetEventsMixin"]

ISSUE_MODEL_TYPE = "IssueModel"


class AssetEventsMixin:
    """Mixed into the sensor and the operators (through ``OperationWaitMixin``)."""

    asset_events: bool = True
    outlets: list[Any]
    task_id: str
    dag_id: str
    log: Any
    hook: Any

    def init_asset_events(self, asset_events: bool) -> None:
        self.asset_events = validate_flag("asset_events", asset_events)
        if self.asset_events and self.has_dag():  # type: ignore[attr-defined]
            self._declare_alias()

    @property
    def asset_alias(self) -> Any:
        """This task's ``AssetAlias``: ``schedule=[task.asset_alias]`` runs a DAG on each of its events."""
        return assets.task_alias(self.dag_id, self.task_id)

    def _declare_alias(self) -> Any:
        alias = self.asset_alias
        if alias not in self.outlets:
            self.outlets.append(alias)
        return alias

    def asset_resources(self, outcome: Outcome | None) -> Sequence[DatasetRef]:
        """The resources the task's success produced; each task says."""
        return ()

    def record_asset_events(self, context: Any, outcome: Outcome | None) -> None:
        """Add this success's asset events to ``context["outlet_events"]``; never fails the task."""
        if not self.asset_events:
            return
        try:
            events = [(ref.uri, self._extra(ref, outcome)) for ref in self.asset_resources(outcome)]
            _record(context["outlet_events"], self.outlets, self._declare_alias(), events, self.log)
        except Exception:  # a bug here must not fail a task whose operation succeeded
            self.log.warning("Could not record the asset events of task %s.", self.task_id, exc_info=True)

    def _extra(self, ref: DatasetRef, outcome: Outcome | None) -> dict[str, Any]:
        resource = assets.resource_of(ref.uri)
        operation = outcome.operation if outcome is not None else None
        model = self._issue_model(resource, outcome) if "/issueModels/" in resource else None
        return event_extra(resource, operation, model)

    def _issue_model(self, name: str, outcome: Outcome | None) -> dict[str, Any] | None:
        """The model as the response has it, else as the API has it now (Deploy's response is empty)."""
        response = (outcome.response if outcome is not None else None) or {}
        if response.get("name") == name and str(response.get("@type", "")).endswith(ISSUE_MODEL_TYPE):
            return response
        try:
            model = self.hook.get_issue_model(name)
        except Exception as exc:  # the event goes without the model's fields rather than not at all
            self.log.warning("The asset event of %s has no state or training stats: GetIssueModel failed: %s: %s",
                             name, type(exc).__name__, exc)
            return None
        return json_format.MessageToDict(type(model).pb(model))


def _record(outlet_events: Any, outlets: Sequence[Any], alias: Any, events: list[tuple[str, dict[str, Any]]],
            log: Any) -> None:
    from airflow.sdk import Asset

    own = {outlet.uri: outlet for outlet in outlets if isinstance(outlet, Asset)}
    produced = set()
    for uri, extra in events:
        asset = Asset(uri=uri)
        produced.add(asset.uri)
        if asset.uri in own:
            outlet_events[own[asset.uri]].extra.update(extra)
            log.info("Asset event: %s (an outlet of the task).", asset.uri)
        else:
            outlet_events[alias].add(asset, extra=extra)
            log.info("Asset event: %s, through alias %s.", asset.uri, alias.name)
    for uri, outlet in own.items():
        if events and uri not in produced:
            outlet_events[outlet].extra.update(events[0][1])
