"""Issues of the emulator's issue models, and moving a model through Cloud Storage: ExportIssueModel,
ImportIssueModel, GetIssue, ListIssues. A base of ``backend.Backend``.

A trained model gets one ``Issue`` per entry of its ``training_stats.issue_stats`` (same name and
display name), so the issues and the stats always agree.

The exported object's format is not documented by Google (the guide "Export and import a topic model",
https://cloud.google.com/contact-center/insights/docs/topic-modeling-export-import, only says the
object holds the model and, for a replacing import, its id). The emulator's reading: a JSON object
``{"format": EXPORT_FORMAT, "issueModel": <IssueModel>, "issues": [<Issue>, ...]}`` in proto3 JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from google.api_core import exceptions
from google.cloud.contact_center_insights_v1 import types
from google.protobuf import json_format

from ccai_airflow.emulator.lro import Message, Operations, _copy, _timestamp
from ccai_airflow.emulator.storage import Storage, parse_object_uri

EXPORT_FORMAT = "ccai-emulator/issue-model-export/v1"
Issue = types.Issue.pb()
IssueModel = types.IssueModel.pb()
State = types.IssueModel.State


@dataclass
class IssueModelTransfer(Operations):
    """Issues, and export/import of issue models through the emulator's Cloud Storage."""

    storage: Storage = field(default_factory=Storage)
    _models: dict[str, Message] = field(default_factory=dict)
    _issues: dict[str, Message] = field(default_factory=dict)

    # What backend.Backend provides.
    def _find_model(self, name: str) -> Message:
        raise NotImplementedError

    def _new_model_id(self, parent: str) -> str:
        raise NotImplementedError

    # -- issues ---------------------------------------------------------------------------------
    def _store_issues(self, model: Message, now: float) -> None:
        """One Issue per ``issue_stats`` entry of a trained (or imported) model, replacing any it had."""
        self._drop_issues(model.name)
        for name, stats in model.training_stats.issue_stats.items():
            issue = Issue(name=name, display_name=stats.display_name)
            issue.create_time.CopyFrom(_timestamp(now))  # Output only
            issue.update_time.CopyFrom(_timestamp(now))  # Output only
            self._issues[name] = issue

    def _drop_issues(self, model_name: str) -> None:
        for name in [name for name in self._issues if name.startswith(model_name + "/issues/")]:
            del self._issues[name]

    def get_issue(self, request: Message) -> Message:
        with self._lock:
            self._advance()
            issue = self._issues.get(request.name)
            if issue is None:
                raise exceptions.NotFound(f"Issue {request.name} not found.")
            return _copy(issue)

    def list_issues(self, request: Message) -> Message:
        # ListIssuesRequest has no paging fields: every issue of the model, in one answer.
        with self._lock:
            self._advance()
            self._find_model(request.parent)
            prefix = request.parent + "/issues/"
            issues = [_copy(issue) for name, issue in sorted(self._issues.items()) if name.startswith(prefix)]
            return types.ListIssuesResponse.pb()(issues=issues)

    # -- export / import ------------------------------------------------------------------------
    def export_issue_model(self, request: Message) -> Message:
        # "Exports an issue model to the provided destination." (ExportIssueModel): oneof Destination must be set.
        if not request.HasField("gcs_destination"):
            raise exceptions.InvalidArgument("Invalid gcs_destination: expected a destination {object_uri: gs://...}.")
        uri = request.gcs_destination.object_uri
        parse_object_uri("gcs_destination.object_uri", uri)  # "Required. Format: gs://<bucket-name>/<object-name>"
        with self._lock:
            self._advance()
            model = self._find_model(request.name)
            # "Exporting and importing models is available only for V2 or later topic models." (the guide).
            if model.model_type == IssueModel.ModelType.TYPE_V1:
                raise exceptions.FailedPrecondition(
                    f"Issue model {model.name} is TYPE_V1: only TYPE_V2 or later models can be exported."
                )
            # "You can export models that you have already trained" (the guide): a model being trained is not stored
            # yet; one DELETING is on its way out.
            if model.state == State.DELETING:
                raise exceptions.FailedPrecondition(f"Issue model {model.name} is DELETING.")
            document = _export_document(model, [i for n, i in sorted(self._issues.items())
                                                if n.startswith(model.name + "/issues/")])

            def finish() -> Message:
                # Written when the operation ends, as the real export writes the object while it runs.
                self.storage.write(uri, document, "gcs_destination.object_uri")
                return types.ExportIssueModelResponse.pb()()

            return self._start("ExportIssueModelMetadata", request, request.name.rsplit("/issueModels/", 1)[0],
                               finish)

    def import_issue_model(self, request: Message) -> Message:
        if not request.HasField("gcs_source"):
            raise exceptions.InvalidArgument("Invalid gcs_source: expected a source {object_uri: gs://...}.")
        uri = request.gcs_source.object_uri
        # Read at call time: an object nothing wrote is NOT_FOUND before any operation starts (the emulator's
        # reading; the call can see it, as DeployIssueModel's precondition).
        exported, issues = _read_export(uri, self.storage.read(uri, "gcs_source.object_uri"))
        with self._lock:
            self._advance()
            file_id = exported.name.rsplit("/", 1)[-1]
            same = f"{request.parent}/issueModels/{file_id}"
            # create_new_model: "If set to true, will create an issue model from the imported file with randomly
            # generated IDs for the issue model and corresponding issues. Otherwise, replaces an existing model with
            # the same ID as the file." The guide: "If the topic model doesn't exist in the project or is being
            # imported into a new project, [Insights] automatically creates a new topic model."
            replace = not request.create_new_model and same in self._models
            if replace and self._models[same].state != State.UNDEPLOYED:
                # No source says what replacing a deployed model does; the emulator refuses it (its reading).
                raise exceptions.FailedPrecondition(
                    f"Issue model {same} is {State(self._models[same].state).name}; undeploy it before replacing "
                    "it by an import, or set create_new_model."
                )
            name = same if replace else f"{request.parent}/issueModels/{self._new_model_id(request.parent)}"
            started: list[str] = []

            def finish() -> Message:
                # The model is written at the operation's end time (operations finish at their due time, lro.py).
                op = self._operations[started[0]]
                ends = op.wall_started + (op.due - op.started)
                model = _imported(exported, issues, name, ends, self._models.get(name) if replace else None)
                self._models[name] = model
                self._store_issues(model, ends)
                return types.ImportIssueModelResponse.pb()()

            operation = self._start("ImportIssueModelMetadata", request, request.parent, finish)
            started.append(operation.name)
            return operation


def _export_document(model: Message, issues: list[Message]) -> bytes:
    return json.dumps({
        "format": EXPORT_FORMAT,
        "issueModel": json_format.MessageToDict(model),
        "issues": [json_format.MessageToDict(issue) for issue in issues],
    }, indent=1).encode()


def _read_export(uri: str, data: bytes) -> tuple[Message, list[Message]]:
    try:
        document: Any = json.loads(data)
        if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
            raise ValueError("not an exported issue model")
        model = json_format.ParseDict(document["issueModel"], IssueModel())
        issues = [json_format.ParseDict(issue, Issue()) for issue in document.get("issues", [])]
    except (ValueError, KeyError, TypeError, json_format.ParseError) as exc:
        raise exceptions.InvalidArgument(
            f"Invalid gcs_source.object_uri {uri!r}: the object is not an issue model export ({exc})."
        ) from None
    return model, issues


def _imported(exported: Message, issues: list[Message], name: str, now: float, replaced: Message | None) -> Message:
    """The model an import stores: the file's model and issues under ``name``, UNDEPLOYED, new issue ids when new."""
    model = _copy(exported)
    model.name = name
    model.state = State.UNDEPLOYED
    old_prefix = exported.name + "/issues/"
    renamed: dict[str, str] = {}
    for index, issue in enumerate(sorted(issues, key=lambda i: i.name)):
        old_id = issue.name.removeprefix(old_prefix)
        renamed[issue.name] = f"{name}/issues/{old_id}" if replaced is not None else f"{name}/issues/{index + 1}"
    stats = model.training_stats.issue_stats
    entries = {key: _copy(value) for key, value in stats.items()}
    stats.clear()
    for key, entry in entries.items():
        new = renamed.get(key, f"{name}/issues/{key.rsplit('/', 1)[-1]}")
        entry.issue = new
        stats[new].CopyFrom(entry)
    display = {renamed.get(i.name, i.name): i.display_name for i in issues}
    for key, entry in stats.items():
        entry.display_name = display.get(key, entry.display_name)
    model.issue_count = len(stats)
    if replaced is not None:
        model.create_time.CopyFrom(replaced.create_time)
    else:
        model.create_time.CopyFrom(_timestamp(now))
    model.update_time.CopyFrom(_timestamp(now))
    return model
