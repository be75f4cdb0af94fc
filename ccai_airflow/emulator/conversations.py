"""Conversations in the emulator: create, upload, get, list, update, delete, analyze, bulk delete, expiry, and the
filter subset they share.

``Conversations`` is a base of ``backend.Backend`` (itself on ``lro.Operations``). Requests arrive admitted
by :mod:`ccai_airflow.emulator.contract` (Required fields, name forms, enum values); the rules here are the
ones the definition writes in prose, each with its source. Sources: "definition" = the field and method
comments of ``google/cloud/contactcenterinsights/v1/*.proto`` (googleapis ``f8291d2b``, as shipped in the
installed client); "filtering guide" = https://cloud.google.com/contact-center/insights/docs/filtering;
"bulk delete guide" = https://cloud.google.com/contact-center/insights/docs/bulk-delete-api; "TTL guide" =
https://cloud.google.com/contact-center/insights/docs/ttl.
"""

from __future__ import annotations

import datetime
import heapq
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from google.api_core import exceptions
from google.cloud.contact_center_insights_v1 import types
from google.longrunning import operations_pb2
from google.protobuf import empty_pb2

from ccai_airflow.emulator.contract import clear_output_only, name_patterns
from ccai_airflow.emulator.lro import Message, Operations, _copy, _timestamp, page_start
from ccai_airflow.emulator.updates import apply_mask, mask_paths

Conversation = types.Conversation.pb()
Medium = types.Conversation.Medium
# The seeding control's parent takes the rules of a CreateConversation's (its form, a location Insights serves).
_PARENT = name_patterns("{parent=projects/*/locations/*}")[0]

# -- the filter subset ------------------------------------------------------------------------------
# The filtering guide lists, among others: create_time>"1969-12-31T16:00:10-08:00", create_time<="...",
# start_time>"...", update_time>"...", medium="PHONE_CALL", agent_id="some agent_id", latest_analysis:"*"
# (analyzed) and -latest_analysis:"*" (not analyzed); terms are joined with AND (AIP-160). The emulator
# understands exactly those; any other term is INVALID_ARGUMENT naming it, never silently ignored.
_TERM = re.compile(
    r'^(?P<neg>-)?(?P<field>[a-z_.]+)\s*(?P<op><=|>=|!=|=|<|>|:)\s*"(?P<value>[^"]*)"$'
)
_TIME_FIELDS = ("create_time", "start_time", "update_time")
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "=": lambda a, b: a == b,
}
SUPPORTED = ('create_time|start_time|update_time <,<=,>,>=,= "RFC 3339 time", medium="PHONE_CALL|CHAT", '
             'agent_id="ID", latest_analysis:"*", -latest_analysis:"*", joined by AND')
Predicate = Callable[[Message], bool]


@dataclass(frozen=True)
class Term:
    field: str
    op: str
    value: str
    negated: bool


def parse_filter(text: str, arg: str = "filter") -> list[Term]:
    """The terms of a conversation filter (empty: every conversation); INVALID_ARGUMENT for anything else."""
    if not text.strip():
        return []
    terms = []
    for part in re.split(r"\s+AND\s+", text.strip()):
        found = _TERM.match(part.strip())
        if found is None or not _known(found):
            raise exceptions.InvalidArgument(
                f"Invalid {arg} {text!r}: the emulator does not understand {part.strip()!r}; it models the "
                f"subset of https://cloud.google.com/contact-center/insights/docs/filtering: {SUPPORTED}."
            )
        term = Term(found["field"], found["op"], found["value"], bool(found["neg"]))
        if term.field in _TIME_FIELDS:
            _seconds(term.value, text, arg)  # a value that is not a time is refused now, not at match time
        terms.append(term)
    return terms


def _known(found: re.Match[str]) -> bool:
    name, op, value, neg = found["field"], found["op"], found["value"], found["neg"]
    if name in _TIME_FIELDS:
        return op in _COMPARE and not neg
    if name == "medium":
        return op == "=" and value in ("PHONE_CALL", "CHAT") and not neg
    if name == "agent_id":
        return op == "=" and not neg
    return name == "latest_analysis" and op == ":" and value == "*"


def _seconds(value: str, text: str, arg: str) -> float:
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise exceptions.InvalidArgument(
            f"Invalid {arg} {text!r}: {value!r} is not an RFC 3339 time with an offset, e.g. "
            '"2026-01-01T00:00:00Z", as in https://cloud.google.com/contact-center/insights/docs/filtering.'
        )
    return parsed.timestamp()


def matches(conversation: Message, terms: list[Term]) -> bool:
    for term in terms:
        if term.field in _TIME_FIELDS:
            stamp = getattr(conversation, term.field)
            value = stamp.seconds + stamp.nanos / 1e9
            if not _COMPARE[term.op](value, _seconds(term.value, "", "filter")):
                return False
        elif term.field == "medium":
            if Medium(conversation.medium).name != term.value:
                return False
        elif term.field == "agent_id":
            if conversation.agent_id != term.value:
                return False
        elif conversation.HasField("latest_analysis") == term.negated:  # latest_analysis:"*", maybe negated
            return False
    return True


def time_window(terms: list[Term]) -> tuple[float, float] | None:
    """[start, end) of ``create_time`` the terms bound on both sides, or None."""
    low = [_seconds(t.value, "", "filter") for t in terms if t.field == "create_time" and t.op in (">", ">=")]
    high = [_seconds(t.value, "", "filter") for t in terms if t.field == "create_time" and t.op in ("<", "<=")]
    return (max(low), min(high)) if low and high else None


# -- conversations --------------------------------------------------------------------------------
_CONVERSATION_ID = re.compile(r"^[a-z0-9-]{4,64}$")
_GCS_OBJECT = re.compile(r"^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]/\S+$")
# TTL guide: "Conversations set to expire using either the expire_time or ttl field will be deleted 24 hours after
# the specified expiration time is reached."
EXPIRY_GRACE_S = 24 * 3600
# UpdateConversationRequest.update_mask: "All possible fields can be updated by passing `*`, or a subset of the
# following updateable fields can be provided". Its `metadata` is the oneof holding call_metadata.
UPDATABLE = (
    "agent_id", "language_code", "labels", "call_metadata", "quality_metadata", "start_time", "expire_time", "ttl",
    "data_source.gcs_source.audio_uri", "data_source.dialogflow_source.audio_uri",
)


def seconds_of(value: Message) -> float:
    return float(value.seconds + value.nanos / 1e9)


@dataclass
class Conversations(Operations):
    """The conversations of one emulator and the operations on them."""

    _conversations: dict[str, Message] = field(default_factory=dict)
    _expiries: list[tuple[float, str]] = field(default_factory=list)  # (deletion time, name), a heap

    def seed_conversations(self, parent: str, count: int, age_days: float = 0.0, medium: str = "CHAT") -> list[str]:
        """Control: ``count`` conversations under ``parent`` created ``age_days`` ago (for demos and tests)."""
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 100_000:
            raise exceptions.InvalidArgument(f"Invalid count {count!r}: expected an integer in [0, 100000].")
        if isinstance(age_days, bool) or not isinstance(age_days, int | float) or not 0 <= age_days < 100_000:
            raise exceptions.InvalidArgument(f"Invalid age_days {age_days!r}: expected a number of days >= 0.")
        if medium not in ("CHAT", "PHONE_CALL"):
            raise exceptions.InvalidArgument(f"Invalid medium {medium!r}: expected CHAT or PHONE_CALL.")
        if not isinstance(parent, str):
            raise exceptions.InvalidArgument(f"Invalid parent {parent!r}: expected {_PARENT.form}.")
        _PARENT.check(parent)
        with self._lock:
            created = self.wall() - age_days * 86400
            names = []
            for _ in range(count):
                conversation = Conversation(medium=getattr(Medium, medium))
                names.append(self._store(parent, conversation, "", created, api=False))
            return names

    def create_conversation(self, request: Message) -> Message:
        # "Creates a conversation. Note that this method does not support audio transcription or redaction.": the
        # conversation is stored as sent (its Output only fields cleared), at once.
        conversation = self._new_conversation(request)
        with self._lock:
            self._advance()
            self._check_free(request)
            name = self._store(request.parent, conversation, request.conversation_id, self.wall())
            self._notify("create-conversation", request.parent, name)
            return _copy(self._conversations[name])

    def upload_conversation(self, request: Message) -> operations_pb2.Operation:
        conversation = self._new_conversation(request)
        with self._lock:
            self._advance()
            self._check_free(request)

            def finish() -> Message:
                name = self._store(request.parent, conversation, request.conversation_id, self.wall())
                self._notify("create-conversation", request.parent, name)
                return _copy(self._conversations[name])

            operation = self._start("UploadConversationMetadata", request, request.parent, finish)
            record = self._operations[operation.name]
            # UploadConversationMetadata.applied_redaction_config: "The redaction config applied to the uploaded
            # conversation." The request's, when it has one (Settings' defaults are not modelled).
            if request.HasField("redaction_config"):
                record.metadata.applied_redaction_config.CopyFrom(request.redaction_config)
                record.proto.metadata.Pack(record.metadata)
                operation.metadata.Pack(record.metadata)
            return operation

    def update_conversation(self, request: Message) -> Message:
        patch = request.conversation
        # The mask's `metadata` is the oneof that holds call_metadata.
        paths = [re.sub(r"^metadata(?=\.|$)", "call_metadata", p) for p in mask_paths(request, "conversation")]
        with self._lock:
            self._advance()
            stored = self._find_conversation(patch.name)
            updated, applied = apply_mask(stored, patch, paths, "conversation", UPDATABLE)
            _check_sources(updated)
            now = self.wall()
            if "ttl" in applied and updated.HasField("ttl"):
                # AIP-214: expire_time = now + ttl, and the ttl field is left blank on output.
                updated.expire_time.CopyFrom(_timestamp(now + check_ttl(updated.ttl, "conversation.ttl")))
            updated.update_time.CopyFrom(_timestamp(now))
            stored.CopyFrom(updated)  # in place: an analysis under way still finds it
            self._watch_expiry(stored)
            self._notify("update-conversation", "/".join(stored.name.split("/")[:4]), stored.name)
            return _copy(stored)

    def delete_conversation(self, request: Message) -> empty_pb2.Empty:
        with self._lock:
            self._advance()
            conversation = self._find_conversation(request.name)
            # force: "If set to true, all of this conversation's analyses will also be deleted. Otherwise, the
            # request will only succeed if the conversation has no analyses." The code is AIP-135's: "The API must
            # fail with a FAILED_PRECONDITION error if child resources are present."
            if conversation.HasField("latest_analysis") and not request.force:
                raise exceptions.FailedPrecondition(
                    f"Conversation {request.name} has analyses (e.g. {conversation.latest_analysis.name}) and force "
                    "is false; set force=true to delete it with its analyses."
                )
            # Its analyses live in it (latest_analysis): they go with it.
            del self._conversations[request.name]
            return empty_pb2.Empty()

    def get_conversation(self, request: Message) -> Message:
        with self._lock:
            self._advance()
            conversation = _copy(self._find_conversation(request.name))
        # ConversationView: "Defaults to `FULL` in `GetConversationRequest`"; BASIC: "except the transcript".
        if request.view == types.ConversationView.BASIC:
            conversation.ClearField("transcript")
        return conversation

    def list_conversations(self, request: Message) -> Message:
        # page_size: "A valid page size ranges from 0 to 100,000 inclusive. If the page size is zero or
        # unspecified, a default page size of 100 will be chosen."
        if not 0 <= request.page_size <= 100_000:
            raise exceptions.InvalidArgument(f"Invalid page_size {request.page_size}: expected 0 to 100000.")
        terms = parse_filter(request.filter)
        key, descending = _order(request.order_by)
        start = page_start(request.page_token)
        with self._lock:
            self._advance()
            prefix = request.parent + "/conversations/"
            found = [c for name, c in self._conversations.items() if name.startswith(prefix) and matches(c, terms)]
            found.sort(key=lambda c: (key(c), c.name), reverse=descending)
            size = request.page_size or 100
            page = [_copy(c) for c in found[start:start + size]]
        # ConversationView: "Defaults to `BASIC` in `ListConversationsRequest`."
        if request.view != types.ConversationView.FULL:
            for conversation in page:
                conversation.ClearField("transcript")
        response = types.ListConversationsResponse.pb()(conversations=page)
        if start + size < len(found):
            response.next_page_token = str(start + size)
        return response

    def create_analysis(self, request: Message) -> operations_pb2.Operation:
        analysis = clear_output_only(_copy(request.analysis))
        with self._lock:
            self._advance()
            conversation = self._find_conversation(request.parent)  # the parent must exist: NOT_FOUND
            analysis.name = f"{request.parent}/analyses/{next(self._ids) * 1000 + 17}"  # "Immutable.": the server's
            analysis.request_time.CopyFrom(_timestamp(self.wall()))

            def finish() -> Message:
                now = _timestamp(self.wall())
                analysis.create_time.CopyFrom(now)
                analysis.analysis_result.end_time.CopyFrom(now)
                # Conversation.latest_analysis: "The conversation's latest analysis, if one exists." Not if the
                # conversation was deleted meanwhile (a new one of the same name is another conversation).
                current: Message = self._conversations.get(conversation.name)
                if current is conversation:
                    current.latest_analysis.CopyFrom(analysis)
                return _copy(analysis)

            location = "/".join(request.parent.split("/")[:4])
            operation = self._start("CreateAnalysisOperationMetadata", request, location, finish)
            # CreateAnalysisOperationMetadata: "The Conversation that this Analysis Operation belongs to." and
            # "The annotator selector used for the analysis (if any)." It has no `request` field.
            record = self._operations[operation.name]
            record.metadata.conversation = request.parent
            if analysis.HasField("annotator_selector"):
                record.metadata.annotator_selector.CopyFrom(analysis.annotator_selector)
            record.proto.metadata.Pack(record.metadata)
            operation.metadata.Pack(record.metadata)
            return operation

    def bulk_delete_conversations(self, request: Message) -> operations_pb2.Operation:
        terms = parse_filter(request.filter)
        if request.max_delete_count < 0:  # "Maximum number of conversations to delete.": a count (emulator's reading)
            raise exceptions.InvalidArgument(f"Invalid max_delete_count {request.max_delete_count}: expected >= 0.")
        with self._lock:
            self._advance()
            prefix = request.parent + "/conversations/"
            doomed = [n for n, c in self._conversations.items() if n.startswith(prefix) and matches(c, terms)]
            # Bulk delete guide: "MAX_DELETE_COUNT: ... If this is lower than number of conversations in the
            # project, API call will return an error." 0 (unset) is no maximum: the emulator's reading.
            if 0 < request.max_delete_count < len(doomed):
                raise exceptions.FailedPrecondition(
                    f"The filter selects {len(doomed)} conversations, more than max_delete_count="
                    f"{request.max_delete_count}; nothing was deleted."
                )
            # force: "If set to true, all of this conversation's analyses will also be deleted. Otherwise, the
            # request will only succeed if the conversation has no analyses." (definition; the bulk delete guide
            # says unanalyzed ones would be deleted instead: the definition is followed.)
            if not request.force:
                analyzed = [n for n in doomed if self._conversations[n].HasField("latest_analysis")]
                if analyzed:
                    raise exceptions.FailedPrecondition(
                        f"{len(analyzed)} of the selected conversations have analyses (e.g. {analyzed[0]}); "
                        "set force=true to delete them with their analyses."
                    )

            def finish() -> Message:
                for name in doomed:  # the conversations selected when the call was made
                    self._conversations.pop(name, None)
                return types.BulkDeleteConversationsResponse.pb()()

            return self._start("BulkDeleteConversationsMetadata", request, request.parent, finish)

    def conversations_under(self, parent: str) -> list[Message]:
        prefix = parent + "/conversations/"
        return [c for name, c in self._conversations.items() if name.startswith(prefix)]

    # -- internals ------------------------------------------------------------------------------
    def _advance(self) -> None:
        super()._advance()
        # Expired conversations go EXPIRY_GRACE_S after their expire_time (the TTL guide), on the emulator's clock.
        now = self.wall()
        while self._expiries and self._expiries[0][0] <= now:
            due, name = heapq.heappop(self._expiries)
            conversation = self._conversations.get(name)
            if conversation is not None and self._deletion_time(conversation) == due:
                del self._conversations[name]

    @staticmethod
    def _deletion_time(conversation: Message) -> float | None:
        if not conversation.HasField("expire_time"):
            return None
        return seconds_of(conversation.expire_time) + EXPIRY_GRACE_S

    def _watch_expiry(self, conversation: Message) -> None:
        due = self._deletion_time(conversation)
        if due is not None:
            heapq.heappush(self._expiries, (due, str(conversation.name)))

    def _default_ttl(self, parent: str) -> float | None:
        """Seconds of the location's Settings.conversation_ttl, if it has one (``settings.LocationMethods``)."""
        return None

    def _new_conversation(self, request: Message) -> Message:
        """The conversation a Create or Upload request makes, checked, without its Output only fields."""
        # conversation_id: "This value should be 4-64 characters and must match the regular expression
        # `^[a-z0-9-]{4,64}$`." (CreateConversationRequest / UploadConversationRequest.conversation_id)
        if request.conversation_id and not _CONVERSATION_ID.match(request.conversation_id):
            raise exceptions.InvalidArgument(
                f"Invalid conversation_id {request.conversation_id!r}: expected 4-64 characters of [a-z0-9-]."
            )
        _check_sources(request.conversation)
        if request.conversation.HasField("ttl"):
            check_ttl(request.conversation.ttl, "conversation.ttl")
        return clear_output_only(_copy(request.conversation))  # field_behavior.proto: ignored, no error

    def _check_free(self, request: Message) -> None:
        # AIP-133: a create whose id gives an existing resource name fails ALREADY_EXISTS.
        wanted = f"{request.parent}/conversations/{request.conversation_id}"
        if request.conversation_id and wanted in self._conversations:
            raise exceptions.AlreadyExists(f"Conversation {wanted} already exists.")

    def _store(
        self, parent: str, conversation: Message, conversation_id: str, created: float, api: bool = True
    ) -> str:
        """Keep ``conversation`` under ``parent``; ``api``: made by an API method (the Settings' TTL applies)."""
        number = next(self._ids)
        conversation.name = f"{parent}/conversations/{conversation_id or str(number * 100 + 42)}"
        conversation.create_time.CopyFrom(_timestamp(created))
        conversation.update_time.CopyFrom(_timestamp(created))
        # ttl: "Input only. ... If specified, then this TTL will be used to calculate the expire time." AIP-214: "APIs
        # must always return the expiration time in the expire_time field and leave the ttl field blank". Setting
        # expire_time clears ttl (one oneof).
        if conversation.HasField("ttl"):
            conversation.expire_time.CopyFrom(_timestamp(created + seconds_of(conversation.ttl)))
        elif api and not conversation.HasField("expire_time") and (default := self._default_ttl(parent)):
            # Settings.conversation_ttl: "The default TTL for newly-created conversations. If a conversation has a
            # specified expiration, that value will be used instead."
            conversation.expire_time.CopyFrom(_timestamp(created + default))
        conversation.ClearField("metadata_json")  # Input only: "will not be included in output" (AIP-203)
        if not conversation.HasField("start_time"):
            conversation.start_time.CopyFrom(_timestamp(created - 600))
        if conversation.medium == Medium.MEDIUM_UNSPECIFIED:  # "if unspecified will default to PHONE_CALL."
            conversation.medium = Medium.PHONE_CALL
        conversation.turn_count = 4 + number % 17
        conversation.duration.FromSeconds(60 + (number * 37) % 900)
        self._conversations[conversation.name] = conversation
        self._watch_expiry(conversation)
        return str(conversation.name)

    def _find_conversation(self, name: str) -> Message:
        conversation = self._conversations.get(name)
        if conversation is None:
            raise exceptions.NotFound(f"Conversation {name} not found.")
        return conversation


def _check_sources(conversation: Message) -> None:
    """GcsSource.audio_uri / transcript_uri and DialogflowSource.audio_uri: "Cloud Storage URI that points to a
    file": gs://BUCKET/OBJECT."""
    source = conversation.data_source
    for path, uri in (
        ("gcs_source.audio_uri", source.gcs_source.audio_uri),
        ("gcs_source.transcript_uri", source.gcs_source.transcript_uri),
        ("dialogflow_source.audio_uri", source.dialogflow_source.audio_uri),
    ):
        if uri and not _GCS_OBJECT.match(uri):
            raise exceptions.InvalidArgument(
                f"Invalid conversation.data_source.{path} {uri!r}: expected gs://BUCKET/OBJECT."
            )


def check_ttl(ttl: Message, arg: str) -> float:
    """A TTL's seconds; a TTL that is not positive would expire what it is set on before it exists (the emulator's
    reading: the definition says only "The TTL for this resource")."""
    seconds = seconds_of(ttl)
    if seconds <= 0:
        raise exceptions.InvalidArgument(f"Invalid {arg} {seconds:g}s: expected a positive duration.")
    return seconds


_ORDER_KEYS: dict[str, Callable[[Message], float]] = {
    "create_time": lambda c: c.create_time.seconds + c.create_time.nanos / 1e9,
    "start_time": lambda c: c.start_time.seconds + c.start_time.nanos / 1e9,
    "duration": lambda c: c.duration.seconds + c.duration.nanos / 1e9,
    "turn_count": lambda c: float(c.turn_count),
}


def _order(order_by: str) -> tuple[Callable[[Message], float], bool]:
    """order_by: "If empty, conversations will be ordered by descending creation time." ... "The default sort
    order is ascending. To specify order, append `asc` or `desc`"."""
    words = order_by.split()
    if not words:
        return _ORDER_KEYS["create_time"], True
    if words[0] in _ORDER_KEYS and len(words) <= 2 and words[1:] in ([], ["asc"], ["desc"]):
        return _ORDER_KEYS[words[0]], words[1:] == ["desc"]
    raise exceptions.InvalidArgument(
        f"Invalid order_by {order_by!r}: the emulator orders by {', '.join(_ORDER_KEYS)} [asc|desc] "
        "(the API also documents customer_satisfaction_rating and latest_analysis, not modelled)."
    )
