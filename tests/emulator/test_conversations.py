"""The emulator's rules for conversations (``conversations.Conversations``): upload, get, list, analyze, bulk
delete and the filter subset they share (issue 14, first half), both transports."""

from __future__ import annotations

import datetime
import re

import pytest
from google.api_core import exceptions
from google.cloud import contact_center_insights_v1 as ci

from ccai_airflow.emulator import Emulator
from ccai_airflow.emulator.control import EmulatorControl
from tests.conftest import PARENT
from tests.emulator.clients import Client, error_of, status_of, unpack, wait_done

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md).
pytestmark = pytest.mark.airflow_independent


def _ago(days: float) -> str:
    moment = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=days)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _names(api: Client, filter_: str = "", **kwargs: object) -> list[str]:
    return [c.name for c in api.list_conversations(request={"parent": PARENT, "filter": filter_, **kwargs})]


def test_upload_creates_the_conversation_get_and_list_show_it(api: Client) -> None:
    lro = api.upload_conversation(request={
        "parent": PARENT, "conversation_id": "call-0001", "redaction_config": {"deidentify_template": "t"},
        "conversation": {"medium": "CHAT", "agent_id": "a-7",
                         "data_source": {"gcs_source": {"transcript_uri": "gs://calls/t.json"}}},
    })
    op = wait_done(api, lro.operation.name)
    made = unpack(op.response, ci.Conversation)
    assert made.name == f"{PARENT}/conversations/call-0001" and made.agent_id == "a-7"
    metadata = unpack(op.metadata, ci.UploadConversationMetadata)
    assert metadata.request.conversation_id == "call-0001" and metadata.end_time
    assert metadata.applied_redaction_config.deidentify_template == "t"
    assert api.get_conversation(name=made.name).create_time == made.create_time
    assert _names(api, 'agent_id="a-7" AND medium="CHAT"') == [made.name]
    assert _names(api, 'medium="PHONE_CALL"') == []
    err = error_of(lambda: api.upload_conversation(request={
        "parent": PARENT, "conversation_id": "call-0001", "conversation": {}}))
    assert status_of(err) == "ALREADY_EXISTS", err


@pytest.mark.parametrize(("fields", "shown"), [
    ({"conversation_id": "ab"}, "Invalid conversation_id 'ab'"),
    ({"conversation": {"data_source": {"gcs_source": {"audio_uri": "s3://b/a.wav"}}}}, "audio_uri 's3://b/a.wav'"),
])
def test_upload_refuses_bad_ids_and_uris(api: Client, fields: dict[str, object], shown: str) -> None:
    err = error_of(lambda: api.upload_conversation(request={"parent": PARENT, "conversation": {}, **fields}))
    assert status_of(err) == "INVALID_ARGUMENT" and shown in err.message, err


@pytest.mark.parametrize("filter_", [
    'duration > "20s"', "create_time > 2026", 'create_time > "yesterday"', 'medium="EMAIL"',
    'create_time > "2026-01-01T00:00:00Z" OR medium="CHAT"',
])
def test_filters_outside_the_modelled_subset_are_invalid_argument(api: Client, filter_: str) -> None:
    for call in (lambda: _names(api, filter_),
                 lambda: api.bulk_delete_conversations(request={"parent": PARENT, "filter": filter_})):
        err = error_of(call)
        assert status_of(err) == "INVALID_ARGUMENT", err
        assert filter_ in err.message and "insights/docs/filtering" in err.message


def test_list_filters_by_create_time_and_orders_newest_first(emulator: Emulator, api: Client) -> None:
    old = emulator.seed_conversations(PARENT, 2, age_days=400)
    new = emulator.seed_conversations(PARENT, 1)
    assert set(_names(api, f'create_time < "{_ago(30)}"')) == set(old)
    assert _names(api)[0] == new[0], "order_by empty: descending creation time"
    assert _names(api, order_by="create_time")[-1] == new[0]
    assert len(_names(api, page_size=1)) == 3, "the pager follows next_page_token"
    err = error_of(lambda: _names(api, page_size=100_001))
    assert status_of(err) == "INVALID_ARGUMENT", err


def test_seeding_takes_a_parent_the_api_would_take(emulator: Emulator) -> None:
    """The control refuses what CreateConversation refuses: a malformed parent, a location Insights does not serve."""
    with EmulatorControl(emulator.rest_url) as control:
        for seed in (emulator.seed_conversations, control.seed_conversations):
            for parent, shown in [("projects/p/locations/mars-north9", "location 'mars-north9'"),
                                  ("projects/p", "expected projects/{project}/locations/{location}")]:
                with pytest.raises(exceptions.InvalidArgument, match=re.escape(shown)):
                    seed(parent, 1)
    assert emulator.backend._conversations == {}


def test_bulk_delete_deletes_what_the_filter_selects(emulator: Emulator, api: Client) -> None:
    old = emulator.seed_conversations(PARENT, 3, age_days=400)
    new = emulator.seed_conversations(PARENT, 2)
    request = {"parent": PARENT, "filter": f'create_time < "{_ago(30)}"'}
    err = error_of(lambda: api.bulk_delete_conversations(request={**request, "max_delete_count": 2}))
    assert status_of(err) == "FAILED_PRECONDITION" and "selects 3" in err.message, err
    op = wait_done(api, api.bulk_delete_conversations(request={**request, "max_delete_count": 3}).operation.name)
    assert not op.HasField("error"), op.error
    metadata = unpack(op.metadata, ci.BulkDeleteConversationsMetadata)
    assert metadata.request.max_delete_count == 3 and metadata.create_time and metadata.end_time
    assert set(_names(api)) == set(new) and not set(old) & set(_names(api))


def test_bulk_delete_without_force_refuses_analyzed_conversations(emulator: Emulator, api: Client) -> None:
    (name,) = emulator.seed_conversations(PARENT, 1)
    op = wait_done(api, api.create_analysis(parent=name, analysis={}).operation.name)
    analysis = unpack(op.response, ci.Analysis)
    assert analysis.name.startswith(name + "/analyses/")
    assert unpack(op.metadata, ci.CreateAnalysisOperationMetadata).conversation == name
    assert api.get_conversation(name=name).latest_analysis.name == analysis.name
    assert _names(api, 'latest_analysis:"*"') == [name] and _names(api, '-latest_analysis:"*"') == []
    err = error_of(lambda: api.bulk_delete_conversations(request={"parent": PARENT}))
    assert status_of(err) == "FAILED_PRECONDITION" and "force" in err.message, err
    wait_done(api, api.bulk_delete_conversations(request={"parent": PARENT, "force": True}).operation.name)
    assert _names(api) == []


def test_create_analysis_of_an_unknown_conversation_is_not_found(api: Client) -> None:
    err = error_of(lambda: api.create_analysis(parent=f"{PARENT}/conversations/nope", analysis={}))
    assert status_of(err) == "NOT_FOUND", err


# -- create, update, delete (issue 23) --------------------------------------------------------------
TRANSCRIPT = "gs://cloud-samples-data/ccai/chat_sample.json"
AUDIO = "gs://cloud-samples-data/ccai/voice_6912.txt"


def _sample_conversation(**fields: object) -> ci.Conversation:
    """The conversation Google's sample create_conversation.py builds."""
    conversation = ci.Conversation(**fields)
    conversation.data_source.gcs_source.transcript_uri = TRANSCRIPT
    conversation.data_source.gcs_source.audio_uri = AUDIO
    conversation.medium = ci.Conversation.Medium.CHAT
    return conversation


def test_create_as_googles_sample_does_then_get_and_list_show_it(api: Client) -> None:
    made = api.create_conversation(parent=PARENT, conversation=_sample_conversation(agent_id="a-1"))
    assert made.name.startswith(f"{PARENT}/conversations/") and made.medium == ci.Conversation.Medium.CHAT
    assert made.data_source.gcs_source.transcript_uri == TRANSCRIPT and made.agent_id == "a-1"
    assert made.create_time == made.update_time and not made.expire_time, "no TTL anywhere: it does not expire"
    assert api.get_conversation(name=made.name) == made
    assert _names(api) == [made.name]
    chosen = api.create_conversation(parent=PARENT, conversation={}, conversation_id="call-0002")
    assert chosen.name == f"{PARENT}/conversations/call-0002"
    assert chosen.medium == ci.Conversation.Medium.PHONE_CALL, '"if unspecified will default to PHONE_CALL"'
    err = error_of(lambda: api.create_conversation(parent=PARENT, conversation={}, conversation_id="call-0002"))
    assert status_of(err) == "ALREADY_EXISTS" and "call-0002" in err.message, err


@pytest.mark.parametrize(("fields", "shown"), [
    ({"conversation_id": "Call_1"}, "Invalid conversation_id 'Call_1'"),
    ({"conversation": {"data_source": {"gcs_source": {"transcript_uri": "/t.json"}}}}, "transcript_uri '/t.json'"),
    ({"conversation": {"data_source": {"dialogflow_source": {"audio_uri": "s3://b/a"}}}}, "audio_uri 's3://b/a'"),
    ({"conversation": {"ttl": {"seconds": -5}}}, "Invalid conversation.ttl -5s"),
    ({"conversation": {"ttl": {}}}, "Invalid conversation.ttl 0s"),
])
def test_create_refuses_bad_ids_uris_and_ttls_and_stores_nothing(
    api: Client, fields: dict[str, object], shown: str
) -> None:
    err = error_of(lambda: api.create_conversation(request={"parent": PARENT, "conversation": {}, **fields}))
    assert status_of(err) == "INVALID_ARGUMENT" and shown in err.message, err
    assert _names(api) == []


def test_ttl_gives_the_expire_time_and_the_conversation_goes_a_day_after_it(emulator: Emulator, api: Client) -> None:
    """ttl is Input only (returned blank, AIP-214); the TTL guide: expired conversations "will be deleted 24 hours
    after the specified expiration time is reached"."""
    made = api.create_conversation(parent=PARENT, conversation=_sample_conversation(
        ttl=datetime.timedelta(hours=1), metadata_json='{"customer_id": "7"}'))
    assert made.expire_time - made.create_time == datetime.timedelta(hours=1)
    assert not made.ttl and not made.metadata_json, "Input only: not in the output"
    fixed = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30)
    kept = api.create_conversation(parent=PARENT, conversation={"expire_time": fixed})
    assert kept.expire_time == fixed, "an expire_time sent is kept as sent"
    emulator.advance_clock(3600 + 86400 - 120)
    assert api.get_conversation(name=made.name).name == made.name, "expired, but within the day's grace"
    emulator.advance_clock(240)
    err = error_of(lambda: api.get_conversation(name=made.name))
    assert status_of(err) == "NOT_FOUND", err
    assert _names(api) == [kept.name]


def test_update_applies_the_masked_fields_only(emulator: Emulator, api: Client) -> None:
    made = api.create_conversation(parent=PARENT, conversation=_sample_conversation(
        agent_id="a-1", language_code="en-US", labels={"team": "blue"}))
    emulator.advance_clock(5)
    patch = {"name": made.name, "agent_id": "a-2", "language_code": "fr-FR", "labels": {"tier": "gold"}}
    updated = api.update_conversation(conversation=patch, update_mask={"paths": ["agent_id", "labels"]})
    assert (updated.agent_id, updated.language_code, dict(updated.labels)) == ("a-2", "en-US", {"tier": "gold"})
    assert updated.update_time > made.update_time and updated.create_time == made.create_time
    assert api.get_conversation(name=made.name) == updated
    # The mask's `metadata` is the oneof of call_metadata; no mask: the fields the patch sets (AIP-134).
    updated = api.update_conversation(conversation={"name": made.name, "call_metadata": {"agent_channel": 2}},
                                      update_mask={"paths": ["metadata"]})
    assert updated.call_metadata.agent_channel == 2
    updated = api.update_conversation(conversation={"name": made.name, "language_code": "de-DE"})
    assert (updated.language_code, updated.agent_id) == ("de-DE", "a-2")
    # ttl: AIP-214's now + ttl; `*` replaces every documented updatable field (agent_id here, with the ttl's).
    updated = api.update_conversation(conversation={"name": made.name, "ttl": datetime.timedelta(days=2)},
                                      update_mask={"paths": ["*"]})
    assert updated.expire_time - updated.update_time == datetime.timedelta(days=2)
    assert not updated.agent_id and not updated.labels and not updated.ttl
    assert updated.data_source.gcs_source.transcript_uri == TRANSCRIPT, "Immutable and not updatable: kept"


@pytest.mark.parametrize(("patch", "paths", "status", "shown"), [
    ({"agent_id": "x"}, ["agent"], "INVALID_ARGUMENT", "Conversation has no field 'agent'"),
    ({"obfuscated_user_id": "u"}, ["obfuscated_user_id"], "INVALID_ARGUMENT", "the updatable fields are agent_id"),
    ({"medium": "PHONE_CALL"}, ["medium"], "INVALID_ARGUMENT", "Invalid conversation.medium 'PHONE_CALL'"),
    ({"data_source": {"gcs_source": {"audio_uri": "http://a"}}}, ["data_source.gcs_source.audio_uri"],
     "INVALID_ARGUMENT", "audio_uri 'http://a'"),
    ({"agent_id": "x"}, ["*", "agent_id"], "INVALID_ARGUMENT", "'*' replaces every updatable field"),
    ({"ttl": {"seconds": -1}}, ["ttl"], "INVALID_ARGUMENT", "Invalid conversation.ttl -1s"),
    ({"labels": {"a": "b"}}, ["labels.a"], "INVALID_ARGUMENT", "labels is not a message"),
])
def test_update_refusals_change_nothing(
    api: Client, patch: dict[str, object], paths: list[str], status: str, shown: str
) -> None:
    made = api.create_conversation(parent=PARENT, conversation=_sample_conversation(agent_id="a-1"))
    err = error_of(lambda: api.update_conversation(
        conversation={"name": made.name, **patch}, update_mask={"paths": paths}))
    assert status_of(err) == status and shown in err.message, err
    assert api.get_conversation(name=made.name) == made


def test_update_or_delete_of_an_unknown_conversation_is_not_found(api: Client) -> None:
    name = f"{PARENT}/conversations/nope"
    for call in (lambda: api.update_conversation(conversation={"name": name, "agent_id": "a"}),
                 lambda: api.delete_conversation(name=name)):
        err = error_of(call)
        assert status_of(err) == "NOT_FOUND" and name in err.message, err


def test_delete_needs_force_for_a_conversation_with_analyses(api: Client) -> None:
    """force: "Otherwise, the request will only succeed if the conversation has no analyses." (AIP-135's code)"""
    plain = api.create_conversation(parent=PARENT, conversation=_sample_conversation())
    api.delete_conversation(name=plain.name)
    analyzed = api.create_conversation(parent=PARENT, conversation=_sample_conversation())
    wait_done(api, api.create_analysis(parent=analyzed.name, analysis={}).operation.name)
    err = error_of(lambda: api.delete_conversation(name=analyzed.name))
    assert status_of(err) == "FAILED_PRECONDITION" and "force" in err.message and analyzed.name in err.message, err
    assert _names(api) == [analyzed.name], "nothing deleted"
    api.delete_conversation(request={"name": analyzed.name, "force": True})  # as Google's sample cleans up
    assert _names(api) == []
    err = error_of(lambda: api.get_conversation(name=analyzed.name))
    assert status_of(err) == "NOT_FOUND", err


def test_an_analysis_under_way_does_not_reach_a_new_conversation_of_the_same_name(api: Client) -> None:
    made = api.create_conversation(parent=PARENT, conversation={}, conversation_id="same-name")
    lro = api.create_analysis(parent=made.name, analysis={})
    api.delete_conversation(name=made.name)
    again = api.create_conversation(parent=PARENT, conversation={}, conversation_id="same-name")
    wait_done(api, lro.operation.name)
    assert not api.get_conversation(name=again.name).latest_analysis
