"""What the emulator's tests share: the generated client over loopback (gRPC or REST), polling an operation,
unpacking an ``Any``, reading an error's status, and a few calls many tests start from. Not a test module."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests
from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import contact_center_insights_v1 as ci
from google.cloud.contact_center_insights_v1.services.contact_center_insights.transports import (
    ContactCenterInsightsGrpcTransport,
)
from google.longrunning import operations_pb2

from ccai_airflow.emulator import Emulator
from tests.conftest import PARENT

Client = ci.ContactCenterInsightsClient
Inject = Callable[..., Any]  # Emulator.inject_fault, or EmulatorControl.inject_fault over the HTTP controls
POLL_S = 0.05
BOUND_S = 10.0
CHAT_FILTER = 'medium="CHAT"'


# -- clients ------------------------------------------------------------------------------------
def _grpc_client(emu: Emulator) -> tuple[Client, Callable[[], None]]:
    channel = grpc.insecure_channel(emu.grpc_target)
    return Client(transport=ContactCenterInsightsGrpcTransport(channel=channel)), channel.close


def _rest_client(emu: Emulator) -> tuple[Client, Callable[[], None]]:
    client = Client(
        credentials=AnonymousCredentials(),
        transport="rest",
        client_options=ClientOptions(api_endpoint=emu.rest_url),
    )
    return client, client.transport.close


# -- helpers ------------------------------------------------------------------------------------
FIXTURE_EXTRACT = Path(__file__).parent.parent / "fixtures" / "field_behavior.json"


def field_behavior_extract() -> dict[str, Any]:
    """The ``.proto`` extract that ``scripts/extract_field_behavior.py`` wrote (``tests/fixtures/``)."""
    extract: dict[str, Any] = json.loads(FIXTURE_EXTRACT.read_text())
    return extract


def wait_done(client: Client, name: str) -> operations_pb2.Operation:
    deadline = time.monotonic() + BOUND_S
    while True:
        op = client.get_operation(request={"name": name}, retry=None)
        if op.done:
            return op
        assert time.monotonic() < deadline, f"operation {name} not done within {BOUND_S} s"
        time.sleep(POLL_S)


def unpack(any_value: Any, proto_type: Any) -> Any:
    """An ``Any`` as the proto-plus ``proto_type``, after checking its type URL."""
    assert any_value.type_url == "type.googleapis.com/" + proto_type.pb().DESCRIPTOR.full_name
    return proto_type.deserialize(any_value.value)


def start_create(client: Client, display_name: str = "my-model", filter_: str = CHAT_FILTER) -> str:
    lro = client.create_issue_model(
        parent=PARENT,
        issue_model={
            "display_name": display_name,
            "input_data_config": {"medium": "CHAT", "filter": filter_, "training_conversations_count": 12000},
        },
    )
    return str(lro.operation.name)


def trained_model(
    client: Client, display_name: str = "my-model", filter_: str = CHAT_FILTER
) -> ci.IssueModel:
    op = wait_done(client, start_create(client, display_name, filter_))
    assert not op.HasField("error"), op.error
    return unpack(op.response, ci.IssueModel)


def deployed_model(client: Client) -> ci.IssueModel:
    model = trained_model(client)
    wait_done(client, client.deploy_issue_model(name=model.name).operation.name)
    assert client.get_issue_model(name=model.name).state == ci.IssueModel.State.DEPLOYED
    return model


def error_of(call: Callable[[], object]) -> exceptions.GoogleAPICallError:
    with pytest.raises(exceptions.GoogleAPICallError) as info:
        call()
    return info.value


def status_of(exc: exceptions.GoogleAPICallError) -> str:
    """The canonical status: from the JSON error body over REST, from the gRPC status otherwise."""
    if isinstance(exc.response, requests.Response):
        return str(exc.response.json()["error"]["status"])
    assert exc.grpc_status_code is not None
    return str(exc.grpc_status_code.name)


def _ok(client: Client, lro: Any) -> Any:
    op = wait_done(client, lro.operation.name)
    assert not op.HasField("error"), op.error
    return op
