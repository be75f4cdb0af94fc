"""Operators that move an issue model through Cloud Storage: export it to an object, import it from one
(into the same project, or another: the way to promote a model from a dev project to a prod project)."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from google.cloud.contact_center_insights_v1 import types

from ccai_airflow import lineage
from ccai_airflow.core.names import validate_flag, validate_gcs_object_uri
from ccai_airflow.core.outcome import Outcome
from ccai_airflow.links import (
    ContactCenterInsightsIssueModelLink,
    ContactCenterInsightsLink,
    ContactCenterInsightsOperationLink,
)
from ccai_airflow.operators.base import ContactCenterInsightsStartOperationOperator, _IssueModelOperator

__all__ = [
    "ContactCenterInsightsExportIssueModelOperator",
    "ContactCenterInsightsImportIssueModelOperator",
]

# The model an import wrote has its update_time within the operation's [createTime, endTime]; a millisecond
# either side for clocks and timestamps rounded differently.
_WINDOW_SLACK = datetime.timedelta(milliseconds=1)


def _time(value: Any) -> datetime.datetime:
    """A proto-plus Timestamp field (a ``DatetimeWithNanoseconds``, aware, UTC) as a datetime."""
    return value if isinstance(value, datetime.datetime) else datetime.datetime.fromtimestamp(0, datetime.UTC)


class ContactCenterInsightsExportIssueModelOperator(_IssueModelOperator):
    """Export an issue model to a Cloud Storage object (only TYPE_V2 models can be exported, per Google's guide).

    The response (``ExportIssueModelResponse``) is empty; the XComs ``issue_model_name`` (the model exported)
    and ``object_uri`` (the object written) say what was written, from the operation's metadata.

    :param issue_model_id: the model, an id or ``projects/.../issueModels/ID`` (templated).
    :param object_uri: the object to write, ``gs://bucket/object`` (templated), e.g.
        ``gs://models/topics/{{ ds }}.json``.
    """

    request_type = types.ExportIssueModelRequest
    template_fields: Sequence[str] = (*_IssueModelOperator.template_fields, "object_uri")

    def __init__(self, *, object_uri: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.object_uri = object_uri

    def build_request(self, parent: str) -> Any:
        uri = validate_gcs_object_uri("object_uri", self.object_uri)
        return types.ExportIssueModelRequest(name=self._model_name(parent), gcs_destination={"object_uri": uri})

    def lineage_datasets(self) -> lineage.Datasets:
        """The model in, the object written out."""
        request = self.build_request(self._parent())
        return lineage.Datasets(inputs=(lineage.issue_model(request.name),),
                                outputs=(lineage.gcs_objects(request.gcs_destination.object_uri),))


class ContactCenterInsightsImportIssueModelOperator(ContactCenterInsightsStartOperationOperator):
    """Import an issue model from a Cloud Storage object an export wrote; the model comes in UNDEPLOYED.

    ImportIssueModelResponse is empty: it does not name the model. When the operator waited it finds the model
    on the server, the one of this location whose ``update_time`` falls within the operation's ``createTime``
    and ``endTime`` (an UNDEPLOYED one if several), and pushes it as ``issue_model_name`` (None, with a
    warning, if it cannot tell; a sensor that waited does not push it).

    :param object_uri: the exported object, ``gs://bucket/object`` (templated).
    :param create_new_model: create a new model with new ids (True), or replace the model of this project with
        the file's id, creating one if there is none (False, the API's default).
    """

    template_fields: Sequence[str] = (*ContactCenterInsightsStartOperationOperator.template_fields, "object_uri")
    operator_extra_links = (
        ContactCenterInsightsLink(), ContactCenterInsightsOperationLink(), ContactCenterInsightsIssueModelLink(),
    )

    def __init__(self, *, object_uri: str, create_new_model: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.object_uri = object_uri
        self.create_new_model = validate_flag("create_new_model", create_new_model)

    def execute(self, context: Any) -> Any:
        ContactCenterInsightsIssueModelLink.persist_pending(context)
        return super().execute(context)

    def build_request(self, parent: str) -> Any:
        uri = validate_gcs_object_uri("object_uri", self.object_uri)
        return types.ImportIssueModelRequest(
            parent=parent, gcs_source={"object_uri": uri}, create_new_model=self.create_new_model
        )

    _imported_name: str | None = None

    def lineage_datasets(self) -> lineage.Datasets:
        """The object in, the model it wrote out (once the operator found it)."""
        model = (lineage.issue_model(self._imported_name, lifecycle="CREATE"),) if self._imported_name else ()
        return lineage.Datasets(inputs=(lineage.gcs_objects(validate_gcs_object_uri("object_uri", self.object_uri)),),
                                outputs=model)

    def succeeded(self, context: Any, outcome: Outcome) -> None:
        name = self._imported_name = self._imported_model(outcome)
        context["ti"].xcom_push(key="issue_model_name", value=name)
        if name:
            ContactCenterInsightsIssueModelLink.persist(
                context=context, project_id=self._project_id(), location=self.location,
                issue_model_id=name.rsplit("/", 1)[-1],
            )

    def _imported_model(self, outcome: Outcome) -> str | None:
        started, ended = outcome.created_at(), outcome.ended_at()
        if started is None or ended is None:
            self.log.warning("Operation %s has no createTime/endTime: cannot tell which model it imported.",
                             outcome.operation_name)
            return None
        written = [model for model in self.hook.list_issue_models(self._parent())
                   if started - _WINDOW_SLACK <= _time(model.update_time) <= ended + _WINDOW_SLACK]
        if len(written) > 1:
            written = [model for model in written if model.state.name == "UNDEPLOYED"] or written
        if len(written) == 1:
            self.log.info("Operation %s imported issue model %s.", outcome.operation_name, written[0].name)
            return str(written[0].name)
        self.log.warning("Cannot tell which issue model operation %s imported: %s models of %s were updated while "
                         "it ran (%s).", outcome.operation_name, len(written), self._parent(),
                         [model.name for model in written])
        return None
