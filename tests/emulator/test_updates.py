"""Updates by field mask (``updates.py``): AIP-134's implied mask and ``*``, AIP-161's refusals, AIP-203's Output
only and Immutable fields, on the API's own types (the methods that use it are tested in their modules' files)."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import contact_center_insights_v1 as ci

from ccai_airflow.emulator.updates import apply_mask, covers, mask_paths, populated, resolve

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md).
pytestmark = pytest.mark.airflow_independent

Conversation = ci.Conversation.pb()
Settings = ci.Settings.pb()
PhraseMatcher = ci.PhraseMatcher.pb()


def _stored() -> ci.Conversation:
    stored = Conversation(name="c", agent_id="a-1", medium=2, language_code="en-US")
    stored.labels["team"] = "blue"
    stored.data_source.gcs_source.transcript_uri = "gs://calls/t.json"
    return stored


def test_the_mask_replaces_the_fields_it_names_and_only_those() -> None:
    patch = Conversation(name="c", agent_id="a-2", language_code="fr-FR")
    patch.labels["tier"] = "gold"
    updated, applied = apply_mask(_stored(), patch, ["agent_id", "labels"], "conversation")
    assert (updated.agent_id, updated.language_code, dict(updated.labels)) == ("a-2", "en-US", {"tier": "gold"})
    assert applied == ["agent_id", "labels"]
    emptied, _ = apply_mask(_stored(), Conversation(name="c"), ["labels", "start_time"], "conversation")
    assert not emptied.labels and not emptied.HasField("start_time"), "a masked field the patch leaves unset clears"


def test_an_omitted_mask_is_the_fields_the_patch_sets() -> None:
    request = ci.UpdateConversationRequest.pb()(conversation=Conversation(name="c", agent_id="a", medium=2))
    request.conversation.data_source.gcs_source.audio_uri = "gs://calls/a.wav"
    request.conversation.call_metadata.SetInParent()
    assert sorted(mask_paths(request, "conversation")) == [
        "agent_id", "call_metadata", "data_source.gcs_source.audio_uri", "medium"], "leaves, an empty message, no name"
    request.update_mask.paths.append("labels")
    assert mask_paths(request, "conversation") == ["labels"]
    required = ci.UpdateSettingsRequest.pb()(settings=Settings(name="s", language_code="fr"))
    required.update_mask.SetInParent()
    with pytest.raises(exceptions.InvalidArgument, match="lists no fields"):
        mask_paths(required, "settings", required=True)


def test_star_replaces_the_updatable_fields_and_stands_alone() -> None:
    updated, applied = apply_mask(_stored(), Conversation(name="c", agent_id="z"), ["*"], "conversation",
                                  ("agent_id", "labels"))
    assert (updated.agent_id, dict(updated.labels), updated.language_code) == ("z", {}, "en-US")
    assert applied == ["agent_id", "labels"]
    settings, applied = apply_mask(Settings(name="s", language_code="en"), Settings(name="s"), ["*"], "settings")
    assert not settings.language_code and "create_time" not in applied and "name" not in applied
    with pytest.raises(exceptions.InvalidArgument, match="stands alone"):
        apply_mask(_stored(), Conversation(), ["*", "agent_id"], "conversation")


def test_output_only_paths_are_ignored_immutable_ones_must_not_change() -> None:
    patch = Conversation(name="c", medium=2, turn_count=99)
    patch.data_source.gcs_source.transcript_uri = "gs://calls/t.json"
    updated, applied = apply_mask(
        _stored(), patch, ["turn_count", "medium", "data_source.gcs_source.transcript_uri"], "conversation")
    assert applied == [] and updated.turn_count == 0, "Output only: ignored; Immutable and equal: ignored"
    patch.medium = 1
    with pytest.raises(exceptions.InvalidArgument, match=r"conversation.medium 'PHONE_CALL'.*immutable.*'CHAT'"):
        apply_mask(_stored(), patch, ["medium"], "conversation")


@pytest.mark.parametrize(("path", "shown"), [
    ("agentId", "Conversation has no field 'agentId'"),
    ("type_", "has no field 'type_'"),
    ("labels.team", "labels is not a message"),
    ("runtime_annotations.annotation_id", "runtime_annotations is not a message"),
])
def test_paths_that_name_nothing_that_can_exist_are_invalid_argument(path: str, shown: str) -> None:
    with pytest.raises(exceptions.InvalidArgument, match=shown):
        resolve(Conversation.DESCRIPTOR, path)


def test_paths_are_the_apis_names_not_proto_plus_ones() -> None:
    assert [f.name for f in resolve(PhraseMatcher.DESCRIPTOR, "type")] == ["type_"]
    assert list(populated(PhraseMatcher(type_=1, display_name="d"))) == ["display_name", "type"]
    assert covers(["phrase_match_rule_groups"], "phrase_match_rule_groups[0].type_")
    assert covers(["*"], "anything") and not covers(["display_name"], "type_")


def test_a_path_outside_the_updatable_ones_is_refused() -> None:
    with pytest.raises(exceptions.InvalidArgument, match="the updatable fields are agent_id, call_metadata"):
        apply_mask(_stored(), Conversation(obfuscated_user_id="u"), ["obfuscated_user_id"], "conversation",
                   ("agent_id", "call_metadata"))
    patch = Conversation(name="c")
    patch.call_metadata.agent_channel = 2
    updated, _ = apply_mask(_stored(), patch, ["call_metadata.agent_channel"], "conversation", ("call_metadata",))
    assert updated.call_metadata.agent_channel == 2, "a path under an updatable one is updatable"
