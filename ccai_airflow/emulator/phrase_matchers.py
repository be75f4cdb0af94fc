"""Phrase matchers in the emulator: create, get, list, update, delete.

``PhraseMatchers`` is a base of ``backend.Backend``. Requests arrive admitted by :mod:`ccai_airflow.emulator.contract`
(Required ``type`` of the matcher, of each rule group and ``query`` of each rule, name forms, enum values); updates
follow :mod:`ccai_airflow.emulator.updates`. The rules here are the ones the definition writes in prose (the field
comments of ``PhraseMatcher`` in ``resources.proto``), each with its source; where it says nothing, the comment says
the choice is the emulator's.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from google.api_core import exceptions
from google.cloud.contact_center_insights_v1 import types
from google.protobuf import empty_pb2

from ccai_airflow.emulator.contract import clear_output_only
from ccai_airflow.emulator.lro import Message, Operations, _copy, _timestamp, page_start
from ccai_airflow.emulator.updates import apply_mask, mask_paths

MatcherType = types.PhraseMatcher.PhraseMatcherType
_DEFAULT_PAGE = 100  # "If this value is zero, the service will select a default size."
# ListPhraseMatchersRequest.filter: "A filter to reduce results to a specific subset." Its language is not
# documented; the emulator reads AIP-160 equality on three fields, joined by AND, and refuses anything else.
_TERM = re.compile(r'^(?P<field>display_name|active|type)\s*=\s*(?P<value>"[^"]*"|[A-Za-z_]+)$')
FILTERS = 'display_name="NAME", active=true|false, type=ALL_OF|ANY_OF, joined by AND'
# A change to these alone commits no new revision (revision_id: "A new revision is committed whenever the matcher is
# changed, except when it is activated or deactivated"; a tag names a revision, the emulator's reading).
_NOT_A_REVISION = frozenset({"active", "version_tag"})


@dataclass
class PhraseMatchers(Operations):
    """The phrase matchers of one emulator, by name."""

    _phrase_matchers: dict[str, Message] = field(default_factory=dict)

    def create_phrase_matcher(self, request: Message) -> Message:
        matcher = clear_output_only(_copy(request.phrase_matcher))  # field_behavior.proto: ignored, no error
        with self._lock:
            self._advance()
            # The request has no id field and PhraseMatcher.name no behaviour mark: the server names the matcher and
            # a name the client set is replaced (the emulator's reading; AIP-133 asks as much where an id field
            # exists: "The name field on the resource must be ignored").
            matcher.name = f"{request.parent}/phraseMatchers/{next(self._ids) * 1000 + 7}"
            now = _timestamp(self.wall())
            self._commit_revision(matcher, now)
            matcher.version_tag = matcher.version_tag or matcher.revision_id  # "it will default to `revision_id`"
            # activation_update_time: "The most recent time at which the activation status was updated."
            if matcher.active:
                matcher.activation_update_time.CopyFrom(now)
            matcher.update_time.CopyFrom(now)
            self._phrase_matchers[matcher.name] = matcher
            return _copy(matcher)

    def get_phrase_matcher(self, request: Message) -> Message:
        with self._lock:
            self._advance()
            return _copy(self._find_phrase_matcher(request.name))

    def list_phrase_matchers(self, request: Message) -> Message:
        if request.page_size < 0:  # a size of matchers, so never negative (the emulator's reading)
            raise exceptions.InvalidArgument(f"Invalid page_size {request.page_size}: expected >= 0.")
        wanted = _parse_filter(request.filter)
        start = page_start(request.page_token)
        with self._lock:
            self._advance()
            prefix = request.parent + "/phraseMatchers/"
            found = [m for name, m in self._phrase_matchers.items() if name.startswith(prefix) and _matches(m, wanted)]
            size = request.page_size or _DEFAULT_PAGE
            page = [_copy(m) for m in found[start:start + size]]
        response = types.ListPhraseMatchersResponse.pb()(phrase_matchers=page)
        # next_page_token: "If this field is omitted, there are no subsequent pages."
        if start + size < len(found):
            response.next_page_token = str(start + size)
        return response

    def update_phrase_matcher(self, request: Message) -> Message:
        paths = mask_paths(request, "phrase_matcher")
        with self._lock:
            self._advance()
            stored = self._find_phrase_matcher(request.phrase_matcher.name)
            updated, _ = apply_mask(stored, request.phrase_matcher, paths, "phrase_matcher")
            if updated == stored:
                return _copy(stored)  # nothing changed: no new revision, no new update time
            now = _timestamp(self.wall())
            # version_tag: "If not specified, it will default to `revision_id`": a tag that was the default follows
            # a new revision; one the client chose stays until it sets another (the emulator's reading).
            defaulted = stored.version_tag == stored.revision_id
            if _without(updated, _NOT_A_REVISION) != _without(stored, _NOT_A_REVISION):
                self._commit_revision(updated, now)
                if defaulted and updated.version_tag == stored.version_tag:
                    updated.version_tag = updated.revision_id
            if not updated.version_tag:
                updated.version_tag = updated.revision_id
            if updated.active != stored.active:
                updated.activation_update_time.CopyFrom(now)
            updated.update_time.CopyFrom(now)  # "The most recent time at which the phrase matcher was updated."
            stored.CopyFrom(updated)
            return _copy(stored)

    def delete_phrase_matcher(self, request: Message) -> empty_pb2.Empty:
        with self._lock:
            self._advance()
            self._find_phrase_matcher(request.name)
            del self._phrase_matchers[request.name]
            return empty_pb2.Empty()

    # -- internals ------------------------------------------------------------------------------
    def _commit_revision(self, matcher: Message, now: Message) -> None:
        # revision_id: "A server generated random ID will be used."; revision_create_time: "The timestamp of when the
        # revision was created. It is also the create time when a new matcher is added."
        seed = f"{matcher.name}/{next(self._ids)}"
        matcher.revision_id = hashlib.sha256(seed.encode()).hexdigest()[:8]
        matcher.revision_create_time.CopyFrom(now)

    def _find_phrase_matcher(self, name: str) -> Message:
        matcher = self._phrase_matchers.get(name)
        if matcher is None:
            raise exceptions.NotFound(f"Phrase matcher {name} not found.")
        return matcher


def _without(matcher: Message, fields: frozenset[str]) -> bytes:
    """``matcher`` without ``fields`` and its server-set times, to see whether anything else changed."""
    copy = _copy(matcher)
    for name in (*fields, "update_time", "activation_update_time", "revision_create_time", "revision_id"):
        copy.ClearField(name)
    return bytes(copy.SerializeToString(deterministic=True))


def _parse_filter(text: str) -> dict[str, str]:
    wanted: dict[str, str] = {}
    if not text.strip():
        return wanted
    for part in re.split(r"\s+AND\s+", text.strip()):
        term = _TERM.match(part.strip())
        value = term["value"].strip('"') if term else ""
        if term is None or (term["field"] == "active" and value not in ("true", "false")) or (
            term["field"] == "type" and value not in ("ALL_OF", "ANY_OF")
        ):
            raise exceptions.InvalidArgument(
                f"Invalid filter {text!r}: the emulator does not understand {part.strip()!r}; the API does not "
                f"document its phrase matcher filters, the emulator reads {FILTERS}."
            )
        wanted[term["field"]] = value
    return wanted


def _matches(matcher: Message, wanted: dict[str, str]) -> bool:
    actual = {
        "display_name": matcher.display_name,
        "active": "true" if matcher.active else "false",
        "type": MatcherType(matcher.type_).name,
    }
    return all(actual[key] == value for key, value in wanted.items())
