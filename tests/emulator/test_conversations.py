"""The emulator's rules for conversations (``conversations.Conversations``): upload, get, list, analyze, bulk
delete and the filter subset they share (issue 14, first half), both transports."""

from __future__ import annotations

import datetime

import pytest
from google.cloud import contact_center_insights_v1 as ci

from ccai_airflow.emulator import Emulator
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
