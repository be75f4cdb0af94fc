"""Operators on single conversations and their lifetime: upload one, analyze one, bulk delete."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from google.cloud.contact_center_insights_v1 import types

from ccai_airflow import lineage
from ccai_airflow.core.names import child_name
from ccai_airflow.operators.base import ContactCenterInsightsStartOperationOperator, _message

__all__ = [
    "ContactCenterInsightsBulkDeleteConversationsOperator",
    "ContactCenterInsightsCreateAnalysisOperator",
    "ContactCenterInsightsUploadConversationOperator",
]

# UploadConversationRequest.conversation_id: "4-64 characters and must match the regular expression ^[a-z0-9-]{4,64}$"
_CONVERSATION_ID = re.compile(r"^[a-z0-9-]{4,64}$")
_GCS_OBJECT = re.compile(r"^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]/\S+$")
_Base = ContactCenterInsightsStartOperationOperator


class ContactCenterInsightsUploadConversationOperator(_Base):
    """Upload one conversation (audio transcription and DLP redaction, unlike CreateConversation).

    Returns the created ``Conversation``; XCom ``conversation_name`` holds its name.

    :param conversation: the ``Conversation`` as a dict, e.g.
        ``{"data_source": {"gcs_source": {"transcript_uri": "gs://b/t.json"}}, "medium": "CHAT"}`` (templated).
    :param conversation_id: the id to give it (4-64 of ``[a-z0-9-]``); the server picks one if None (templated).
    :param redaction_config: ``RedactionConfig`` as a dict (default: the location's settings).
    :param speech_config: ``SpeechConfig`` as a dict (default: the location's settings).
    """

    notification_trigger = "upload-conversation"

    template_fields: Sequence[str] = (*_Base.template_fields, "conversation", "conversation_id")

    def __init__(
        self, *, conversation: dict[str, Any], conversation_id: str | None = None,
        redaction_config: dict[str, Any] | None = None, speech_config: dict[str, Any] | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conversation = conversation
        self.conversation_id = conversation_id
        self.redaction_config = redaction_config
        self.speech_config = speech_config

    def build_request(self, parent: str) -> Any:
        conversation = _message(types.Conversation, self.conversation, "conversation")
        source = conversation.data_source.gcs_source
        for name in ("audio_uri", "transcript_uri"):
            uri = getattr(source, name)
            if uri and not _GCS_OBJECT.match(uri):
                raise ValueError(
                    f"Invalid conversation data_source.gcs_source.{name} {uri!r}: expected gs://BUCKET/OBJECT."
                )
        request = types.UploadConversationRequest(parent=parent, conversation=conversation)
        if self.conversation_id is not None:
            if not isinstance(self.conversation_id, str) or not _CONVERSATION_ID.match(self.conversation_id):
                raise ValueError(
                    f"Invalid conversation_id {self.conversation_id!r}: expected 4-64 characters of [a-z0-9-]."
                )
            request.conversation_id = self.conversation_id
        if self.redaction_config is not None:
            request.redaction_config = _message(types.RedactionConfig, self.redaction_config, "redaction_config")
        if self.speech_config is not None:
            request.speech_config = _message(types.SpeechConfig, self.speech_config, "speech_config")
        return request

    def lineage_datasets(self) -> lineage.Datasets:
        """The conversation's Cloud Storage objects (audio, transcript) in, the location's conversations out."""
        parent = self._parent()
        source = self.build_request(parent).conversation.data_source.gcs_source
        inputs = tuple(lineage.gcs_objects(uri) for uri in (source.audio_uri, source.transcript_uri) if uri)
        return lineage.Datasets(inputs=inputs, outputs=(lineage.conversations(parent),))


class ContactCenterInsightsCreateAnalysisOperator(_Base):
    """Analyze one conversation; the operation is done when the analysis is.

    Returns the ``Analysis``; XCom ``analysis_name`` holds its name.

    :param conversation_id: the conversation, an id or its full ``projects/.../conversations/ID`` name (templated).
    :param annotator_selector: which annotators to run (``AnnotatorSelector`` as a dict, templated).
    """

    notification_trigger = "create-analysis"

    template_fields: Sequence[str] = (*_Base.template_fields, "conversation_id", "annotator_selector")

    def __init__(
        self, *, conversation_id: str, annotator_selector: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.conversation_id = conversation_id
        self.annotator_selector = annotator_selector

    def build_request(self, parent: str) -> Any:
        conversation = child_name(parent, "conversations", self.conversation_id, "conversation_id")
        analysis = types.Analysis()
        if self.annotator_selector is not None:
            selector = _message(types.AnnotatorSelector, self.annotator_selector, "annotator_selector")
            analysis.annotator_selector = selector
        return types.CreateAnalysisRequest(parent=conversation, analysis=analysis)

    def lineage_datasets(self) -> lineage.Datasets:
        """The location's conversations in (one of them), their analyses out."""
        parent = self._parent()
        return lineage.Datasets(inputs=(lineage.conversations(parent),), outputs=(lineage.analyses(parent),))


class ContactCenterInsightsBulkDeleteConversationsOperator(_Base):
    """Delete the conversations a filter selects. Deleted conversations cannot be recovered.

    The API's response (``BulkDeleteConversationsResponse``) is empty and its metadata holds no count, only
    ``partialErrors`` (pushed as XCom ``partial_errors``). To know how many would go, list them first with
    the same filter (``ContactCenterInsightsHook.list_conversations``), as ``ccai_conversation_retention`` does.

    :param filter: the conversations to delete, e.g. ``create_time < "{{ macros.ds_add(ds, -90) }}T00:00:00Z"``
        (templated). An empty filter selects every conversation of the location, so it is refused unless
        ``allow_delete_all=True``.
    :param max_delete_count: the API fails instead of deleting when the filter selects more (Google's bulk
        delete guide: "If this is lower than number of conversations ..., API call will return an error");
        templated, a rendered ``"12"`` is 12. None or 0: no maximum.
    :param force: also delete conversations that have analyses (with them); otherwise the API refuses those.
    :param allow_delete_all: allow an empty filter.
    """

    template_fields: Sequence[str] = (*_Base.template_fields, "filter", "max_delete_count")

    def __init__(
        self, *, filter: str, max_delete_count: int | str | None = None, force: bool = False,
        allow_delete_all: bool = False, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.filter = filter
        self.max_delete_count = max_delete_count
        self.force = force
        self.allow_delete_all = allow_delete_all

    def build_request(self, parent: str) -> Any:
        if not isinstance(self.filter, str):
            raise ValueError(f"Invalid filter {self.filter!r} ({type(self.filter).__name__}): expected a string.")
        if not self.filter.strip() and not self.allow_delete_all:
            raise ValueError(
                f"Invalid filter {self.filter!r}: an empty filter deletes every conversation of {parent}; "
                "set allow_delete_all=True if that is meant."
            )
        count = self.max_delete_count
        if isinstance(count, str) and count.strip().isdigit():  # rendered from a template
            count = int(count)
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
            raise ValueError(f"Invalid max_delete_count {count!r}: expected an integer >= 0.")
        if not isinstance(self.force, bool):
            raise ValueError(f"Invalid force {self.force!r}: expected True or False.")
        return types.BulkDeleteConversationsRequest(
            parent=parent, filter=self.filter, max_delete_count=count or 0, force=self.force
        )

    def lineage_datasets(self) -> lineage.Datasets:
        """The location's conversations, which the delete changes (those its filter selects are gone)."""
        return lineage.Datasets(outputs=(lineage.conversations(self._parent()),))

    def asset_resources(self, outcome: Any) -> Sequence[lineage.DatasetRef]:
        """None: a DAG scheduled on the conversations runs on new ones, not on their removal."""
        return ()

