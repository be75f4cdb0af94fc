"""Google's own Insights clients, made during a test, reach the emulator; a client that chose its endpoint is left."""

from __future__ import annotations

import grpc
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import contact_center_insights_v1 as ci
from google.cloud.contact_center_insights_v1.services.contact_center_insights.transports import (
    ContactCenterInsightsGrpcTransport,
)

from ccai_airflow.emulator import Emulator
from ccai_airflow.testing.google_clients import routed_to_emulator
from tests.conftest import PARENT

pytestmark = pytest.mark.airflow_independent


@pytest.mark.parametrize("transport", [None, "grpc", "rest"])
def test_a_client_made_as_in_production_reaches_the_emulator(emulator: Emulator, transport: str | None) -> None:
    with routed_to_emulator(emulator.grpc_target, emulator.rest_url):
        client = ci.ContactCenterInsightsClient(**({"transport": transport} if transport else {}))
        operation = client.create_issue_model(parent=PARENT, issue_model={"display_name": "mine"})

    assert operation.result(timeout=30).display_name == "mine"
    assert emulator.call_counts()["CreateIssueModel"] == 1


async def test_the_async_client_reaches_the_emulator(emulator: Emulator) -> None:
    with routed_to_emulator(emulator.grpc_target, emulator.rest_url):
        client = ci.ContactCenterInsightsAsyncClient()
    model = await client.get_settings(name=f"{PARENT}/settings")

    assert model.name == f"{PARENT}/settings"
    assert emulator.call_counts()["GetSettings"] == 1


def test_a_client_given_its_transport_or_endpoint_is_left_as_it_is(emulator: Emulator) -> None:
    own = ContactCenterInsightsGrpcTransport(channel=grpc.insecure_channel(emulator.grpc_target))
    with routed_to_emulator("127.0.0.1:9", "http://127.0.0.1:9"):
        by_transport = ci.ContactCenterInsightsClient(transport=own)
        by_endpoint = ci.ContactCenterInsightsClient(
            credentials=AnonymousCredentials(), client_options={"api_endpoint": "contactcenterinsights.googleapis.com"})

    assert by_transport.transport is own
    assert by_endpoint.api_endpoint == "contactcenterinsights.googleapis.com"


def test_after_the_block_clients_go_where_they_did() -> None:
    before = ci.ContactCenterInsightsClient.__init__
    with routed_to_emulator("127.0.0.1:9", "http://127.0.0.1:9"):
        assert ci.ContactCenterInsightsClient.__init__ is not before
    assert ci.ContactCenterInsightsClient.__init__ is before
    client = ci.ContactCenterInsightsClient(credentials=AnonymousCredentials())
    assert client.api_endpoint == "contactcenterinsights.googleapis.com"
